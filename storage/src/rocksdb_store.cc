#include "letterbox/storage/rocksdb_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/status.h"
#include "letterbox/storage/codec.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "send_validation.h"

namespace letterbox::storage {
namespace {

// Column families. kDefault exists because RocksDB requires it; nothing is
// stored there.
enum Cf : size_t {
  kDefault,
  kAccounts,
  kDevices,
  kDiscovery,
  kSignedPrekeys,
  kOneTimePrekeys,
  kMailboxes,
  kIdempotency,
  kSessions,
  kOutbox,
  kMeta,
  kCfCount,
};
constexpr std::array<const char*, kCfCount> kCfNames = {
    "default",        "accounts",         "devices",   "discovery",
    "signed_prekeys", "one_time_prekeys", "mailboxes", "idempotency",
    "sessions",       "outbox",           "meta"};

// meta CF key of the envelope-id high-water mark: every id ever handed out
// is below the stored value.
constexpr std::string_view kEnvelopeIdMarkKey = "envelope_id_high_water";
// Ids reserved per durable mark update.
constexpr uint64_t kIdBlock = 1ull << 20;
// Striping of the in-memory mailbox and prekey state.
constexpr size_t kStripes = 64;
// Records deleted per WriteBatch by the expiry sweeps.
constexpr size_t kExpireChunk = 1024;

constexpr size_t kMailboxKeySize = kDeviceAddressSize + 8;
constexpr size_t kOneTimePrekeyKeySize = kDeviceAddressSize + 4;

rocksdb::Slice ToSlice(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }
ByteView ToView(const rocksdb::Slice& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
bool StartsWith(const rocksdb::Slice& s, ByteView prefix) {
  return s.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), s.data(),
                    [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); });
}
uint64_t ReadBigEndian(const rocksdb::Slice& s, size_t offset, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(s[offset + i]);
  return v;
}

// Every engine failure reaches callers as this: the server logs it, clients
// see "internal error". Deliberately without the RocksDB text, which may
// name files.
absl::Status EngineError() { return absl::InternalError("storage engine error"); }

std::string LockKey(char kind, ByteView bytes) {
  std::string key(1, kind);
  key.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return key;
}

// Exclusive per-key locks for read-check-write sequences (account creation,
// device changes, prekey uploads, session and report inserts). The internal
// mutex is held only while the key set is checked and marked, never across
// I/O, so a synced write under a key lock blocks only operations on the same
// keys, which must be ordered after it anyway. A set of keys is taken all at
// once (wait until every key is free), so no ordering is needed.
class KeyLocks {
 public:
  class Guard {
   public:
    Guard(KeyLocks& locks, std::vector<std::string> keys) : locks_(locks), keys_(std::move(keys)) {
      locks_.Acquire(keys_);
    }
    ~Guard() { locks_.Release(keys_); }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;

   private:
    KeyLocks& locks_;
    std::vector<std::string> keys_;
  };

 private:
  struct Waiter {
    KeyLocks* self;
    const std::vector<std::string>* keys;
  };
  static bool AllFree(Waiter* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return std::none_of(w->keys->begin(), w->keys->end(),
                        [&](const std::string& k) { return w->self->held_.contains(k); });
  }
  void Acquire(const std::vector<std::string>& keys) {
    Waiter w{this, &keys};
    mu_.LockWhen(absl::Condition(&AllFree, &w));
    for (const std::string& k : keys) held_.insert(k);
    mu_.Unlock();
  }
  void Release(const std::vector<std::string>& keys) {
    absl::MutexLock lock(&mu_);
    for (const std::string& k : keys) held_.erase(k);
  }

  absl::Mutex mu_;
  absl::flat_hash_set<std::string> held_ ABSL_GUARDED_BY(mu_);
};

// A WriteBatch that remembers its first error, so building it needs no
// status check per call.
class Batch {
 public:
  void Put(rocksdb::ColumnFamilyHandle* cf, ByteView key, ByteView value) {
    Keep(batch_.Put(cf, ToSlice(key), ToSlice(value)));
  }
  void Delete(rocksdb::ColumnFamilyHandle* cf, ByteView key) {
    Keep(batch_.Delete(cf, ToSlice(key)));
  }
  void Delete(rocksdb::ColumnFamilyHandle* cf, const rocksdb::Slice& key) {
    Keep(batch_.Delete(cf, key));
  }
  [[nodiscard]] bool ok() const { return status_.ok(); }
  [[nodiscard]] size_t count() const { return static_cast<size_t>(batch_.Count()); }
  rocksdb::WriteBatch* get() { return &batch_; }

 private:
  void Keep(const rocksdb::Status& s) {
    if (status_.ok() && !s.ok()) status_ = s;
  }
  rocksdb::WriteBatch batch_;
  rocksdb::Status status_;
};

