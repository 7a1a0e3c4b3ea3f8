// rocksdb_ceiling: RocksDB's own write and scan ceilings with the project's
// key and value shapes (docs/storage.md), measured in the same run as the
// server figures they bound (docs/performance.md, scripts/bench section 1).
//
//   rocksdb_ceiling --dir /tmp/rc --seconds 2 --json out.json
//
// Figures (each a rate over a --seconds window on a fresh column family):
//   put_nosync_1t     one mailbox envelope put (28 B key, 137 + 4 + payload
//                     B value), WAL on, sync=false, 1 thread
//   put_sync_1t       the same, sync=true, 1 thread (one fsync per put)
//   put_sync_2w       the same, sync=true, 2 writer threads
//   put_sync_16w      the same, sync=true, 16 writer threads (group commit)
//   store_nosync_1t   what MailboxStore::Store writes for one Send: a
//                     WriteBatch of the envelope put and the 36 B-key
//                     idempotency receipt (73 B), sync=false, 1 thread
//   store_sync_16w    the same, sync=true, 16 writers
//   scan_100          seek to one device's 20 B prefix and read 100 envelopes
//   hmac_franking     HMAC-SHA256 over a franking-tag input (libsodium)
// Options mirror RocksDbStores: no compression, 64 MiB write buffers, bloom
// filters, a 20-byte prefix extractor on the mailbox family.
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace {

constexpr size_t kAddrSize = 20;
constexpr size_t kEnvelopeFixed = 137;  // format .. franking tag (docs/storage.md)
constexpr size_t kReceiptSize = 1 + 8 + 4 + (20 + 8 + 32);

void PutU64(std::string& s, size_t at, uint64_t v) {
  for (int i = 7; i >= 0; --i) s[at + 7 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU32(std::string& s, size_t at, uint32_t v) {
  for (int i = 3; i >= 0; --i) s[at + 3 - i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string RandomString(size_t n) {
  std::string s(n, '\0');
  randombytes_buf(s.data(), s.size());
  return s;
}

// A device address: 16 random-looking account bytes derived from `device`,
// then u32be device id 1.
std::string Address(uint32_t device) {
  std::string a(kAddrSize, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(a.data()), 16,
                     reinterpret_cast<const unsigned char*>(&device), sizeof device, nullptr, 0);
  PutU32(a, 16, 1);
  return a;
}

struct Db {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // mailboxes, idempotency
  ~Db() {
    for (auto* h : handles) {
      if (db) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    if (db) db->Close().PermitUncheckedError();
  }
};

std::unique_ptr<Db> OpenDb(const std::string& path) {
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.max_background_jobs = 2;
  options.bytes_per_sync = 1 << 20;
  options.db_write_buffer_size = 256ull << 20;
  options.max_total_wal_size = 256ull << 20;
  options.compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions mailbox_cf(options);
  mailbox_cf.write_buffer_size = 64ull << 20;
  mailbox_cf.max_write_buffer_number = 3;
  mailbox_cf.compression = rocksdb::kNoCompression;
  mailbox_cf.bottommost_compression = rocksdb::kNoCompression;
  mailbox_cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kAddrSize));
  mailbox_cf.memtable_prefix_bloom_size_ratio = 0.05;
  mailbox_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::ColumnFamilyOptions receipt_cf(options);
  receipt_cf.write_buffer_size = 32ull << 20;
  receipt_cf.compression = rocksdb::kNoCompression;
  receipt_cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)},
      {"mailboxes", mailbox_cf},
      {"idempotency", receipt_cf}};
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = rocksdb::DB::Open(options, path, cfs, &handles, &raw);
  if (!s.ok()) {
    std::cerr << "rocksdb_ceiling: cannot open " << path << ": " << s.ToString() << "\n";
    return nullptr;
  }
  auto out = std::make_unique<Db>();
  out->db.reset(raw);
  raw->DestroyColumnFamilyHandle(handles[0]).PermitUncheckedError();
  out->handles = {handles[1], handles[2]};
  return out;
}

struct Figure {
  uint64_t ops = 0;
  double seconds = 0;
  double cpu_seconds = 0;
  uint64_t errors = 0;
  [[nodiscard]] double rate() const { return seconds > 0 ? ops / seconds : 0; }
  [[nodiscard]] nlohmann::json Json(int threads) const {
    return {{"ops", ops},       {"seconds", seconds},
            {"per_s", rate()},  {"threads", threads},
            {"errors", errors}, {"cpu_us_per_op", ops > 0 ? cpu_seconds * 1e6 / ops : 0.0}};
  }
};

// Runs `threads` writers for `seconds`; writer t writes to devices t, t +
// threads, ... with strictly increasing envelope ids. `with_receipt` adds
// the idempotency put to the same batch.
Figure RunWrites(Db& db, int threads, double seconds, bool sync, bool with_receipt,
                 size_t payload) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> next_id{1};
  std::vector<uint64_t> counts(threads, 0);
  std::vector<uint64_t> errors(threads, 0);
  std::vector<std::string> addresses;
  for (uint32_t d = 0; d < 1000; ++d) addresses.push_back(Address(d));
  const double cpu0 = bench::ProcessCpuSeconds();
  const double t0 = bench::NowSeconds();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      rocksdb::WriteOptions wo;
      wo.sync = sync;
      std::string key(kAddrSize + 8, '\0');
      std::string value = RandomString(kEnvelopeFixed + 4 + payload);
      std::string receipt_key = RandomString(kAddrSize + 16);
      std::string receipt = RandomString(kReceiptSize);
      uint32_t device = static_cast<uint32_t>(t);
      const std::string sender = Address(100000 + t);
      std::memcpy(receipt_key.data(), sender.data(), kAddrSize);
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t id = next_id.fetch_add(1, std::memory_order_relaxed);
        std::memcpy(key.data(), addresses[device % 1000].data(), kAddrSize);
        PutU64(key, kAddrSize, id);
        PutU64(value, 1, id);
        PutU64(receipt_key, kAddrSize, id);
        rocksdb::WriteBatch batch;
        rocksdb::Status s = batch.Put(db.handles[0], key, value);
        if (s.ok() && with_receipt) s = batch.Put(db.handles[1], receipt_key, receipt);
        if (s.ok()) s = db.db->Write(wo, &batch);
        if (s.ok()) {
          ++counts[t];
        } else {
          ++errors[t];
        }
        device += static_cast<uint32_t>(threads);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  Figure f;
  f.seconds = bench::NowSeconds() - t0;
  f.cpu_seconds = bench::ProcessCpuSeconds() - cpu0;
  for (int t = 0; t < threads; ++t) {
    f.ops += counts[t];
    f.errors += errors[t];
  }
  return f;
}

