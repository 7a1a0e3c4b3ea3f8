// The RocksDB vault store: one DB, one column family per record kind.
#include "letterbox/storage/vault/rocksdb_vault_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/status.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/vault_records.h"

namespace letterbox::storage::vault {

using Family = VaultBatch::Family;
constexpr size_t kFamilies = 8;

namespace {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  if (s.IsNotFound()) return absl::NotFoundError("not found");
  return absl::InternalError(absl::StrCat("vault store ", std::string(what), ": ", s.ToString()));
}

}  // namespace

struct RocksDbVaultStores::Impl {
  RocksDbVaultOptions options;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;  // [0] default, [1 + Family]
  absl::Mutex append_mu;
  AuditHead head ABSL_GUARDED_BY(append_mu);

  ~Impl() {
    if (db) {
      for (auto* h : handles) {
        if (h != nullptr) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
      }
      handles.clear();
      db->Close().PermitUncheckedError();
    }
  }

  rocksdb::ColumnFamilyHandle* cf(Family f) const { return handles[1 + static_cast<size_t>(f)]; }

  absl::StatusOr<std::string> Get(Family f, std::string_view key) {
    std::string value;
    rocksdb::Status s =
        db->Get(rocksdb::ReadOptions(), cf(f), rocksdb::Slice(key.data(), key.size()), &value);
    LB_RETURN_IF_ERROR(FromRocks(s, "read"));
    return value;
  }

  // Every (key, value) of `f` with key > after, at most limit.
  absl::StatusOr<std::vector<RawRecord>> Scan(Family f, std::string_view after, size_t limit) {
    std::vector<RawRecord> out;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf(f)));
    for (it->Seek(rocksdb::Slice(after.data(), after.size())); it->Valid() && out.size() < limit;
         it->Next()) {
      if (!after.empty() && it->key() == rocksdb::Slice(after.data(), after.size())) continue;
      out.push_back({it->key().ToString(), it->value().ToString()});
    }
    LB_RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
    return out;
  }

  absl::StatusOr<AuditHead> LoadHead() {
    std::unique_ptr<rocksdb::Iterator> it(
        db->NewIterator(rocksdb::ReadOptions(), cf(Family::kAudit)));
    it->SeekToLast();
    LB_RETURN_IF_ERROR(FromRocks(it->status(), "scan"));
    if (!it->Valid()) return AuditHead{};
    auto stored = ParseAuditValue(it->value().ToStringView());
    if (!stored.ok()) return absl::DataLossError("the last audit entry does not decode");
    return AuditHead{stored->entry.seq, stored->chain_hash};
  }
};

absl::StatusOr<std::unique_ptr<RocksDbVaultStores>> RocksDbVaultStores::Open(
    const RocksDbVaultOptions& options) {
  if (options.path.empty()) return absl::InvalidArgumentError("vault store path is empty");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing && !options.read_only;
  db_options.create_missing_column_families = !options.read_only;
  db_options.paranoid_checks = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kFamilyNames) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    std::error_code ec;
    if (!std::filesystem::exists(options.path, ec)) {
      return absl::NotFoundError(absl::StrCat("no vault store at ", options.path));
    }
    s = rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &impl->handles, &raw);
  } else {
    s = rocksdb::DB::Open(db_options, options.path, descriptors, &impl->handles, &raw);
  }
  impl->db.reset(raw);
  if (!s.ok()) return absl::InternalError(absl::StrCat("cannot open vault store: ", s.ToString()));
  if (!options.read_only) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    LB_RETURN_IF_ERROR(FromRocks(
        impl->db->Put(wo, impl->cf(Family::kMeta), "schema", "letterbox-vault-v1"), "write"));
  }
  LB_ASSIGN_OR_RETURN(AuditHead head, impl->LoadHead());
  {
    absl::MutexLock lock(&impl->append_mu);
    impl->head = head;
  }
  return std::unique_ptr<RocksDbVaultStores>(new RocksDbVaultStores(std::move(impl)));
}

