// Rotating the pseudonym key: RekeyPseudonyms re-keys every live case (its
// reporter and sender pseudonyms and its intake de-duplication marks) under
// the current key in audited, synced batches, so pseudonyms stay linkable and
// de-duplication keeps working across the rotation; it is idempotent,
// resumes after a failure, and skips shredded cases.
#include <set>

#include "vault_harness.h"

namespace letterbox::vault::testing {
namespace {

// The formulas of docs/vault.md, written out independently of the vault.
std::string PseudonymOf(const crypto::MacKey& key, const std::string& account_id) {
  ByteWriter w;
  w.Label("letterbox.vault.pseudonym.v1").Bytes(AsBytes(account_id));
  return crypto::Blake2b256Keyed(key.Expose(), w.view()).value().str();
}

std::string MessageMarkOf(const crypto::MacKey& key, const std::string& reporter_account_id,
                          const std::string& message_id) {
  ByteWriter w;
  w.Label("letterbox.vault.dedup.v1")
      .Bytes(AsBytes(reporter_account_id))
      .Bytes(AsBytes(message_id));
  return sv::MessageSeenKey(crypto::Blake2b256Keyed(key.Expose(), w.view()).value());
}

// A vault on the harness's store whose keys the test controls: the same
// intake, KEK and audit keys throughout, and a pseudonym key that rotates
// from A ("pk-a") to B ("pk-b").
class Rotation {
 public:
  Rotation()
      : intake_(crypto::RandomSecret<crypto::X25519SecretKey>(rng())),
        audit_(crypto::Ed25519KeyPair::Generate(rng())),
        key_a_(crypto::RandomSecret<crypto::MacKey>(rng())),
        key_b_(crypto::RandomSecret<crypto::MacKey>(rng())) {
    h.Stop();
    h.audit_public_ = audit_.public_key;
    Reopen(Keys(key_a_, "pk-a"));
  }

  static crypto::Random& rng() { return crypto::SystemRandom::Instance(); }

  VaultKeys Keys(const crypto::MacKey& pseudonym, std::string id) const {
    return VaultKeys{.intake = crypto::X25519KeyPair::FromSecret(intake_.Clone()),
                     .intake_key_id = "intake-1",
                     .kek = h.kek_.Clone(),
                     .kek_id = "kek-1",
                     .previous_keks = {},
                     .audit_signing = crypto::Ed25519KeyPair::FromSecret(audit_.secret_key.Clone()),
                     .pseudonym_key = pseudonym.Clone(),
                     .pseudonym_key_id = std::move(id)};
  }

  // Key B current, key A kept as the previous one (what --rotate pseudonym
  // leaves in the keys directory).
  VaultKeys RotatedKeys() const {
    VaultKeys keys = Keys(key_b_, "pk-b");
    keys.previous_pseudonym_keys.emplace_back("pk-a", key_a_.Clone());
    return keys;
  }

  // Replaces the running vault (as a restart of the binary does).
  void Reopen(VaultKeys keys) {
    h.vault_.reset();
    h.intake_public_ = keys.intake.public_key;
    h.vault_ = Vault::Open(h.config_, *h.stores_, h.clock, std::move(keys), h.franking).value();
  }

  // Reports `message` (already received by `reporter`) again under a new
  // relay id; returns the outcome.
  IntakeOutcome Report(const v1::DeviceAddress& reporter, const v1::ReportedMessage& message) {
    ReportBuilder b(h.franking, reporter);
    *b.content.add_messages() = message;
    return h.Ingest(b.Seal(h.intake_public_), reporter);
  }

  // A franked message from `sender` to `reporter`, reported at once; returns
  // the message and the case id.
  std::pair<v1::ReportedMessage, std::string> ReportNew(const v1::DeviceAddress& reporter,
                                                        const v1::DeviceAddress& sender) {
    ReportBuilder b(h.franking, reporter);
    v1::ReportedMessage m = b.Add(sender, "message " + Hex(RandomBytes(4)));
    IntakeOutcome o = h.Ingest(b.Seal(h.intake_public_), reporter);
    REQUIRE(o.accepted);
    return {m, o.case_id};
  }

