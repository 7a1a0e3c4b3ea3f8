#include "letterbox/vault/admin_offline.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "letterbox/common/clock.h"
#include "letterbox/common/status.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"
#include "letterbox/vault/vault.h"

namespace letterbox::vault {
namespace {

absl::Status RequireStore(const std::string& data_dir) {
  struct stat st {};
  if (::stat((data_dir + "/CURRENT").c_str(), &st) != 0) {
    return absl::NotFoundError("no vault store in " + data_dir);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> BootstrapFirstAdmin(const std::string& data_dir,
                                                const crypto::Ed25519PublicKey& admin_key,
                                                const std::string& jurisdiction) {
  struct stat st {};
  if (::stat(data_dir.c_str(), &st) != 0) {
    if (errno != ENOENT || ::mkdir(data_dir.c_str(), 0700) != 0) {
      return absl::InternalError("cannot create " + data_dir + ": " + std::strerror(errno));
    }
  }
  auto stores = storage::vault::RocksDbVaultStores::Open(
      {.path = data_dir, .create_if_missing = true, .sync_every_commit = true});
  if (!stores.ok()) {
    return absl::InternalError(
        "cannot open " + data_dir +
        " (is the vault still running? stop it first): " + std::string(stores.status().message()));
  }
  LB_ASSIGN_OR_RETURN(std::string staff_id,
                      BootstrapAdmin(**stores, SystemClock::Instance(), admin_key, jurisdiction));
  LB_RETURN_IF_ERROR((*stores)->Flush());
  return staff_id;
}

absl::StatusOr<storage::vault::AuditVerification> VerifyAuditOffline(
    const std::string& data_dir, const std::string& checkpoints_path,
    const crypto::Ed25519PublicKey& audit_public_key) {
  LB_RETURN_IF_ERROR(RequireStore(data_dir));
  LB_ASSIGN_OR_RETURN(auto checkpoints, storage::vault::ReadCheckpointFile(checkpoints_path));
  auto stores = storage::vault::RocksDbVaultStores::Open(
      {.path = data_dir, .create_if_missing = false, .read_only = true});
  if (!stores.ok()) {
    return absl::InternalError("cannot open " + data_dir +
                               " read-only: " + std::string(stores.status().message()));
  }
  LB_ASSIGN_OR_RETURN(auto records, (*stores)->ReadRawAudit());
  return storage::vault::VerifyAuditLog(records, checkpoints, audit_public_key);
}

}  // namespace letterbox::vault
