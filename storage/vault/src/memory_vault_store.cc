// The in-memory vault store.
#include "letterbox/storage/vault/memory_vault_store.h"

#include "letterbox/common/status.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/vault_records.h"

namespace letterbox::storage::vault {

using Family = VaultBatch::Family;

MemoryVaultStores::Map& MemoryVaultStores::family(Family f) {
  return families_[static_cast<size_t>(f)];
}

absl::StatusOr<std::string> MemoryVaultStores::Get(Family f, std::string_view key) {
  absl::MutexLock lock(&mu_);
  const Map& m = family(f);
  auto it = m.find(std::string(key));
  if (it == m.end()) return absl::NotFoundError("not found");
  return it->second;
}

absl::StatusOr<CaseRecord> MemoryVaultStores::GetCase(std::string_view case_id) {
  LB_ASSIGN_OR_RETURN(std::string v, Get(Family::kCases, case_id));
  return DecodeCase(v);
}

absl::StatusOr<std::vector<CaseRecord>> MemoryVaultStores::ListCases(std::string_view after,
                                                                     size_t limit) {
  std::vector<std::string> values;
  {
    absl::MutexLock lock(&mu_);
    const Map& m = family(Family::kCases);
    for (auto it = m.upper_bound(std::string(after)); it != m.end() && values.size() < limit;
         ++it) {
      values.push_back(it->second);
    }
  }
  std::vector<CaseRecord> out;
  for (const auto& v : values) {
    LB_ASSIGN_OR_RETURN(CaseRecord c, DecodeCase(v));
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<WrappedCaseKey> MemoryVaultStores::GetCaseKey(std::string_view case_id) {
  LB_ASSIGN_OR_RETURN(std::string v, Get(Family::kCaseKeys, case_id));
  return DecodeCaseKey(v);
}

absl::StatusOr<SeenRecord> MemoryVaultStores::GetSeen(std::string_view key) {
  LB_ASSIGN_OR_RETURN(std::string v, Get(Family::kIntakeSeen, key));
  return DecodeSeen(v);
}

absl::StatusOr<StaffRecord> MemoryVaultStores::GetStaff(std::string_view staff_id) {
  LB_ASSIGN_OR_RETURN(std::string v, Get(Family::kStaff, staff_id));
  return DecodeStaff(v);
}

absl::StatusOr<std::vector<StaffRecord>> MemoryVaultStores::ListStaff() {
  std::vector<StaffRecord> out;
  for (const auto& [k, v] : RawFamily(Family::kStaff)) {
    LB_ASSIGN_OR_RETURN(StaffRecord s, DecodeStaff(v));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<GrantRecord> MemoryVaultStores::GetGrant(std::string_view grant_id) {
  LB_ASSIGN_OR_RETURN(std::string v, Get(Family::kGrants, grant_id));
  return DecodeGrant(v);
}

absl::StatusOr<std::vector<GrantRecord>> MemoryVaultStores::ListGrants() {
  std::vector<GrantRecord> out;
  for (const auto& [k, v] : RawFamily(Family::kGrants)) {
    LB_ASSIGN_OR_RETURN(GrantRecord g, DecodeGrant(v));
    out.push_back(std::move(g));
  }
  return out;
}

absl::StatusOr<std::vector<StoredAuditEntry>> MemoryVaultStores::ReadAudit(uint64_t after_seq,
                                                                           size_t limit) {
  std::vector<std::pair<std::string, std::string>> raw;
  {
    absl::MutexLock lock(&mu_);
    const Map& m = family(Family::kAudit);
    for (auto it = m.upper_bound(AuditKey(after_seq)); it != m.end() && raw.size() < limit; ++it) {
      raw.emplace_back(it->first, it->second);
    }
  }
  std::vector<StoredAuditEntry> out;
  for (const auto& [k, v] : raw) {
    auto e = ParseAuditValue(v);
    if (!e.ok()) return absl::DataLossError("audit entry does not decode");
    out.push_back(std::move(*e));
  }
  return out;
}

absl::StatusOr<std::vector<VaultStores::RawRecord>> MemoryVaultStores::ReadRawAudit() {
  std::vector<RawRecord> out;
  for (auto& [k, v] : RawFamily(Family::kAudit)) out.push_back({k, v});
  return out;
}

absl::StatusOr<AuditHead> MemoryVaultStores::GetAuditHead() {
  absl::MutexLock lock(&mu_);
  return head_;
}

absl::StatusOr<std::vector<Checkpoint>> MemoryVaultStores::ListCheckpoints(uint64_t after_size,
                                                                           size_t limit) {
  std::vector<Checkpoint> out;
  for (const auto& [k, v] : RawFamily(Family::kCheckpoints)) {
    LB_ASSIGN_OR_RETURN(Checkpoint c, DecodeCheckpoint(v));
    if (c.log_size > after_size && out.size() < limit) out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<AuditHead> MemoryVaultStores::Commit(VaultBatch batch) {
  absl::MutexLock lock(&mu_);
  if (fail_commits_ > 0) {
    --fail_commits_;
    return absl::UnavailableError("injected storage failure");
  }
  AuditHead head = head_;
  std::vector<VaultBatch::Op> ops = batch.ops();
  for (auto& op : ChainAuditEntries(batch.audit(), head)) ops.push_back(std::move(op));
  for (const auto& op : ops) {
    Map& m = family(op.family);
    if (op.value) {
      m[op.key] = *op.value;
    } else {
      m.erase(op.key);
    }
  }
  head_ = head;
  return head;
}

void MemoryVaultStores::FailCommits(int n) {
  absl::MutexLock lock(&mu_);
  fail_commits_ = n;
}

std::map<std::string, std::string> MemoryVaultStores::RawFamily(Family f) {
  absl::MutexLock lock(&mu_);
  return family(f);
}

void MemoryVaultStores::RawPut(Family f, const std::string& key, const std::string& value) {
  absl::MutexLock lock(&mu_);
  family(f)[key] = value;
}

void MemoryVaultStores::RawDelete(Family f, const std::string& key) {
  absl::MutexLock lock(&mu_);
  family(f).erase(key);
}

}  // namespace letterbox::storage::vault
