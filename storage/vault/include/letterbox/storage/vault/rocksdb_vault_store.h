// File: letterbox/storage/vault/rocksdb_vault_store.h
//
// The RocksDB implementation of VaultStores: its own DB (never the messaging
// server's), one column family per record kind (cases, case_keys,
// intake_seen, staff, grants, audit, checkpoints, meta), every VaultBatch as
// one rocksdb::WriteBatch. A batch that asks for sync is made durable with
// SyncWAL after the write, outside the store's append lock.
//
//   LB_ASSIGN_OR_RETURN(auto stores, RocksDbVaultStores::Open({.path = data_dir}));
//   // read-only inspection (letterbox-admin audit verify), even while the vault runs:
//   LB_ASSIGN_OR_RETURN(auto ro, RocksDbVaultStores::Open({.path = data_dir, .read_only = true}));
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "letterbox/storage/vault/vault_stores.h"

namespace letterbox::storage::vault {

struct RocksDbVaultOptions {
  std::string path;
  bool create_if_missing = true;
  // Opens without writing anything; Commit then fails with FAILED_PRECONDITION.
  bool read_only = false;
  // Sync every commit (survives power loss). Off: the WAL survives kill -9;
  // batches that RequireSync() are synced regardless.
  bool sync_every_commit = false;
};

class RocksDbVaultStores final : public VaultStores {
 public:
  // Opens or creates the DB. INTERNAL with RocksDB's message if the directory
  // is unusable or the data corrupt; NOT_FOUND if read_only and missing.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RocksDbVaultStores>> Open(
      const RocksDbVaultOptions& options);
  ~RocksDbVaultStores() override;
  RocksDbVaultStores(const RocksDbVaultStores&) = delete;
  RocksDbVaultStores& operator=(const RocksDbVaultStores&) = delete;

  absl::StatusOr<CaseRecord> GetCase(std::string_view case_id) override;
  absl::StatusOr<std::vector<CaseRecord>> ListCases(std::string_view after, size_t limit) override;
  absl::StatusOr<WrappedCaseKey> GetCaseKey(std::string_view case_id) override;
  absl::StatusOr<SeenRecord> GetSeen(std::string_view key) override;
  absl::StatusOr<StaffRecord> GetStaff(std::string_view staff_id) override;
  absl::StatusOr<std::vector<StaffRecord>> ListStaff() override;
  absl::StatusOr<GrantRecord> GetGrant(std::string_view grant_id) override;
  absl::StatusOr<std::vector<GrantRecord>> ListGrants() override;
  absl::StatusOr<std::vector<StoredAuditEntry>> ReadAudit(uint64_t after_seq,
                                                          size_t limit) override;
  absl::StatusOr<std::vector<RawRecord>> ReadRawAudit() override;
  absl::StatusOr<AuditHead> GetAuditHead() override;
  absl::StatusOr<std::vector<Checkpoint>> ListCheckpoints(uint64_t after_size,
                                                          size_t limit) override;
  absl::StatusOr<AuditHead> Commit(VaultBatch batch) override;

  // Flushes memtables and syncs the WAL (graceful shutdown, tests).
  [[nodiscard]] absl::Status Flush();

  struct Impl;

 private:
  explicit RocksDbVaultStores(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace letterbox::storage::vault
