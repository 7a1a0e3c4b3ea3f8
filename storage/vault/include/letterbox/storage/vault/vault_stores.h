// File: letterbox/storage/vault/vault_stores.h
//
// The report vault's storage: typed records (cases, wrapped case keys,
// intake de-duplication marks, staff, grants, audit entries, checkpoints)
// behind one abstract interface, VaultStores. Every change is one
// VaultBatch applied atomically, and the audit entries recording the change
// are appended in that same batch, so a change without its audit entry (or
// an entry without its change) can never be stored.
//
//   VaultBatch batch;
//   batch.PutGrant(grant);
//   batch.Audit(AuditEntry{.actor = hex_id, .action = "ApproveGrant", ...});
//   LB_ASSIGN_OR_RETURN(AuditHead head, stores.Commit(std::move(batch)));
//
// Implementations: RocksDbVaultStores (rocksdb_vault_store.h) and
// MemoryVaultStores (memory_vault_store.h). Both share the record codec in
// vault_records.h, so they store exactly the same bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/hash.h"

namespace letterbox::storage::vault {

inline constexpr size_t kIdSize = 16;  // case, grant and staff ids

// Role of a staff member. Values match letterbox.v1.StaffRole.
enum class Role : uint8_t { kNone = 0, kReviewer = 1, kApprover = 2, kAuditor = 3, kAdmin = 4 };
// Values match letterbox.v1.GrantKind.
enum class GrantKind : uint8_t { kNone = 0, kOpen = 1, kRevealIdentity = 2 };
// Stored grant states (EXPIRED is computed from expires_micros, not stored).
enum class GrantState : uint8_t {
  kNone = 0,
  kPending = 1,
  kApproved = 2,
  kRejected = 3,
  kRevoked = 4
};
enum class CaseStatus : uint8_t { kNone = 0, kNew = 1, kInReview = 2 };
enum class Decision : uint8_t { kNone = 0, kAllow = 1, kDeny = 2 };
enum class Severity : uint8_t { kNone = 0, kInfo = 1, kHigh = 2 };

// "reviewer", "approver", "auditor", "admin" or "none".
[[nodiscard]] std::string_view RoleName(Role role);

// A case. Only pseudonyms and routing metadata are in clear; the verified
// messages (with real account ids) are in `sealed_content`, encrypted under
// the case's data key, which is stored wrapped in the case_keys family.
struct CaseRecord {
  std::string case_id;  // 16 random bytes
  std::string jurisdiction;
  uint32_t category = 0;  // letterbox.v1.ReportCategory value
  CaseStatus status = CaseStatus::kNew;
  int64_t received_micros = 0;
  int64_t expires_micros = 0;
  std::string reporter_pseudonym;              // 32 bytes
  std::vector<std::string> sender_pseudonyms;  // 32 bytes each, distinct
  uint32_t message_count = 0;
  std::string sealed_content;  // XChaCha20-Poly1305 nonce ‖ ciphertext ‖ tag, AD = case id
};

// A case's data key wrapped by the vault KEK (AD = case id ‖ kek id).
struct WrappedCaseKey {
  std::string case_id;
  std::string kek_id;
  std::string wrapped;  // nonce ‖ ciphertext ‖ tag
};

// Intake de-duplication. Keys are built by RelaySeenKey / MessageSeenKey.
struct SeenRecord {
  bool accepted = false;
  std::string case_id;     // when accepted
  uint32_t rejection = 0;  // the vault's IntakeRejection value when rejected
};
// "r" ‖ relay report id.
[[nodiscard]] std::string RelaySeenKey(std::string_view relay_report_id);
// "m" ‖ the pseudonym-keyed digest of (reporter account id, message id), so
// the key does not carry the account id in clear.
[[nodiscard]] std::string MessageSeenKey(const crypto::Blake2b256& keyed_digest);

struct StaffRecord {
  std::string staff_id;    // 16 random bytes
  std::string public_key;  // 32-byte Ed25519 public key
  Role role = Role::kNone;
  std::string jurisdiction;
  bool enabled = true;
  int64_t created_micros = 0;
};

struct GrantRecord {
  std::string grant_id;  // 16 random bytes
  std::string case_id;
  std::string jurisdiction;  // the case's, copied so approvers can list grants
  GrantKind kind = GrantKind::kNone;
  GrantState state = GrantState::kNone;
  std::string requester_id;
  std::string approver_id;  // empty until decided; empty for break-glass
  std::string justification;
  bool break_glass = false;
  int64_t created_micros = 0;
  int64_t expires_micros = 0;  // set when approved
};

// One audit entry as the vault describes it. seq and time are assigned by
// the store (seq) and the caller (time).
struct AuditEntry {
  uint64_t seq = 0;  // assigned by Commit: 1, 2, 3, ... without gaps
  int64_t time_micros = 0;
  std::string actor;   // hex staff id, "intake", "system", "offline"
  std::string role;    // RoleName or "none"
  std::string peer;    // "ipv4:127.0.0.2:5555", empty for intake/system
  std::string action;  // RPC or event name
  std::string target;  // "case:<hex>", "grant:<hex>", "staff:<hex>", "relay:<hex>"
  Decision decision = Decision::kNone;
  std::string reason;
  Severity severity = Severity::kInfo;
};

// An entry as stored: the entry and h_seq, the chain hash after it.
struct StoredAuditEntry {
  AuditEntry entry;
  crypto::Sha256Digest chain_hash;
};

// The log's state: its size (the last seq) and h_size (32 zeros if empty).
struct AuditHead {
  uint64_t size = 0;
  crypto::Sha256Digest hash;
};

// A signed statement of an AuditHead (audit_log.h signs and verifies).
struct Checkpoint {
  uint64_t log_size = 0;
  crypto::Sha256Digest head_hash;
  int64_t time_micros = 0;
  std::string signature;  // 64 bytes
};

// A set of changes applied atomically by VaultStores::Commit. Later
// operations on the same key win. Not thread-safe.
class VaultBatch {
 public:
  void PutCase(const CaseRecord& record);
  void DeleteCase(std::string_view case_id);
  void PutCaseKey(const WrappedCaseKey& key);
  void DeleteCaseKey(std::string_view case_id);
  void PutSeen(std::string_view key, const SeenRecord& record);
  // Removes a de-duplication mark; a key that is absent is no error.
  void DeleteSeen(std::string_view key);
  void PutStaff(const StaffRecord& record);
  void PutGrant(const GrantRecord& record);
  void PutCheckpoint(const Checkpoint& checkpoint);
  // Appends `entry` to the audit log when the batch commits; its seq is
  // assigned then (entries keep their order within the batch).
  void Audit(AuditEntry entry);
  // Makes Commit return only after the write is on stable storage (fsync).
  void RequireSync() { sync_ = true; }

