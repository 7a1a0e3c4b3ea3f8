// Durability under power loss and disk faults (docs/reliability.md, checks 2
// and 4): RocksDbStores on a FaultFs (fault_fs.h) with concurrent writers;
// every Store that returned OK is looked for after the fault.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fault_fs.h"
#include "fixtures.h"
#include "ledger.h"
#include "letterbox/crypto/random.h"
#include "letterbox/storage/rocksdb_store.h"

namespace letterbox::storage::testing {
namespace {

constexpr int kWriters = 4;
constexpr int kRecipients = 4;
const MailboxLimits kNoCap{.max_envelopes = 1'000'000, .max_bytes = 1ull << 34};

const char* ModeName(Durability d) { return d == Durability::kFsync ? "fsync" : "process"; }

// A data directory on a FaultFs, opened and reopened through it.
class FaultyDb {
 public:
  explicit FaultyDb(Durability durability)
      : durability_(durability), fs_(std::make_shared<FaultFs>()), env_(FaultFs::NewEnv(fs_)) {
    Open();
  }
  ~FaultyDb() { stores_.reset(); }  // before the Env

  void Open() {
    stores_.reset();
    auto opened =
        RocksDbStores::Open({.path = dir_.path(), .durability = durability_, .env = env_.get()});
    INFO(opened.status().ToString());
    REQUIRE(opened.ok());
    stores_ = std::move(*opened);
  }
  void Close() { stores_.reset(); }

  RocksDbStores& stores() { return *stores_; }
  FaultFs& fs() { return *fs_; }