// Owns the DB and its column-family handles (released before the DB) and
// turns every rocksdb::Status into an absl::Status.
class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Open(const RocksDbOptions& options);

  ~Engine() {
    handles_.clear();
    if (db_ != nullptr) db_->Close().PermitUncheckedError();  // nothing to do on failure
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[c].get(); }
  rocksdb::DB* db() const { return db_.get(); }
  bool read_only() const { return read_only_; }
  const RocksDbStores::RecoveryReport& recovery() const { return recovery_; }

  [[nodiscard]] absl::Status CheckWritable() const {
    if (read_only_) return absl::FailedPreconditionError("store is open read-only");
    return absl::OkStatus();
  }

  // The value at `key`, or nullopt if absent.
  [[nodiscard]] absl::StatusOr<std::optional<std::string>> Get(Cf c, ByteView key) const {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(c), ToSlice(key), &value);
    if (s.IsNotFound()) return std::nullopt;
    if (!s.ok()) return EngineError();
    return value;
  }

  // Applies `batch` atomically. `durable` writes are synced in kFsync mode;
  // the others (deletions whose loss at a power cut only repeats work) never
  // are.
  [[nodiscard]] absl::Status Write(Batch& batch, bool durable) {
    LB_RETURN_IF_ERROR(CheckWritable());
    if (!batch.ok()) return EngineError();
    if (batch.count() == 0) return absl::OkStatus();
    rocksdb::WriteOptions wo;
    wo.sync = durable && durability_ == Durability::kFsync;
    if (!db_->Write(wo, batch.get()).ok()) return EngineError();
    return absl::OkStatus();
  }

  // Writes `batch` with sync=true whatever the durability mode.
  [[nodiscard]] absl::Status WriteSynced(Batch& batch) {
    LB_RETURN_IF_ERROR(CheckWritable());
    if (!batch.ok()) return EngineError();
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (!db_->Write(wo, batch.get()).ok()) return EngineError();
    return absl::OkStatus();
  }

  // Calls fn(key, value) for each entry whose key starts with `prefix`, in
  // key order, starting at `start` (which must itself start with `prefix`;
  // empty means the prefix itself), until fn returns false.
  template <typename Fn>
  [[nodiscard]] absl::Status ScanPrefix(Cf c, ByteView prefix, ByteView start, Fn&& fn) const {
    std::unique_ptr<rocksdb::Iterator> it = NewPrefixIterator(c, prefix);
    return ScanWith(it.get(), prefix, start, std::forward<Fn>(fn));
  }

  // A new iterator for a scan of `prefix` (see ScanWith), reading the state
  // at the moment of the call.
  [[nodiscard]] std::unique_ptr<rocksdb::Iterator> NewPrefixIterator(Cf c, ByteView prefix) const {
    rocksdb::ReadOptions ro;
    // Mailbox and one-time prekey scans are by exactly the 20-byte prefix
    // their column families extract, so they may use the prefix blooms.
    ro.prefix_same_as_start =
        prefix.size() == kDeviceAddressSize && (c == kMailboxes || c == kOneTimePrekeys);
    ro.total_order_seek = !ro.prefix_same_as_start;
    return std::unique_ptr<rocksdb::Iterator>(db_->NewIterator(ro, cf(c)));
  }

  template <typename Fn>
  [[nodiscard]] static absl::Status ScanWith(rocksdb::Iterator* it, ByteView prefix, ByteView start,
                                             Fn&& fn) {
    it->Seek(ToSlice(start.empty() ? prefix : start));
    for (; it->Valid() && StartsWith(it->key(), prefix); it->Next()) {
      if (!fn(it->key(), it->value())) break;
    }
    if (!it->status().ok()) return EngineError();
    return absl::OkStatus();
  }

  // Calls fn(key, value) for every entry of the column family, in key order.
  template <typename Fn>
  [[nodiscard]] absl::Status ScanAll(Cf c, Fn&& fn) const {
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(c)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      if (!fn(it->key(), it->value())) break;
    }
    if (!it->status().ok()) return EngineError();
    return absl::OkStatus();
  }

  [[nodiscard]] absl::Status Flush() {
    if (read_only_) return absl::OkStatus();
    if (!db_->FlushWAL(/*sync=*/true).ok()) return EngineError();
    std::vector<rocksdb::ColumnFamilyHandle*> all;
    for (const auto& h : handles_) all.push_back(h.get());
    if (!db_->Flush(rocksdb::FlushOptions(), all).ok()) return EngineError();
    return absl::OkStatus();
  }

  uint64_t SumIntProperty(const std::string& property) const {
    uint64_t sum = 0;
    for (const auto& h : handles_) {
      uint64_t v = 0;
      if (db_->GetIntProperty(h.get(), property, &v)) sum += v;
    }
    return sum;
  }

 private:
  struct HandleDeleter {
    rocksdb::DB* db;
    void operator()(rocksdb::ColumnFamilyHandle* h) const {
      db->DestroyColumnFamilyHandle(h).PermitUncheckedError();  // cannot fail for a live DB
    }
  };

  Engine(std::unique_ptr<rocksdb::DB> db, std::vector<rocksdb::ColumnFamilyHandle*> handles,
         bool read_only, Durability durability)
      : db_(std::move(db)), read_only_(read_only), durability_(durability) {
    for (rocksdb::ColumnFamilyHandle* h : handles)
      handles_.emplace_back(h, HandleDeleter{db_.get()});
  }

  // Declared first, destroyed last: every handle is released before the DB.
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle, HandleDeleter>> handles_;
  bool read_only_;
  Durability durability_;
  RocksDbStores::RecoveryReport recovery_;
};

// Discards RocksDB's informational log, so a read-only open creates no file.
class DiscardLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

// Forwards RocksDB's info log to `target` and remembers the line in which WAL
// recovery reported a damaged or torn record it stopped at (in
// kPointInTimeRecovery RocksDB drops that record and everything after it and
// opens anyway). The line holds a file name, a byte count and a reason, never
// data.
class RecoveryWatchLogger final : public rocksdb::Logger {
 public:
  explicit RecoveryWatchLogger(std::shared_ptr<rocksdb::Logger> target)
      : rocksdb::Logger(target->GetInfoLogLevel()), target_(std::move(target)) {}
  ~RecoveryWatchLogger() override { closed_ = true; }  // the target closes itself

