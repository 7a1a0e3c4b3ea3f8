// File: letterbox/vault/admin_session.h
//
// A staff member's credentials on their own machine, for letterbox-admin:
//
//  - The staff key: an Ed25519 key file in server/key_files.h format
//    (mode 0600, key id inside), named by its path: "~/.letterbox/alice.key"
//    is key "alice" in the directory "~/.letterbox" (mode 0700). The private
//    half never leaves it; the vault holds only the public half.
//  - The session file: after a challenge-response login, the vault's session
//    token with the staff id, role, jurisdiction and expiry, written 0600
//    (temporary file, fsync, rename). It is refused when group or others can
//    read it. The token is a bearer credential: whoever reads the file can
//    act as the staff member until it expires.
//
//   LB_ASSIGN_OR_RETURN(crypto::Ed25519KeyPair key, LoadStaffKey("/home/a/.letterbox/alice.key"));
//   LB_ASSIGN_OR_RETURN(StaffSession s, LoginStaff(channel, staff_id, key, absl::Seconds(10)));
//   LB_RETURN_IF_ERROR(WriteSessionFile(path, s));
#pragma once

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"

namespace letterbox::vault {

// The bytes a staff member signs to log in (vault.proto, Login):
// ByteWriter().Label("letterbox.vault-auth.v1").Bytes(nonce).Bytes(staff_id).
[[nodiscard]] crypto::Bytes StaffLoginMessage(crypto::ByteView nonce, crypto::ByteView staff_id);

struct StaffKeyInfo {
  crypto::Ed25519PublicKey public_key;
  std::string key_id;  // 16 hex characters
};

// Creates a new staff key at `path` ("<dir>/<name>.key", name [a-z0-9_-]{1,64};
// the directory is created 0700 if missing). ALREADY_EXISTS if the file
// exists (never overwritten); INVALID_ARGUMENT for a bad path;
// FAILED_PRECONDITION for an unsafe directory; INTERNAL on I/O errors.
[[nodiscard]] absl::StatusOr<StaffKeyInfo> GenerateStaffKey(const std::string& path);

// Loads the staff key at `path`. NOT_FOUND if missing; FAILED_PRECONDITION
// if the file or its directory is accessible to others; DATA_LOSS if damaged.
[[nodiscard]] absl::StatusOr<crypto::Ed25519KeyPair> LoadStaffKey(const std::string& path);

// A logged-in staff session. Move-only (the token is a secret).
struct StaffSession {
  std::string vault_address;  // where the session is valid
  std::string source;         // local address it logged in from ("" = any)
  std::string staff_id;       // 16 bytes
  std::string role;           // "reviewer", "approver", "auditor", "admin"
  std::string jurisdiction;
  int64_t expires_micros = 0;
  crypto::SecretBytes token;  // 32 bytes

  // "Bearer <hex token>" for the authorization metadata. The caller should
  // not keep the string longer than the call.
  [[nodiscard]] std::string Authorization() const;
};

// Challenge-response login on `channel`: GetChallenge, sign, Login, each
// with `timeout`. Returns the vault's status unchanged on failure (the
// caller prints code and reason).
[[nodiscard]] absl::StatusOr<StaffSession> LoginStaff(const std::shared_ptr<grpc::Channel>& channel,
                                                      const std::string& staff_id,
                                                      const crypto::Ed25519KeyPair& key,
                                                      absl::Duration timeout);

// Writes `session` to `path` with mode 0600 (atomically; the directory is
// created 0700 if missing). INTERNAL naming the path on I/O errors.
[[nodiscard]] absl::Status WriteSessionFile(const std::string& path, const StaffSession& session);

// Reads a session file. NOT_FOUND if missing ("log in first");
// FAILED_PRECONDITION if group or others may read it; DATA_LOSS if malformed.
// Expiry is not checked here (the vault decides).
[[nodiscard]] absl::StatusOr<StaffSession> ReadSessionFile(const std::string& path);

// $HOME/.letterbox-admin/session (or ./.letterbox-admin/session without HOME).
[[nodiscard]] std::string DefaultSessionPath();

}  // namespace letterbox::vault
