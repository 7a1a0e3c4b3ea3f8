// File: letterbox/vault/admin_offline.h
//
// letterbox-admin's commands that work on a vault data directory directly,
// without the vault process:
//
//  - bootstrap: enrols the first admin on a STOPPED (or not yet started)
//    vault's data directory (RocksDB's lock file refuses a second opener, so
//    a running vault makes this fail rather than race). There is deliberately
//    no bootstrap RPC.
//  - audit verify: opens the store READ-ONLY (safe while the vault runs, and
//    on a copy) and checks the audit chain against exported checkpoints with
//    the pinned audit public key (storage::vault::VerifyAuditLog).
//
//   LB_ASSIGN_OR_RETURN(std::string admin_id,
//                       BootstrapFirstAdmin("/var/lib/letterbox/vault", admin_key, "JP"));
//   LB_ASSIGN_OR_RETURN(auto v, VerifyAuditOffline(dir, "/var/backups/checkpoints", audit_key));
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/storage/vault/audit_log.h"

namespace letterbox::vault {

// Enrols `admin_key` as the first admin of `jurisdiction` and returns the new
// staff id (16 bytes). Creates the data directory (0700) and the store if
// they do not exist yet, so a vault can be bootstrapped before its first
// start. FAILED_PRECONDITION once an admin exists; INTERNAL if the store is locked
// by a running vault or cannot be opened; INVALID_ARGUMENT as BootstrapAdmin.
[[nodiscard]] absl::StatusOr<std::string> BootstrapFirstAdmin(
    const std::string& data_dir, const crypto::Ed25519PublicKey& admin_key,
    const std::string& jurisdiction);

// Verifies the audit log in `data_dir` against the checkpoint export file
// `checkpoints_path`. The result says whether it verified and, if not, the
// first bad entry. Errors only when the inputs cannot be read: NOT_FOUND
// (no store, no checkpoint file), INVALID_ARGUMENT (malformed checkpoint
// line), INTERNAL (store cannot be opened).
[[nodiscard]] absl::StatusOr<storage::vault::AuditVerification> VerifyAuditOffline(
    const std::string& data_dir, const std::string& checkpoints_path,
    const crypto::Ed25519PublicKey& audit_public_key);

}  // namespace letterbox::vault