  size_t CaseCount() { return h.stores_->ListCases("", 100'000).value().size(); }

  VaultHarness h;
  crypto::X25519SecretKey intake_;
  crypto::Ed25519KeyPair audit_;
  crypto::MacKey key_a_;
  crypto::MacKey key_b_;
};

TEST_CASE("after a pseudonym key rotation RekeyPseudonyms re-keys every live case") {
  Rotation r;
  const auto alice = Address(RandomBytes(16));
  const auto carol = Address(RandomBytes(16));
  const auto bob = Address(RandomBytes(16), 2);
  const auto dave = Address(RandomBytes(16), 3);
  const std::string first = r.ReportNew(alice, bob).second;
  const std::string second = r.ReportNew(alice, dave).second;
  const std::string third = r.ReportNew(carol, bob).second;
  REQUIRE(r.h.stores_->GetCase(first).value().reporter_pseudonym ==
          PseudonymOf(r.key_a_, alice.account_id()));

  r.Reopen(r.RotatedKeys());
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 3);
  const sv::CaseRecord c1 = r.h.stores_->GetCase(first).value();
  const sv::CaseRecord c2 = r.h.stores_->GetCase(second).value();
  const sv::CaseRecord c3 = r.h.stores_->GetCase(third).value();
  CHECK(c1.reporter_pseudonym == PseudonymOf(r.key_b_, alice.account_id()));
  CHECK(c2.reporter_pseudonym == PseudonymOf(r.key_b_, alice.account_id()));
  CHECK(c3.reporter_pseudonym == PseudonymOf(r.key_b_, carol.account_id()));
  CHECK(c1.sender_pseudonyms == std::vector<std::string>{PseudonymOf(r.key_b_, bob.account_id())});
  CHECK(c2.sender_pseudonyms == std::vector<std::string>{PseudonymOf(r.key_b_, dave.account_id())});
  CHECK(c3.sender_pseudonyms == c1.sender_pseudonyms);
  CHECK(c1.status == sv::CaseStatus::kNew);
  CHECK(c1.message_count == 1);
}

TEST_CASE("RekeyPseudonyms a second time finds nothing left to re-key and writes nothing") {
  Rotation r;
  r.ReportNew(Address(RandomBytes(16)), Address(RandomBytes(16), 2));
  r.Reopen(r.RotatedKeys());
  REQUIRE(r.h.vault_->RekeyPseudonyms().value() == 1);
  const uint64_t audit_size = r.h.AuditSize();
  const auto seen = r.h.memory_->RawFamily(sv::VaultBatch::Family::kIntakeSeen);
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 0);
  CHECK(r.h.AuditSize() == audit_size);
  CHECK(r.h.memory_->RawFamily(sv::VaultBatch::Family::kIntakeSeen) == seen);
  // A vault that never rotated has nothing to re-key either.
  r.Reopen(r.Keys(r.key_b_, "pk-b"));
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 0);
}

TEST_CASE(
    "a case reported after the rotation is linkable to the re-keyed case of the same people") {
  Rotation r;
  const auto alice = Address(RandomBytes(16));
  const auto bob = Address(RandomBytes(16), 2);
  const std::string before = r.ReportNew(alice, bob).second;
  r.Reopen(r.RotatedKeys());
  REQUIRE(r.h.vault_->RekeyPseudonyms().value() == 1);

  const std::string after = r.ReportNew(alice, bob).second;
  const sv::CaseRecord old_case = r.h.stores_->GetCase(before).value();
  const sv::CaseRecord new_case = r.h.stores_->GetCase(after).value();
  CHECK(new_case.reporter_pseudonym == old_case.reporter_pseudonym);
  CHECK(new_case.sender_pseudonyms == old_case.sender_pseudonyms);
}

TEST_CASE("a message reported before the rotation is still a duplicate after it") {
  Rotation r;
  const auto alice = Address(RandomBytes(16));
  const auto [message, case_id] = r.ReportNew(alice, Address(RandomBytes(16), 2));
  const std::string mark_a = MessageMarkOf(r.key_a_, alice.account_id(), message.message_id());
  const std::string mark_b = MessageMarkOf(r.key_b_, alice.account_id(), message.message_id());
  REQUIRE(r.h.stores_->GetSeen(mark_a).ok());

  r.Reopen(r.RotatedKeys());
  REQUIRE(r.h.vault_->RekeyPseudonyms().value() == 1);
  // The mark moved from key A to key B and still names the case.
  CHECK(absl::IsNotFound(r.h.stores_->GetSeen(mark_a).status()));
  const sv::SeenRecord moved = r.h.stores_->GetSeen(mark_b).value();
  CHECK(moved.accepted);
  CHECK(moved.case_id == case_id);

  const auto cases_before = r.h.memory_->RawFamily(sv::VaultBatch::Family::kCases);
  const auto keys_before = r.h.memory_->RawFamily(sv::VaultBatch::Family::kCaseKeys);
  const IntakeOutcome again = r.Report(alice, message);
  CHECK_FALSE(again.accepted);
  CHECK(again.rejection == IntakeRejection::kDuplicate);
  CHECK(r.h.memory_->RawFamily(sv::VaultBatch::Family::kCases) == cases_before);
  CHECK(r.h.memory_->RawFamily(sv::VaultBatch::Family::kCaseKeys) == keys_before);
  CHECK(r.h.LastAudit().entry.reason == "duplicate");
}

TEST_CASE("RekeyPseudonyms audits each re-keyed case by key id and the log verifies") {
  Rotation r;
  const auto alice = Address(RandomBytes(16));
  const auto bob = Address(RandomBytes(16), 2);
  const std::string first = r.ReportNew(alice, bob).second;
  const std::string second = r.ReportNew(alice, bob).second;
  r.Reopen(r.RotatedKeys());
  const uint64_t before = r.h.AuditSize();
  REQUIRE(r.h.vault_->RekeyPseudonyms().value() == 2);

  auto entries = r.h.AuditSince(before);
  REQUIRE(entries.size() == 3);
  // The last is the synced summary that makes the per-case batches durable.
  CHECK(entries.back().entry.action == "RekeyPseudonyms");
  CHECK(entries.back().entry.target == "vault");
  CHECK(entries.back().entry.reason == "2 cases now under pseudonym key pk-b");
  entries.pop_back();
  std::set<std::string> targets;
  for (const auto& e : entries) {
    CHECK(e.entry.actor == "system");
    CHECK(e.entry.action == "RekeyPseudonyms");
    CHECK(e.entry.decision == sv::Decision::kAllow);
    CHECK(e.entry.reason == "pseudonym key pk-a -> pk-b");
    CHECK(e.entry.reason.find(Hex(alice.account_id())) == std::string::npos);
    targets.insert(e.entry.target);
  }
  CHECK(targets == std::set<std::string>{"case:" + Hex(first), "case:" + Hex(second)});

  REQUIRE(r.h.vault_->SignCheckpoint().ok());
  const auto verified =
      sv::VerifyAuditLog(r.h.stores_->ReadRawAudit().value(),
                         sv::ReadCheckpointFile(r.h.export_path_).value(), r.h.audit_public_);
  INFO(verified.problem);
  CHECK(verified.ok);
}

TEST_CASE("RekeyPseudonyms skips a case whose data key has been shredded") {
  Rotation r;
  const auto alice = Address(RandomBytes(16));
  const auto bob = Address(RandomBytes(16), 2);
  const std::string live = r.ReportNew(alice, bob).second;
  const std::string shredded = r.ReportNew(alice, bob).second;
  // The first commit of ExpireCases, as if the process died before the
  // second deleted the record.
  sv::VaultBatch shred;
  shred.DeleteCaseKey(shredded);
  REQUIRE(r.h.stores_->Commit(std::move(shred)).ok());
  const sv::CaseRecord stored = r.h.stores_->GetCase(shredded).value();

  r.Reopen(r.RotatedKeys());
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 1);
  CHECK(r.h.stores_->GetCase(live).value().reporter_pseudonym ==
        PseudonymOf(r.key_b_, alice.account_id()));
  CHECK(r.h.stores_->GetCase(shredded).value().reporter_pseudonym == stored.reporter_pseudonym);
  CHECK(r.h.AuditSince(r.h.AuditSize() - 2).front().entry.target == "case:" + Hex(live));
}

