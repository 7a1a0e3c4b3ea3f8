// Damaged files (docs/reliability.md, check 3): a truncated or bit-flipped
// WAL, a bit-flipped or truncated SST. Opening either refuses with
// INTERNAL("data directory is corrupt: ...") or recovers a consistent prefix
// of the writes (and reports a dropped WAL tail); a damaged envelope is never
// served: Fetch returns only envelopes whose bytes are what was stored, or
// an error.
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "fixtures.h"
#include "ledger.h"
#include "letterbox/crypto/random.h"
#include "letterbox/storage/rocksdb_store.h"

namespace letterbox::storage::testing {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kWrites = 300;
const MailboxLimits kNoCap{.max_envelopes = 1'000'000, .max_bytes = 1ull << 34};

// A directory holding kWrites envelopes, written one at a time in seq order
// to two mailboxes, then closed: with `flush` the data is in SST files (and
// the WAL is empty), without it only in the WAL.
struct Written {
  TempDir dir;
  std::vector<DeviceAddress> recipients;
  std::vector<Acked> acked;
};

std::unique_ptr<Written> WriteAndClose(bool flush) {
  auto w = std::make_unique<Written>();
  crypto::DeterministicRandom rng(flush ? 31 : 32);
  const DeviceAddress sender{crypto::RandomFixed<AccountId>(rng), 1};
  w->recipients = {{crypto::RandomFixed<AccountId>(rng), 1},
                   {crypto::RandomFixed<AccountId>(rng), 1}};
  auto opened = RocksDbStores::Open({.path = w->dir.path(), .durability = Durability::kProcess});
  REQUIRE(opened.ok());
  std::unique_ptr<RocksDbStores> stores = std::move(*opened);
  Ledger ledger;
  for (uint64_t seq = 0; seq < kWrites; ++seq) {
    Envelope e = MakeCheckedEnvelope(rng, sender, w->recipients[seq % 2], seq, 300);
    REQUIRE(stores->mailboxes().Store({e}, kNoCap).ok());
    ledger.Acknowledge(e, seq);
  }
  if (flush) REQUIRE(stores->Flush().ok());
  stores.reset();
  w->acked = ledger.Entries();
  return w;
}

// The file of `dir` with the highest number among names ending in `suffix`
// (the newest WAL), or the largest (the SST holding the mailboxes).
std::string NewestFile(const std::string& dir, const std::string& suffix) {
  std::string best;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > suffix.size() && name.ends_with(suffix) && name > best) best = name;
  }
  REQUIRE_FALSE(best.empty());
  return dir + "/" + best;
}

std::string LargestFile(const std::string& dir, const std::string& suffix) {
  std::string best;
  uintmax_t best_size = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with(suffix) && entry.file_size() > best_size) {
      best = entry.path().string();
      best_size = entry.file_size();
    }
  }
  REQUIRE_FALSE(best.empty());
  return best;
}

void FlipByte(const std::string& path, uint64_t offset, uint8_t mask) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(static_cast<uint8_t>(c) ^ mask);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
  REQUIRE(f.good());
}