  using rocksdb::Logger::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    va_list copy;
    va_copy(copy, ap);
    std::array<char, 512> line{};
    std::vsnprintf(line.data(), line.size(), format, copy);
    va_end(copy);
    Inspect(line.data());
    target_->Logv(level, format, ap);
  }
  size_t GetLogFileSize() const override { return target_->GetLogFileSize(); }
  void Flush() override { target_->Flush(); }
  rocksdb::InfoLogLevel GetInfoLogLevel() const override { return target_->GetInfoLogLevel(); }
  void SetInfoLogLevel(const rocksdb::InfoLogLevel level) override {
    target_->SetInfoLogLevel(level);
  }

  // What recovery reported so far.
  RocksDbStores::RecoveryReport Report() const {
    absl::MutexLock lock(&mu_);
    return report_;
  }

 protected:
  rocksdb::Status CloseImpl() override { return target_->Close(); }

 private:
  void Inspect(std::string_view line) {
    // RocksDB 7.8 db_impl_open.cc: LogReporter::Corruption ("<wal>: dropping
    // N bytes; <reason>") and the point-in-time stop ("Point in time
    // recovered to log #N seq #M").
    const bool dropped = line.find(": dropping ") != std::string_view::npos &&
                         line.find(".log") != std::string_view::npos;
    const bool stopped = line.find("Point in time recovered to log") != std::string_view::npos;
    if (!dropped && !stopped) return;
    absl::MutexLock lock(&mu_);
    report_.wal_tail_dropped = true;
    if (!report_.detail.empty()) report_.detail += "; ";
    report_.detail.append(line.substr(0, 300));
  }

  std::shared_ptr<rocksdb::Logger> target_;
  mutable absl::Mutex mu_;
  RocksDbStores::RecoveryReport report_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::unique_ptr<Engine>> Engine::Open(const RocksDbOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("no data directory given");
  rocksdb::Env* env =
      options.env != nullptr ? static_cast<rocksdb::Env*>(options.env) : rocksdb::Env::Default();
  if (options.read_only) {
    // RocksDB would create a missing directory even for a read-only open.
    if (!env->FileExists(options.path + "/CURRENT").ok()) {
      return absl::InternalError("cannot open data directory: no database at " + options.path);
    }
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;           // the target machine has two cores
  db_options.bytes_per_sync = 1 << 20;          // smooth SST writeback
  db_options.db_write_buffer_size = 256 << 20;  // all memtables together
  db_options.max_total_wal_size = 256 << 20;    // quiet CFs must not pin old WALs forever
  db_options.keep_log_file_num = 4;
  // Two cores: parallel memtable inserts within a write group buy little and
  // cost atomic skiplist inserts; sequential inserts can use the hints below.
  db_options.allow_concurrent_memtable_write = false;
  db_options.max_log_file_size = 8 << 20;
  // Corruption handling (docs/storage.md, "Durability and faults"): replay
  // the WAL up to the first damaged or torn record and stop there, so the
  // store opens on a consistent prefix (a torn tail is what a power cut
  // leaves); stop with an error on any inconsistency RocksDB can detect
  // (paranoid_checks: SST sizes, MANIFEST, a WAL gap that would leave a hole);
  // every block read is checksum-verified (ReadOptions::verify_checksums,
  // true by default and never turned off here).
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  db_options.paranoid_checks = true;
  db_options.skip_checking_sst_file_sizes_on_db_open = false;
  db_options.env = env;
  std::shared_ptr<rocksdb::Logger> base_logger;
  if (options.read_only) {
    base_logger = std::make_shared<DiscardLogger>();
  } else {
    rocksdb::Status log_status =
        rocksdb::CreateLoggerFromOptions(options.path, db_options, &base_logger);
    if (!log_status.ok()) {
      return absl::InternalError("cannot open data directory: " + log_status.ToString());
    }
  }
  auto recovery_logger = std::make_shared<RecoveryWatchLogger>(std::move(base_logger));
  db_options.info_log = recovery_logger;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.format_version = 5;
  table.checksum = rocksdb::kCRC32c;  // every block carries one; reads verify it
  std::shared_ptr<rocksdb::TableFactory> table_factory(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (size_t i = 0; i < kCfCount; ++i) {
    rocksdb::ColumnFamilyOptions cf;
    // Values are ciphertext, public keys, signatures, random ids: nothing
    // compresses, so compression would only cost CPU.
    cf.compression = rocksdb::kNoCompression;
    cf.bottommost_compression = rocksdb::kNoCompression;
    cf.table_factory = table_factory;
    cf.level_compaction_dynamic_level_bytes = true;
    cf.write_buffer_size = 8 << 20;
    cf.max_write_buffer_number = 2;
    if (i == kMailboxes || i == kOneTimePrekeys) {
      cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kDeviceAddressSize));
      cf.memtable_prefix_bloom_size_ratio = 0.05;
    }
    if (i == kMailboxes) {
      cf.write_buffer_size = 64 << 20;
      cf.max_write_buffer_number = 3;
      // A device's envelope ids only grow, so each insert lands right after
      // the previous one of the same device: the per-prefix hint skips the
      // skiplist search (used only without concurrent memtable writes).
      cf.memtable_insert_with_hint_prefix_extractor.reset(
          rocksdb::NewFixedPrefixTransform(kDeviceAddressSize));
    }
    if (i == kIdempotency) {
      cf.write_buffer_size = 32 << 20;
      // Nearly every lookup here (one per Send) misses: a whole-key bloom in
      // the memtable answers most of them without searching the skiplist.
      cf.memtable_whole_key_filtering = true;
      cf.memtable_prefix_bloom_size_ratio = 0.02;
    }
    descriptors.emplace_back(kCfNames[i], cf);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s =
      options.read_only
          ? rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &raw_handles,
                                         &raw_db)
          : rocksdb::DB::Open(db_options, options.path, descriptors, &raw_handles, &raw_db);
  if (!s.ok()) {
    if (s.IsCorruption()) return absl::InternalError("data directory is corrupt: " + s.ToString());
    return absl::InternalError("cannot open data directory: " + s.ToString());
  }
  auto engine = std::unique_ptr<Engine>(new Engine(std::unique_ptr<rocksdb::DB>(raw_db),
                                                   std::move(raw_handles), options.read_only,
                                                   options.durability));
  engine->recovery_ = recovery_logger->Report();
  if (engine->recovery_.wal_tail_dropped) {
    rocksdb::Warn(recovery_logger.get(),
                  "letterbox: WAL recovery stopped at a damaged or torn record; writes after it "
                  "were discarded: %s",
                  engine->recovery_.detail.c_str());
  }
  return engine;
}

// Envelope ids: an atomic counter whose range is covered by a durable
// high-water mark in the meta CF. A new mark is written with sync=true before
// any id below it is handed out, so after any crash the next process starts
// at the stored mark, above every id that may have been used.
class IdAllocator {
 public:
  IdAllocator(Engine& engine, uint64_t mark)
      : engine_(engine), next_(std::max<uint64_t>(mark, 1)), limit_(std::max<uint64_t>(mark, 1)) {}

  // Makes sure at least `n` + half a block of ids are covered by the mark.
  // Called before any stripe lock is taken, so the synced mark write
  // normally happens with no lock held.
  [[nodiscard]] absl::Status EnsureCapacity(uint64_t n) {
    const uint64_t wanted = next_.load() + n + kIdBlock / 2;
    if (limit_.load() >= wanted) return absl::OkStatus();
    return ExtendTo(wanted);
  }

  // Hands out `n` consecutive ids and returns the first. If more than half a
  // block was taken since EnsureCapacity (thousands of concurrent Sends), the
  // mark is extended here, which is the one synced write that may run under
  // the caller's stripe locks.
  [[nodiscard]] absl::StatusOr<EnvelopeId> Take(uint64_t n) {
    const uint64_t first = next_.fetch_add(n);
    if (first + n > limit_.load()) LB_RETURN_IF_ERROR(ExtendTo(first + n));
    return first;
  }

 private:
  absl::Status ExtendTo(uint64_t wanted) {
    absl::MutexLock lock(&mu_);
    const uint64_t limit = limit_.load();
    if (limit >= wanted) return absl::OkStatus();
    const uint64_t new_limit = std::max(limit, wanted) + kIdBlock;
    Batch batch;
    batch.Put(engine_.cf(kMeta), crypto::AsBytes(kEnvelopeIdMarkKey), EncodeCounter(new_limit));
    LB_RETURN_IF_ERROR(engine_.WriteSynced(batch));
    limit_.store(new_limit);
    return absl::OkStatus();
  }

  Engine& engine_;
  std::atomic<uint64_t> next_;
  std::atomic<uint64_t> limit_;  // ids below this are covered by the stored mark
  absl::Mutex mu_;               // serialises mark writes
};

// --- Mailboxes ---

// What the process knows about one device's mailbox. Loaded lazily by
// scanning the device's prefix, so nothing needs to be stored for it.
struct DeviceMailbox {
  bool loaded = false;
  uint64_t count = 0;           // stored envelopes, not counting those being deleted
  uint64_t bytes = 0;           // their ciphertext bytes
  uint64_t reserved_count = 0;  // envelopes of Stores whose write is in flight
  uint64_t reserved_bytes = 0;
  std::set<EnvelopeId> storing;              // ids of those envelopes
  absl::flat_hash_set<EnvelopeId> deleting;  // ids whose deletion is in flight
  bool idle() const { return reserved_count == 0 && storing.empty() && deleting.empty(); }
};

