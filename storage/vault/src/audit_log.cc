// The audit hash chain, checkpoint signing, the export file, and the verifier.
#include "letterbox/storage/vault/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"

namespace letterbox::storage::vault {

namespace {

using crypto::AsBytes;
using crypto::ByteReader;
using crypto::ByteWriter;

constexpr std::string_view kEntryLabel = "letterbox.audit-entry.v1";
constexpr std::string_view kCheckpointLabel = "letterbox.audit-checkpoint.v1";
constexpr std::string_view kLineMagic = "letterbox-audit-checkpoint";

absl::StatusOr<std::string> ReadStr(ByteReader& r) {
  LB_ASSIGN_OR_RETURN(crypto::ByteView b, r.Bytes());
  return crypto::ToString(b);
}

}  // namespace

crypto::Bytes EncodeAuditEntry(const AuditEntry& e) {
  ByteWriter w;
  w.Label(kEntryLabel)
      .U64(e.seq)
      .I64(e.time_micros)
      .Bytes(AsBytes(e.actor))
      .Bytes(AsBytes(e.role))
      .Bytes(AsBytes(e.peer))
      .Bytes(AsBytes(e.action))
      .Bytes(AsBytes(e.target))
      .U8(static_cast<uint8_t>(e.decision))
      .Bytes(AsBytes(e.reason))
      .U8(static_cast<uint8_t>(e.severity));
  return std::move(w).Take();
}

absl::StatusOr<AuditEntry> DecodeAuditEntry(crypto::ByteView bytes) {
  ByteReader r(bytes);
  LB_ASSIGN_OR_RETURN(std::string label, ReadStr(r));
  if (label != kEntryLabel) return absl::InvalidArgumentError("not an audit entry");
  AuditEntry e;
  LB_ASSIGN_OR_RETURN(e.seq, r.U64());
  LB_ASSIGN_OR_RETURN(e.time_micros, r.I64());
  LB_ASSIGN_OR_RETURN(e.actor, ReadStr(r));
  LB_ASSIGN_OR_RETURN(e.role, ReadStr(r));
  LB_ASSIGN_OR_RETURN(e.peer, ReadStr(r));
  LB_ASSIGN_OR_RETURN(e.action, ReadStr(r));
  LB_ASSIGN_OR_RETURN(e.target, ReadStr(r));
  LB_ASSIGN_OR_RETURN(uint8_t decision, r.U8());
  if (decision > 2) return absl::InvalidArgumentError("bad decision");
  e.decision = static_cast<Decision>(decision);
  LB_ASSIGN_OR_RETURN(e.reason, ReadStr(r));
  LB_ASSIGN_OR_RETURN(uint8_t severity, r.U8());
  if (severity > 2) return absl::InvalidArgumentError("bad severity");
  e.severity = static_cast<Severity>(severity);
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return e;
}

crypto::Sha256Digest ChainHash(const crypto::Sha256Digest& previous, const AuditEntry& entry) {
  ByteWriter w;
  w.Raw(previous.view()).Raw(EncodeAuditEntry(entry));
  return crypto::Sha256(w.view());
}

std::string AuditKey(uint64_t seq) {
  ByteWriter w;
  w.U64(seq);
  return crypto::ToString(w.view());
}

std::string AuditValue(const StoredAuditEntry& stored) {
  crypto::Bytes out = EncodeAuditEntry(stored.entry);
  out.insert(out.end(), stored.chain_hash.view().begin(), stored.chain_hash.view().end());
  return crypto::ToString(out);
}

absl::StatusOr<StoredAuditEntry> ParseAuditValue(std::string_view value) {
  constexpr size_t kHash = crypto::Sha256Digest::kSize;
  if (value.size() < kHash) return absl::InvalidArgumentError("audit record too short");
  crypto::ByteView all = AsBytes(value);
  StoredAuditEntry out;
  LB_ASSIGN_OR_RETURN(out.entry, DecodeAuditEntry(all.first(all.size() - kHash)));
  LB_ASSIGN_OR_RETURN(out.chain_hash, crypto::Sha256Digest::FromBytes(all.last(kHash)));
  return out;
}

crypto::Bytes CheckpointMessage(uint64_t log_size, const crypto::Sha256Digest& head_hash,
                                int64_t time_micros) {
  ByteWriter w;
  w.Label(kCheckpointLabel).U64(log_size).Bytes(head_hash.view()).I64(time_micros);
  return std::move(w).Take();
}

Checkpoint SignAuditCheckpoint(const crypto::Ed25519SecretKey& key, const AuditHead& head,
                               int64_t time_micros) {
  Checkpoint c;
  c.log_size = head.size;
  c.head_hash = head.hash;
  c.time_micros = time_micros;
  c.signature =
      crypto::Ed25519Sign(key, CheckpointMessage(head.size, head.hash, time_micros)).str();
  return c;
}

absl::Status VerifyCheckpointSignature(const crypto::Ed25519PublicKey& key,
                                       const Checkpoint& checkpoint) {
  LB_ASSIGN_OR_RETURN(auto sig, crypto::Ed25519Signature::FromString(checkpoint.signature));
  return crypto::Ed25519Verify(
      key, CheckpointMessage(checkpoint.log_size, checkpoint.head_hash, checkpoint.time_micros),
      sig);
}

std::string FormatCheckpointLine(const Checkpoint& c) {
  return absl::StrCat(std::string(kLineMagic), " v1 ", c.log_size, " ", c.head_hash.hex(), " ",
                      c.time_micros, " ", crypto::ToHex(AsBytes(c.signature)), "\n");
}

absl::Status AppendCheckpointToFile(const std::string& path, const Checkpoint& checkpoint) {
  const std::string line = FormatCheckpointLine(checkpoint);
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(fd, line.data() + written, line.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot sync ", path, ": ", std::strerror(err)));
  }
  if (::close(fd) != 0) {
    return absl::InternalError(absl::StrCat("cannot close ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Checkpoint>> ReadCheckpointFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::vector<Checkpoint> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    auto bad = [&] {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_no, ": malformed checkpoint"));
    };
    std::vector<std::string> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 6 || parts[0] != kLineMagic || parts[1] != "v1") return bad();
    Checkpoint c;
    if (!absl::SimpleAtoi(parts[2], &c.log_size) || !absl::SimpleAtoi(parts[4], &c.time_micros)) {
      return bad();
    }
    auto head = crypto::FromHex(parts[3]);
    auto sig = crypto::FromHex(parts[5]);
    if (!head.ok() || !sig.ok() || sig->size() != crypto::kEd25519SignatureSize) return bad();
    auto digest = crypto::Sha256Digest::FromBytes(*head);
    if (!digest.ok()) return bad();
    c.head_hash = *digest;
    c.signature = crypto::ToString(*sig);
    out.push_back(std::move(c));
  }
  return out;
}

AuditVerification VerifyAuditLog(const std::vector<VaultStores::RawRecord>& records,
                                 const std::vector<Checkpoint>& checkpoints,
                                 const crypto::Ed25519PublicKey& audit_public_key) {
  AuditVerification v;
  auto fail = [&v](std::optional<uint64_t> index, std::string problem) {
    v.ok = false;
    v.first_bad_index = index;
    v.problem = std::move(problem);
    return v;
  };

  // 1. Checkpoints: signatures and order.
  uint64_t max_size = 0;
  for (size_t k = 0; k < checkpoints.size(); ++k) {
    if (!VerifyCheckpointSignature(audit_public_key, checkpoints[k]).ok()) {
      return fail(std::nullopt, absl::StrCat("checkpoint ", k, " (size ", checkpoints[k].log_size,
                                             "): signature does not verify"));
    }
    if (checkpoints[k].log_size < max_size) {
      return fail(std::nullopt, absl::StrCat("checkpoint ", k, ": size ", checkpoints[k].log_size,
                                             " after a checkpoint of size ", max_size));
    }
    max_size = checkpoints[k].log_size;
    ++v.checkpoints_checked;
  }
  // The sizes checkpoints vouch for, in order, for step 3.
  std::vector<const Checkpoint*> by_size;
  for (const auto& c : checkpoints) by_size.push_back(&c);
  size_t next_checkpoint = 0;
  uint64_t last_matching_size = 0;
  crypto::Sha256Digest h;  // h_0: zeros
  auto check_checkpoints_at = [&](uint64_t size) -> std::optional<AuditVerification> {
    while (next_checkpoint < by_size.size() && by_size[next_checkpoint]->log_size == size) {
      if (by_size[next_checkpoint]->head_hash != h) {
        return fail(last_matching_size,
                    absl::StrCat("entries at indexes ", last_matching_size, "..", size - 1,
                                 " were rewritten: the checkpoint of size ", size,
                                 " does not match the recomputed head"));
      }
      ++next_checkpoint;
      last_matching_size = size;
    }
    return std::nullopt;
  };
  while (next_checkpoint < by_size.size() && by_size[next_checkpoint]->log_size == 0) {
    if (!by_size[next_checkpoint]->head_hash.IsZero()) {
      return fail(std::nullopt, "checkpoint of size 0 has a non-zero head");
    }
    ++next_checkpoint;
  }

  // 2 and 3. Every record in key order.
  for (size_t i = 0; i < records.size(); ++i) {
    const uint64_t seq = i + 1;
    if (records[i].key != AuditKey(seq)) {
      std::string found = "a malformed key";
      if (records[i].key.size() == 8) {
        ByteReader r(AsBytes(records[i].key));
        found = absl::StrCat("seq ", r.U64().value_or(0));
      }
      return fail(i,
                  absl::StrCat("entry missing or inserted: expected seq ", seq, ", found ", found));
    }
    auto stored = ParseAuditValue(records[i].value);
    if (!stored.ok()) {
      return fail(i,
                  absl::StrCat("entry altered: does not decode (", stored.status().message(), ")"));
    }
    if (stored->entry.seq != seq) {
      return fail(i, absl::StrCat("entry moved: the record at seq ", seq, " holds entry seq ",
                                  stored->entry.seq));
    }
    h = ChainHash(h, stored->entry);
    if (h != stored->chain_hash) {
      return fail(i, absl::StrCat("entry altered: chain hash mismatch at seq ", seq));
    }
    ++v.entries_checked;
    if (auto bad = check_checkpoints_at(seq)) return *bad;
  }

  // 4. Truncation.
  if (max_size > records.size()) {
    return fail(records.size(), absl::StrCat("log truncated: a checkpoint vouches for ", max_size,
                                             " entries, the log has ", records.size()));
  }
  v.ok = true;
  v.head = AuditHead{records.size(), h};
  return v;
}

}  // namespace letterbox::storage::vault