// Fills 200 devices with 100 envelopes each, flushes, then seeks to random
// devices and reads 100 for `seconds`.
Figure RunScans(Db& db, double seconds, size_t payload) {
  constexpr uint32_t kDevices = 200;
  std::string value = RandomString(kEnvelopeFixed + 4 + payload);
  uint64_t id = 1ull << 40;
  for (uint32_t d = 0; d < kDevices; ++d) {
    rocksdb::WriteBatch batch;
    const std::string addr = Address(500000 + d);
    for (int i = 0; i < 100; ++i) {
      std::string key = addr + std::string(8, '\0');
      PutU64(key, kAddrSize, id++);
      batch.Put(db.handles[0], key, value).PermitUncheckedError();
    }
    db.db->Write(rocksdb::WriteOptions(), &batch).PermitUncheckedError();
  }
  db.db->Flush(rocksdb::FlushOptions(), db.handles[0]).PermitUncheckedError();
  Figure f;
  const double cpu0 = bench::ProcessCpuSeconds();
  const double t0 = bench::NowSeconds();
  uint32_t d = 0;
  while (bench::NowSeconds() - t0 < seconds) {
    rocksdb::ReadOptions ro;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(db.db->NewIterator(ro, db.handles[0]));
    const std::string addr = Address(500000 + (d++ * 7919) % kDevices);
    int n = 0;
    for (it->Seek(addr); it->Valid() && n < 100; it->Next()) {
      if (it->value().size() > 0) ++n;
    }
    if (n == 100) {
      ++f.ops;
    } else {
      ++f.errors;
    }
  }
  f.seconds = bench::NowSeconds() - t0;
  f.cpu_seconds = bench::ProcessCpuSeconds() - cpu0;
  return f;
}