struct MailboxStripe {
  absl::Mutex mu;
  absl::flat_hash_map<DeviceAddress, DeviceMailbox> devices ABSL_GUARDED_BY(mu);
  // Receipt keys (sender ‖ message id) of Stores whose write is in flight.
  absl::flat_hash_set<std::string> sending ABSL_GUARDED_BY(mu);
};

// The bytes an envelope value is charged against the byte cap: its
// ciphertext, or the raw value size if it does not decode.
uint64_t ChargedBytes(const rocksdb::Slice& value) {
  absl::StatusOr<Envelope> e = DecodeEnvelope(ToView(value));
  return e.ok() ? e->ciphertext.size() : value.size();
}

// Locks a set of stripes in increasing index order (no deadlock), unlocks
// them on destruction.
template <typename Stripe>
class StripeLocks {
 public:
  StripeLocks(std::array<Stripe, kStripes>& stripes, const std::vector<size_t>& sorted)
      : stripes_(stripes), indexes_(sorted) {
    LockAll();
  }
  ~StripeLocks() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (auto it = indexes_.rbegin(); it != indexes_.rend(); ++it) stripes_[*it].mu.Unlock();
  }
  StripeLocks(const StripeLocks&) = delete;
  StripeLocks& operator=(const StripeLocks&) = delete;

 private:
  void LockAll() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    for (size_t i : indexes_) stripes_[i].mu.Lock();
  }

  std::array<Stripe, kStripes>& stripes_;
  std::vector<size_t> indexes_;
};

size_t StripeOf(const DeviceAddress& a) { return absl::Hash<DeviceAddress>{}(a) % kStripes; }

class RocksMailboxes final : public MailboxStore {
 public:
  RocksMailboxes(Engine& engine, IdAllocator& ids) : engine_(engine), ids_(ids) {}

  absl::StatusOr<StoreResult> Store(std::vector<Envelope> envelopes,
                                    const MailboxLimits& limits) override {
    LB_RETURN_IF_ERROR(internal::ValidateSend(envelopes));
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    LB_RETURN_IF_ERROR(ids_.EnsureCapacity(envelopes.size()));

    const DeviceAddress sender = envelopes.front().sender;
    const Bytes receipt_key = ReceiptKey(sender, envelopes.front().message_id);
    const std::string sending_key = crypto::ToString(receipt_key);
    std::map<DeviceAddress, MailboxStats> added;
    for (const Envelope& e : envelopes) {
      added[e.recipient].envelopes += 1;
      added[e.recipient].bytes += e.ciphertext.size();
    }
    std::vector<size_t> stripe_ids = {StripeOf(sender)};
    for (const auto& [recipient, add] : added) stripe_ids.push_back(StripeOf(recipient));
    std::sort(stripe_ids.begin(), stripe_ids.end());
    stripe_ids.erase(std::unique(stripe_ids.begin(), stripe_ids.end()), stripe_ids.end());
    MailboxStripe& sender_stripe = stripes_[StripeOf(sender)];

    // Phase 1, under the stripes: idempotency check and quota reservation.
    {
      StripeLocks locks(stripes_, stripe_ids);
      if (sender_stripe.sending.contains(sending_key)) {
        return absl::UnavailableError("the same message is being stored; retry");
      }
      LB_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                          engine_.Get(kIdempotency, receipt_key));
      if (existing) {
        LB_ASSIGN_OR_RETURN(SendReceipt receipt, DecodeSendReceipt(crypto::AsBytes(*existing)));
        return StoreResult{std::move(receipt), /*duplicate=*/true};
      }
      for (const auto& [recipient, add] : added) {
        LB_ASSIGN_OR_RETURN(DeviceMailbox * box, LoadLocked(recipient));
        if (box->count + box->reserved_count + add.envelopes > limits.max_envelopes ||
            box->bytes + box->reserved_bytes + add.bytes > limits.max_bytes) {
          return absl::ResourceExhaustedError("recipient mailbox is full");
        }
      }
      LB_ASSIGN_OR_RETURN(EnvelopeId first, ids_.Take(envelopes.size()));
      for (Envelope& e : envelopes) {
        e.id = first++;
        Box(e.recipient).storing.insert(e.id);
      }
      for (const auto& [recipient, add] : added) {
        DeviceMailbox& box = Box(recipient);
        box.reserved_count += add.envelopes;
        box.reserved_bytes += add.bytes;
      }
      sender_stripe.sending.insert(sending_key);
    }

    // Phase 2, no lock held: the one atomic (and, in kFsync mode, synced)
    // write of every envelope and the receipt.
    SendReceipt receipt = internal::MakeReceipt(envelopes);
    Batch batch;
    for (const Envelope& e : envelopes) {
      batch.Put(engine_.cf(kMailboxes), MailboxKey(e.recipient, e.id), EncodeEnvelope(e));
    }
    batch.Put(engine_.cf(kIdempotency), receipt_key, EncodeSendReceipt(receipt));
    const absl::Status written = engine_.Write(batch, /*durable=*/true);