TEST_CASE(
    "a storage failure stops RekeyPseudonyms with nothing half-written and the next call "
    "completes") {
  Rotation r;
  for (int i = 0; i < 3; ++i) r.ReportNew(Address(RandomBytes(16)), Address(RandomBytes(16), 2));
  r.Reopen(r.RotatedKeys());
  const uint64_t before = r.h.AuditSize();
  r.h.memory_->FailCommits(1);
  CHECK(r.h.vault_->RekeyPseudonyms().status().code() == absl::StatusCode::kUnavailable);
  CHECK(r.h.AuditSize() == before);
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 3);
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 0);
}

TEST_CASE(
    "without the previous key RekeyPseudonyms still re-keys and leaves the old marks behind") {
  Rotation r;
  const auto alice = Address(RandomBytes(16));
  const auto [message, case_id] = r.ReportNew(alice, Address(RandomBytes(16), 2));
  const std::string mark_a = MessageMarkOf(r.key_a_, alice.account_id(), message.message_id());

  r.Reopen(r.Keys(r.key_b_, "pk-b"));  // pseudonym.pk-a.key deleted too early
  CHECK(r.h.vault_->RekeyPseudonyms().value() == 1);
  CHECK(r.h.stores_->GetCase(case_id).value().reporter_pseudonym ==
        PseudonymOf(r.key_b_, alice.account_id()));
  CHECK(r.h.AuditSince(r.h.AuditSize() - 2).front().entry.reason ==
        "pseudonym key unknown -> pk-b");
  CHECK(r.h.stores_->GetSeen(mark_a).ok());
  CHECK(r.Report(alice, message).rejection == IntakeRejection::kDuplicate);
}