  // For implementations.
  enum class Family : uint8_t {
    kCases,
    kCaseKeys,
    kIntakeSeen,
    kStaff,
    kGrants,
    kAudit,
    kCheckpoints,
    kMeta
  };
  struct Op {
    Family family;
    std::string key;
    std::optional<std::string> value;  // nullopt: delete
  };
  [[nodiscard]] const std::vector<Op>& ops() const { return ops_; }
  [[nodiscard]] const std::vector<AuditEntry>& audit() const { return audit_; }
  [[nodiscard]] bool sync() const { return sync_; }
  [[nodiscard]] bool empty() const { return ops_.empty() && audit_.empty(); }

 private:
  std::vector<Op> ops_;
  std::vector<AuditEntry> audit_;
  bool sync_ = false;
};

// The vault's stores. Implementations are thread-safe; Commit calls are
// serialised so the audit chain order is the commit order.
class VaultStores {
 public:
  virtual ~VaultStores() = default;

  // NOT_FOUND if absent.
  [[nodiscard]] virtual absl::StatusOr<CaseRecord> GetCase(std::string_view case_id) = 0;
  // Up to `limit` cases with id > `after` (empty: from the start), in id order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<CaseRecord>> ListCases(std::string_view after,
                                                                          size_t limit) = 0;
  // NOT_FOUND if absent (never stored, or shredded).
  [[nodiscard]] virtual absl::StatusOr<WrappedCaseKey> GetCaseKey(std::string_view case_id) = 0;
  // NOT_FOUND if absent.
  [[nodiscard]] virtual absl::StatusOr<SeenRecord> GetSeen(std::string_view key) = 0;
  // NOT_FOUND if absent.
  [[nodiscard]] virtual absl::StatusOr<StaffRecord> GetStaff(std::string_view staff_id) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<StaffRecord>> ListStaff() = 0;
  // NOT_FOUND if absent.
  [[nodiscard]] virtual absl::StatusOr<GrantRecord> GetGrant(std::string_view grant_id) = 0;
  // Every grant (the set is small: grants are per request, and a reference
  // deployment keeps them for the audit trail).
  [[nodiscard]] virtual absl::StatusOr<std::vector<GrantRecord>> ListGrants() = 0;
  // Up to `limit` entries with seq > after_seq, in order. An entry that does
  // not decode is DATA_LOSS naming its seq (VerifyAuditLog reads raw entries
  // through ReadRawAudit instead).
  [[nodiscard]] virtual absl::StatusOr<std::vector<StoredAuditEntry>> ReadAudit(uint64_t after_seq,
                                                                                size_t limit) = 0;
  // Every audit record as stored, key and value, in key order; for the
  // verifier, which must see damage rather than fail on it.
  struct RawRecord {
    std::string key;
    std::string value;
  };
  [[nodiscard]] virtual absl::StatusOr<std::vector<RawRecord>> ReadRawAudit() = 0;
  // The current head (size 0 and zero hash for an empty log).
  [[nodiscard]] virtual absl::StatusOr<AuditHead> GetAuditHead() = 0;
  // Checkpoints with log_size > after_size, ordered by (log_size, time), at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Checkpoint>> ListCheckpoints(uint64_t after_size,
                                                                                size_t limit) = 0;

  // Applies `batch` atomically: every op and every audit entry, or nothing.
  // Audit entries get seq = head.size + 1, ... and chain hashes. Returns the
  // new head. On error nothing was applied.
  [[nodiscard]] virtual absl::StatusOr<AuditHead> Commit(VaultBatch batch) = 0;
};

}  // namespace letterbox::storage::vault