    // Phase 3, under the stripes: commit or roll back the reservation.
    {
      StripeLocks locks(stripes_, stripe_ids);
      for (const auto& [recipient, add] : added) {
        DeviceMailbox& box = Box(recipient);
        box.reserved_count = internal::SaturatingSub(box.reserved_count, add.envelopes);
        box.reserved_bytes = internal::SaturatingSub(box.reserved_bytes, add.bytes);
        if (written.ok()) {
          box.count += add.envelopes;
          box.bytes += add.bytes;
        }
      }
      for (const Envelope& e : envelopes) Box(e.recipient).storing.erase(e.id);
      sender_stripe.sending.erase(sending_key);
    }
    LB_RETURN_IF_ERROR(written);
    return StoreResult{std::move(receipt), /*duplicate=*/false};
  }

  absl::StatusOr<FetchResult> Fetch(const DeviceAddress& device, EnvelopeId after, uint32_t limit,
                                    int64_t not_before_micros) override {
    FetchResult out;
    if (after == UINT64_MAX) return out;
    const Bytes prefix = DeviceKey(device);
    // Ids are allocated under the device's stripe in increasing order, but
    // two Stores' writes may land in either order. Envelopes at or above the
    // lowest id still being written are withheld, so a reader paging with
    // `after` never skips an envelope that lands late. The iterator is
    // created under the same lock, so every id it holds below the watermark
    // belongs to a finished Store.
    EnvelopeId watermark = UINT64_MAX;
    std::unique_ptr<rocksdb::Iterator> it;
    {
      MailboxStripe& stripe = stripes_[StripeOf(device)];
      absl::MutexLock lock(&stripe.mu);
      auto box = stripe.devices.find(device);
      if (box != stripe.devices.end() && !box->second.storing.empty()) {
        watermark = *box->second.storing.begin();
      }
      it = engine_.NewPrefixIterator(kMailboxes, prefix);
    }
    const Bytes start = MailboxKey(device, after + 1);
    LB_RETURN_IF_ERROR(Engine::ScanWith(
        it.get(), prefix, start, [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
          if (key.size() != kMailboxKeySize) return true;
          if (ReadBigEndian(key, kDeviceAddressSize, 8) >= watermark) {
            out.more = true;
            return false;
          }
          absl::StatusOr<Envelope> e = DecodeEnvelope(ToView(value));
          // A damaged envelope is never served; Ack or Expire removes it.
          if (!e.ok() || e->server_timestamp_micros < not_before_micros) return true;
          if (out.envelopes.size() >= limit) {
            out.more = true;
            return false;
          }
          out.envelopes.push_back(*std::move(e));
          return true;
        }));
    return out;
  }

  absl::StatusOr<uint32_t> Ack(const DeviceAddress& device,
                               const std::vector<EnvelopeId>& ids) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    std::vector<std::string> keys;
    for (EnvelopeId id : std::set<EnvelopeId>(ids.begin(), ids.end())) {
      keys.push_back(crypto::ToString(MailboxKey(device, id)));
    }
    LB_ASSIGN_OR_RETURN(uint64_t deleted, DeleteEnvelopes(device, keys));
    return static_cast<uint32_t>(deleted);
  }

  absl::StatusOr<MailboxStats> Stats(const DeviceAddress& device) override {
    MailboxStripe& stripe = stripes_[StripeOf(device)];
    absl::MutexLock lock(&stripe.mu);
    LB_ASSIGN_OR_RETURN(DeviceMailbox * box, LoadLocked(device));
    return MailboxStats{box->count, box->bytes};
  }

  absl::StatusOr<uint64_t> Expire(int64_t not_before_micros) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    uint64_t removed = 0;

    // Envelopes, grouped by device so the counters stay exact.
    std::map<DeviceAddress, std::vector<std::string>> expired;
    size_t pending = 0;
    auto flush = [&]() -> absl::Status {
      for (const auto& [device, keys] : expired) {
        LB_ASSIGN_OR_RETURN(uint64_t n, DeleteEnvelopes(device, keys));
        removed += n;
      }
      expired.clear();
      pending = 0;
      return absl::OkStatus();
    };
    absl::Status inner;
    LB_RETURN_IF_ERROR(
        engine_.ScanAll(kMailboxes, [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
          if (key.size() != kMailboxKeySize) return true;
          absl::StatusOr<Envelope> e = DecodeEnvelope(ToView(value));
          if (e.ok() && e->server_timestamp_micros >= not_before_micros) return true;
          // Undecodable envelopes can never be delivered, so they go too.
          absl::StatusOr<DeviceAddress> device =
              DecodeDeviceAddress(ToView(key).first(kDeviceAddressSize));
          if (!device.ok()) return true;
          expired[*device].push_back(key.ToString());
          if (++pending >= kExpireChunk) {
            inner = flush();
            if (!inner.ok()) return false;
          }
          return true;
        }));
    LB_RETURN_IF_ERROR(inner);
    LB_RETURN_IF_ERROR(flush());

    // Receipts: no in-memory state, plain batched deletes.
    Batch batch;
    LB_RETURN_IF_ERROR(
        engine_.ScanAll(kIdempotency, [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
          absl::StatusOr<SendReceipt> r = DecodeSendReceipt(ToView(value));
          if (r.ok() && r->server_timestamp_micros >= not_before_micros) return true;
          batch.Delete(engine_.cf(kIdempotency), key);
          if (batch.count() >= kExpireChunk) {
            inner = engine_.Write(batch, /*durable=*/false);
            if (!inner.ok()) return false;
            removed += batch.count();
            batch = Batch();
          }
          return true;
        }));
    LB_RETURN_IF_ERROR(inner);
    LB_RETURN_IF_ERROR(engine_.Write(batch, /*durable=*/false));
    removed += batch.count();
    return removed;
  }

  // After RemoveDevice deleted the device's mailbox: its counters are zero.
  void ForgetDevice(const DeviceAddress& device) {
    MailboxStripe& stripe = stripes_[StripeOf(device)];
    absl::MutexLock lock(&stripe.mu);
    auto it = stripe.devices.find(device);
    if (it == stripe.devices.end()) return;
    if (it->second.idle()) {
      stripe.devices.erase(it);
      return;
    }
    it->second.loaded = true;
    it->second.count = 0;
    it->second.bytes = 0;
  }

 private:
  // The device's entry (created unloaded if absent). Caller holds its stripe.
  DeviceMailbox& Box(const DeviceAddress& device) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return stripes_[StripeOf(device)].devices[device];
  }

  // The device's entry with counters loaded. Caller holds its stripe. An
  // entry is loaded only while nothing is in flight for the device (no
  // reservation exists before loading, and deletions in flight are skipped),
  // so the scan and the in-flight bookkeeping cannot double count.
  absl::StatusOr<DeviceMailbox*> LoadLocked(const DeviceAddress& device) {
    DeviceMailbox& box = Box(device);
    if (box.loaded) return &box;
    uint64_t count = 0;
    uint64_t bytes = 0;
    LB_RETURN_IF_ERROR(
        engine_.ScanPrefix(kMailboxes, DeviceKey(device), {},
                           [&](const rocksdb::Slice& key, const rocksdb::Slice& value) {
                             if (key.size() != kMailboxKeySize) return true;
                             if (box.deleting.contains(ReadBigEndian(key, kDeviceAddressSize, 8)))
                               return true;
                             count += 1;
                             bytes += ChargedBytes(value);
                             return true;
                           }));
    box.loaded = true;
    box.count = count;
    box.bytes = bytes;
    return &box;
  }

  // Deletes the mailbox entries `keys` of `device` that exist, in one batch,
  // and returns how many did. Under the stripe each existing entry is marked
  // as being deleted and taken off the counters; the write runs with no lock
  // held; a failed write puts them back. A concurrent delete of the same
  // entry sees the mark and skips it, so each entry is counted once.
  absl::StatusOr<uint64_t> DeleteEnvelopes(const DeviceAddress& device,
                                           const std::vector<std::string>& keys) {
    MailboxStripe& stripe = stripes_[StripeOf(device)];
    std::vector<std::pair<EnvelopeId, uint64_t>> marked;  // id, charged bytes
    Batch batch;
    {
      absl::MutexLock lock(&stripe.mu);
      DeviceMailbox& box = stripe.devices[device];
      for (const std::string& key : keys) {
        const EnvelopeId id = ReadBigEndian(key, kDeviceAddressSize, 8);
        if (box.deleting.contains(id) || box.storing.contains(id)) continue;
        absl::StatusOr<std::optional<std::string>> value =
            engine_.Get(kMailboxes, crypto::AsBytes(key));
        if (!value.ok()) {
          if (box.idle() && !box.loaded) stripe.devices.erase(device);
          return value.status();
        }
        if (!value->has_value()) continue;
        const uint64_t charged = ChargedBytes(**value);
        box.deleting.insert(id);
        if (box.loaded) {
          box.count = internal::SaturatingSub(box.count, 1);
          box.bytes = internal::SaturatingSub(box.bytes, charged);
        }
        marked.emplace_back(id, charged);
        batch.Delete(engine_.cf(kMailboxes), rocksdb::Slice(key));
      }
      if (marked.empty()) {
        if (box.idle() && !box.loaded) stripe.devices.erase(device);
        return 0;
      }
    }
    // Deletions are not synced even in kFsync mode: losing one at a power
    // cut only redelivers an acknowledged envelope, which clients de-duplicate
    // by message id, or leaves an expired one for the next sweep.
    const absl::Status written = engine_.Write(batch, /*durable=*/false);
    {
      absl::MutexLock lock(&stripe.mu);
      DeviceMailbox& box = stripe.devices[device];
      for (const auto& [id, charged] : marked) {
        box.deleting.erase(id);
        if (!written.ok() && box.loaded) {
          box.count += 1;
          box.bytes += charged;
        }
      }
      if (box.idle() && !box.loaded) stripe.devices.erase(device);
    }
    LB_RETURN_IF_ERROR(written);
    return marked.size();
  }

  Engine& engine_;
  IdAllocator& ids_;
  std::array<MailboxStripe, kStripes> stripes_;
};

