// The report vault: intake, staff sessions, policy enforcement, audit, and
// the VaultService callback implementation.
#include "letterbox/vault/vault.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <exception>
#include <set>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/server/rate_limiter.h"
#include "letterbox/server/status_conversion.h"
#include "letterbox/storage/vault/vault_records.h"
#include "letterbox/v1/report_content.pb.h"
#include "letterbox/v1/vault.grpc.pb.h"
#include "letterbox/vault/network.h"
#include "letterbox/vault/policy.h"

// Designated initializers with defaulted members are how this file builds
// audit entries and policy inputs; g++ 12 warns about the omitted members.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace letterbox::vault {

namespace sv = storage::vault;
namespace v1 = letterbox::v1;
using crypto::AsBytes;
using crypto::ByteWriter;

std::string_view IntakeRejectionName(IntakeRejection r) {
  switch (r) {
    case IntakeRejection::kNone:
      return "accepted";
    case IntakeRejection::kUnreadable:
      return "unreadable";
    case IntakeRejection::kMalformed:
      return "malformed";
    case IntakeRejection::kForgedTag:
      return "forged tag";
    case IntakeRejection::kCommitmentMismatch:
      return "commitment mismatch";
    case IntakeRejection::kMisattributed:
      return "misattributed";
    case IntakeRejection::kDuplicate:
      return "duplicate";
    case IntakeRejection::kUnknownJurisdiction:
      return "unknown jurisdiction";
  }
  return "unknown";
}

namespace {

constexpr size_t kNonceSize = 32;
constexpr size_t kTokenSize = 32;
constexpr size_t kMaxChallenges = 100'000;
constexpr size_t kMaxJurisdictionBytes = 16;
constexpr std::string_view kAuthLabel = "letterbox.vault-auth.v1";
constexpr std::string_view kFrankingContextLabel = "letterbox.franking.context.v1";
constexpr std::string_view kPseudonymLabel = "letterbox.vault.pseudonym.v1";
constexpr std::string_view kDedupLabel = "letterbox.vault.dedup.v1";

std::string Hex(std::string_view s) { return crypto::ToHex(AsBytes(s)); }

std::string RandomId(crypto::Random& random, size_t n = sv::kIdSize) {
  std::string id(n, '\0');
  random.Fill(std::span<uint8_t>(reinterpret_cast<uint8_t*>(id.data()), id.size()));
  return id;
}

bool SameAddress(const v1::DeviceAddress& a, const v1::DeviceAddress& b) {
  return a.account_id() == b.account_id() && a.device_id() == b.device_id();
}

bool ValidAddress(const v1::DeviceAddress& a) {
  return a.account_id().size() == sv::kIdSize && a.device_id() != 0;
}

bool HasUnknownFields(const google::protobuf::Message& m) {
  return !m.GetReflection()->GetUnknownFields(m).empty();
}

bool Blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return absl::ascii_isspace(c); });
}

// Associated data of a wrapped case key.
crypto::Bytes WrapAd(std::string_view case_id, std::string_view kek_id) {
  ByteWriter w;
  w.Bytes(AsBytes(case_id)).Bytes(AsBytes(kek_id));
  return std::move(w).Take();
}

crypto::Bytes FrankingContext(std::string_view message_id) {
  ByteWriter w;
  w.Label(kFrankingContextLabel).Bytes(AsBytes(message_id));
  return std::move(w).Take();
}

