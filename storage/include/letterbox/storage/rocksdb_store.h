// File: letterbox/storage/rocksdb_store.h
//
// The RocksDB implementation of the messaging server's stores: one DB, one
// column family per data kind (schema in docs/storage.md), big-endian keys
// so that a device's mailbox is one ordered prefix, every multi-key change in
// one WriteBatch.
//
//   RocksDbOptions options{.path = dir, .durability = Durability::kProcess};
//   LB_ASSIGN_OR_RETURN(std::unique_ptr<RocksDbStores> stores,
//                       RocksDbStores::Open(options));
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "letterbox/storage/stores.h"

namespace letterbox::storage {

// What an acknowledged write survives.
enum class Durability {
  // WAL on, no fsync per write: survives kill -9 of the process, not a power
  // loss. The default.
  kProcess,
  // WAL on and synced before the write returns (RocksDB groups concurrent
  // writers into one fsync): survives power loss too.
  kFsync,
};

struct RocksDbOptions {
  std::string path;
  Durability durability = Durability::kProcess;
  bool create_if_missing = true;
  bool read_only = false;  // for inspection tools: opens without writing anything
  size_t block_cache_bytes = 64ull << 20;
  // Optional: a rocksdb::Env* to run on (fault-injection tests). Not owned.
  void* env = nullptr;
};

class RocksDbStores final : public Stores {
 public:
  // Opens or creates the store at options.path. INTERNAL with a clear message
  // if the directory is unusable or the data is corrupt beyond recovery.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RocksDbStores>> Open(
      const RocksDbOptions& options);
  ~RocksDbStores() override;
  RocksDbStores(const RocksDbStores&) = delete;
  RocksDbStores& operator=(const RocksDbStores&) = delete;

  AccountStore& accounts() override;
  PrekeyStore& prekeys() override;
  MailboxStore& mailboxes() override;
  SessionStore& sessions() override;
  OutboxStore& outbox() override;

  // Flushes memtables and the WAL to disk (used at graceful shutdown).
  [[nodiscard]] absl::Status Flush();
  // A RocksDB property of the default and all column families, e.g.
  // "rocksdb.estimate-num-keys" summed, for metrics.
  [[nodiscard]] uint64_t SumIntProperty(const std::string& property);

  // What WAL recovery did when this store was opened. RocksDB replays the
  // WAL up to the first damaged or torn record and stops there
  // (kPointInTimeRecovery, docs/storage.md "Durability and faults"): the
  // store then holds a consistent prefix of the writes, and those after the
  // record are gone. Fixed at Open; thread-safe.
  struct RecoveryReport {
    // True if recovery stopped at a damaged or torn WAL record. After kill -9
    // this is rare and harmless (a torn last record was never acknowledged in
    // kFsync mode); after a disk fault it means writes may be missing. The
    // server logs it as a warning.
    bool wal_tail_dropped = false;
    // RocksDB's own lines about it (WAL file name, bytes dropped, reason):
    // no keys, no values. Empty if nothing was dropped.
    std::string detail;
  };
  [[nodiscard]] const RecoveryReport& recovery() const;

  struct Impl;

 private:
  explicit RocksDbStores(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterbox::storage
