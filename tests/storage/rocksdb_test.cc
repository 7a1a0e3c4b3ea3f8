// What only the RocksDB store promises: data and id monotonicity survive a
// close and reopen, read-only opens never write, damage is reported clearly.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "fixtures.h"

namespace letterbox::storage {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test helpers
using crypto::DeterministicRandom;

constexpr int64_t kT0 = 1'700'000'000'000'000;

TEST_CASE("every stored envelope is there after a close and reopen", "[rocksdb]") {
  RocksFixture f;
  DeterministicRandom rng(1);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  std::map<EnvelopeId, Bytes> stored;
  for (int i = 0; i < 200; ++i) {
    Envelope e = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0 + i, 100);
    auto r = f.stores().mailboxes().Store({e}, {});
    REQUIRE(r.ok());
    stored[r->receipt.deliveries[0].envelope_id] = e.ciphertext;
  }
  f.Reopen();

  auto page = f.stores().mailboxes().Fetch(recipient, 0, 1000, 0);
  REQUIRE(page.ok());
  REQUIRE(page->envelopes.size() == stored.size());
  for (const Envelope& e : page->envelopes) CHECK(stored.at(e.id) == e.ciphertext);
  // The counters are rebuilt from the mailbox itself.
  auto stats = f.stores().mailboxes().Stats(recipient);
  CHECK(stats->envelopes == 200);
  CHECK(stats->bytes == 200 * 100);
  CHECK(f.stores().accounts().GetDevice(recipient).ok());
}

TEST_CASE("the mailbox cap holds after a reopen without any stored counter", "[rocksdb]") {
  RocksFixture f;
  DeterministicRandom rng(2);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  const MailboxLimits limits{.max_envelopes = 5, .max_bytes = 1 << 20};
  for (int i = 0; i < 5; ++i) {
    REQUIRE(
        f.stores()
            .mailboxes()
            .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0)}, limits)
            .ok());
  }
  f.Reopen();
  CHECK(f.stores()
            .mailboxes()
            .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0)}, limits)
            .status()
            .code() == absl::StatusCode::kResourceExhausted);
}

TEST_CASE("envelope ids keep increasing across reopens and are never reused", "[rocksdb]") {
  RocksFixture f;
  DeterministicRandom rng(3);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  EnvelopeId last = 0;
  std::set<EnvelopeId> seen;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      auto r = f.stores().mailboxes().Store(
          {MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0)}, {});
      REQUIRE(r.ok());
      const EnvelopeId id = r->receipt.deliveries[0].envelope_id;
      CHECK(id > last);
      CHECK(seen.insert(id).second);
      last = id;
    }
    // Acknowledge everything, so no surviving envelope hints at the last id.
    std::vector<EnvelopeId> all(seen.begin(), seen.end());
    REQUIRE(f.stores().mailboxes().Ack(recipient, all).ok());
    f.Reopen(round % 2 == 0 ? Durability::kFsync : Durability::kProcess);
  }
}

TEST_CASE("a read-only open sees the data and refuses every write", "[rocksdb]") {
  TempDir dir;
  DeterministicRandom rng(4);
  DeviceAddress recipient;
  {
    auto rw = RocksDbStores::Open({.path = dir.path()});
    REQUIRE(rw.ok());
    auto sender = CreateAccountWithDevices(**rw, rng)[0];
    recipient = CreateAccountWithDevices(**rw, rng)[0];
    REQUIRE((*rw)
                ->mailboxes()
                .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0)}, {})
                .ok());
  }
  std::map<std::string, std::uintmax_t> before;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    before[entry.path().filename()] = entry.file_size();
  }

  auto ro = RocksDbStores::Open({.path = dir.path(), .read_only = true});
  REQUIRE(ro.ok());
  Stores& stores = **ro;
  CHECK(stores.mailboxes().Fetch(recipient, 0, 10, 0)->envelopes.size() == 1);
  CHECK(stores.mailboxes().Stats(recipient)->envelopes == 1);
  CHECK(stores.accounts().GetDevice(recipient).ok());

  const auto refused = absl::StatusCode::kFailedPrecondition;
  CHECK(stores.mailboxes()
            .Store({MakeEnvelope(rng, recipient, recipient, RandomId<MessageId>(rng), kT0)}, {})
            .status()
            .code() == refused);
  CHECK(stores.mailboxes().Ack(recipient, {1}).status().code() == refused);
  CHECK(stores.mailboxes().Expire(kT0 + 1).status().code() == refused);
  CHECK(stores.accounts().CreateAccount(MakeAccount(rng), MakeDevice(rng)).code() == refused);
  CHECK(stores.accounts().AddDevice(recipient.account, MakeDevice(rng), 10).status().code() ==
        refused);
  CHECK(stores.prekeys().SetSignedPrekey(recipient, MakeSignedPrekey(rng)).code() == refused);
  CHECK(stores.sessions().PutSession(RandomId<TokenHash>(rng), {recipient, kT0}).code() == refused);
  CHECK(stores.outbox().DeleteReports({}).code() == refused);
  CHECK((*ro)->Flush().ok());
  ro->reset();

  std::map<std::string, std::uintmax_t> after;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    after[entry.path().filename()] = entry.file_size();
  }
  CHECK(after == before);
}

TEST_CASE("opening a missing directory read-only or without create is a clear INTERNAL error",
          "[rocksdb]") {
  TempDir dir;
  const std::string missing = dir.path() + "/absent";
  auto ro = RocksDbStores::Open({.path = missing, .read_only = true});
  CHECK(ro.status().code() == absl::StatusCode::kInternal);
  CHECK_FALSE(std::filesystem::exists(missing));
  auto no_create = RocksDbStores::Open({.path = missing, .create_if_missing = false});
  CHECK(no_create.status().code() == absl::StatusCode::kInternal);
  CHECK(no_create.status().message().find("cannot open data directory") != std::string::npos);
}

TEST_CASE("a damaged manifest is reported as a corrupt data directory", "[rocksdb]") {
  TempDir dir;
  {
    auto rw = RocksDbStores::Open({.path = dir.path()});
    REQUIRE(rw.ok());
  }
  int damaged = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("MANIFEST-", 0) != 0) continue;
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(10);
    const char junk[16] = {'\x13', '\x37', '\x00', '\xff', '\x42', '\x42', '\x42', '\x42',
                           '\x13', '\x37', '\x00', '\xff', '\x42', '\x42', '\x42', '\x42'};
    file.write(junk, sizeof(junk));
    ++damaged;
  }
  REQUIRE(damaged > 0);
  auto reopened = RocksDbStores::Open({.path = dir.path()});
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.status().code() == absl::StatusCode::kInternal);
  CHECK(reopened.status().message().find("data directory is corrupt") != std::string::npos);
}

TEST_CASE("the fsync durability mode stores and reads back like the default", "[rocksdb]") {
  RocksFixture f;
  f.Reopen(Durability::kFsync);
  DeterministicRandom rng(5);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  REQUIRE(f.stores()
              .mailboxes()
              .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0)}, {})
              .ok());
  REQUIRE(f.rocks().Flush().ok());
  f.Reopen();
  CHECK(f.stores().mailboxes().Stats(recipient)->envelopes == 1);
  CHECK(f.rocks().SumIntProperty("rocksdb.estimate-num-keys") > 0);
}

}  // namespace
}  // namespace letterbox::storage
