// File: letterbox/storage/vault/vault_records.h
//
// The byte encoding of every vault record (crypto/encoding.h ByteWriter,
// one version byte first), shared by the RocksDB and in-memory stores so
// both hold identical bytes. Decoders reject trailing bytes and unknown
// versions with INVALID_ARGUMENT.
//
//   std::string value = EncodeCase(record);
//   LB_ASSIGN_OR_RETURN(CaseRecord back, DecodeCase(value));
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "letterbox/storage/vault/vault_stores.h"

namespace letterbox::storage::vault {

[[nodiscard]] std::string EncodeCase(const CaseRecord& r);
[[nodiscard]] absl::StatusOr<CaseRecord> DecodeCase(std::string_view v);
[[nodiscard]] std::string EncodeCaseKey(const WrappedCaseKey& r);
[[nodiscard]] absl::StatusOr<WrappedCaseKey> DecodeCaseKey(std::string_view v);
[[nodiscard]] std::string EncodeSeen(const SeenRecord& r);
[[nodiscard]] absl::StatusOr<SeenRecord> DecodeSeen(std::string_view v);
[[nodiscard]] std::string EncodeStaff(const StaffRecord& r);
[[nodiscard]] absl::StatusOr<StaffRecord> DecodeStaff(std::string_view v);
[[nodiscard]] std::string EncodeGrant(const GrantRecord& r);
[[nodiscard]] absl::StatusOr<GrantRecord> DecodeGrant(std::string_view v);
[[nodiscard]] std::string EncodeCheckpoint(const Checkpoint& c);
[[nodiscard]] absl::StatusOr<Checkpoint> DecodeCheckpoint(std::string_view v);
// Checkpoint family key: be64(log_size) ‖ be64(time_micros).
[[nodiscard]] std::string CheckpointKey(const Checkpoint& c);

// The audit ops for `entries` appended after `head`: assigns seq
// head.size + 1, ... (overwriting each entry's seq), chains the hashes, and
// advances `head`.
[[nodiscard]] std::vector<VaultBatch::Op> ChainAuditEntries(std::vector<AuditEntry> entries,
                                                            AuditHead& head);

// The column family names, indexed by VaultBatch::Family.
inline constexpr const char* kFamilyNames[8] = {"cases",  "case_keys", "intake_seen", "staff",
                                                "grants", "audit",     "checkpoints", "meta"};

}  // namespace letterbox::storage::vault
