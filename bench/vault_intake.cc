// vault_intake: sealed-report intake per second through Vault::Ingest,
// in-process (the "vault intake" target of docs/performance.md, scripts/bench
// section 8). Each report holds one genuinely franked message (as a device
// builds it, see tests/vault/vault_harness.h), sealed to the vault's intake
// key; a fake FrankingVerifier holding the franking key checks the tags, so
// the figure covers sealed-box open + parse + commitment and tag checks +
// the encrypted case write, without the relay's network round trip.
//
//   vault_intake --store rocksdb --dir /tmp/vi --reports 5000 --json out.json
//
// Reports are built and sealed before the clock starts; Ingest is called
// from one thread (the vault ingests one report at a time).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"
#include "letterbox/common/clock.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/init.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/storage/vault/memory_vault_store.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"
#include "letterbox/v1/report_content.pb.h"
#include "letterbox/vault/vault.h"

namespace {

namespace crypto = letterbox::crypto;
namespace v1 = letterbox::v1;
namespace vault = letterbox::vault;
namespace sv = letterbox::storage::vault;

std::string RandomString(size_t n) {
  std::string s(n, '\0');
  crypto::SystemRandom::Instance().Fill(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  return s;
}

crypto::Bytes AddressBytes(const v1::DeviceAddress& a) {
  crypto::ByteWriter w;
  w.Bytes(crypto::AsBytes(a.account_id())).U32(a.device_id());
  return std::move(w).Take();
}

v1::DeviceAddress RandomAddress() {
  v1::DeviceAddress a;
  a.set_account_id(RandomString(16));
  a.set_device_id(1);
  return a;
}

// Holds K_frank like the messaging server; accepts genuine tags.
class FakeFrankingServer final : public vault::FrankingVerifier {
 public:
  FakeFrankingServer()
      : key_(crypto::RandomSecret<crypto::FrankingServerKey>(crypto::SystemRandom::Instance())) {}

  [[nodiscard]] crypto::FrankingTag Tag(const v1::ReportedMessage& m) const {
    auto commitment = crypto::Commitment::FromString(m.franking_commitment()).value();
    const crypto::Bytes sender = AddressBytes(m.sender());
    const crypto::Bytes recipient = AddressBytes(m.recipient());
    return crypto::ComputeFrankingTag(key_,
                                      {commitment, sender, recipient, m.server_timestamp_micros(),
                                       crypto::AsBytes(m.message_id())});
  }

  absl::StatusOr<std::vector<bool>> Verify(const std::vector<v1::FrankingClaim>& claims) override {
    std::vector<bool> out;
    out.reserve(claims.size());
    for (const auto& c : claims) {
      auto commitment = crypto::Commitment::FromString(c.franking_commitment());
      auto tag = crypto::FrankingTag::FromString(c.franking_tag());
      if (!commitment.ok() || !tag.ok()) {
        out.push_back(false);
        continue;
      }
      const crypto::Bytes sender = AddressBytes(c.sender());
      const crypto::Bytes recipient = AddressBytes(c.recipient());
      out.push_back(
          crypto::VerifyFrankingTag(key_,
                                    {*commitment, sender, recipient, c.server_timestamp_micros(),
                                     crypto::AsBytes(c.message_id())},
                                    *tag)
              .ok());
    }
    return out;
  }

 private:
  crypto::FrankingServerKey key_;
};

// One sealed report of one franked message from a random sender to `reporter`.
vault::IncomingReport MakeReport(const FakeFrankingServer& server,
                                 const crypto::X25519PublicKey& intake, size_t plaintext_bytes) {
  v1::ReportContent content;
  content.set_version(1);
  const v1::DeviceAddress reporter = RandomAddress();
  *content.mutable_reporter() = reporter;
  content.set_category(v1::REPORT_CATEGORY_HARASSMENT);
  v1::ReportedMessage& m = *content.add_messages();
  m.set_message_id(RandomString(16));
  *m.mutable_sender() = RandomAddress();
  *m.mutable_recipient() = reporter;
  m.set_server_timestamp_micros(absl::ToUnixMicros(absl::Now()));
  const std::string plaintext = RandomString(plaintext_bytes);
  auto k_f = crypto::NewFrankingKey(crypto::SystemRandom::Instance());
  crypto::ByteWriter context;
  context.Label("letterbox.franking.context.v1").Bytes(crypto::AsBytes(m.message_id()));
  m.set_franking_commitment(crypto::Commit(k_f, crypto::AsBytes(plaintext), context.view()).str());
  m.set_franking_key(crypto::ToString(k_f.Expose()));
  m.set_plaintext(plaintext);
  m.set_franking_tag(server.Tag(m).str());
  vault::IncomingReport report;
  report.relay_report_id = RandomString(16);
  report.jurisdiction = "JP";
  report.reporter = reporter;
  report.received_micros = absl::ToUnixMicros(absl::Now());
  report.sealed = crypto::ToString(
      crypto::SealedBoxSeal(intake, crypto::AsBytes(content.SerializeAsString())).value());
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv);
  if (flags.Has("help")) {
    std::puts(
        "vault_intake [--store rocksdb|memory] [--dir DIR] [--reports 5000]\n"
        "             [--plaintext 256] [--json FILE]");
    return 0;
  }
  if (!crypto::Initialize().ok()) return 1;
  const std::string store_kind = flags.String("store", "rocksdb");
  const std::string dir = flags.String("dir", "/tmp/letterbox-vault-intake");
  const int count = static_cast<int>(std::max<int64_t>(1, flags.Int("reports", 5000)));
  const size_t plaintext = static_cast<size_t>(flags.Int("plaintext", 256));

  std::unique_ptr<sv::RocksDbVaultStores> rocks;
  std::unique_ptr<sv::MemoryVaultStores> memory;
  sv::VaultStores* stores = nullptr;
  if (store_kind == "memory") {
    memory = std::make_unique<sv::MemoryVaultStores>();
    stores = memory.get();
  } else {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto opened = sv::RocksDbVaultStores::Open({.path = dir + "/data"});
    if (!opened.ok()) {
      std::fprintf(stderr, "vault_intake: %s\n", std::string(opened.status().message()).c_str());
      return 1;
    }
    rocks = std::move(*opened);
    stores = rocks.get();
  }
  auto& rng = crypto::SystemRandom::Instance();
  vault::VaultKeys keys{.intake = crypto::X25519KeyPair::Generate(rng),
                        .intake_key_id = "intake-bench",
                        .kek = crypto::RandomSecret<crypto::AeadKey>(rng),
                        .kek_id = "kek-bench",
                        .previous_keks = {},
                        .audit_signing = crypto::Ed25519KeyPair::Generate(rng),
                        .pseudonym_key = crypto::RandomSecret<crypto::MacKey>(rng)};
  const crypto::X25519PublicKey intake = keys.intake.public_key;
  vault::VaultConfig config;
  config.jurisdiction_networks = {{"JP", {"127.0.0.2/32"}}};
  FakeFrankingServer franking;
  auto v = vault::Vault::Open(config, *stores, letterbox::SystemClock::Instance(), std::move(keys),
                              franking);
  if (!v.ok()) {
    std::fprintf(stderr, "vault_intake: open: %s\n", std::string(v.status().message()).c_str());
    return 1;
  }

  const double b0 = bench::NowSeconds();
  std::vector<vault::IncomingReport> reports;
  reports.reserve(count);
  for (int i = 0; i < count; ++i) reports.push_back(MakeReport(franking, intake, plaintext));
  const double build_s = bench::NowSeconds() - b0;

  uint64_t accepted = 0, rejected = 0, errors = 0;
  const double cpu0 = bench::ProcessCpuSeconds();
  const double t0 = bench::NowSeconds();
  for (const auto& report : reports) {
    auto outcome = (*v)->Ingest(report);
    if (!outcome.ok()) {
      ++errors;
    } else if (outcome->accepted) {
      ++accepted;
    } else {
      ++rejected;
    }
  }
  const double seconds = bench::NowSeconds() - t0;
  const double cpu = bench::ProcessCpuSeconds() - cpu0;
  nlohmann::json out;
  out["store"] = store_kind;
  out["reports"] = count;
  out["accepted"] = accepted;
  out["rejected"] = rejected;
  out["errors"] = errors;
  out["seconds"] = seconds;
  out["per_s"] = accepted / seconds;
  out["us_per_report"] = seconds * 1e6 / count;
  out["cpu_us_per_report"] = cpu * 1e6 / count;
  out["build_seconds"] = build_s;
  std::printf(
      "vault intake (%s store): %.0f reports/s, %.1f us each (cpu %.1f us); accepted %llu, "
      "rejected %llu, errors %llu\n",
      store_kind.c_str(), accepted / seconds, seconds * 1e6 / count, cpu * 1e6 / count,
      static_cast<unsigned long long>(accepted), static_cast<unsigned long long>(rejected),
      static_cast<unsigned long long>(errors));
  v->reset();
  rocks.reset();
  if (store_kind != "memory") std::filesystem::remove_all(dir);
  if (accepted != static_cast<uint64_t>(count)) {
    std::fprintf(stderr, "vault_intake: not every report was accepted\n");
    return 1;
  }
  return bench::WriteJson(flags.String("json", ""), out) ? 0 : 1;
}