// --- Prekeys ---

struct PrekeyStripe {
  absl::Mutex mu;
  // One-time prekey ids whose claim (delete) is being written, per device.
  absl::flat_hash_map<DeviceAddress, absl::flat_hash_set<uint32_t>> claiming ABSL_GUARDED_BY(mu);
};

class RocksPrekeys final : public PrekeyStore {
 public:
  RocksPrekeys(Engine& engine, KeyLocks& locks) : engine_(engine), locks_(locks) {}

  absl::Status SetSignedPrekey(const DeviceAddress& device, const SignedPrekey& prekey) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    const Bytes key = DeviceKey(device);
    KeyLocks::Guard guard(locks_, {LockKey('d', key)});
    LB_RETURN_IF_ERROR(RequireDevice(key));
    Batch batch;
    batch.Put(engine_.cf(kSignedPrekeys), key, EncodeSignedPrekey(prekey));
    return engine_.Write(batch, /*durable=*/true);
  }

  absl::Status AddOneTimePrekeys(const DeviceAddress& device,
                                 const std::vector<OneTimePrekey>& prekeys,
                                 uint32_t max_pool) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    const Bytes key = DeviceKey(device);
    KeyLocks::Guard guard(locks_, {LockKey('d', key)});
    LB_RETURN_IF_ERROR(RequireDevice(key));
    // Keys being claimed still count: their deletes have not landed.
    absl::flat_hash_set<uint32_t> pool;
    LB_RETURN_IF_ERROR(engine_.ScanPrefix(
        kOneTimePrekeys, key, {}, [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
          if (k.size() == kOneTimePrekeyKeySize) {
            pool.insert(static_cast<uint32_t>(ReadBigEndian(k, kDeviceAddressSize, 4)));
          }
          return true;
        }));
    for (const OneTimePrekey& p : prekeys) pool.insert(p.key_id);
    if (pool.size() > max_pool) {
      return absl::ResourceExhaustedError("one-time prekey pool would exceed its cap");
    }
    Batch batch;
    for (const OneTimePrekey& p : prekeys) {
      batch.Put(engine_.cf(kOneTimePrekeys), OneTimePrekeyKey(device, p.key_id),
                EncodeOneTimePrekey(p));
    }
    return engine_.Write(batch, /*durable=*/true);
  }

  // One-time prekeys go to exactly one claimant through a per-device set of
  // key ids being claimed: under the device's stripe, the lowest key not in
  // the set is chosen and added; the delete is written with no lock held
  // (synced in kFsync mode, so a key is not handed out twice after a power
  // cut); then the id leaves the set. A claimant that starts while another's
  // delete is in flight skips that key; one that starts after it sees the
  // delete.
  absl::StatusOr<ClaimedPrekeys> Claim(const DeviceAddress& device) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    const Bytes key = DeviceKey(device);
    LB_ASSIGN_OR_RETURN(std::optional<std::string> spk, engine_.Get(kSignedPrekeys, key));
    if (!spk) return absl::NotFoundError("no signed prekey for device");
    ClaimedPrekeys out;
    LB_ASSIGN_OR_RETURN(out.signed_prekey, DecodeSignedPrekey(crypto::AsBytes(*spk)));

    PrekeyStripe& stripe = stripes_[StripeOf(device)];
    {
      absl::MutexLock lock(&stripe.mu);
      absl::flat_hash_set<uint32_t>& claiming = stripe.claiming[device];
      absl::Status scanned = engine_.ScanPrefix(
          kOneTimePrekeys, key, {}, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
            if (k.size() != kOneTimePrekeyKeySize) return true;
            const auto id = static_cast<uint32_t>(ReadBigEndian(k, kDeviceAddressSize, 4));
            if (claiming.contains(id)) return true;
            absl::StatusOr<OneTimePrekey> p = DecodeOneTimePrekey(ToView(v));
            if (!p.ok() || p->key_id != id) return true;  // never hand out a damaged key
            out.one_time_prekey = *p;
            claiming.insert(id);
            return false;
          });
      if (!scanned.ok() || !out.one_time_prekey) {
        if (claiming.empty()) stripe.claiming.erase(device);
        LB_RETURN_IF_ERROR(scanned);
        return out;
      }
    }
    Batch batch;
    batch.Delete(engine_.cf(kOneTimePrekeys),
                 OneTimePrekeyKey(device, out.one_time_prekey->key_id));
    const absl::Status written = engine_.Write(batch, /*durable=*/true);
    {
      absl::MutexLock lock(&stripe.mu);
      auto it = stripe.claiming.find(device);
      if (it != stripe.claiming.end()) {
        it->second.erase(out.one_time_prekey->key_id);
        if (it->second.empty()) stripe.claiming.erase(it);
      }
    }
    LB_RETURN_IF_ERROR(written);
    return out;
  }

  absl::StatusOr<uint32_t> CountOneTimePrekeys(const DeviceAddress& device) override {
    const Bytes key = DeviceKey(device);
    LB_RETURN_IF_ERROR(RequireDevice(key));
    uint32_t count = 0;
    LB_RETURN_IF_ERROR(engine_.ScanPrefix(kOneTimePrekeys, key, {},
                                          [&](const rocksdb::Slice&, const rocksdb::Slice&) {
                                            ++count;
                                            return true;
                                          }));
    return count;
  }

 private:
  absl::Status RequireDevice(ByteView device_key) {
    LB_ASSIGN_OR_RETURN(std::optional<std::string> d, engine_.Get(kDevices, device_key));
    if (!d) return absl::NotFoundError("no such device");
    return absl::OkStatus();
  }

  Engine& engine_;
  KeyLocks& locks_;
  std::array<PrekeyStripe, kStripes> stripes_;
};

