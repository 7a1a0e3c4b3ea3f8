// The audit log is tamper-evident (threat model P5): every request leaves an
// entry; altering, deleting, reordering or truncating entries in the RocksDB
// files is caught by VerifyAuditLog against the exported signed checkpoints,
// which names the first bad index.
#include <rocksdb/db.h>

#include <functional>

#include "vault_harness.h"

namespace letterbox::vault::testing {
namespace {

// Opens the vault DB directly (as an insider with file access would) and
// runs `edit` on the audit column family.
void TamperAudit(const std::filesystem::path& dir,
                 const std::function<void(rocksdb::DB&, rocksdb::ColumnFamilyHandle*)>& edit) {
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  cfs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : sv::kFamilyNames) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), cfs, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  edit(*db, handles[1 + static_cast<size_t>(sv::VaultBatch::Family::kAudit)]);
  for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
}

std::string Get(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, uint64_t seq) {
  std::string v;
  REQUIRE(db.Get(rocksdb::ReadOptions(), cf, sv::AuditKey(seq), &v).ok());
  return v;
}

void Put(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf, uint64_t seq, const std::string& v) {
  REQUIRE(db.Put(rocksdb::WriteOptions(), cf, sv::AuditKey(seq), v).ok());
}

// Verifies the data directory the way `letterbox-admin audit verify` does:
// a read-only open, the raw audit records, the exported checkpoint file.
sv::AuditVerification VerifyOffline(VaultHarness& h) {
  auto stores = sv::RocksDbVaultStores::Open({.path = h.data_dir_.string(), .read_only = true});
  REQUIRE(stores.ok());
  auto raw = (*stores)->ReadRawAudit().value();
  auto checkpoints = sv::ReadCheckpointFile(h.export_path_).value();
  return sv::VerifyAuditLog(raw, checkpoints, h.audit_public_);
}

// A vault with some history: 12 intakes and staff activity, with signed
// checkpoints at two points. Returns the log size at the first checkpoint.
uint64_t MakeHistory(VaultHarness& h) {
  StaffClient admin = h.Admin();
  StaffClient reviewer = h.Enrol(admin, v1::STAFF_ROLE_REVIEWER, "JP", kJpOffice);
  for (int i = 0; i < 4; ++i) h.IngestValidCase("JP");
  REQUIRE(h.vault_->SignCheckpoint().ok());
  const uint64_t first = h.AuditSize();
  for (int i = 0; i < 8; ++i) h.IngestValidCase("JP");
  v1::OpenCaseRequest req;
  req.set_case_id(RandomBytes(16));
  v1::OpenCaseResponse resp;
  auto ctx = reviewer.Ctx();
  (void)reviewer.stub->OpenCase(ctx.get(), req, &resp);
  REQUIRE(h.vault_->SignCheckpoint().ok());
  h.Stop();
  return first;
}

TEST_CASE("an untouched audit log verifies against its exported checkpoints") {
  VaultHarness h({.rocksdb = true});
  MakeHistory(h);
  auto v = VerifyOffline(h);
  CHECK(v.ok);
  CHECK(v.entries_checked > 15);
  CHECK(v.checkpoints_checked == 2);
}

TEST_CASE("altering one entry is detected at its index") {
  VaultHarness h({.rocksdb = true});
  MakeHistory(h);
  TamperAudit(h.data_dir_, [](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    std::string v = Get(db, cf, 8);  // an intake entry
    const size_t at = v.find("accepted");
    CHECK(at != std::string::npos);
    if (at != std::string::npos) v[at] = 'e';  // "eccepted"
    Put(db, cf, 8, v);
  });
  auto v = VerifyOffline(h);
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_index.has_value());
  CHECK(*v.first_bad_index == 7);
  CHECK(v.problem.find("altered") != std::string::npos);
}

TEST_CASE("deleting one entry is detected at its index") {
  VaultHarness h({.rocksdb = true});
  MakeHistory(h);
  TamperAudit(h.data_dir_, [](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    REQUIRE(db.Delete(rocksdb::WriteOptions(), cf, sv::AuditKey(7)).ok());
  });
  auto v = VerifyOffline(h);
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_index.has_value());
  CHECK(*v.first_bad_index == 6);
  CHECK(v.problem.find("missing") != std::string::npos);
}

TEST_CASE("swapping two entries is detected at the first of them") {
  VaultHarness h({.rocksdb = true});
  MakeHistory(h);
  TamperAudit(h.data_dir_, [](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    const std::string a = Get(db, cf, 8), b = Get(db, cf, 9);
    Put(db, cf, 8, b);
    Put(db, cf, 9, a);
  });
  auto v = VerifyOffline(h);
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_index.has_value());
  CHECK(*v.first_bad_index == 7);
  CHECK(v.problem.find("moved") != std::string::npos);
}

