// Rotating the key-encryption key: cases wrapped under the previous KEK stay
// readable, RewrapCaseKeys moves every case key under the current KEK in
// audited, synced batches, and a case key under a KEK the vault does not hold
// is an error that changes nothing.
#include "vault_harness.h"

namespace letterbox::vault::testing {
namespace {

VaultKeys KeysWithKek(crypto::AeadKey kek, std::string kek_id) {
  auto& rng = crypto::SystemRandom::Instance();
  return VaultKeys{.intake = crypto::X25519KeyPair::Generate(rng),
                   .intake_key_id = "intake-2",
                   .kek = std::move(kek),
                   .kek_id = std::move(kek_id),
                   .previous_keks = {},
                   .audit_signing = crypto::Ed25519KeyPair::Generate(rng),
                   .pseudonym_key = crypto::RandomSecret<crypto::MacKey>(rng)};
}

// Opens the case key as the vault does: XChaCha20-Poly1305 under `kek`, with
// associated data lp(case id) ‖ lp(kek id).
bool OpensUnder(const sv::WrappedCaseKey& wrapped, const crypto::AeadKey& kek) {
  crypto::ByteWriter ad;
  ad.Bytes(crypto::AsBytes(wrapped.case_id)).Bytes(crypto::AsBytes(wrapped.kek_id));
  return crypto::XChaCha20Open(kek, crypto::AsBytes(wrapped.wrapped), ad.view()).ok();
}

TEST_CASE("after a KEK rotation RewrapCaseKeys moves every case key under the new KEK") {
  VaultHarness h;
  const std::string first = h.IngestValidCase("JP");
  const std::string second = h.IngestValidCase("JP");
  REQUIRE(h.stores_->GetCaseKey(first).value().kek_id == "kek-1");
  h.Stop();

  auto new_kek = crypto::RandomSecret<crypto::AeadKey>(crypto::SystemRandom::Instance());
  const crypto::AeadKey new_kek_copy = new_kek.Clone();
  VaultKeys keys = KeysWithKek(std::move(new_kek), "kek-2");
  keys.previous_keks.emplace_back("kek-1", h.kek_.Clone());
  auto vault = Vault::Open(h.config_, *h.stores_, h.clock, std::move(keys), h.franking).value();

  const uint64_t before = h.AuditSize();
  CHECK(vault->RewrapCaseKeys().value() == 2);
  for (const std::string& id : {first, second}) {
    const sv::WrappedCaseKey wrapped = h.stores_->GetCaseKey(id).value();
    CHECK(wrapped.kek_id == "kek-2");
    CHECK(OpensUnder(wrapped, new_kek_copy));
    CHECK_FALSE(OpensUnder(wrapped, h.kek_));
  }
  auto entries = h.AuditSince(before);
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].entry.action == "RewrapCaseKey");
  // The synced summary that makes both re-wraps durable.
  CHECK(entries[2].entry.action == "RewrapCaseKeys");
  CHECK(entries[2].entry.reason == "2 cases now under kek kek-2");
  CHECK(vault->RewrapCaseKeys().value() == 0);
}

TEST_CASE("a case key under a KEK the vault does not hold is an error and is left as it was") {
  VaultHarness h;
  const std::string id = h.IngestValidCase("JP");
  const sv::WrappedCaseKey stored = h.stores_->GetCaseKey(id).value();
  h.Stop();

  VaultKeys keys =
      KeysWithKek(crypto::RandomSecret<crypto::AeadKey>(crypto::SystemRandom::Instance()), "kek-3");
  auto vault = Vault::Open(h.config_, *h.stores_, h.clock, std::move(keys), h.franking).value();
  const uint64_t before = h.AuditSize();
  CHECK(vault->RewrapCaseKeys().status().code() == absl::StatusCode::kInternal);
  const sv::WrappedCaseKey after = h.stores_->GetCaseKey(id).value();
  CHECK(after.kek_id == stored.kek_id);
  CHECK(after.wrapped == stored.wrapped);
  CHECK(h.AuditSize() == before);
}

}  // namespace
}  // namespace letterbox::vault::testing
