// File: letterbox/storage/vault/audit_log.h
//
// The vault audit log's hash chain, signed checkpoints, the checkpoint
// export file, and the verifier that detects altered, deleted, reordered
// and truncated entries (threat model P5). docs/vault.md has the formats.
//
//   h_0 = 32 zero bytes
//   h_i = SHA-256(h_{i-1} ‖ EncodeAuditEntry(entry_i))
//   checkpoint signature = Ed25519(audit key, CheckpointMessage(size, h_size, time))
//
//   LB_ASSIGN_OR_RETURN(auto stores, RocksDbVaultStores::Open({.path = dir, .read_only = true}));
//   LB_ASSIGN_OR_RETURN(auto raw, stores->ReadRawAudit());
//   LB_ASSIGN_OR_RETURN(auto checkpoints, ReadCheckpointFile(path));
//   AuditVerification v = VerifyAuditLog(raw, checkpoints, audit_public_key);
//   if (!v.ok) std::cerr << "bad entry at index " << *v.first_bad_index << ": " << v.problem;
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/storage/vault/vault_stores.h"

namespace letterbox::storage::vault {

// The canonical bytes of an entry (the stored value minus the chain hash):
// ByteWriter Label("letterbox.audit-entry.v1").U64(seq).I64(time)
//   .Bytes(actor).Bytes(role).Bytes(peer).Bytes(action).Bytes(target)
//   .U8(decision).Bytes(reason).U8(severity)
[[nodiscard]] crypto::Bytes EncodeAuditEntry(const AuditEntry& entry);
// The inverse; INVALID_ARGUMENT if `bytes` is not exactly one encoded entry.
[[nodiscard]] absl::StatusOr<AuditEntry> DecodeAuditEntry(crypto::ByteView bytes);

// SHA-256(previous ‖ EncodeAuditEntry(entry)).
[[nodiscard]] crypto::Sha256Digest ChainHash(const crypto::Sha256Digest& previous,
                                             const AuditEntry& entry);

// The stored audit record: key = be64(seq), value = encoded entry ‖ chain hash.
[[nodiscard]] std::string AuditKey(uint64_t seq);
[[nodiscard]] std::string AuditValue(const StoredAuditEntry& stored);
// INVALID_ARGUMENT if the value is malformed.
[[nodiscard]] absl::StatusOr<StoredAuditEntry> ParseAuditValue(std::string_view value);

// The signed bytes: ByteWriter Label("letterbox.audit-checkpoint.v1")
//   .U64(log_size).Bytes(head_hash).I64(time_micros).
[[nodiscard]] crypto::Bytes CheckpointMessage(uint64_t log_size,
                                              const crypto::Sha256Digest& head_hash,
                                              int64_t time_micros);
// A checkpoint of `head` at `time_micros` signed with `key`.
[[nodiscard]] Checkpoint SignAuditCheckpoint(const crypto::Ed25519SecretKey& key,
                                             const AuditHead& head, int64_t time_micros);
// OK if the checkpoint's signature verifies under `key`; INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::Status VerifyCheckpointSignature(const crypto::Ed25519PublicKey& key,
                                                     const Checkpoint& checkpoint);

// One line of the export file (with trailing '\n'):
//   "letterbox-audit-checkpoint v1 <size> <head hex> <time micros> <signature hex>"
[[nodiscard]] std::string FormatCheckpointLine(const Checkpoint& checkpoint);
// Appends one line to `path` (created 0600 if missing) and fsyncs it.
// INTERNAL (with the path and errno text) if it cannot be written.
[[nodiscard]] absl::Status AppendCheckpointToFile(const std::string& path,
                                                  const Checkpoint& checkpoint);
// Every checkpoint in `path`, in file order. NOT_FOUND if the file does not
// exist; INVALID_ARGUMENT naming the line number of a malformed line.
[[nodiscard]] absl::StatusOr<std::vector<Checkpoint>> ReadCheckpointFile(const std::string& path);

// What VerifyAuditLog found.
struct AuditVerification {
  bool ok = false;
  uint64_t entries_checked = 0;
  uint64_t checkpoints_checked = 0;
  // 0-based position in the raw record list of the first record that is
  // wrong (for a truncation: the position where the missing entry should be).
  std::optional<uint64_t> first_bad_index;
  // What is wrong there, in words ("entry altered: chain hash mismatch", ...).
  std::string problem;
  // The log's head as recomputed (valid when ok).
  AuditHead head;
};

// Checks, in this order, and reports the first problem:
//  1. every checkpoint's signature under `audit_public_key`, and that their
//     sizes never decrease;
//  2. every record: its key is be64(i+1), its value parses, its seq is i+1,
//     and its stored chain hash equals the recomputed h_{i+1} (an edited,
//     deleted, inserted or moved entry fails here at its position);
//  3. every checkpoint head equals the recomputed h_size (an entry rewritten
//     together with every later stored hash fails here; the problem then
//     names the range between the last matching checkpoint and this one,
//     and first_bad_index is the first index of that range);
//  4. the log is at least as long as the largest checkpoint (truncation).
// Never fails on damaged input: damage is the answer, not an error.
[[nodiscard]] AuditVerification VerifyAuditLog(const std::vector<VaultStores::RawRecord>& records,
                                               const std::vector<Checkpoint>& checkpoints,
                                               const crypto::Ed25519PublicKey& audit_public_key);

}  // namespace letterbox::storage::vault