// A copy of `from` in a fresh directory, to damage.
std::unique_ptr<TempDir> CopyOf(const std::string& from) {
  auto to = std::make_unique<TempDir>();
  fs::copy(from, to->path(), fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  return to;
}

bool IsPrefix(const std::set<uint64_t>& seqs) {
  return seqs.empty() || (*seqs.begin() == 0 && *seqs.rbegin() == seqs.size() - 1);
}

// What one damaged directory did on open and read.
struct Outcome {
  enum Kind { kRefusedOpen, kRefusedRead, kPrefix } kind = kPrefix;
  uint64_t recovered = 0;
  bool reported_drop = false;
  std::string detail;
};

// Opens `dir`, reads everything, checks the promises, says what happened.
Outcome OpenAndCheck(const std::string& dir, const Written& w) {
  Outcome out;
  auto opened = RocksDbStores::Open({.path = dir, .durability = Durability::kProcess});
  if (!opened.ok()) {
    INFO(opened.status().ToString());
    CHECK(opened.status().code() == absl::StatusCode::kInternal);
    CHECK(absl::StartsWith(opened.status().message(), "data directory is corrupt: "));
    out.kind = Outcome::kRefusedOpen;
    return out;
  }
  std::unique_ptr<RocksDbStores> stores = std::move(*opened);
  out.reported_drop = stores->recovery().wal_tail_dropped;
  out.detail = stores->recovery().detail;
  absl::StatusOr<Audit> audit = AuditStores(*stores, w.recipients, w.acked);
  if (!audit.ok()) {
    // A damaged block is refused on read, never served.
    CHECK(audit.status().code() == absl::StatusCode::kInternal);
    CHECK(audit.status().message() == "storage engine error");
    out.kind = Outcome::kRefusedRead;
    return out;
  }
  CHECK(audit->corrupted == 0);
  CHECK(audit->duplicated == 0);
  CHECK(audit->unacknowledged == 0);
  CHECK(IsPrefix(audit->recovered_seqs));
  out.recovered = audit->recovered;
  return out;
}

TEST_CASE("a WAL with a torn tail recovers a consistent prefix and reports the drop",
          "[corruption][wal]") {
  std::unique_ptr<Written> w = WriteAndClose(/*flush=*/false);
  for (uint64_t cut : {1, 17, 100, 1000, 5000}) {
    std::unique_ptr<TempDir> copy = CopyOf(w->dir.path());
    const std::string wal = NewestFile(copy->path(), ".log");
    const uint64_t size = fs::file_size(wal);
    REQUIRE(size > cut);
    fs::resize_file(wal, size - cut);
    Outcome o = OpenAndCheck(copy->path(), *w);
    std::printf(
        "WAL truncated by %llu bytes: recovered %llu of %llu (a prefix), drop reported: %s\n",
        static_cast<unsigned long long>(cut), static_cast<unsigned long long>(o.recovered),
        static_cast<unsigned long long>(kWrites), o.reported_drop ? "yes" : "no");
    REQUIRE(o.kind == Outcome::kPrefix);
    CHECK(o.recovered < kWrites);
    CHECK(o.recovered + 1 + cut / 300 >= kWrites - 1);  // only the torn records are gone
    CHECK(o.reported_drop);
    if (cut == 100) std::printf("  the store's recovery report: %s\n", o.detail.c_str());
  }
}

TEST_CASE("an intact WAL replays everything and reports no drop", "[corruption][wal]") {
  std::unique_ptr<Written> w = WriteAndClose(/*flush=*/false);
  std::unique_ptr<TempDir> copy = CopyOf(w->dir.path());
  Outcome o = OpenAndCheck(copy->path(), *w);
  REQUIRE(o.kind == Outcome::kPrefix);
  CHECK(o.recovered == kWrites);
  CHECK_FALSE(o.reported_drop);
}

TEST_CASE("a bit flip anywhere in the WAL: refused or a reported prefix - never damaged data",
          "[corruption][wal]") {
  std::unique_ptr<Written> w = WriteAndClose(/*flush=*/false);
  crypto::DeterministicRandom rng(41);
  int refused = 0, prefix_short = 0, full = 0;
  for (int i = 0; i < 40; ++i) {
    std::unique_ptr<TempDir> copy = CopyOf(w->dir.path());
    const std::string wal = NewestFile(copy->path(), ".log");
    uint8_t r[5];
    rng.Fill(r);
    const uint64_t offset =
        (static_cast<uint64_t>(r[0]) << 24 | r[1] << 16 | r[2] << 8 | r[3]) % fs::file_size(wal);
    FlipByte(wal, offset, static_cast<uint8_t>(1u << (r[4] % 8)));
    Outcome o = OpenAndCheck(copy->path(), *w);
    if (o.kind != Outcome::kPrefix) {
      ++refused;
    } else if (o.recovered < kWrites) {
      ++prefix_short;
      CHECK(o.reported_drop);  // a short prefix is always reported
    } else {
      ++full;
    }
  }
  std::printf("WAL bit flips (40): refused=%d reported-prefix=%d full=%d damaged-served=0\n",
              refused, prefix_short, full);
}

TEST_CASE("a bit flip anywhere in an SST: refused on open or read - never served damaged",
          "[corruption][sst]") {
  std::unique_ptr<Written> w = WriteAndClose(/*flush=*/true);
  crypto::DeterministicRandom rng(42);
  int refused_open = 0, refused_read = 0, full = 0;
  for (int i = 0; i < 40; ++i) {
    std::unique_ptr<TempDir> copy = CopyOf(w->dir.path());
    const std::string sst = LargestFile(copy->path(), ".sst");
    uint8_t r[5];
    rng.Fill(r);
    const uint64_t offset =
        (static_cast<uint64_t>(r[0]) << 24 | r[1] << 16 | r[2] << 8 | r[3]) % fs::file_size(sst);
    FlipByte(sst, offset, static_cast<uint8_t>(1u << (r[4] % 8)));
    Outcome o = OpenAndCheck(copy->path(), *w);
    if (o.kind == Outcome::kRefusedOpen) {
      ++refused_open;
    } else if (o.kind == Outcome::kRefusedRead) {
      ++refused_read;
    } else {
      // The flip hit bytes no read needed (e.g. a filter or a property): the
      // data must then be complete.
      CHECK(o.recovered == kWrites);
      ++full;
    }
  }
  std::printf(
      "SST bit flips (40): refused-open=%d refused-read=%d full-and-intact=%d "
      "damaged-served=0\n",
      refused_open, refused_read, full);
}

TEST_CASE("a truncated SST is refused at open as corrupt", "[corruption][sst]") {
  std::unique_ptr<Written> w = WriteAndClose(/*flush=*/true);
  std::unique_ptr<TempDir> copy = CopyOf(w->dir.path());
  const std::string sst = LargestFile(copy->path(), ".sst");
  fs::resize_file(sst, fs::file_size(sst) / 2);
  auto opened = RocksDbStores::Open({.path = copy->path(), .durability = Durability::kProcess});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().code() == absl::StatusCode::kInternal);
  CHECK(absl::StartsWith(opened.status().message(), "data directory is corrupt: "));
  std::printf("truncated SST: %s\n", std::string(opened.status().message()).c_str());
}

}  // namespace
}  // namespace letterbox::storage::testing