void Wipe(std::string& s) {
  crypto::SecureZero(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

// Zeroes the secret and identifying fields of a decrypted case in place.
void WipeContent(v1::ReportContent& content) {
  Wipe(*content.mutable_comment());
  Wipe(*content.mutable_reporter()->mutable_account_id());
  for (auto& m : *content.mutable_messages()) {
    Wipe(*m.mutable_plaintext());
    Wipe(*m.mutable_franking_key());
    Wipe(*m.mutable_sender()->mutable_account_id());
    Wipe(*m.mutable_recipient()->mutable_account_id());
  }
}

// BLAKE2b-256(key, Label(kPseudonymLabel) ‖ Bytes(account_id)).
std::string PseudonymUnder(const crypto::MacKey& key, std::string_view account_id) {
  ByteWriter w;
  w.Label(kPseudonymLabel).Bytes(AsBytes(account_id));
  // The key is 32 bytes, inside BLAKE2b's 16..64 range, so this cannot fail.
  auto digest = crypto::Blake2b256Keyed(key.Expose(), w.view());
  return digest.ok() ? digest->str() : std::string();
}

// A case's pseudonyms: the reporter's, and the distinct senders' in the order
// of their first message.
struct CasePseudonyms {
  std::string reporter;
  std::vector<std::string> senders;
};

CasePseudonyms CasePseudonymsUnder(const crypto::MacKey& key, const v1::ReportContent& content) {
  CasePseudonyms out;
  out.reporter = PseudonymUnder(key, content.reporter().account_id());
  std::set<std::string> distinct;
  for (const auto& m : content.messages()) {
    std::string p = PseudonymUnder(key, m.sender().account_id());
    if (distinct.insert(p).second) out.senders.push_back(std::move(p));
  }
  return out;
}

// The intake_seen key marking `message_id` as reported by the account
// `reporter_account_id`: MessageSeenKey(BLAKE2b-256(key, Label(kDedupLabel) ‖
// Bytes(reporter account id) ‖ Bytes(message id))).
absl::StatusOr<std::string> MessageMarkUnder(const crypto::MacKey& key,
                                             std::string_view reporter_account_id,
                                             std::string_view message_id) {
  ByteWriter w;
  w.Label(kDedupLabel).Bytes(AsBytes(reporter_account_id)).Bytes(AsBytes(message_id));
  LB_ASSIGN_OR_RETURN(auto digest, crypto::Blake2b256Keyed(key.Expose(), w.view()));
  return sv::MessageSeenKey(digest);
}

sv::GrantKind KindFromProto(v1::GrantKind k) {
  switch (k) {
    case v1::GRANT_KIND_OPEN:
      return sv::GrantKind::kOpen;
    case v1::GRANT_KIND_REVEAL_IDENTITY:
      return sv::GrantKind::kRevealIdentity;
    default:
      return sv::GrantKind::kNone;
  }
}

// The bearer token from "authorization: Bearer <hex>", if well-formed.
std::optional<std::string> BearerToken(const grpc::CallbackServerContext& ctx) {
  const auto& md = ctx.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return std::nullopt;
  std::string_view value(it->second.data(), it->second.size());
  constexpr std::string_view kPrefix = "Bearer ";
  if (value.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  auto bytes = crypto::FromHex(value.substr(kPrefix.size()));
  if (!bytes.ok() || bytes->size() != kTokenSize) return std::nullopt;
  std::string token = crypto::ToString(*bytes);
  crypto::SecureZero(*bytes);
  return token;
}

}  // namespace

absl::StatusOr<std::string> BootstrapAdmin(VaultStores& stores, const Clock& clock,
                                           const crypto::Ed25519PublicKey& admin_key,
                                           const std::string& jurisdiction) {
  if (jurisdiction.empty() || jurisdiction.size() > kMaxJurisdictionBytes) {
    return absl::InvalidArgumentError("jurisdiction must be 1..16 bytes");
  }
  LB_ASSIGN_OR_RETURN(auto staff, stores.ListStaff());
  for (const auto& s : staff) {
    if (s.role == sv::Role::kAdmin) return absl::FailedPreconditionError("an admin already exists");
  }
  sv::StaffRecord admin;
  admin.staff_id = RandomId(crypto::SystemRandom::Instance());
  admin.public_key = admin_key.str();
  admin.role = sv::Role::kAdmin;
  admin.jurisdiction = jurisdiction;
  admin.enabled = true;
  admin.created_micros = clock.NowMicros();
  sv::VaultBatch batch;
  batch.PutStaff(admin);
  batch.Audit({.time_micros = admin.created_micros,
               .actor = "offline",
               .role = "none",
               .action = "BootstrapAdmin",
               .target = "staff:" + Hex(admin.staff_id),
               .decision = sv::Decision::kAllow,
               .reason = "first admin, jurisdiction " + jurisdiction,
               .severity = sv::Severity::kHigh});
  batch.RequireSync();
  LB_RETURN_IF_ERROR(stores.Commit(std::move(batch)).status());
  return admin.staff_id;
}

class Vault::Impl final : public v1::VaultService::CallbackService {
 public:
  Impl(const VaultConfig& config, VaultStores& stores, const Clock& clock, VaultKeys keys,
       FrankingVerifier& verifier, crypto::Random& random,
       std::map<std::string, std::vector<Cidr>> networks)
      : config_(config),
        stores_(stores),
        clock_(clock),
        keys_(std::move(keys)),
        verifier_(verifier),
        random_(random),
        networks_(std::move(networks)),
        open_limiter_(clock, config.opens_per_reviewer),
        login_failures_(clock, config.login_failures_per_address) {}

  const crypto::Ed25519PublicKey& audit_public_key() const {
    return keys_.audit_signing.public_key;
  }

  IntakeCounters counters() const {
    absl::MutexLock lock(&counters_mu_);
    return counters_;
  }

  // ---------------------------------------------------------------- intake

  absl::StatusOr<IntakeOutcome> Ingest(const IncomingReport& report) {
    const std::string relay_key = sv::RelaySeenKey(report.relay_report_id);
    if (report.relay_report_id.size() != sv::kIdSize) {
      // Without a well-formed relay id there is nothing to de-duplicate on.
      LB_RETURN_IF_ERROR(CommitIntakeRejection(report, IntakeRejection::kMalformed, nullptr));
      return Rejected(IntakeRejection::kMalformed);
    }
    if (auto first = FirstOutcome(relay_key); !first.ok() || first->has_value()) {
      if (!first.ok()) return first.status();
      return **first;
    }
    std::vector<std::string> dedup_keys;
    v1::ReportContent content;
    LB_ASSIGN_OR_RETURN(IntakeRejection rejection, Evaluate(report, content, dedup_keys));

    absl::MutexLock lock(&intake_mu_);
    // Re-check under the lock: a concurrent delivery may have committed.
    if (auto first = FirstOutcome(relay_key); !first.ok() || first->has_value()) {
      if (!first.ok()) return first.status();
      return **first;
    }
    if (rejection == IntakeRejection::kNone) {
      LB_ASSIGN_OR_RETURN(bool dup, AnySeen(dedup_keys));
      if (dup) rejection = IntakeRejection::kDuplicate;
    }
    if (rejection != IntakeRejection::kNone) {
      LB_RETURN_IF_ERROR(CommitIntakeRejection(report, rejection, &relay_key));
      return Rejected(rejection);
    }
    LB_ASSIGN_OR_RETURN(std::string case_id, CommitCase(report, content, relay_key, dedup_keys));
    {
      absl::MutexLock c(&counters_mu_);
      ++counters_.accepted;
    }
    return IntakeOutcome{.accepted = true, .case_id = case_id};
  }

  // ------------------------------------------------------------ checkpoints

  absl::Status SignCheckpoint() {
    absl::MutexLock lock(&checkpoint_mu_);
    LB_ASSIGN_OR_RETURN(sv::AuditHead head, stores_.GetAuditHead());
    sv::Checkpoint cp =
        sv::SignAuditCheckpoint(keys_.audit_signing.secret_key, head, clock_.NowMicros());
    sv::VaultBatch batch;
    batch.PutCheckpoint(cp);
    batch.RequireSync();
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    if (!config_.checkpoint_export_path.empty()) {
      LB_RETURN_IF_ERROR(sv::AppendCheckpointToFile(config_.checkpoint_export_path, cp));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<sv::Checkpoint> LatestCheckpoint() {
    LB_ASSIGN_OR_RETURN(auto all, stores_.ListCheckpoints(0, SIZE_MAX));
    if (all.empty()) return absl::NotFoundError("no checkpoint yet");
    return all.back();
  }

  // -------------------------------------------------------------- retention

  // The KEK with id `kek_id`: the current one or one retired by rotation.
  const crypto::AeadKey* FindKek(std::string_view kek_id) const {
    if (kek_id == keys_.kek_id) return &keys_.kek;
    for (const auto& [id, key] : keys_.previous_keks) {
      if (id == kek_id) return &key;
    }
    return nullptr;
  }

  absl::StatusOr<crypto::AeadKey> UnwrapCaseKey(const sv::WrappedCaseKey& wrapped) const {
    const crypto::AeadKey* kek = FindKek(wrapped.kek_id);
    if (kek == nullptr) return absl::InternalError("case key wrapped under an unknown KEK");
    LB_ASSIGN_OR_RETURN(crypto::SecretBytes key_bytes,
                        crypto::XChaCha20Open(*kek, AsBytes(wrapped.wrapped),
                                              WrapAd(wrapped.case_id, wrapped.kek_id)));
    return crypto::AeadKey::FromBytes(key_bytes.Expose());
  }

  absl::StatusOr<uint64_t> RewrapCaseKeys() {
    uint64_t rewrapped = 0;
    std::string after;
    while (true) {
      LB_ASSIGN_OR_RETURN(auto cases, stores_.ListCases(after, 256));
      if (cases.empty()) break;
      after = cases.back().case_id;
      for (const auto& c : cases) {
        auto wrapped = stores_.GetCaseKey(c.case_id);
        if (absl::IsNotFound(wrapped.status())) continue;  // shredded
        LB_RETURN_IF_ERROR(wrapped.status());
        if (wrapped->kek_id == keys_.kek_id) continue;
        LB_ASSIGN_OR_RETURN(crypto::AeadKey data_key, UnwrapCaseKey(*wrapped));
        sv::WrappedCaseKey next;
        next.case_id = c.case_id;
        next.kek_id = keys_.kek_id;
        next.wrapped = crypto::ToString(crypto::XChaCha20Seal(
            keys_.kek, data_key.Expose(), WrapAd(c.case_id, keys_.kek_id), random_));
        sv::VaultBatch batch;
        batch.PutCaseKey(next);
        batch.Audit(SystemEntry("RewrapCaseKey", "case:" + Hex(c.case_id),
                                "kek " + wrapped->kek_id + " -> " + keys_.kek_id));
        LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
        ++rewrapped;
      }
    }
    LB_RETURN_IF_ERROR(CommitMigrationDone("RewrapCaseKeys", rewrapped, "kek " + keys_.kek_id));
    return rewrapped;
  }

  // Ends a start-up migration of `count` cases (each its own unsynced,
  // atomic batch) with one synced audit entry: the WAL sync makes every
  // earlier batch durable too, so once this returns the retired key is no
  // longer needed. A crash before it leaves some cases unmigrated, which the
  // next start redoes. Nothing to write when nothing moved.
  absl::Status CommitMigrationDone(std::string_view action, uint64_t count,
                                   const std::string& now_under) {
    if (count == 0) return absl::OkStatus();
    sv::VaultBatch done;
    done.Audit(SystemEntry(std::string(action), "vault",
                           std::to_string(count) + " cases now under " + now_under));
    done.RequireSync();
    return stores_.Commit(std::move(done)).status();
  }

  // Appends to checkpoint_export_path every stored checkpoint newer than the
  // file's last line: SignCheckpoint stores a checkpoint (synced) before it
  // exports it, so a crash between the two leaves one unexported. Returns
  // how many were appended.
  absl::StatusOr<uint64_t> ExportPendingCheckpoints() {
    if (config_.checkpoint_export_path.empty()) return 0;
    absl::MutexLock lock(&checkpoint_mu_);
    absl::StatusOr<std::vector<sv::Checkpoint>> exported =
        sv::ReadCheckpointFile(config_.checkpoint_export_path);
    if (!exported.ok() && !absl::IsNotFound(exported.status())) return exported.status();
    LB_ASSIGN_OR_RETURN(std::vector<sv::Checkpoint> stored, stores_.ListCheckpoints(0, SIZE_MAX));
    const auto order = [](const sv::Checkpoint& c) {
      return std::make_pair(c.time_micros, c.log_size);
    };
    uint64_t appended = 0;
    for (const sv::Checkpoint& cp : stored) {
      if (exported.ok() && !exported->empty() && order(cp) <= order(exported->back())) continue;
      LB_RETURN_IF_ERROR(sv::AppendCheckpointToFile(config_.checkpoint_export_path, cp));
      ++appended;
    }
    return appended;
  }

  absl::StatusOr<uint64_t> RekeyPseudonyms() {
    uint64_t rekeyed = 0;
    std::string after;
    while (true) {
      LB_ASSIGN_OR_RETURN(auto cases, stores_.ListCases(after, 256));
      if (cases.empty()) break;
      after = cases.back().case_id;
      for (const auto& c : cases) {
        auto content = DecryptCase(c);
        if (absl::IsNotFound(content.status())) continue;  // shredded
        if (!content.ok()) {
          // A stored case that does not open is damage, not a bad argument.
          const absl::Status& s = content.status();
          return absl::Status(absl::IsInvalidArgument(s) ? absl::StatusCode::kDataLoss : s.code(),
                              "re-keying case " + Hex(c.case_id) + ": " + std::string(s.message()));
        }
        absl::StatusOr<bool> changed = RekeyCase(c, *content);
        WipeContent(*content);
        LB_RETURN_IF_ERROR(changed.status());
        if (*changed) ++rekeyed;
      }
    }
    LB_RETURN_IF_ERROR(CommitMigrationDone(
        "RekeyPseudonyms", rekeyed,
        "pseudonym key " + (keys_.pseudonym_key_id.empty() ? "unnamed" : keys_.pseudonym_key_id)));
    return rekeyed;
  }

  absl::StatusOr<uint64_t> ExpireCases() {
    const int64_t now = clock_.NowMicros();
    uint64_t expired = 0;
    std::string after;
    while (true) {
      LB_ASSIGN_OR_RETURN(auto cases, stores_.ListCases(after, 256));
      if (cases.empty()) break;
      after = cases.back().case_id;
      for (const auto& c : cases) {
        if (c.expires_micros > now) continue;
        const std::string target = "case:" + Hex(c.case_id);
        // 1. The data key, alone and synced: once this returns, the content
        //    is unreadable whatever happens next.
        sv::VaultBatch shred;
        shred.DeleteCaseKey(c.case_id);
        shred.Audit(SystemEntry("ShredCaseKey", target, "retention expired"));
        shred.RequireSync();
        LB_RETURN_IF_ERROR(stores_.Commit(std::move(shred)).status());
        // 2. The record.
        sv::VaultBatch remove;
        remove.DeleteCase(c.case_id);
        remove.Audit(SystemEntry("ExpireCase", target, "case record deleted"));
        LB_RETURN_IF_ERROR(stores_.Commit(std::move(remove)).status());
        ++expired;
      }
    }
    return expired;
  }

  // ------------------------------------------------------------------ RPCs

  grpc::ServerUnaryReactor* GetChallenge(grpc::CallbackServerContext* ctx,
                                         const v1::VaultGetChallengeRequest* req,
                                         v1::VaultGetChallengeResponse* resp) override {
    return Run(ctx, [&] { return HandleGetChallenge(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* ctx,
                                  const v1::VaultLoginRequest* req,
                                  v1::VaultLoginResponse* resp) override {
    return Run(ctx, [&] { return HandleLogin(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* EnrolStaff(grpc::CallbackServerContext* ctx,
                                       const v1::EnrolStaffRequest* req,
                                       v1::EnrolStaffResponse* resp) override {
    return Run(ctx, [&] { return HandleEnrolStaff(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* DisableStaff(grpc::CallbackServerContext* ctx,
                                         const v1::DisableStaffRequest* req,
                                         v1::DisableStaffResponse* resp) override {
    return Run(ctx, [&] { return HandleDisableStaff(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* ListQueue(grpc::CallbackServerContext* ctx,
                                      const v1::ListQueueRequest* req,
                                      v1::ListQueueResponse* resp) override {
    return Run(ctx, [&] { return HandleListQueue(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* RequestGrant(grpc::CallbackServerContext* ctx,
                                         const v1::RequestGrantRequest* req,
                                         v1::Grant* resp) override {
    return Run(ctx, [&] { return HandleRequestGrant(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* ApproveGrant(grpc::CallbackServerContext* ctx,
                                         const v1::ApproveGrantRequest* req,
                                         v1::Grant* resp) override {
    return Run(ctx, [&] { return HandleDecide(*ctx, "ApproveGrant", req->grant_id(), "", *resp); });
  }
  grpc::ServerUnaryReactor* RejectGrant(grpc::CallbackServerContext* ctx,
                                        const v1::RejectGrantRequest* req,
                                        v1::Grant* resp) override {
    return Run(ctx, [&] {
      return HandleDecide(*ctx, "RejectGrant", req->grant_id(), req->reason(), *resp);
    });
  }
  grpc::ServerUnaryReactor* RevokeGrant(grpc::CallbackServerContext* ctx,
                                        const v1::RevokeGrantRequest* req,
                                        v1::Grant* resp) override {
    return Run(ctx, [&] { return HandleRevokeGrant(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* ListGrants(grpc::CallbackServerContext* ctx,
                                       const v1::ListGrantsRequest* req,
                                       v1::ListGrantsResponse* resp) override {
    return Run(ctx, [&] { return HandleListGrants(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* BreakGlass(grpc::CallbackServerContext* ctx,
                                       const v1::BreakGlassRequest* req, v1::Grant* resp) override {
    return Run(ctx, [&] { return HandleBreakGlass(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* OpenCase(grpc::CallbackServerContext* ctx,
                                     const v1::OpenCaseRequest* req,
                                     v1::OpenCaseResponse* resp) override {
    return Run(ctx, [&] { return HandleOpenCase(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* RevealIdentity(grpc::CallbackServerContext* ctx,
                                           const v1::RevealIdentityRequest* req,
                                           v1::RevealIdentityResponse* resp) override {
    return Run(ctx, [&] { return HandleRevealIdentity(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* AuditTail(grpc::CallbackServerContext* ctx,
                                      const v1::AuditTailRequest* req,
                                      v1::AuditTailResponse* resp) override {
    return Run(ctx, [&] { return HandleAuditTail(*ctx, *req, *resp); });
  }
  grpc::ServerUnaryReactor* GetCheckpoint(grpc::CallbackServerContext* ctx,
                                          const v1::GetCheckpointRequest*,
                                          v1::Checkpoint* resp) override {
    return Run(ctx, [&] { return HandleCheckpoint(*ctx, "GetCheckpoint", false, *resp); });
  }
  grpc::ServerUnaryReactor* SignCheckpoint(grpc::CallbackServerContext* ctx,
                                           const v1::SignCheckpointRequest*,
                                           v1::Checkpoint* resp) override {
    return Run(ctx, [&] { return HandleCheckpoint(*ctx, "SignCheckpoint", true, *resp); });
  }
  grpc::ServerUnaryReactor* ExportCheckpoints(grpc::CallbackServerContext* ctx,
                                              const v1::ExportCheckpointsRequest* req,
                                              v1::ExportCheckpointsResponse* resp) override {
    return Run(ctx, [&] { return HandleExportCheckpoints(*ctx, *req, *resp); });
  }

 private:
  // An authenticated staff request.
  struct Caller {
    std::string peer;
    sv::StaffRecord staff;
    bool network_allowed = false;
  };
  struct Session {
    std::string staff_id;
    int64_t expires_micros = 0;
  };
  struct Challenge {
    std::string staff_id;
    int64_t expires_micros = 0;
  };

  template <typename Fn>
  static grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* ctx, Fn&& fn) {
    absl::Status status;
    try {
      status = fn();
    } catch (const std::exception&) {
      status = absl::InternalError("unexpected exception");
    } catch (...) {
      status = absl::InternalError("unexpected exception");
    }
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(server::ToGrpcStatus(status));
    return reactor;
  }

  // ------------------------------------------------------------ audit help

  sv::AuditEntry SystemEntry(std::string action, std::string target, std::string reason) const {
    return {.time_micros = clock_.NowMicros(),
            .actor = "system",
            .role = "none",
            .action = std::move(action),
            .target = std::move(target),
            .decision = sv::Decision::kAllow,
            .reason = std::move(reason),
            .severity = sv::Severity::kInfo};
  }

  sv::AuditEntry Entry(const Caller& c, std::string_view action, std::string target,
                       sv::Decision decision, std::string reason,
                       sv::Severity severity = sv::Severity::kInfo) const {
    return {.time_micros = clock_.NowMicros(),
            .actor = Hex(c.staff.staff_id),
            .role = std::string(sv::RoleName(c.staff.role)),
            .peer = c.peer,
            .action = std::string(action),
            .target = std::move(target),
            .decision = decision,
            .reason = std::move(reason),
            .severity = severity};
  }

  // Audits `status` as a denial by `c` and returns it (or the storage error).
  absl::Status Fail(const Caller& c, std::string_view action, std::string target,
                    absl::Status status, sv::Severity severity = sv::Severity::kInfo) {
    sv::VaultBatch batch;
    batch.Audit(Entry(c, action, std::move(target), sv::Decision::kDeny,
                      std::string(status.message()), severity));
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    return status;
  }

  // Audits an unauthenticated failure.
  absl::Status FailAnonymous(const grpc::CallbackServerContext& ctx, std::string actor,
                             std::string_view action, std::string target, absl::Status status) {
    sv::VaultBatch batch;
    batch.Audit({.time_micros = clock_.NowMicros(),
                 .actor = std::move(actor),
                 .role = "none",
                 .peer = ctx.peer(),
                 .action = std::string(action),
                 .target = std::move(target),
                 .decision = sv::Decision::kDeny,
                 .reason = std::string(status.message()),
                 .severity = sv::Severity::kInfo});
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    return status;
  }

  // Commits `batch` plus an allow entry.
  absl::Status Allow(const Caller& c, std::string_view action, std::string target,
                     std::string reason, sv::VaultBatch batch = {},
                     sv::Severity severity = sv::Severity::kInfo) {
    batch.Audit(
        Entry(c, action, std::move(target), sv::Decision::kAllow, std::move(reason), severity));
    return stores_.Commit(std::move(batch)).status();
  }

  // Denies (and audits) unless the policy allows.
  absl::Status Enforce(const Caller& c, std::string_view action, const std::string& target,
                       PolicyInput input) {
    input.role = c.staff.role;
    input.staff_jurisdiction = c.staff.jurisdiction;
    input.network_allowed = c.network_allowed;
    const PolicyDecision d = Decide(input);
    if (d.allowed) return absl::OkStatus();
    return Fail(c, action, target, absl::PermissionDeniedError(std::string(d.reason)));
  }

  // ------------------------------------------------------------- sessions

  bool NetworkAllowed(const std::string& peer, const std::string& jurisdiction) const {
    auto nets = networks_.find(jurisdiction);
    if (nets == networks_.end()) return false;
    auto address = ParsePeerAddress(peer);
    return address.ok() && InAnyNetwork(*address, nets->second);
  }

  // The caller behind the bearer token, or UNAUTHENTICATED (audited).
  absl::StatusOr<Caller> Authenticate(const grpc::CallbackServerContext& ctx,
                                      std::string_view action) {
    const absl::Status invalid = absl::UnauthenticatedError("invalid session");
    std::optional<std::string> token = BearerToken(ctx);
    std::optional<Session> session;
    if (token) {
      const std::string key = crypto::Sha256(AsBytes(*token)).str();
      Wipe(*token);
      absl::MutexLock lock(&session_mu_);
      auto it = sessions_.find(key);
      if (it != sessions_.end()) {
        if (it->second.expires_micros > clock_.NowMicros()) {
          session = it->second;
        } else {
          sessions_.erase(it);
        }
      }
    }
    if (!session) return FailAnonymous(ctx, "unauthenticated", action, "", invalid);
    auto staff = stores_.GetStaff(session->staff_id);
    if (!staff.ok() && !absl::IsNotFound(staff.status())) return staff.status();
    if (!staff.ok() || !staff->enabled) {
      return FailAnonymous(ctx, Hex(session->staff_id), action, "", invalid);
    }
    Caller c;
    c.peer = ctx.peer();
    c.staff = std::move(*staff);
    c.network_allowed = NetworkAllowed(c.peer, c.staff.jurisdiction);
    return c;
  }

  void DropSessions(const std::string& staff_id) {
    absl::MutexLock lock(&session_mu_);
    absl::erase_if(sessions_, [&](const auto& kv) { return kv.second.staff_id == staff_id; });
  }

  absl::Status HandleGetChallenge(const grpc::CallbackServerContext& ctx,
                                  const v1::VaultGetChallengeRequest& req,
                                  v1::VaultGetChallengeResponse& resp) {
    if (req.staff_id().size() != sv::kIdSize) {
      return FailAnonymous(ctx, "unauthenticated", "GetChallenge", "",
                           absl::InvalidArgumentError("staff_id must be 16 bytes"));
    }
    const std::string target = "staff:" + Hex(req.staff_id());
    const std::string peer_key = "addr:" + ctx.peer().substr(0, ctx.peer().rfind(':'));
    if (!login_failures_.WouldAllow(peer_key)) {
      return FailAnonymous(ctx, "unauthenticated", "GetChallenge", target,
                           absl::ResourceExhaustedError("too many failed logins"));
    }
    const std::string nonce = RandomId(random_, kNonceSize);
    const int64_t now = clock_.NowMicros();
    const int64_t expires = now + absl::ToInt64Microseconds(config_.challenge_ttl);
    {
      absl::MutexLock lock(&session_mu_);
      if (challenges_.size() >= kMaxChallenges) {
        absl::erase_if(challenges_,
                       [&](const auto& kv) { return kv.second.expires_micros <= now; });
      }
      if (challenges_.size() >= kMaxChallenges) {
        return absl::ResourceExhaustedError("too many outstanding challenges");
      }
      challenges_[nonce] = Challenge{req.staff_id(), expires};
    }
    sv::VaultBatch batch;
    batch.Audit({.time_micros = now,
                 .actor = "unauthenticated",
                 .role = "none",
                 .peer = ctx.peer(),
                 .action = "GetChallenge",
                 .target = target,
                 .decision = sv::Decision::kAllow,
                 .reason = "challenge issued",
                 .severity = sv::Severity::kInfo});
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    resp.set_nonce(nonce);
    resp.set_expires_micros(expires);
    return absl::OkStatus();
  }

  absl::Status HandleLogin(const grpc::CallbackServerContext& ctx, const v1::VaultLoginRequest& req,
                           v1::VaultLoginResponse& resp) {
    constexpr std::string_view kAction = "Login";
    if (req.staff_id().size() != sv::kIdSize || req.nonce().size() != kNonceSize ||
        req.signature().size() != crypto::kEd25519SignatureSize) {
      return FailAnonymous(ctx, "unauthenticated", kAction, "",
                           absl::InvalidArgumentError("bad field sizes"));
    }
    const std::string target = "staff:" + Hex(req.staff_id());
    const std::string peer_key = "addr:" + ctx.peer().substr(0, ctx.peer().rfind(':'));
    if (!login_failures_.WouldAllow(peer_key)) {
      return FailAnonymous(ctx, Hex(req.staff_id()), kAction, target,
                           absl::ResourceExhaustedError("too many failed logins"));
    }
    const int64_t now = clock_.NowMicros();
    bool challenge_ok = false;
    {
      absl::MutexLock lock(&session_mu_);
      auto it = challenges_.find(req.nonce());
      if (it != challenges_.end()) {
        challenge_ok = it->second.staff_id == req.staff_id() && it->second.expires_micros > now;
        challenges_.erase(it);  // single use, whatever the outcome
      }
    }
    auto staff = stores_.GetStaff(req.staff_id());
    if (!staff.ok() && !absl::IsNotFound(staff.status())) return staff.status();
    bool ok = challenge_ok && staff.ok() && staff->enabled;
    if (ok) {
      auto pub = crypto::Ed25519PublicKey::FromString(staff->public_key);
      auto sig = crypto::Ed25519Signature::FromString(req.signature());
      ByteWriter w;
      w.Label(kAuthLabel).Bytes(AsBytes(req.nonce())).Bytes(AsBytes(req.staff_id()));
      ok = pub.ok() && sig.ok() && crypto::Ed25519Verify(*pub, w.view(), *sig).ok();
    }
    if (!ok) {
      (void)login_failures_.TryAcquire(peer_key);
      return FailAnonymous(ctx, Hex(req.staff_id()), kAction, target,
                           absl::UnauthenticatedError("login failed"));
    }
    Caller c{ctx.peer(), std::move(*staff), false};
    c.network_allowed = NetworkAllowed(c.peer, c.staff.jurisdiction);
    if (!c.network_allowed) {
      return Fail(c, kAction, target, absl::PermissionDeniedError(std::string(kDeniedNetwork)));
    }
    std::string token = RandomId(random_, kTokenSize);
    const int64_t expires = now + absl::ToInt64Microseconds(config_.session_ttl);
    LB_RETURN_IF_ERROR(Allow(c, kAction, target, "session opened"));
    {
      absl::MutexLock lock(&session_mu_);
      sessions_[crypto::Sha256(AsBytes(token)).str()] = Session{c.staff.staff_id, expires};
    }
    resp.set_session_token(token);
    Wipe(token);
    resp.set_expires_micros(expires);
    resp.set_role(static_cast<v1::StaffRole>(c.staff.role));
    resp.set_jurisdiction(c.staff.jurisdiction);
    return absl::OkStatus();
  }

  // ----------------------------------------------------------------- staff

  static void StaffToProto(const sv::StaffRecord& s, v1::StaffMember& out) {
    out.set_staff_id(s.staff_id);
    out.set_public_key(s.public_key);
    out.set_role(static_cast<v1::StaffRole>(s.role));
    out.set_jurisdiction(s.jurisdiction);
    out.set_enabled(s.enabled);
    out.set_created_micros(s.created_micros);
  }

  absl::Status HandleEnrolStaff(const grpc::CallbackServerContext& ctx,
                                const v1::EnrolStaffRequest& req, v1::EnrolStaffResponse& resp) {
    constexpr std::string_view kAction = "EnrolStaff";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    LB_RETURN_IF_ERROR(Enforce(c, kAction, "", {.action = Action::kManageStaff}));
    if (req.public_key().size() != crypto::kEd25519PublicKeySize || req.role() < 1 ||
        req.role() > 4 || !networks_.contains(req.jurisdiction())) {
      return Fail(c, kAction, "",
                  absl::InvalidArgumentError("public_key must be 32 bytes, role set, jurisdiction "
                                             "configured"));
    }
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(auto staff, stores_.ListStaff());
    for (const auto& s : staff) {
      if (s.public_key == req.public_key()) {
        return Fail(c, kAction, "staff:" + Hex(s.staff_id),
                    absl::AlreadyExistsError("key already enrolled"));
      }
    }
    sv::StaffRecord s;
    s.staff_id = RandomId(random_);
    s.public_key = req.public_key();
    s.role = static_cast<sv::Role>(req.role());
    s.jurisdiction = req.jurisdiction();
    s.enabled = true;
    s.created_micros = clock_.NowMicros();
    sv::VaultBatch batch;
    batch.PutStaff(s);
    LB_RETURN_IF_ERROR(
        Allow(c, kAction, "staff:" + Hex(s.staff_id),
              absl::StrCat("enrolled ", std::string(sv::RoleName(s.role)), " of ", s.jurisdiction),
              std::move(batch)));
    StaffToProto(s, *resp.mutable_staff());
    return absl::OkStatus();
  }

  absl::Status HandleDisableStaff(const grpc::CallbackServerContext& ctx,
                                  const v1::DisableStaffRequest& req,
                                  v1::DisableStaffResponse& resp) {
    constexpr std::string_view kAction = "DisableStaff";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    const std::string target = "staff:" + Hex(req.staff_id());
    LB_RETURN_IF_ERROR(Enforce(c, kAction, target, {.action = Action::kManageStaff}));
    if (req.staff_id().size() != sv::kIdSize ||
        req.reason().size() > config_.max_justification_bytes) {
      return Fail(c, kAction, target, absl::InvalidArgumentError("bad staff_id or reason"));
    }
    if (req.staff_id() == c.staff.staff_id) {
      return Fail(c, kAction, target,
                  absl::FailedPreconditionError("an admin cannot disable themselves"));
    }
    absl::MutexLock lock(&mu_);
    auto s = stores_.GetStaff(req.staff_id());
    if (absl::IsNotFound(s.status())) {
      return Fail(c, kAction, target, absl::NotFoundError("no such staff member"));
    }
    LB_RETURN_IF_ERROR(s.status());
    s->enabled = false;
    sv::VaultBatch batch;
    batch.PutStaff(*s);
    LB_RETURN_IF_ERROR(Allow(c, kAction, target, "disabled: " + req.reason(), std::move(batch)));
    DropSessions(s->staff_id);
    StaffToProto(*s, *resp.mutable_staff());
    return absl::OkStatus();
  }

  // ----------------------------------------------------------------- cases

  std::string Pseudonym(std::string_view account_id) const {
    return PseudonymUnder(keys_.pseudonym_key, account_id);
  }

  void SummaryToProto(const sv::CaseRecord& c, v1::CaseSummary& out) const {
    out.set_case_id(c.case_id);
    out.set_jurisdiction(c.jurisdiction);
    out.set_category(static_cast<v1::ReportCategory>(c.category));
    out.set_status(static_cast<v1::CaseStatus>(c.status));
    out.set_received_micros(c.received_micros);
    out.set_expires_micros(c.expires_micros);
    out.set_reporter_pseudonym(c.reporter_pseudonym);
    for (const auto& p : c.sender_pseudonyms) out.add_sender_pseudonyms(p);
    out.set_message_count(c.message_count);
  }

  // The case, or NOT_FOUND (audited). Other errors are returned as they are.
  absl::StatusOr<sv::CaseRecord> LoadCase(const Caller& c, std::string_view action,
                                          const std::string& case_id) {
    if (case_id.size() != sv::kIdSize) {
      return Fail(c, action, "", absl::InvalidArgumentError("case_id must be 16 bytes"));
    }
    auto record = stores_.GetCase(case_id);
    if (absl::IsNotFound(record.status())) {
      return Fail(c, action, "case:" + Hex(case_id), absl::NotFoundError("no such case"));
    }
    return record;
  }

  absl::Status HandleListQueue(const grpc::CallbackServerContext& ctx,
                               const v1::ListQueueRequest& req, v1::ListQueueResponse& resp) {
    constexpr std::string_view kAction = "ListQueue";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    const std::string target = "queue:" + c.staff.jurisdiction;
    LB_RETURN_IF_ERROR(Enforce(c, kAction, target, {.action = Action::kListQueue}));
    const uint32_t page = req.page_size() == 0 ? 50 : req.page_size();
    if (page > 100 || (!req.page_token().empty() && req.page_token().size() != sv::kIdSize)) {
      return Fail(c, kAction, target, absl::InvalidArgumentError("bad page_size or page_token"));
    }
    std::string after = req.page_token();
    std::vector<sv::CaseRecord> out;
    bool more = true;
    while (out.size() < page && more) {
      LB_ASSIGN_OR_RETURN(auto chunk, stores_.ListCases(after, 256));
      more = chunk.size() == 256;
      for (auto& rec : chunk) {
        after = rec.case_id;
        if (rec.jurisdiction != c.staff.jurisdiction) continue;
        out.push_back(std::move(rec));
        if (out.size() == page) break;
      }
      if (chunk.empty()) more = false;
    }
    LB_RETURN_IF_ERROR(Allow(c, kAction, target, absl::StrCat(out.size(), " cases listed")));
    for (const auto& rec : out) SummaryToProto(rec, *resp.add_cases());
    if (out.size() == page) resp.set_next_page_token(out.back().case_id);
    return absl::OkStatus();
  }

  // ---------------------------------------------------------------- grants

  bool Live(const sv::GrantRecord& g, int64_t now) const {
    return g.state == sv::GrantState::kApproved && g.expires_micros > now;
  }

  void GrantToProto(const sv::GrantRecord& g, v1::Grant& out) const {
    out.set_grant_id(g.grant_id);
    out.set_case_id(g.case_id);
    out.set_kind(static_cast<v1::GrantKind>(g.kind));
    v1::GrantState state = static_cast<v1::GrantState>(g.state);
    if (g.state == sv::GrantState::kApproved && g.expires_micros <= clock_.NowMicros()) {
      state = v1::GRANT_STATE_EXPIRED;
    }
    out.set_state(state);
    out.set_requester_id(g.requester_id);
    out.set_approver_id(g.approver_id);
    out.set_justification(g.justification);
    out.set_break_glass(g.break_glass);
    out.set_created_micros(g.created_micros);
    out.set_expires_micros(g.expires_micros);
  }

  // The caller's best grant of `kind` for `case_id`, and its id when live.
  absl::StatusOr<std::pair<GrantStatus, std::string>> BestGrant(const std::string& staff_id,
                                                                const std::string& case_id,
                                                                sv::GrantKind kind) {
    LB_ASSIGN_OR_RETURN(auto grants, stores_.ListGrants());
    const int64_t now = clock_.NowMicros();
    GrantStatus best = GrantStatus::kNone;
    std::string best_id;
    for (const auto& g : grants) {
      if (g.requester_id != staff_id || g.case_id != case_id || g.kind != kind) continue;
      GrantStatus s = GrantStatus::kNone;
      switch (g.state) {
        case sv::GrantState::kPending:
          s = GrantStatus::kPending;
          break;
        case sv::GrantState::kApproved:
          s = Live(g, now) ? GrantStatus::kLive : GrantStatus::kExpired;
          break;
        case sv::GrantState::kRevoked:
          s = GrantStatus::kRevoked;
          break;
        case sv::GrantState::kRejected:
          s = GrantStatus::kRejected;
          break;
        case sv::GrantState::kNone:
          break;
      }
      if (s > best) {
        best = s;
        best_id = g.grant_id;
      }
    }
    return std::make_pair(best, best_id);
  }

  absl::Status ValidateJustification(const std::string& text) const {
    if (text.empty() || text.size() > config_.max_justification_bytes || Blank(text)) {
      return absl::InvalidArgumentError("justification must be 1..1000 bytes, not blank");
    }
    return absl::OkStatus();
  }

  absl::Status HandleRequestGrant(const grpc::CallbackServerContext& ctx,
                                  const v1::RequestGrantRequest& req, v1::Grant& resp) {
    constexpr std::string_view kAction = "RequestGrant";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    const sv::GrantKind kind = KindFromProto(req.kind());
    if (kind == sv::GrantKind::kNone) {
      return Fail(c, kAction, "",
                  absl::InvalidArgumentError("kind must be OPEN or REVEAL_IDENTITY"));
    }
    if (auto s = ValidateJustification(req.justification()); !s.ok())
      return Fail(c, kAction, "", s);
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(sv::CaseRecord rec, LoadCase(c, kAction, req.case_id()));
    const std::string target = "case:" + Hex(rec.case_id);
    LB_RETURN_IF_ERROR(
        Enforce(c, kAction, target,
                {.action = Action::kRequestGrant, .case_jurisdiction = rec.jurisdiction}));
    sv::GrantRecord g;
    g.grant_id = RandomId(random_);
    g.case_id = rec.case_id;
    g.jurisdiction = rec.jurisdiction;
    g.kind = kind;
    g.state = sv::GrantState::kPending;
    g.requester_id = c.staff.staff_id;
    g.justification = req.justification();
    g.created_micros = clock_.NowMicros();
    sv::VaultBatch batch;
    batch.PutGrant(g);
    LB_RETURN_IF_ERROR(Allow(c, kAction, target,
                             absl::StrCat("grant:", Hex(g.grant_id), " kind ",
                                          kind == sv::GrantKind::kOpen ? "open" : "reveal",
                                          " pending: ", g.justification),
                             std::move(batch)));
    GrantToProto(g, resp);
    return absl::OkStatus();
  }

  absl::StatusOr<sv::GrantRecord> LoadGrant(const Caller& c, std::string_view action,
                                            const std::string& grant_id) {
    if (grant_id.size() != sv::kIdSize) {
      return Fail(c, action, "", absl::InvalidArgumentError("grant_id must be 16 bytes"));
    }
    auto g = stores_.GetGrant(grant_id);
    if (absl::IsNotFound(g.status())) {
      return Fail(c, action, "grant:" + Hex(grant_id), absl::NotFoundError("no such grant"));
    }
    return g;
  }

  absl::Status HandleDecide(const grpc::CallbackServerContext& ctx, std::string_view action,
                            const std::string& grant_id, const std::string& reason,
                            v1::Grant& resp) {
    const bool approve = action == "ApproveGrant";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, action));
    if (reason.size() > config_.max_justification_bytes) {
      return Fail(c, action, "", absl::InvalidArgumentError("reason too long"));
    }
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(sv::GrantRecord g, LoadGrant(c, action, grant_id));
    const std::string target = "grant:" + Hex(g.grant_id);
    LB_RETURN_IF_ERROR(Enforce(c, action, target,
                               {.action = Action::kDecideGrant,
                                .case_jurisdiction = g.jurisdiction,
                                .is_requester = g.requester_id == c.staff.staff_id}));
    if (g.state != sv::GrantState::kPending) {
      return Fail(c, action, target, absl::FailedPreconditionError("grant is not pending"));
    }
    g.approver_id = c.staff.staff_id;
    if (approve) {
      g.state = sv::GrantState::kApproved;
      g.expires_micros = clock_.NowMicros() + absl::ToInt64Microseconds(config_.grant_ttl);
    } else {
      g.state = sv::GrantState::kRejected;
    }
    sv::VaultBatch batch;
    batch.PutGrant(g);
    LB_RETURN_IF_ERROR(Allow(c, action, target,
                             approve ? absl::StrCat("approved for case:", Hex(g.case_id))
                                     : absl::StrCat("rejected: ", reason),
                             std::move(batch)));
    GrantToProto(g, resp);
    return absl::OkStatus();
  }

  absl::Status HandleRevokeGrant(const grpc::CallbackServerContext& ctx,
                                 const v1::RevokeGrantRequest& req, v1::Grant& resp) {
    constexpr std::string_view kAction = "RevokeGrant";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    if (req.reason().size() > config_.max_justification_bytes) {
      return Fail(c, kAction, "", absl::InvalidArgumentError("reason too long"));
    }
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(sv::GrantRecord g, LoadGrant(c, kAction, req.grant_id()));
    const std::string target = "grant:" + Hex(g.grant_id);
    LB_RETURN_IF_ERROR(Enforce(c, kAction, target,
                               {.action = Action::kRevokeGrant,
                                .case_jurisdiction = g.jurisdiction,
                                .is_requester = g.requester_id == c.staff.staff_id}));
    if (g.state == sv::GrantState::kRejected) {
      return Fail(c, kAction, target, absl::FailedPreconditionError("grant was rejected"));
    }
    sv::VaultBatch batch;
    if (g.state != sv::GrantState::kRevoked) {
      g.state = sv::GrantState::kRevoked;
      batch.PutGrant(g);
    }
    LB_RETURN_IF_ERROR(Allow(c, kAction, target, "revoked: " + req.reason(), std::move(batch)));
    GrantToProto(g, resp);
    return absl::OkStatus();
  }

  absl::Status HandleListGrants(const grpc::CallbackServerContext& ctx,
                                const v1::ListGrantsRequest& req, v1::ListGrantsResponse& resp) {
    constexpr std::string_view kAction = "ListGrants";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    const std::string target = "grants:" + c.staff.jurisdiction;
    LB_RETURN_IF_ERROR(Enforce(c, kAction, target, {.action = Action::kListGrants}));
    const uint32_t limit = req.limit() == 0 ? 50 : req.limit();
    if (limit > 100) return Fail(c, kAction, target, absl::InvalidArgumentError("limit 1..100"));
    LB_ASSIGN_OR_RETURN(auto grants, stores_.ListGrants());
    std::vector<sv::GrantRecord> out;
    for (auto& g : grants) {
      if (out.size() >= limit) break;
      if (req.pending_only() && g.state != sv::GrantState::kPending) continue;
      const bool visible = c.staff.role == sv::Role::kApprover
                               ? g.jurisdiction == c.staff.jurisdiction
                               : g.requester_id == c.staff.staff_id;
      if (visible) out.push_back(std::move(g));
    }
    LB_RETURN_IF_ERROR(Allow(c, kAction, target, absl::StrCat(out.size(), " grants listed")));
    for (const auto& g : out) GrantToProto(g, *resp.add_grants());
    return absl::OkStatus();
  }

  absl::Status HandleBreakGlass(const grpc::CallbackServerContext& ctx,
                                const v1::BreakGlassRequest& req, v1::Grant& resp) {
    constexpr std::string_view kAction = "BreakGlass";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    if (auto s = ValidateJustification(req.justification()); !s.ok()) {
      return Fail(c, kAction, "", s, sv::Severity::kHigh);
    }
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(sv::CaseRecord rec, LoadCase(c, kAction, req.case_id()));
    const std::string target = "case:" + Hex(rec.case_id);
    const PolicyDecision d = Decide({.action = Action::kBreakGlass,
                                     .role = c.staff.role,
                                     .staff_jurisdiction = c.staff.jurisdiction,
                                     .network_allowed = c.network_allowed,
                                     .case_jurisdiction = rec.jurisdiction});
    if (!d.allowed) {
      return Fail(c, kAction, target, absl::PermissionDeniedError(std::string(d.reason)),
                  sv::Severity::kHigh);
    }
    sv::GrantRecord g;
    g.grant_id = RandomId(random_);
    g.case_id = rec.case_id;
    g.jurisdiction = rec.jurisdiction;
    g.kind = sv::GrantKind::kOpen;
    g.state = sv::GrantState::kApproved;
    g.requester_id = c.staff.staff_id;
    g.justification = req.justification();
    g.break_glass = true;
    g.created_micros = clock_.NowMicros();
    g.expires_micros = g.created_micros + absl::ToInt64Microseconds(config_.break_glass_ttl);
    sv::VaultBatch batch;
    batch.PutGrant(g);
    LB_RETURN_IF_ERROR(Allow(
        c, kAction, target,
        absl::StrCat("BREAK-GLASS grant:", Hex(g.grant_id), " notify auditors: ", g.justification),
        std::move(batch), sv::Severity::kHigh));
    GrantToProto(g, resp);
    return absl::OkStatus();
  }

  // ---------------------------------------------------------- open, reveal

  // Policy for opening `rec` with a grant of `kind`. On the rate rule the
  // account is suspended in the same batch as the denial entry.
  absl::StatusOr<std::string> AuthoriseOpen(const Caller& c, std::string_view action,
                                            const sv::CaseRecord& rec, sv::GrantKind kind) {
    const std::string target = "case:" + Hex(rec.case_id);
    LB_ASSIGN_OR_RETURN(auto best, BestGrant(c.staff.staff_id, rec.case_id, kind));
    const PolicyDecision d = Decide(
        {.action = kind == sv::GrantKind::kOpen ? Action::kOpenCase : Action::kRevealIdentity,
         .role = c.staff.role,
         .staff_jurisdiction = c.staff.jurisdiction,
         .network_allowed = c.network_allowed,
         .case_jurisdiction = rec.jurisdiction,
         .grant = best.first,
         .rate_allows = open_limiter_.WouldAllow(c.staff.staff_id)});
    if (d.reason == kDeniedRate) {
      sv::StaffRecord suspended = c.staff;
      suspended.enabled = false;
      sv::VaultBatch batch;
      batch.PutStaff(suspended);
      batch.Audit(Entry(c, action, target, sv::Decision::kDeny, std::string(kDeniedRate),
                        sv::Severity::kHigh));
      batch.Audit(Entry(c, "SuspendStaff", "staff:" + Hex(c.staff.staff_id), sv::Decision::kAllow,
                        "ALERT: open-rate limit exceeded, account suspended", sv::Severity::kHigh));
      LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
      DropSessions(c.staff.staff_id);
      return absl::PermissionDeniedError(std::string(kDeniedRate));
    }
    if (!d.allowed) {
      return Fail(c, action, target, absl::PermissionDeniedError(std::string(d.reason)));
    }
    (void)open_limiter_.TryAcquire(c.staff.staff_id);
    return best.second;
  }

  // The case's decrypted content. NOT_FOUND if the key has been shredded.
  absl::StatusOr<v1::ReportContent> DecryptCase(const sv::CaseRecord& rec) {
    auto wrapped = stores_.GetCaseKey(rec.case_id);
    if (absl::IsNotFound(wrapped.status())) return absl::NotFoundError("no such case");
    LB_RETURN_IF_ERROR(wrapped.status());
    LB_ASSIGN_OR_RETURN(crypto::AeadKey data_key, UnwrapCaseKey(*wrapped));
    LB_ASSIGN_OR_RETURN(
        crypto::SecretBytes plain,
        crypto::XChaCha20Open(data_key, AsBytes(rec.sealed_content), AsBytes(rec.case_id)));
    v1::ReportContent content;
    if (!content.ParseFromArray(plain.Expose().data(), static_cast<int>(plain.size()))) {
      return absl::DataLossError("case content does not parse");
    }
    return content;
  }

  absl::Status MarkInReview(const Caller& c, std::string_view action, sv::CaseRecord rec,
                            std::string reason, sv::Severity severity) {
    sv::VaultBatch batch;
    if (rec.status != sv::CaseStatus::kInReview) {
      rec.status = sv::CaseStatus::kInReview;
      batch.PutCase(rec);
    }
    return Allow(c, action, "case:" + Hex(rec.case_id), std::move(reason), std::move(batch),
                 severity);
  }

  absl::Status HandleOpenCase(const grpc::CallbackServerContext& ctx,
                              const v1::OpenCaseRequest& req, v1::OpenCaseResponse& resp) {
    constexpr std::string_view kAction = "OpenCase";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(sv::CaseRecord rec, LoadCase(c, kAction, req.case_id()));
    LB_ASSIGN_OR_RETURN(std::string grant_id, AuthoriseOpen(c, kAction, rec, sv::GrantKind::kOpen));
    auto content = DecryptCase(rec);
    if (!content.ok()) return Fail(c, kAction, "case:" + Hex(rec.case_id), content.status());
    bool all_verified = true;
    for (const auto& m : content->messages()) {
      auto* out = resp.add_messages();
      out->set_message_id(m.message_id());
      out->set_sender_pseudonym(Pseudonym(m.sender().account_id()));
      out->set_sender_device_id(m.sender().device_id());
      out->set_server_timestamp_micros(m.server_timestamp_micros());
      out->set_plaintext(m.plaintext());
      auto key = crypto::FrankingKey::FromBytes(AsBytes(m.franking_key()));
      auto commitment = crypto::Commitment::FromString(m.franking_commitment());
      const bool ok = key.ok() && commitment.ok() &&
                      crypto::VerifyCommitment(*key, AsBytes(m.plaintext()),
                                               FrankingContext(m.message_id()), *commitment)
                          .ok();
      out->set_commitment_verified(ok);
      out->set_tag_verified(true);  // intake stores only reports whose tags the server confirmed
      all_verified = all_verified && ok;
    }
    resp.set_comment(content->comment());
    resp.set_franking_verdict(all_verified ? "verified" : "commitment failed at open");
    resp.set_grant_id(grant_id);
    sv::CaseRecord shown = rec;
    shown.status = sv::CaseStatus::kInReview;
    SummaryToProto(shown, *resp.mutable_summary());
    LB_RETURN_IF_ERROR(MarkInReview(c, kAction, std::move(rec),
                                    absl::StrCat("allowed grant:", Hex(grant_id)),
                                    sv::Severity::kInfo));
    return absl::OkStatus();
  }

  absl::Status HandleRevealIdentity(const grpc::CallbackServerContext& ctx,
                                    const v1::RevealIdentityRequest& req,
                                    v1::RevealIdentityResponse& resp) {
    constexpr std::string_view kAction = "RevealIdentity";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    absl::MutexLock lock(&mu_);
    LB_ASSIGN_OR_RETURN(sv::CaseRecord rec, LoadCase(c, kAction, req.case_id()));
    LB_ASSIGN_OR_RETURN(std::string grant_id,
                        AuthoriseOpen(c, kAction, rec, sv::GrantKind::kRevealIdentity));
    auto content = DecryptCase(rec);
    if (!content.ok()) return Fail(c, kAction, "case:" + Hex(rec.case_id), content.status());
    resp.set_case_id(rec.case_id);
    *resp.mutable_reporter() = content->reporter();
    for (const auto& m : content->messages()) {
      auto* s = resp.add_senders();
      s->set_message_id(m.message_id());
      *s->mutable_sender() = m.sender();
    }
    resp.set_grant_id(grant_id);
    LB_RETURN_IF_ERROR(MarkInReview(c, kAction, std::move(rec),
                                    absl::StrCat("identities revealed, grant:", Hex(grant_id)),
                                    sv::Severity::kHigh));
    return absl::OkStatus();
  }

  // ----------------------------------------------------------------- audit

  absl::Status HandleAuditTail(const grpc::CallbackServerContext& ctx,
                               const v1::AuditTailRequest& req, v1::AuditTailResponse& resp) {
    constexpr std::string_view kAction = "AuditTail";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    LB_RETURN_IF_ERROR(Enforce(c, kAction, "audit", {.action = Action::kAuditRead}));
    const uint32_t limit = req.limit() == 0 ? 100 : req.limit();
    if (limit > 1000) return Fail(c, kAction, "audit", absl::InvalidArgumentError("limit 1..1000"));
    LB_RETURN_IF_ERROR(Allow(c, kAction, "audit", "read"));
    LB_ASSIGN_OR_RETURN(sv::AuditHead head, stores_.GetAuditHead());
    uint64_t after = req.after_seq();
    if (req.tail()) after = head.size > limit ? head.size - limit : 0;
    std::vector<sv::StoredAuditEntry> out;
    while (out.size() < limit) {
      LB_ASSIGN_OR_RETURN(auto chunk, stores_.ReadAudit(after, 1000));
      if (chunk.empty()) break;
      for (auto& e : chunk) {
        after = e.entry.seq;
        if (req.alerts_only() && e.entry.severity != sv::Severity::kHigh) continue;
        out.push_back(std::move(e));
        if (out.size() == limit) break;
      }
      if (req.tail()) break;
    }
    for (const auto& e : out) {
      auto* p = resp.add_entries();
      p->set_seq(e.entry.seq);
      p->set_time_micros(e.entry.time_micros);
      p->set_actor(e.entry.actor);
      p->set_role(e.entry.role);
      p->set_peer(e.entry.peer);
      p->set_action(e.entry.action);
      p->set_target(e.entry.target);
      p->set_decision(static_cast<v1::AuditDecision>(e.entry.decision));
      p->set_reason(e.entry.reason);
      p->set_severity(static_cast<v1::AuditSeverity>(e.entry.severity));
      p->set_chain_hash(e.chain_hash.str());
    }
    resp.set_log_size(head.size);
    resp.set_head_hash(head.hash.str());
    return absl::OkStatus();
  }

  void CheckpointToProto(const sv::Checkpoint& cp, v1::Checkpoint& out) const {
    out.set_log_size(cp.log_size);
    out.set_head_hash(cp.head_hash.str());
    out.set_time_micros(cp.time_micros);
    out.set_signature(cp.signature);
    out.set_audit_public_key(keys_.audit_signing.public_key.str());
  }

  absl::Status HandleCheckpoint(const grpc::CallbackServerContext& ctx, std::string_view action,
                                bool sign, v1::Checkpoint& resp) {
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, action));
    LB_RETURN_IF_ERROR(Enforce(c, action, "audit", {.action = Action::kCheckpoint}));
    LB_RETURN_IF_ERROR(Allow(c, action, "audit", sign ? "checkpoint signed" : "read"));
    if (sign) LB_RETURN_IF_ERROR(SignCheckpoint());
    LB_ASSIGN_OR_RETURN(sv::Checkpoint cp, LatestCheckpoint());
    CheckpointToProto(cp, resp);
    return absl::OkStatus();
  }

  absl::Status HandleExportCheckpoints(const grpc::CallbackServerContext& ctx,
                                       const v1::ExportCheckpointsRequest& req,
                                       v1::ExportCheckpointsResponse& resp) {
    constexpr std::string_view kAction = "ExportCheckpoints";
    LB_ASSIGN_OR_RETURN(Caller c, Authenticate(ctx, kAction));
    LB_RETURN_IF_ERROR(Enforce(c, kAction, "audit", {.action = Action::kCheckpoint}));
    const uint32_t limit = req.limit() == 0 ? 1000 : req.limit();
    if (limit > 1000) return Fail(c, kAction, "audit", absl::InvalidArgumentError("limit 1..1000"));
    LB_RETURN_IF_ERROR(Allow(c, kAction, "audit", "read"));
    LB_ASSIGN_OR_RETURN(auto cps, stores_.ListCheckpoints(req.after_size(), limit));
    for (const auto& cp : cps) CheckpointToProto(cp, *resp.add_checkpoints());
    return absl::OkStatus();
  }

  // ---------------------------------------------------------- intake help

  static IntakeOutcome Rejected(IntakeRejection r) {
    return IntakeOutcome{.accepted = false, .rejection = r};
  }

  // The recorded outcome for a relay id, if it was seen.
  absl::StatusOr<std::optional<IntakeOutcome>> FirstOutcome(const std::string& relay_key) {
    auto seen = stores_.GetSeen(relay_key);
    if (absl::IsNotFound(seen.status())) return std::nullopt;
    LB_RETURN_IF_ERROR(seen.status());
    {
      absl::MutexLock c(&counters_mu_);
      ++counters_.redelivered;
    }
    IntakeOutcome o;
    o.accepted = seen->accepted;
    o.case_id = seen->case_id;
    o.rejection = static_cast<IntakeRejection>(seen->rejection);
    o.redelivered = true;
    return o;
  }

  absl::StatusOr<bool> AnySeen(const std::vector<std::string>& keys) {
    for (const auto& k : keys) {
      auto s = stores_.GetSeen(k);
      if (s.ok()) return true;
      if (!absl::IsNotFound(s.status())) return s.status();
    }
    return false;
  }

  // Decides accept/reject without writing. Fills `content` and the
  // per-message de-duplication keys. Errors only when the franking verifier
  // (or storage) fails.
  absl::StatusOr<IntakeRejection> Evaluate(const IncomingReport& report, v1::ReportContent& content,
                                           std::vector<std::string>& dedup_keys) {
    if (!networks_.contains(report.jurisdiction)) return IntakeRejection::kUnknownJurisdiction;
    if (report.sealed.size() > config_.max_sealed_report_bytes) return IntakeRejection::kUnreadable;
    auto opened = crypto::SealedBoxOpen(keys_.intake, AsBytes(report.sealed));
    if (!opened.ok()) return IntakeRejection::kUnreadable;
    if (!content.ParseFromArray(opened->Expose().data(), static_cast<int>(opened->size()))) {
      return IntakeRejection::kMalformed;
    }
    // Strict shape.
    const int n = content.messages_size();
    if (content.version() != 1 || HasUnknownFields(content) || !ValidAddress(content.reporter()) ||
        HasUnknownFields(content.reporter()) || content.category() < 1 || content.category() > 5 ||
        !v1::ReportCategory_IsValid(content.category()) || n < 1 ||
        static_cast<uint32_t>(n) > config_.max_messages_per_report ||
        content.comment().size() > config_.max_comment_bytes) {
      return IntakeRejection::kMalformed;
    }
    std::set<std::string> ids;
    for (const auto& m : content.messages()) {
      if (HasUnknownFields(m) || m.message_id().size() != 16 || !ValidAddress(m.sender()) ||
          !ValidAddress(m.recipient()) || HasUnknownFields(m.sender()) ||
          HasUnknownFields(m.recipient()) ||
          m.franking_commitment().size() != crypto::kCommitmentSize ||
          m.franking_tag().size() != crypto::kFrankingTagSize ||
          m.franking_key().size() != crypto::kFrankingKeySize ||
          m.plaintext().size() > config_.max_message_plaintext_bytes ||
          m.server_timestamp_micros() <= 0 || !ids.insert(m.message_id()).second) {
        return IntakeRejection::kMalformed;
      }
    }
    // Attribution: the reporter inside is the device the server
    // authenticated, and received every message.
    if (!SameAddress(content.reporter(), report.reporter)) return IntakeRejection::kMisattributed;
    for (const auto& m : content.messages()) {
      if (!SameAddress(m.recipient(), content.reporter())) return IntakeRejection::kMisattributed;
    }
    // Commitments over the revealed plaintexts.
    for (const auto& m : content.messages()) {
      LB_ASSIGN_OR_RETURN(auto key, crypto::FrankingKey::FromBytes(AsBytes(m.franking_key())));
      LB_ASSIGN_OR_RETURN(auto commitment, crypto::Commitment::FromString(m.franking_commitment()));
      if (!crypto::VerifyCommitment(key, AsBytes(m.plaintext()), FrankingContext(m.message_id()),
                                    commitment)
               .ok()) {
        return IntakeRejection::kCommitmentMismatch;
      }
    }
    // Already reported by this reporter?
    for (const auto& m : content.messages()) {
      LB_ASSIGN_OR_RETURN(
          std::string mark,
          MessageMarkUnder(keys_.pseudonym_key, content.reporter().account_id(), m.message_id()));
      dedup_keys.push_back(std::move(mark));
    }
    LB_ASSIGN_OR_RETURN(bool dup, AnySeen(dedup_keys));
    if (dup) return IntakeRejection::kDuplicate;
    // The server's tags, in one batch.
    std::vector<v1::FrankingClaim> claims;
    claims.reserve(n);
    for (const auto& m : content.messages()) {
      v1::FrankingClaim claim;
      claim.set_franking_commitment(m.franking_commitment());
      *claim.mutable_sender() = m.sender();
      *claim.mutable_recipient() = m.recipient();
      claim.set_server_timestamp_micros(m.server_timestamp_micros());
      claim.set_message_id(m.message_id());
      claim.set_franking_tag(m.franking_tag());
      claims.push_back(std::move(claim));
    }
    LB_ASSIGN_OR_RETURN(std::vector<bool> valid, verifier_.Verify(claims));
    if (valid.size() != claims.size()) {
      return absl::UnavailableError("franking verifier answered the wrong number of claims");
    }
    for (bool v : valid) {
      if (!v) return IntakeRejection::kForgedTag;
    }
    return IntakeRejection::kNone;
  }

  // Records a rejection: the relay id's outcome (when it has one) and the
  // audit entry, in one batch. Nothing goes to the case families.
  absl::Status CommitIntakeRejection(const IncomingReport& report, IntakeRejection r,
                                     const std::string* relay_key) {
    sv::VaultBatch batch;
    if (relay_key != nullptr) {
      batch.PutSeen(*relay_key, {.accepted = false, .rejection = static_cast<uint32_t>(r)});
    }
    const bool suspicious = r == IntakeRejection::kForgedTag ||
                            r == IntakeRejection::kCommitmentMismatch ||
                            r == IntakeRejection::kMisattributed;
    batch.Audit({.time_micros = clock_.NowMicros(),
                 .actor = "intake",
                 .role = "none",
                 .action = "Intake",
                 .target = "relay:" + Hex(report.relay_report_id),
                 .decision = sv::Decision::kDeny,
                 .reason = std::string(IntakeRejectionName(r)),
                 .severity = suspicious ? sv::Severity::kHigh : sv::Severity::kInfo});
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    absl::MutexLock c(&counters_mu_);
    ++counters_.rejected[static_cast<int>(r)];
    return absl::OkStatus();
  }

  // The value of a message's de-duplication mark: the case that holds it.
  static sv::SeenRecord MessageMark(const std::string& case_id) {
    return {.accepted = true, .case_id = case_id};
  }

  // The id of the previous pseudonym key that made `reporter_pseudonym` for
  // `account_id`, or "unknown" when none of the loaded ones did.
  std::string PreviousPseudonymKeyId(std::string_view account_id,
                                     const std::string& reporter_pseudonym) const {
    for (const auto& [id, key] : keys_.previous_pseudonym_keys) {
      if (PseudonymUnder(key, account_id) == reporter_pseudonym) return id;
    }
    return "unknown";
  }

  // Re-keys one case from its decrypted `content` (see RekeyPseudonyms).
  // Returns false when its pseudonyms are already the current key's.
  absl::StatusOr<bool> RekeyCase(sv::CaseRecord rec, const v1::ReportContent& content) {
    CasePseudonyms current = CasePseudonymsUnder(keys_.pseudonym_key, content);
    if (current.reporter == rec.reporter_pseudonym && current.senders == rec.sender_pseudonyms) {
      return false;
    }
    const std::string& reporter = content.reporter().account_id();
    const std::string old_key_id = PreviousPseudonymKeyId(reporter, rec.reporter_pseudonym);
    rec.reporter_pseudonym = std::move(current.reporter);
    rec.sender_pseudonyms = std::move(current.senders);
    sv::VaultBatch batch;
    batch.PutCase(rec);
    for (const auto& m : content.messages()) {
      for (const auto& [id, key] : keys_.previous_pseudonym_keys) {
        LB_ASSIGN_OR_RETURN(std::string old_mark, MessageMarkUnder(key, reporter, m.message_id()));
        batch.DeleteSeen(old_mark);
      }
    }
    for (const auto& m : content.messages()) {
      LB_ASSIGN_OR_RETURN(std::string mark,
                          MessageMarkUnder(keys_.pseudonym_key, reporter, m.message_id()));
      batch.PutSeen(mark, MessageMark(rec.case_id));
    }
    const std::string new_key_id =
        keys_.pseudonym_key_id.empty() ? "unnamed" : keys_.pseudonym_key_id;
    batch.Audit(SystemEntry("RekeyPseudonyms", "case:" + Hex(rec.case_id),
                            "pseudonym key " + old_key_id + " -> " + new_key_id));
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    return true;
  }

  absl::StatusOr<std::string> CommitCase(const IncomingReport& report,
                                         const v1::ReportContent& content,
                                         const std::string& relay_key,
                                         const std::vector<std::string>& dedup_keys) {
    sv::CaseRecord rec;
    rec.case_id = RandomId(random_);
    rec.jurisdiction = report.jurisdiction;
    rec.category = static_cast<uint32_t>(content.category());
    rec.status = sv::CaseStatus::kNew;
    rec.received_micros = report.received_micros;
    rec.expires_micros = clock_.NowMicros() + absl::ToInt64Microseconds(config_.case_retention);
    CasePseudonyms pseudonyms = CasePseudonymsUnder(keys_.pseudonym_key, content);
    rec.reporter_pseudonym = std::move(pseudonyms.reporter);
    rec.sender_pseudonyms = std::move(pseudonyms.senders);
    rec.message_count = static_cast<uint32_t>(content.messages_size());

    auto data_key = crypto::RandomSecret<crypto::AeadKey>(random_);
    std::string plain = content.SerializeAsString();
    crypto::Bytes sealed =
        crypto::XChaCha20Seal(data_key, AsBytes(plain), AsBytes(rec.case_id), random_);
    Wipe(plain);
    rec.sealed_content = crypto::ToString(sealed);
    sv::WrappedCaseKey wrapped;
    wrapped.case_id = rec.case_id;
    wrapped.kek_id = keys_.kek_id;
    wrapped.wrapped = crypto::ToString(crypto::XChaCha20Seal(
        keys_.kek, data_key.Expose(), WrapAd(rec.case_id, keys_.kek_id), random_));

    sv::VaultBatch batch;
    batch.PutCase(rec);
    batch.PutCaseKey(wrapped);
    batch.PutSeen(relay_key, {.accepted = true, .case_id = rec.case_id});
    for (const auto& k : dedup_keys) batch.PutSeen(k, MessageMark(rec.case_id));
    batch.Audit({.time_micros = clock_.NowMicros(),
                 .actor = "intake",
                 .role = "none",
                 .action = "Intake",
                 .target = "relay:" + Hex(report.relay_report_id),
                 .decision = sv::Decision::kAllow,
                 .reason = "accepted case:" + Hex(rec.case_id),
                 .severity = sv::Severity::kInfo});
    LB_RETURN_IF_ERROR(stores_.Commit(std::move(batch)).status());
    return rec.case_id;
  }

  const VaultConfig config_;
  VaultStores& stores_;
  const Clock& clock_;
  const VaultKeys keys_;
  FrankingVerifier& verifier_;
  crypto::Random& random_;
  const std::map<std::string, std::vector<Cidr>> networks_;
  server::RateLimiter open_limiter_;
  server::RateLimiter login_failures_;

  // Serialises staff-state changes: policy check and commit happen together.
  absl::Mutex mu_;
  // Serialises intake commits (the check-then-write on the seen marks).
  absl::Mutex intake_mu_;
  absl::Mutex checkpoint_mu_;
  mutable absl::Mutex counters_mu_;
  IntakeCounters counters_ ABSL_GUARDED_BY(counters_mu_);
  absl::Mutex session_mu_;
  absl::flat_hash_map<std::string, Session> sessions_ ABSL_GUARDED_BY(session_mu_);
  absl::flat_hash_map<std::string, Challenge> challenges_ ABSL_GUARDED_BY(session_mu_);
};

absl::StatusOr<std::unique_ptr<Vault>> Vault::Open(const VaultConfig& config, VaultStores& stores,
                                                   const Clock& clock, VaultKeys keys,
                                                   FrankingVerifier& verifier,
                                                   crypto::Random& random) {
  std::map<std::string, std::vector<Cidr>> networks;
  for (const auto& [jurisdiction, cidrs] : config.jurisdiction_networks) {
    if (jurisdiction.empty() || jurisdiction.size() > kMaxJurisdictionBytes) {
      return absl::InvalidArgumentError("jurisdiction names must be 1..16 bytes");
    }
    auto& list = networks[jurisdiction];
    for (const auto& text : cidrs) {
      auto cidr = Cidr::Parse(text);
      if (!cidr.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("jurisdiction ", jurisdiction, ": bad network ", text));
      }
      list.push_back(*cidr);
    }
  }
  if (config.grant_ttl <= absl::ZeroDuration() || config.break_glass_ttl <= absl::ZeroDuration() ||
      config.case_retention <= absl::ZeroDuration() ||
      config.challenge_ttl <= absl::ZeroDuration() || config.session_ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("TTLs must be positive");
  }
  if (keys.kek_id.empty() || keys.kek_id.size() > 64) {
    return absl::InvalidArgumentError("kek_id must be 1..64 bytes");
  }
  if (keys.pseudonym_key_id.size() > 64) {
    return absl::InvalidArgumentError("pseudonym_key_id must be at most 64 bytes");
  }
  for (const auto& [id, key] : keys.previous_pseudonym_keys) {
    if (id.empty() || id.size() > 64 || id == keys.pseudonym_key_id) {
      return absl::InvalidArgumentError(
          "previous pseudonym key ids must be 1..64 bytes and differ from the current one");
    }
  }
  if (!config.checkpoint_export_path.empty() && config.checkpoint_export_path.front() != '/') {
    return absl::InvalidArgumentError("checkpoint_export_path must be absolute");
  }
  LB_RETURN_IF_ERROR(stores.GetAuditHead().status());
  return std::unique_ptr<Vault>(new Vault(std::make_unique<Impl>(
      config, stores, clock, std::move(keys), verifier, random, std::move(networks))));
}

Vault::Vault(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Vault::~Vault() = default;

absl::StatusOr<IntakeOutcome> Vault::Ingest(const IncomingReport& report) {
  return impl_->Ingest(report);
}
grpc::Service* Vault::service() { return impl_.get(); }
absl::Status Vault::SignCheckpoint() { return impl_->SignCheckpoint(); }
absl::StatusOr<storage::vault::Checkpoint> Vault::LatestCheckpoint() {
  return impl_->LatestCheckpoint();
}
absl::StatusOr<uint64_t> Vault::ExpireCases() { return impl_->ExpireCases(); }
absl::StatusOr<uint64_t> Vault::RewrapCaseKeys() { return impl_->RewrapCaseKeys(); }
absl::StatusOr<uint64_t> Vault::ExportPendingCheckpoints() {
  return impl_->ExportPendingCheckpoints();
}
absl::StatusOr<uint64_t> Vault::RekeyPseudonyms() { return impl_->RekeyPseudonyms(); }
const crypto::Ed25519PublicKey& Vault::audit_public_key() const {
  return impl_->audit_public_key();
}
IntakeCounters Vault::intake_counters() const { return impl_->counters(); }

}  // namespace letterbox::vault
