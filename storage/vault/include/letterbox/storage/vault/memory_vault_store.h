// File: letterbox/storage/vault/memory_vault_store.h
//
// An in-memory VaultStores for tests: the same record codec and audit chain
// as the RocksDB store, in ordered maps. Thread-safe. Can be told to fail the
// next commits, to test that a storage failure changes nothing.
//
//   MemoryVaultStores stores;
//   stores.FailCommits(1);   // the next Commit returns UNAVAILABLE
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/storage/vault/vault_stores.h"

namespace letterbox::storage::vault {

class MemoryVaultStores final : public VaultStores {
 public:
  MemoryVaultStores() = default;

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

  // The next `n` commits fail with UNAVAILABLE and apply nothing.
  void FailCommits(int n);
  // Raw access for tests: the family's map (key -> value).
  [[nodiscard]] std::map<std::string, std::string> RawFamily(VaultBatch::Family family);
  void RawPut(VaultBatch::Family family, const std::string& key, const std::string& value);
  void RawDelete(VaultBatch::Family family, const std::string& key);

 private:
  using Map = std::map<std::string, std::string>;
  [[nodiscard]] Map& family(VaultBatch::Family f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  [[nodiscard]] absl::StatusOr<std::string> Get(VaultBatch::Family f, std::string_view key);

  absl::Mutex mu_;
  Map families_[8] ABSL_GUARDED_BY(mu_);
  AuditHead head_ ABSL_GUARDED_BY(mu_);
  int fail_commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace letterbox::storage::vault