// --- Accounts and devices ---

class RocksAccounts final : public AccountStore {
 public:
  RocksAccounts(Engine& engine, KeyLocks& locks, RocksMailboxes& mailboxes)
      : engine_(engine), locks_(locks), mailboxes_(mailboxes) {}

  absl::Status CreateAccount(const AccountRecord& account,
                             const DeviceRecord& first_device) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    std::vector<std::string> lock_keys = {LockKey('a', account.id.view())};
    if (account.discovery_handle)
      lock_keys.push_back(LockKey('h', account.discovery_handle->view()));
    KeyLocks::Guard guard(locks_, std::move(lock_keys));
    LB_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                        engine_.Get(kAccounts, account.id.view()));
    if (existing) return absl::AlreadyExistsError("account exists");
    if (account.discovery_handle) {
      LB_ASSIGN_OR_RETURN(std::optional<std::string> taken,
                          engine_.Get(kDiscovery, account.discovery_handle->view()));
      if (taken) return absl::AlreadyExistsError("discovery handle taken");
    }
    AccountRecord stored = account;
    stored.next_device_id = 2;
    DeviceRecord device = first_device;
    device.id = 1;
    Batch batch;
    batch.Put(engine_.cf(kAccounts), account.id.view(), EncodeAccount(stored));
    batch.Put(engine_.cf(kDevices), DeviceKey({account.id, 1}), EncodeDevice(device));
    if (account.discovery_handle) {
      batch.Put(engine_.cf(kDiscovery), account.discovery_handle->view(),
                EncodeDiscoveryEntry(account.id));
    }
    return engine_.Write(batch, /*durable=*/true);
  }

  absl::StatusOr<AccountRecord> GetAccount(const AccountId& id) override {
    LB_ASSIGN_OR_RETURN(std::optional<std::string> v, engine_.Get(kAccounts, id.view()));
    if (!v) return absl::NotFoundError("no such account");
    return DecodeAccount(crypto::AsBytes(*v));
  }

  absl::StatusOr<AccountId> FindByDiscoveryHandle(const DiscoveryHandle& handle) override {
    LB_ASSIGN_OR_RETURN(std::optional<std::string> v, engine_.Get(kDiscovery, handle.view()));
    if (!v) return absl::NotFoundError("no such discovery handle");
    return DecodeDiscoveryEntry(crypto::AsBytes(*v));
  }

  absl::StatusOr<DeviceId> AddDevice(const AccountId& account, const DeviceRecord& device,
                                     uint32_t max_devices) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    KeyLocks::Guard guard(locks_, {LockKey('a', account.view())});
    LB_ASSIGN_OR_RETURN(AccountRecord record, GetAccount(account));
    LB_ASSIGN_OR_RETURN(uint64_t count, CountDevices(account));
    if (count >= max_devices) return absl::ResourceExhaustedError("too many devices");
    const DeviceId id = record.next_device_id;
    if (id == UINT32_MAX) return absl::ResourceExhaustedError("device ids exhausted");
    record.next_device_id = id + 1;
    DeviceRecord stored = device;
    stored.id = id;
    Batch batch;
    batch.Put(engine_.cf(kAccounts), account.view(), EncodeAccount(record));
    batch.Put(engine_.cf(kDevices), DeviceKey({account, id}), EncodeDevice(stored));
    LB_RETURN_IF_ERROR(engine_.Write(batch, /*durable=*/true));
    return id;
  }

  absl::Status RemoveDevice(const DeviceAddress& device) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    const Bytes key = DeviceKey(device);
    KeyLocks::Guard guard(locks_, {LockKey('a', device.account.view()), LockKey('d', key)});
    LB_ASSIGN_OR_RETURN(std::optional<std::string> existing, engine_.Get(kDevices, key));
    if (!existing) return absl::NotFoundError("no such device");
    LB_ASSIGN_OR_RETURN(uint64_t count, CountDevices(device.account));
    if (count <= 1) return absl::FailedPreconditionError("cannot remove the last device");

    Batch batch;
    batch.Delete(engine_.cf(kDevices), key);
    batch.Delete(engine_.cf(kSignedPrekeys), key);
    auto delete_all = [&](Cf c) {
      return engine_.ScanPrefix(c, key, {}, [&](const rocksdb::Slice& k, const rocksdb::Slice&) {
        batch.Delete(engine_.cf(c), k);
        return true;
      });
    };
    LB_RETURN_IF_ERROR(delete_all(kOneTimePrekeys));
    LB_RETURN_IF_ERROR(delete_all(kMailboxes));
    // Sessions are keyed by token hash; there are few, so scan them all.
    LB_RETURN_IF_ERROR(
        engine_.ScanAll(kSessions, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
          absl::StatusOr<SessionRecord> s = DecodeSession(ToView(v));
          if (s.ok() && s->device == device) batch.Delete(engine_.cf(kSessions), k);
          return true;
        }));
    LB_RETURN_IF_ERROR(engine_.Write(batch, /*durable=*/true));
    mailboxes_.ForgetDevice(device);
    return absl::OkStatus();
  }

  absl::StatusOr<DeviceRecord> GetDevice(const DeviceAddress& device) override {
    LB_ASSIGN_OR_RETURN(std::optional<std::string> v, engine_.Get(kDevices, DeviceKey(device)));
    if (!v) return absl::NotFoundError("no such device");
    return DecodeDevice(crypto::AsBytes(*v));
  }

  absl::StatusOr<std::vector<DeviceRecord>> ListDevices(const AccountId& account) override {
    LB_ASSIGN_OR_RETURN(std::optional<std::string> a, engine_.Get(kAccounts, account.view()));
    if (!a) return absl::NotFoundError("no such account");
    std::vector<DeviceRecord> out;
    absl::Status decoded;
    LB_RETURN_IF_ERROR(engine_.ScanPrefix(
        kDevices, account.view(), {}, [&](const rocksdb::Slice&, const rocksdb::Slice& v) {
          absl::StatusOr<DeviceRecord> d = DecodeDevice(ToView(v));
          if (!d.ok()) {
            decoded = d.status();
            return false;
          }
          out.push_back(*std::move(d));
          return true;
        }));
    LB_RETURN_IF_ERROR(decoded);
    return out;
  }

 private:
  absl::StatusOr<uint64_t> CountDevices(const AccountId& account) {
    uint64_t count = 0;
    LB_RETURN_IF_ERROR(engine_.ScanPrefix(kDevices, account.view(), {},
                                          [&](const rocksdb::Slice&, const rocksdb::Slice&) {
                                            ++count;
                                            return true;
                                          }));
    return count;
  }

  Engine& engine_;
  KeyLocks& locks_;
  RocksMailboxes& mailboxes_;
};

// --- Sessions ---

