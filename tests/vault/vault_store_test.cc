// The vault stores: a batch commits all of its changes and audit entries or
// none, both implementations chain the log identically, and the RocksDB
// store reopens with its audit head intact.
#include <catch2/catch.hpp>
#include <filesystem>

#include "letterbox/crypto/random.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/memory_vault_store.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"

namespace letterbox::storage::vault {
namespace {

AuditEntry Entry(std::string action) {
  AuditEntry e;
  e.time_micros = 1;
  e.actor = "system";
  e.role = "none";
  e.action = std::move(action);
  e.decision = Decision::kAllow;
  return e;
}

TEST_CASE("memory and RocksDB stores produce the same audit chain") {
  const auto dir = std::filesystem::temp_directory_path() / "lb-vault-store-test";
  std::filesystem::remove_all(dir);
  MemoryVaultStores memory;
  auto rocks = RocksDbVaultStores::Open({.path = dir.string()}).value();
  for (VaultStores* s : std::initializer_list<VaultStores*>{&memory, rocks.get()}) {
    VaultBatch b;
    StaffRecord staff;
    staff.staff_id = std::string(16, 'a');
    staff.role = Role::kReviewer;
    b.PutStaff(staff);
    b.Audit(Entry("one"));
    b.Audit(Entry("two"));
    REQUIRE(s->Commit(std::move(b)).ok());
  }
  auto h1 = memory.GetAuditHead().value();
  auto h2 = rocks->GetAuditHead().value();
  CHECK(h1.size == 2);
  CHECK(h1.hash == h2.hash);
  CHECK(rocks->GetStaff(std::string(16, 'a')).value().role == Role::kReviewer);
  rocks.reset();
  auto reopened = RocksDbVaultStores::Open({.path = dir.string()}).value();
  CHECK(reopened->GetAuditHead().value().hash == h1.hash);
  auto v =
      VerifyAuditLog(reopened->ReadRawAudit().value(), {},
                     crypto::Ed25519KeyPair::Generate(crypto::SystemRandom::Instance()).public_key);
  CHECK(v.ok);
  reopened.reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("a failed commit applies neither the change nor its audit entry") {
  MemoryVaultStores memory;
  memory.FailCommits(1);
  VaultBatch b;
  GrantRecord g;
  g.grant_id = std::string(16, 'g');
  b.PutGrant(g);
  b.Audit(Entry("ApproveGrant"));
  CHECK_FALSE(memory.Commit(std::move(b)).ok());
  CHECK(absl::IsNotFound(memory.GetGrant(std::string(16, 'g')).status()));
  CHECK(memory.GetAuditHead().value().size == 0);
}

TEST_CASE("a read-only open refuses to commit") {
  const auto dir = std::filesystem::temp_directory_path() / "lb-vault-store-ro";
  std::filesystem::remove_all(dir);
  { auto rw = RocksDbVaultStores::Open({.path = dir.string()}).value(); }
  auto ro = RocksDbVaultStores::Open({.path = dir.string(), .read_only = true}).value();
  CHECK(absl::IsFailedPrecondition(ro->Commit(VaultBatch()).status()));
  ro.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace letterbox::storage::vault