TEST_CASE("truncating the tail is detected against the last checkpoint") {
  VaultHarness h({.rocksdb = true});
  MakeHistory(h);
  uint64_t size = 0;
  TamperAudit(h.data_dir_, [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), cf));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++size;
    for (uint64_t seq = size - 2; seq <= size; ++seq) {
      REQUIRE(db.Delete(rocksdb::WriteOptions(), cf, sv::AuditKey(seq)).ok());
    }
  });
  auto v = VerifyOffline(h);
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_index.has_value());
  CHECK(*v.first_bad_index == size - 3);
  CHECK(v.problem.find("truncated") != std::string::npos);
}

TEST_CASE("rewriting an entry and every later chain hash is caught by the signed checkpoint") {
  VaultHarness h({.rocksdb = true});
  const uint64_t first_checkpoint = MakeHistory(h);
  const uint64_t target = first_checkpoint + 2;
  TamperAudit(h.data_dir_, [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    // Recompute the chain from the edited entry on, as a careful insider would.
    sv::StoredAuditEntry prev = sv::ParseAuditValue(Get(db, cf, target - 1)).value();
    crypto::Sha256Digest h_prev = prev.chain_hash;
    std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), cf));
    std::vector<std::pair<std::string, sv::StoredAuditEntry>> rest;
    for (it->Seek(sv::AuditKey(target)); it->Valid(); it->Next()) {
      rest.emplace_back(it->key().ToString(), sv::ParseAuditValue(it->value().ToString()).value());
    }
    rest.front().second.entry.reason = "nothing happened here";
    for (auto& [key, stored] : rest) {
      stored.chain_hash = sv::ChainHash(h_prev, stored.entry);
      h_prev = stored.chain_hash;
      REQUIRE(db.Put(rocksdb::WriteOptions(), cf, key, sv::AuditValue(stored)).ok());
    }
  });
  auto v = VerifyOffline(h);
  CHECK_FALSE(v.ok);
  REQUIRE(v.first_bad_index.has_value());
  // The chain is self-consistent; the signed checkpoint pins the range.
  CHECK(*v.first_bad_index == first_checkpoint);
  CHECK(v.problem.find("rewritten") != std::string::npos);
}

TEST_CASE("a forged checkpoint in the export file is reported") {
  VaultHarness h({.rocksdb = true});
  MakeHistory(h);
  auto cps = sv::ReadCheckpointFile(h.export_path_).value();
  cps.back().log_size += 1;
  auto stores = sv::RocksDbVaultStores::Open({.path = h.data_dir_.string(), .read_only = true});
  auto v = sv::VerifyAuditLog((*stores)->ReadRawAudit().value(), cps, h.audit_public_);
  CHECK_FALSE(v.ok);
  CHECK(v.problem.find("signature") != std::string::npos);
}

TEST_CASE("every staff request and intake outcome leaves an audit entry") {
  VaultHarness h;
  StaffClient admin = h.Admin();
  const uint64_t before = h.AuditSize();
  h.IngestValidCase("JP");
  CHECK(h.AuditSize() == before + 1);
  v1::ListQueueResponse q;
  auto ctx = admin.Ctx();
  (void)admin.stub->ListQueue(ctx.get(), {}, &q);  // denied: role
  auto e = h.LastAudit().entry;
  CHECK(e.action == "ListQueue");
  CHECK(e.role == "admin");
  CHECK(e.peer.rfind("ipv4:127.0.0.2:", 0) == 0);
  CHECK(e.decision == sv::Decision::kDeny);
  CHECK(h.AuditSize() == before + 2);
}

TEST_CASE("a checkpoint stored but not exported before a crash is exported at the next start") {
  VaultHarness h;
  REQUIRE(h.vault_->SignCheckpoint().ok());
  h.clock.Advance(absl::Seconds(1));
  REQUIRE(h.vault_->SignCheckpoint().ok());
  // The state a kill between SignCheckpoint's store and its export leaves:
  // the last stored checkpoint is missing from the file.
  auto lines = sv::ReadCheckpointFile(h.export_path_).value();
  REQUIRE(lines.size() == 2);
  std::filesystem::remove(h.export_path_);
  REQUIRE(sv::AppendCheckpointToFile(h.export_path_, lines.front()).ok());

  CHECK(h.vault_->ExportPendingCheckpoints().value() == 1);
  auto after = sv::ReadCheckpointFile(h.export_path_).value();
  REQUIRE(after.size() == 2);
  CHECK(after.back().signature == lines.back().signature);
  CHECK(h.vault_->ExportPendingCheckpoints().value() == 0);
}

TEST_CASE("with no export file every stored checkpoint is exported") {
  VaultHarness h;
  REQUIRE(h.vault_->SignCheckpoint().ok());
  std::filesystem::remove(h.export_path_);
  CHECK(h.vault_->ExportPendingCheckpoints().value() == 1);
  CHECK(sv::ReadCheckpointFile(h.export_path_).value().size() == 1);
}

}  // namespace
}  // namespace letterbox::vault::testing