 private:
  TempDir dir_;
  Durability durability_;
  std::shared_ptr<FaultFs> fs_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<RocksDbStores> stores_;
};

std::vector<DeviceAddress> Devices(crypto::Random& rng, int n) {
  std::vector<DeviceAddress> out;
  for (int i = 0; i < n; ++i) out.push_back({crypto::RandomFixed<AccountId>(rng), 1});
  return out;
}

// Runs kWriters threads that Store one checked envelope at a time to random
// recipients and record every OK in `ledger`. `on_ack(total)` runs in the
// writer after each acknowledgement and `on_fail(total)` after each failed
// Store; the writers stop once `stop` is set. Returns how many Stores failed.
template <typename OnAck, typename OnFail>
uint64_t RunWriters(Stores& stores, const std::vector<DeviceAddress>& senders,
                    const std::vector<DeviceAddress>& recipients, uint64_t seed, Ledger& ledger,
                    std::atomic<bool>& stop, OnAck on_ack, OnFail on_fail) {
  std::atomic<uint64_t> acks{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> next_seq{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      crypto::DeterministicRandom rng(seed * 1000 + static_cast<uint64_t>(w));
      uint8_t pick = 0;
      while (!stop.load()) {
        rng.Fill({&pick, 1});
        const uint64_t seq = next_seq.fetch_add(1);
        Envelope e = MakeCheckedEnvelope(rng, senders[static_cast<size_t>(w)],
                                         recipients[pick % recipients.size()], seq, 100 + pick);
        Envelope copy = e;
        absl::StatusOr<StoreResult> r = stores.mailboxes().Store({std::move(copy)}, kNoCap);
        if (r.ok()) {
          ledger.Acknowledge(e, seq);
          on_ack(acks.fetch_add(1) + 1);
        } else {
          on_fail(failures.fetch_add(1) + 1);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return failures.load();
}

struct PowerCutFigures {
  Audit audit;
  uint64_t failed_stores = 0;
  uint64_t unsynced_bytes = 0;
};

enum class CutAt {
  kAck,   // the writer of the cut_at-th acknowledgement cuts the power
  kSync,  // the power fails during the cut_at-th sync (its bytes are lost)
};

// Writers run until the power is cut (see CutAt); the DB is closed with the
// power off, the unsynced bytes are dropped, and the store is reopened and
// audited.
PowerCutFigures PowerCut(Durability durability, uint64_t seed, CutAt where = CutAt::kAck) {
  crypto::DeterministicRandom rng(seed);
  uint8_t r[2];
  rng.Fill(r);
  const uint64_t cut_at = 300 + (static_cast<uint64_t>(r[0]) << 8 | r[1]) % 2700;

  FaultyDb db(durability);
  const std::vector<DeviceAddress> senders = Devices(rng, kWriters);
  const std::vector<DeviceAddress> recipients = Devices(rng, kRecipients);
  Ledger ledger;
  std::atomic<bool> stop{false};
  PowerCutFigures out;
  if (where == CutAt::kSync) db.fs().CutPowerDuringSync(cut_at);
  out.failed_stores = RunWriters(
      db.stores(), senders, recipients, seed, ledger, stop,
      [&](uint64_t total) {
        if (where == CutAt::kAck && total == cut_at) db.fs().CutPower();
        if (db.fs().power_off()) stop.store(true);
      },
      [&](uint64_t) {
        if (db.fs().power_off()) stop.store(true);
      });
  db.Close();  // with the power off: nothing more reaches the disk
  out.unsynced_bytes = db.fs().UnsyncedBytes();
  REQUIRE(db.fs().DropUnsyncedData());
  db.fs().RestorePower();
  db.Open();
  absl::StatusOr<Audit> audit = AuditStores(db.stores(), recipients, ledger.Entries());
  INFO(audit.status().ToString());
  REQUIRE(audit.ok());
  out.audit = *audit;
  std::printf(
      "power cut [%s, seed %llu, during %s %llu]: %s failed-stores=%llu "
      "unsynced-bytes-dropped=%llu\n",
      ModeName(durability), static_cast<unsigned long long>(seed),
      where == CutAt::kAck ? "ack" : "sync", static_cast<unsigned long long>(cut_at),
      [&] {
        std::ostringstream s;
        s << out.audit;
        return s.str();
      }()
          .c_str(),
      static_cast<unsigned long long>(out.failed_stores),
      static_cast<unsigned long long>(out.unsynced_bytes));
  return out;
}

TEST_CASE("fsync mode: a power cut at a random moment loses no acknowledged envelope",
          "[durability][power]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    PowerCutFigures f = PowerCut(Durability::kFsync, seed);
    CHECK(f.audit.acknowledged > 0);
    CHECK(f.audit.lost == 0);
    CHECK(f.audit.corrupted == 0);
    CHECK(f.audit.duplicated == 0);
  }
}

TEST_CASE("fsync mode: a power cut during a WAL sync loses no acknowledged envelope",
          "[durability][power]") {
  // The failing sync's group was appended but never made durable: its bytes
  // are dropped, and none of its Stores was acknowledged.
  uint64_t dropped = 0;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    PowerCutFigures f = PowerCut(Durability::kFsync, seed, CutAt::kSync);
    CHECK(f.audit.acknowledged > 0);
    CHECK(f.audit.lost == 0);
    CHECK(f.audit.corrupted == 0);
    CHECK(f.audit.duplicated == 0);
    dropped += f.unsynced_bytes;
  }
  CHECK(dropped > 0);
}

TEST_CASE("process mode: the same power cut loses acknowledged envelopes (negative control)",
          "[durability][power]") {
  // kProcess acknowledges before the WAL is synced, so dropping unsynced
  // bytes must lose acknowledged envelopes: this proves the check above can
  // fail. Nothing in RocksDB syncs the WAL here after the first Store (the
  // envelope-id mark is the only synced write, once per 2^20 ids).
  for (uint64_t seed = 1; seed <= 2; ++seed) {
    PowerCutFigures f = PowerCut(Durability::kProcess, seed);
    CHECK(f.audit.lost > 0);
    CHECK(f.audit.corrupted == 0);
    CHECK(f.audit.duplicated == 0);
  }
}

TEST_CASE("a failing WAL write (disk full) makes Store fail - never succeed",
          "[durability][fault]") {
  crypto::DeterministicRandom rng(7);
  FaultyDb db(Durability::kProcess);
  const std::vector<DeviceAddress> devices = Devices(rng, 2);
  REQUIRE(db.stores()
              .mailboxes()
              .Store({MakeCheckedEnvelope(rng, devices[0], devices[1], 0)}, kNoCap)
              .ok());
  db.fs().FailWrites(FaultKind::kNoSpace);
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    absl::StatusOr<StoreResult> r = db.stores().mailboxes().Store(
        {MakeCheckedEnvelope(rng, devices[0], devices[1], seq)}, kNoCap);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInternal);
    CHECK(r.status().message() == "storage engine error");
  }
  CHECK(db.fs().InjectedFailures() > 0);
  // Reads still work while writes fail.
  absl::StatusOr<FetchResult> page = db.stores().mailboxes().Fetch(devices[1], 0, 100, 0);
  REQUIRE(page.ok());
  CHECK(page->envelopes.size() == 1);
}

TEST_CASE("a failing WAL sync in fsync mode makes Store fail - never succeed",
          "[durability][fault]") {
  crypto::DeterministicRandom rng(8);
  FaultyDb db(Durability::kFsync);
  const std::vector<DeviceAddress> devices = Devices(rng, 2);
  REQUIRE(db.stores()
              .mailboxes()
              .Store({MakeCheckedEnvelope(rng, devices[0], devices[1], 0)}, kNoCap)
              .ok());
  db.fs().FailSyncs(FaultKind::kIoError);
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    absl::StatusOr<StoreResult> r = db.stores().mailboxes().Store(
        {MakeCheckedEnvelope(rng, devices[0], devices[1], seq)}, kNoCap);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("a store that hit a disk fault keeps refusing writes until it is reopened",
          "[durability][fault]") {
  // RocksDB stops accepting writes after a failed WAL write (its background
  // error); the store passes that on as INTERNAL and never half-writes.
  crypto::DeterministicRandom rng(9);
  FaultyDb db(Durability::kProcess);
  const std::vector<DeviceAddress> devices = Devices(rng, 2);
  db.fs().FailWrites(FaultKind::kIoError);
  REQUIRE_FALSE(db.stores()
                    .mailboxes()
                    .Store({MakeCheckedEnvelope(rng, devices[0], devices[1], 0)}, kNoCap)
                    .ok());
  db.fs().ClearFaults();
  CHECK_FALSE(db.stores()
                  .mailboxes()
                  .Store({MakeCheckedEnvelope(rng, devices[0], devices[1], 1)}, kNoCap)
                  .ok());
  db.Close();
  db.Open();
  CHECK(db.stores()
            .mailboxes()
            .Store({MakeCheckedEnvelope(rng, devices[0], devices[1], 2)}, kNoCap)
            .ok());
}

TEST_CASE("after disk faults clear and the store reopens - every acknowledged envelope is there",
          "[durability][fault]") {
  for (Durability mode : {Durability::kProcess, Durability::kFsync}) {
    for (FaultKind kind : {FaultKind::kNoSpace, FaultKind::kIoError}) {
      crypto::DeterministicRandom rng(mode == Durability::kFsync ? 11 : 12);
      FaultyDb db(mode);
      const std::vector<DeviceAddress> senders = Devices(rng, kWriters);
      const std::vector<DeviceAddress> recipients = Devices(rng, kRecipients);
      Ledger ledger;
      std::atomic<bool> stop{false};
      const bool sync_fault = mode == Durability::kFsync && kind == FaultKind::kIoError;
      const uint64_t failed = RunWriters(
          db.stores(), senders, recipients, 21, ledger, stop,
          [&](uint64_t total) {
            if (total == 500) {
              if (sync_fault) {
                db.fs().FailSyncs(kind);
              } else {
                db.fs().FailWrites(kind);
              }
            }
          },
          [&](uint64_t total_failed) {
            if (total_failed >= 100) stop.store(true);
          });
      // Every writer was mid-Store when the fault began; let them fail.
      db.fs().ClearFaults();
      db.Close();
      db.Open();
      absl::StatusOr<Audit> audit = AuditStores(db.stores(), recipients, ledger.Entries());
      REQUIRE(audit.ok());
      std::ostringstream s;
      s << *audit;
      std::printf("disk fault [%s, %s %s]: %s failed-stores=%llu\n", ModeName(mode),
                  sync_fault ? "sync" : "write", kind == FaultKind::kNoSpace ? "ENOSPC" : "EIO",
                  s.str().c_str(), static_cast<unsigned long long>(failed));
      CHECK(audit->lost == 0);
      CHECK(audit->corrupted == 0);
      CHECK(audit->duplicated == 0);
      // The store works again after the reopen.
      CHECK(db.stores()
                .mailboxes()
                .Store({MakeCheckedEnvelope(rng, senders[0], recipients[0], 999'999)}, kNoCap)
                .ok());
    }
  }
}

}  // namespace
}  // namespace letterbox::storage::testing