// HMAC-SHA256 over a franking input: label, commitment (32), sender (20),
// recipient (20), timestamp (8), message id (16), each length-prefixed.
Figure RunHmac(double seconds) {
  const std::string key = RandomString(32);
  const std::string input = RandomString(40 + 4 * 6 + 32 + 20 + 20 + 8 + 16);
  unsigned char tag[crypto_auth_hmacsha256_BYTES];
  Figure f;
  const double cpu0 = bench::ProcessCpuSeconds();
  const double t0 = bench::NowSeconds();
  while (bench::NowSeconds() - t0 < seconds) {
    for (int i = 0; i < 1000; ++i) {
      crypto_auth_hmacsha256_state st;
      crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()),
                                  key.size());
      crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(input.data()),
                                    input.size());
      crypto_auth_hmacsha256_final(&st, tag);
    }
    f.ops += 1000;
  }
  f.seconds = bench::NowSeconds() - t0;
  f.cpu_seconds = bench::ProcessCpuSeconds() - cpu0;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv);
  if (flags.Has("help")) {
    std::cout << "rocksdb_ceiling --dir DIR [--seconds 2] [--payload 256] [--json FILE]\n";
    return 0;
  }
  if (sodium_init() < 0) {
    std::cerr << "rocksdb_ceiling: libsodium failed to initialise\n";
    return 1;
  }
  const std::string dir = flags.String("dir", "/tmp/letterbox-rocksdb-ceiling");
  const double seconds = flags.Double("seconds", 2.0);
  const size_t payload = static_cast<size_t>(flags.Int("payload", 256));

  nlohmann::json out;
  out["payload_bytes"] = payload;
  out["window_seconds"] = seconds;
  struct Case {
    const char* name;
    int threads;
    bool sync;
    bool receipt;
  };
  const Case cases[] = {{"put_nosync_1t", 1, false, false},  {"put_sync_1t", 1, true, false},
                        {"put_sync_2w", 2, true, false},     {"put_sync_16w", 16, true, false},
                        {"store_nosync_1t", 1, false, true}, {"store_sync_16w", 16, true, true}};
  for (const Case& c : cases) {
    auto db = OpenDb(dir + "/" + c.name);
    if (!db) return 1;
    Figure f = RunWrites(*db, c.threads, seconds, c.sync, c.receipt, payload);
    out[c.name] = f.Json(c.threads);
    std::printf("%-16s %10.0f /s  cpu %.2f us/op  (%d thread%s, sync=%s)\n", c.name, f.rate(),
                f.ops ? f.cpu_seconds * 1e6 / f.ops : 0.0, c.threads, c.threads > 1 ? "s" : "",
                c.sync ? "true" : "false");
    if (f.errors > 0) {
      std::cerr << c.name << ": " << f.errors << " write errors\n";
      return 1;
    }
  }
  {
    auto db = OpenDb(dir + "/scan");
    if (!db) return 1;
    Figure f = RunScans(*db, seconds, payload);
    out["scan_100"] = f.Json(1);
    std::printf("%-16s %10.0f /s  (seek + read 100)\n", "scan_100", f.rate());
  }
  Figure h = RunHmac(std::min(seconds, 1.0));
  out["hmac_franking"] = h.Json(1);
  std::printf("%-16s %10.0f /s  %.2f us/op\n", "hmac_franking", h.rate(),
              h.ops ? h.seconds * 1e6 / h.ops : 0.0);
  std::filesystem::remove_all(dir);
  return bench::WriteJson(flags.String("json", ""), out) ? 0 : 1;
}
