// Record encodings for the vault stores and the VaultBatch builder.
#include "letterbox/storage/vault/vault_records.h"

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/storage/vault/audit_log.h"

namespace letterbox::storage::vault {

namespace {

using crypto::AsBytes;
using crypto::ByteReader;
using crypto::ByteWriter;

constexpr uint8_t kVersion = 1;

std::string Str(crypto::ByteView b) { return crypto::ToString(b); }

std::string Finish(ByteWriter& w) { return Str(w.view()); }

absl::StatusOr<ByteReader> Begin(std::string_view v) {
  ByteReader r(AsBytes(v));
  LB_ASSIGN_OR_RETURN(uint8_t version, r.U8());
  if (version != kVersion) return absl::InvalidArgumentError("unknown record version");
  return r;
}

absl::StatusOr<std::string> ReadStr(ByteReader& r) {
  LB_ASSIGN_OR_RETURN(crypto::ByteView b, r.Bytes());
  return Str(b);
}

template <typename Enum>
absl::StatusOr<Enum> ReadEnum(ByteReader& r, uint8_t max) {
  LB_ASSIGN_OR_RETURN(uint8_t v, r.U8());
  if (v > max) return absl::InvalidArgumentError("enum out of range");
  return static_cast<Enum>(v);
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReviewer:
      return "reviewer";
    case Role::kApprover:
      return "approver";
    case Role::kAuditor:
      return "auditor";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

std::string RelaySeenKey(std::string_view relay_report_id) {
  // Built with append: g++ 12 at -O3 reports a false -Wrestrict for
  // "r" + std::string(...).
  std::string key;
  key.reserve(1 + relay_report_id.size());
  key.append("r").append(relay_report_id);
  return key;
}

std::string MessageSeenKey(const crypto::Blake2b256& keyed_digest) {
  return "m" + keyed_digest.str();
}

std::string EncodeCase(const CaseRecord& r) {
  ByteWriter w;
  w.U8(kVersion)
      .Bytes(AsBytes(r.case_id))
      .Bytes(AsBytes(r.jurisdiction))
      .U32(r.category)
      .U8(static_cast<uint8_t>(r.status))
      .I64(r.received_micros)
      .I64(r.expires_micros)
      .Bytes(AsBytes(r.reporter_pseudonym))
      .U32(static_cast<uint32_t>(r.sender_pseudonyms.size()));
  for (const auto& p : r.sender_pseudonyms) w.Bytes(AsBytes(p));
  w.U32(r.message_count).Bytes(AsBytes(r.sealed_content));
  return Finish(w);
}

absl::StatusOr<CaseRecord> DecodeCase(std::string_view v) {
  LB_ASSIGN_OR_RETURN(ByteReader r, Begin(v));
  CaseRecord c;
  LB_ASSIGN_OR_RETURN(c.case_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(c.jurisdiction, ReadStr(r));
  LB_ASSIGN_OR_RETURN(c.category, r.U32());
  LB_ASSIGN_OR_RETURN(c.status, ReadEnum<CaseStatus>(r, 2));
  LB_ASSIGN_OR_RETURN(c.received_micros, r.I64());
  LB_ASSIGN_OR_RETURN(c.expires_micros, r.I64());
  LB_ASSIGN_OR_RETURN(c.reporter_pseudonym, ReadStr(r));
  LB_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  if (n > r.remaining() / 4) return absl::InvalidArgumentError("bad pseudonym count");
  for (uint32_t i = 0; i < n; ++i) {
    LB_ASSIGN_OR_RETURN(std::string p, ReadStr(r));
    c.sender_pseudonyms.push_back(std::move(p));
  }
  LB_ASSIGN_OR_RETURN(c.message_count, r.U32());
  LB_ASSIGN_OR_RETURN(c.sealed_content, ReadStr(r));
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return c;
}

std::string EncodeCaseKey(const WrappedCaseKey& r) {
  ByteWriter w;
  w.U8(kVersion).Bytes(AsBytes(r.case_id)).Bytes(AsBytes(r.kek_id)).Bytes(AsBytes(r.wrapped));
  return Finish(w);
}

absl::StatusOr<WrappedCaseKey> DecodeCaseKey(std::string_view v) {
  LB_ASSIGN_OR_RETURN(ByteReader r, Begin(v));
  WrappedCaseKey k;
  LB_ASSIGN_OR_RETURN(k.case_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(k.kek_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(k.wrapped, ReadStr(r));
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return k;
}

std::string EncodeSeen(const SeenRecord& r) {
  ByteWriter w;
  w.U8(kVersion).U8(r.accepted ? 1 : 0).Bytes(AsBytes(r.case_id)).U32(r.rejection);
  return Finish(w);
}

absl::StatusOr<SeenRecord> DecodeSeen(std::string_view v) {
  LB_ASSIGN_OR_RETURN(ByteReader r, Begin(v));
  SeenRecord s;
  LB_ASSIGN_OR_RETURN(uint8_t accepted, r.U8());
  s.accepted = accepted != 0;
  LB_ASSIGN_OR_RETURN(s.case_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(s.rejection, r.U32());
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return s;
}

std::string EncodeStaff(const StaffRecord& r) {
  ByteWriter w;
  w.U8(kVersion)
      .Bytes(AsBytes(r.staff_id))
      .Bytes(AsBytes(r.public_key))
      .U8(static_cast<uint8_t>(r.role))
      .Bytes(AsBytes(r.jurisdiction))
      .U8(r.enabled ? 1 : 0)
      .I64(r.created_micros);
  return Finish(w);
}

absl::StatusOr<StaffRecord> DecodeStaff(std::string_view v) {
  LB_ASSIGN_OR_RETURN(ByteReader r, Begin(v));
  StaffRecord s;
  LB_ASSIGN_OR_RETURN(s.staff_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(s.public_key, ReadStr(r));
  LB_ASSIGN_OR_RETURN(s.role, ReadEnum<Role>(r, 4));
  LB_ASSIGN_OR_RETURN(s.jurisdiction, ReadStr(r));
  LB_ASSIGN_OR_RETURN(uint8_t enabled, r.U8());
  s.enabled = enabled != 0;
  LB_ASSIGN_OR_RETURN(s.created_micros, r.I64());
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return s;
}

std::string EncodeGrant(const GrantRecord& r) {
  ByteWriter w;
  w.U8(kVersion)
      .Bytes(AsBytes(r.grant_id))
      .Bytes(AsBytes(r.case_id))
      .Bytes(AsBytes(r.jurisdiction))
      .U8(static_cast<uint8_t>(r.kind))
      .U8(static_cast<uint8_t>(r.state))
      .Bytes(AsBytes(r.requester_id))
      .Bytes(AsBytes(r.approver_id))
      .Bytes(AsBytes(r.justification))
      .U8(r.break_glass ? 1 : 0)
      .I64(r.created_micros)
      .I64(r.expires_micros);
  return Finish(w);
}

absl::StatusOr<GrantRecord> DecodeGrant(std::string_view v) {
  LB_ASSIGN_OR_RETURN(ByteReader r, Begin(v));
  GrantRecord g;
  LB_ASSIGN_OR_RETURN(g.grant_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(g.case_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(g.jurisdiction, ReadStr(r));
  LB_ASSIGN_OR_RETURN(g.kind, ReadEnum<GrantKind>(r, 2));
  LB_ASSIGN_OR_RETURN(g.state, ReadEnum<GrantState>(r, 4));
  LB_ASSIGN_OR_RETURN(g.requester_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(g.approver_id, ReadStr(r));
  LB_ASSIGN_OR_RETURN(g.justification, ReadStr(r));
  LB_ASSIGN_OR_RETURN(uint8_t bg, r.U8());
  g.break_glass = bg != 0;
  LB_ASSIGN_OR_RETURN(g.created_micros, r.I64());
  LB_ASSIGN_OR_RETURN(g.expires_micros, r.I64());
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return g;
}

std::string EncodeCheckpoint(const Checkpoint& c) {
  ByteWriter w;
  w.U8(kVersion)
      .U64(c.log_size)
      .Bytes(c.head_hash.view())
      .I64(c.time_micros)
      .Bytes(AsBytes(c.signature));
  return Finish(w);
}

absl::StatusOr<Checkpoint> DecodeCheckpoint(std::string_view v) {
  LB_ASSIGN_OR_RETURN(ByteReader r, Begin(v));
  Checkpoint c;
  LB_ASSIGN_OR_RETURN(c.log_size, r.U64());
  LB_ASSIGN_OR_RETURN(crypto::ByteView head, r.Bytes());
  LB_ASSIGN_OR_RETURN(c.head_hash, crypto::Sha256Digest::FromBytes(head));
  LB_ASSIGN_OR_RETURN(c.time_micros, r.I64());
  LB_ASSIGN_OR_RETURN(c.signature, ReadStr(r));
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return c;
}

std::string CheckpointKey(const Checkpoint& c) {
  ByteWriter w;
  w.U64(c.log_size).I64(c.time_micros);
  return Finish(w);
}

std::vector<VaultBatch::Op> ChainAuditEntries(std::vector<AuditEntry> entries, AuditHead& head) {
  std::vector<VaultBatch::Op> ops;
  ops.reserve(entries.size());
  for (auto& e : entries) {
    e.seq = head.size + 1;
    crypto::Sha256Digest hash = ChainHash(head.hash, e);
    StoredAuditEntry stored{std::move(e), hash};
    head.size = stored.entry.seq;
    head.hash = stored.chain_hash;
    ops.push_back({VaultBatch::Family::kAudit, AuditKey(head.size), AuditValue(stored)});
  }
  return ops;
}

void VaultBatch::PutCase(const CaseRecord& record) {
  ops_.push_back({Family::kCases, record.case_id, EncodeCase(record)});
}
void VaultBatch::DeleteCase(std::string_view case_id) {
  ops_.push_back({Family::kCases, std::string(case_id), std::nullopt});
}
void VaultBatch::PutCaseKey(const WrappedCaseKey& key) {
  ops_.push_back({Family::kCaseKeys, key.case_id, EncodeCaseKey(key)});
}
void VaultBatch::DeleteCaseKey(std::string_view case_id) {
  ops_.push_back({Family::kCaseKeys, std::string(case_id), std::nullopt});
}
void VaultBatch::PutSeen(std::string_view key, const SeenRecord& record) {
  ops_.push_back({Family::kIntakeSeen, std::string(key), EncodeSeen(record)});
}
void VaultBatch::DeleteSeen(std::string_view key) {
  ops_.push_back({Family::kIntakeSeen, std::string(key), std::nullopt});
}
void VaultBatch::PutStaff(const StaffRecord& record) {
  ops_.push_back({Family::kStaff, record.staff_id, EncodeStaff(record)});
}
void VaultBatch::PutGrant(const GrantRecord& record) {
  ops_.push_back({Family::kGrants, record.grant_id, EncodeGrant(record)});
}
void VaultBatch::PutCheckpoint(const Checkpoint& checkpoint) {
  ops_.push_back({Family::kCheckpoints, CheckpointKey(checkpoint), EncodeCheckpoint(checkpoint)});
}
void VaultBatch::Audit(AuditEntry entry) { audit_.push_back(std::move(entry)); }

}  // namespace letterbox::storage::vault