RocksDbVaultStores::RocksDbVaultStores(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RocksDbVaultStores::~RocksDbVaultStores() = default;

absl::StatusOr<CaseRecord> RocksDbVaultStores::GetCase(std::string_view case_id) {
  LB_ASSIGN_OR_RETURN(std::string v, impl_->Get(Family::kCases, case_id));
  return DecodeCase(v);
}

absl::StatusOr<std::vector<CaseRecord>> RocksDbVaultStores::ListCases(std::string_view after,
                                                                      size_t limit) {
  LB_ASSIGN_OR_RETURN(auto raw, impl_->Scan(Family::kCases, after, limit));
  std::vector<CaseRecord> out;
  for (const auto& r : raw) {
    LB_ASSIGN_OR_RETURN(CaseRecord c, DecodeCase(r.value));
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<WrappedCaseKey> RocksDbVaultStores::GetCaseKey(std::string_view case_id) {
  LB_ASSIGN_OR_RETURN(std::string v, impl_->Get(Family::kCaseKeys, case_id));
  return DecodeCaseKey(v);
}

absl::StatusOr<SeenRecord> RocksDbVaultStores::GetSeen(std::string_view key) {
  LB_ASSIGN_OR_RETURN(std::string v, impl_->Get(Family::kIntakeSeen, key));
  return DecodeSeen(v);
}

absl::StatusOr<StaffRecord> RocksDbVaultStores::GetStaff(std::string_view staff_id) {
  LB_ASSIGN_OR_RETURN(std::string v, impl_->Get(Family::kStaff, staff_id));
  return DecodeStaff(v);
}

absl::StatusOr<std::vector<StaffRecord>> RocksDbVaultStores::ListStaff() {
  LB_ASSIGN_OR_RETURN(auto raw, impl_->Scan(Family::kStaff, "", SIZE_MAX));
  std::vector<StaffRecord> out;
  for (const auto& r : raw) {
    LB_ASSIGN_OR_RETURN(StaffRecord s, DecodeStaff(r.value));
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<GrantRecord> RocksDbVaultStores::GetGrant(std::string_view grant_id) {
  LB_ASSIGN_OR_RETURN(std::string v, impl_->Get(Family::kGrants, grant_id));
  return DecodeGrant(v);
}

absl::StatusOr<std::vector<GrantRecord>> RocksDbVaultStores::ListGrants() {
  LB_ASSIGN_OR_RETURN(auto raw, impl_->Scan(Family::kGrants, "", SIZE_MAX));
  std::vector<GrantRecord> out;
  for (const auto& r : raw) {
    LB_ASSIGN_OR_RETURN(GrantRecord g, DecodeGrant(r.value));
    out.push_back(std::move(g));
  }
  return out;
}

absl::StatusOr<std::vector<StoredAuditEntry>> RocksDbVaultStores::ReadAudit(uint64_t after_seq,
                                                                            size_t limit) {
  LB_ASSIGN_OR_RETURN(auto raw, impl_->Scan(Family::kAudit, AuditKey(after_seq), limit));
  std::vector<StoredAuditEntry> out;
  for (const auto& r : raw) {
    auto e = ParseAuditValue(r.value);
    if (!e.ok()) return absl::DataLossError("audit entry does not decode");
    out.push_back(std::move(*e));
  }
  return out;
}

absl::StatusOr<std::vector<VaultStores::RawRecord>> RocksDbVaultStores::ReadRawAudit() {
  return impl_->Scan(Family::kAudit, "", SIZE_MAX);
}

absl::StatusOr<AuditHead> RocksDbVaultStores::GetAuditHead() {
  absl::MutexLock lock(&impl_->append_mu);
  return impl_->head;
}

absl::StatusOr<std::vector<Checkpoint>> RocksDbVaultStores::ListCheckpoints(uint64_t after_size,
                                                                            size_t limit) {
  LB_ASSIGN_OR_RETURN(auto raw, impl_->Scan(Family::kCheckpoints, "", SIZE_MAX));
  std::vector<Checkpoint> out;
  for (const auto& r : raw) {
    LB_ASSIGN_OR_RETURN(Checkpoint c, DecodeCheckpoint(r.value));
    if (c.log_size > after_size && out.size() < limit) out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<AuditHead> RocksDbVaultStores::Commit(VaultBatch batch) {
  if (impl_->options.read_only) return absl::FailedPreconditionError("vault store is read-only");
  AuditHead head;
  {
    // Held across the (unsynced) write only: the chain order must be the
    // commit order. The fsync, if any, happens after the lock is released.
    absl::MutexLock lock(&impl_->append_mu);
    head = impl_->head;
    rocksdb::WriteBatch wb;
    auto add = [&](const VaultBatch::Op& op) -> absl::Status {
      rocksdb::Status s = op.value ? wb.Put(impl_->cf(op.family), op.key, *op.value)
                                   : wb.Delete(impl_->cf(op.family), op.key);
      return FromRocks(s, "batch");
    };
    for (const auto& op : batch.ops()) LB_RETURN_IF_ERROR(add(op));
    for (const auto& op : ChainAuditEntries(batch.audit(), head)) LB_RETURN_IF_ERROR(add(op));
    rocksdb::WriteOptions wo;
    wo.sync = false;
    LB_RETURN_IF_ERROR(FromRocks(impl_->db->Write(wo, &wb), "write"));
    impl_->head = head;
  }
  if (batch.sync() || impl_->options.sync_every_commit) {
    LB_RETURN_IF_ERROR(FromRocks(impl_->db->SyncWAL(), "sync"));
  }
  return head;
}

absl::Status RocksDbVaultStores::Flush() {
  if (impl_->options.read_only) return absl::OkStatus();
  rocksdb::FlushOptions fo;
  fo.wait = true;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs(impl_->handles.begin(), impl_->handles.end());
  LB_RETURN_IF_ERROR(FromRocks(impl_->db->Flush(fo, cfs), "flush"));
  return FromRocks(impl_->db->SyncWAL(), "sync");
}

}  // namespace letterbox::storage::vault