TEST_CASE("a case whose content does not decrypt stops RekeyPseudonyms with DATA_LOSS") {
  Rotation r;
  const std::string case_id =
      r.ReportNew(Address(RandomBytes(16)), Address(RandomBytes(16), 2)).second;
  sv::CaseRecord damaged = r.h.stores_->GetCase(case_id).value();
  damaged.sealed_content[damaged.sealed_content.size() / 2] ^= 0x01;
  sv::VaultBatch write;
  write.PutCase(damaged);
  REQUIRE(r.h.stores_->Commit(std::move(write)).ok());

  r.Reopen(r.RotatedKeys());
  const uint64_t before = r.h.AuditSize();
  const absl::Status s = r.h.vault_->RekeyPseudonyms().status();
  CHECK(s.code() == absl::StatusCode::kDataLoss);
  CHECK(s.message().find(Hex(case_id)) != std::string_view::npos);
  CHECK(r.h.stores_->GetCase(case_id).value().reporter_pseudonym == damaged.reporter_pseudonym);
  CHECK(r.h.AuditSize() == before);
}

TEST_CASE("Vault::Open refuses a previous pseudonym key without an id or with the current id") {
  Rotation r;
  VaultKeys unnamed = r.Keys(r.key_b_, "pk-b");
  unnamed.previous_pseudonym_keys.emplace_back("", r.key_a_.Clone());
  CHECK(Vault::Open(r.h.config_, *r.h.stores_, r.h.clock, std::move(unnamed), r.h.franking)
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  VaultKeys same = r.Keys(r.key_b_, "pk-b");
  same.previous_pseudonym_keys.emplace_back("pk-b", r.key_a_.Clone());
  CHECK(Vault::Open(r.h.config_, *r.h.stores_, r.h.clock, std::move(same), r.h.franking)
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace letterbox::vault::testing