class RocksSessions final : public SessionStore {
 public:
  RocksSessions(Engine& engine, KeyLocks& locks) : engine_(engine), locks_(locks) {}

  absl::Status PutSession(const TokenHash& hash, const SessionRecord& session) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    KeyLocks::Guard guard(locks_, {LockKey('s', hash.view())});
    LB_ASSIGN_OR_RETURN(std::optional<std::string> existing, engine_.Get(kSessions, hash.view()));
    if (existing) return absl::AlreadyExistsError("session exists");
    Batch batch;
    batch.Put(engine_.cf(kSessions), hash.view(), EncodeSession(session));
    return engine_.Write(batch, /*durable=*/true);
  }

  absl::StatusOr<SessionRecord> GetSession(const TokenHash& hash) override {
    LB_ASSIGN_OR_RETURN(std::optional<std::string> v, engine_.Get(kSessions, hash.view()));
    if (!v) return absl::NotFoundError("no such session");
    return DecodeSession(crypto::AsBytes(*v));
  }

  absl::Status DeleteSession(const TokenHash& hash) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    Batch batch;
    batch.Delete(engine_.cf(kSessions), hash.view());
    return engine_.Write(batch, /*durable=*/true);  // a logout must survive a power cut
  }

  absl::StatusOr<uint64_t> ExpireSessions(int64_t now_micros) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    uint64_t removed = 0;
    Batch batch;
    absl::Status inner;
    LB_RETURN_IF_ERROR(
        engine_.ScanAll(kSessions, [&](const rocksdb::Slice& k, const rocksdb::Slice& v) {
          absl::StatusOr<SessionRecord> s = DecodeSession(ToView(v));
          if (s.ok() && s->expires_micros >= now_micros) return true;
          batch.Delete(engine_.cf(kSessions), k);
          if (batch.count() >= kExpireChunk) {
            inner = engine_.Write(batch, /*durable=*/false);
            if (!inner.ok()) return false;
            removed += batch.count();
            batch = Batch();
          }
          return true;
        }));
    LB_RETURN_IF_ERROR(inner);
    // Not synced: a lost expiry is redone by the next sweep, and the server
    // checks expires_micros on every use anyway.
    LB_RETURN_IF_ERROR(engine_.Write(batch, /*durable=*/false));
    return removed + batch.count();
  }

 private:
  Engine& engine_;
  KeyLocks& locks_;
};

// --- Report outbox ---

class RocksOutbox final : public OutboxStore {
 public:
  RocksOutbox(Engine& engine, KeyLocks& locks) : engine_(engine), locks_(locks) {}

  absl::Status PutReport(const OutboxReport& report) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    KeyLocks::Guard guard(locks_, {LockKey('r', report.id.view())});
    LB_ASSIGN_OR_RETURN(std::optional<std::string> existing,
                        engine_.Get(kOutbox, report.id.view()));
    if (existing) return absl::AlreadyExistsError("report exists");
    Batch batch;
    batch.Put(engine_.cf(kOutbox), report.id.view(), EncodeOutboxReport(report));
    return engine_.Write(batch, /*durable=*/true);
  }

  absl::StatusOr<std::vector<OutboxReport>> ListReports(const std::optional<ReportId>& after,
                                                        uint32_t limit) override {
    std::vector<OutboxReport> out;
    if (limit == 0) return out;
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(engine_.db()->NewIterator(ro, engine_.cf(kOutbox)));
    if (after) {
      it->Seek(ToSlice(after->view()));
      if (it->Valid() && it->key() == ToSlice(after->view())) it->Next();
    } else {
      it->SeekToFirst();
    }
    for (; it->Valid() && out.size() < limit; it->Next()) {
      absl::StatusOr<OutboxReport> r = DecodeOutboxReport(ToView(it->value()));
      if (r.ok()) out.push_back(*std::move(r));  // a damaged report is never relayed
    }
    if (!it->status().ok()) return EngineError();
    return out;
  }

  absl::Status DeleteReports(const std::vector<ReportId>& ids) override {
    LB_RETURN_IF_ERROR(engine_.CheckWritable());
    Batch batch;
    for (const ReportId& id : ids) batch.Delete(engine_.cf(kOutbox), id.view());
    return engine_.Write(batch, /*durable=*/true);
  }

  absl::StatusOr<uint64_t> CountReports() override {
    uint64_t count = 0;
    LB_RETURN_IF_ERROR(engine_.ScanAll(kOutbox, [&](const rocksdb::Slice&, const rocksdb::Slice&) {
      ++count;
      return true;
    }));
    return count;
  }

 private:
  Engine& engine_;
  KeyLocks& locks_;
};

}  // namespace

struct RocksDbStores::Impl {
  Impl(std::unique_ptr<Engine> e, uint64_t id_mark)
      : engine(std::move(e)),
        ids(*engine, id_mark),
        mailboxes(*engine, ids),
        prekeys(*engine, locks),
        accounts(*engine, locks, mailboxes),
        sessions(*engine, locks),
        outbox(*engine, locks) {}

  std::unique_ptr<Engine> engine;  // first: destroyed after every user of it
  KeyLocks locks;
  IdAllocator ids;
  RocksMailboxes mailboxes;
  RocksPrekeys prekeys;
  RocksAccounts accounts;
  RocksSessions sessions;
  RocksOutbox outbox;
};

absl::StatusOr<std::unique_ptr<RocksDbStores>> RocksDbStores::Open(const RocksDbOptions& options) {
  LB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::Open(options));
  LB_ASSIGN_OR_RETURN(std::optional<std::string> mark,
                      engine->Get(kMeta, crypto::AsBytes(kEnvelopeIdMarkKey)));
  uint64_t id_mark = 1;
  if (mark) {
    absl::StatusOr<uint64_t> decoded = DecodeCounter(crypto::AsBytes(*mark));
    if (!decoded.ok()) {
      return absl::InternalError("data directory is corrupt: bad envelope id high-water mark");
    }
    id_mark = *decoded;
  }
  return std::unique_ptr<RocksDbStores>(
      new RocksDbStores(std::make_unique<Impl>(std::move(engine), id_mark)));
}

RocksDbStores::RocksDbStores(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksDbStores::~RocksDbStores() = default;

AccountStore& RocksDbStores::accounts() { return impl_->accounts; }
PrekeyStore& RocksDbStores::prekeys() { return impl_->prekeys; }
MailboxStore& RocksDbStores::mailboxes() { return impl_->mailboxes; }
SessionStore& RocksDbStores::sessions() { return impl_->sessions; }
OutboxStore& RocksDbStores::outbox() { return impl_->outbox; }

absl::Status RocksDbStores::Flush() { return impl_->engine->Flush(); }

uint64_t RocksDbStores::SumIntProperty(const std::string& property) {
  return impl_->engine->SumIntProperty(property);
}

const RocksDbStores::RecoveryReport& RocksDbStores::recovery() const {
  return impl_->engine->recovery();
}

}  // namespace letterbox::storage
