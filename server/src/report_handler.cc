#include "letterbox/server/report_handler.h"

#include <string>

#include "letterbox/common/status.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/server/wire.h"

namespace letterbox::server {

ReportHandler::ReportHandler(const HandlerContext& context)
    : context_(context),
      reports_per_device_(context.clock, context.config.limits.reports_per_device) {}

absl::Status ReportHandler::GetVaultKey(const Principal& /*caller*/,
                                        const v1::GetVaultKeyRequest& /*request*/,
                                        v1::GetVaultKeyResponse* response) {
  if (!context_.vault_intake_key.has_value()) {
    return absl::FailedPreconditionError("reporting is not configured on this server");
  }
  const crypto::X25519PublicKey& key = *context_.vault_intake_key;
  response->set_intake_public_key(key.str());
  const crypto::Blake2b256 digest = crypto::Blake2b256Of(key.view());
  response->set_key_id(crypto::ToHex(digest.view().subspan(0, 8)));
  return absl::OkStatus();
}

absl::Status ReportHandler::SubmitReport(const Principal& caller,
                                         const v1::SubmitReportRequest& request,
                                         v1::SubmitReportResponse* response) {
  if (!reports_per_device_.TryAcquire(crypto::ToString(caller.device.Encode()))) {
    return absl::ResourceExhaustedError("too many reports; retry later");
  }
  const std::string& sealed = request.sealed_report();
  if (sealed.empty()) return absl::InvalidArgumentError("sealed_report: empty");
  if (sealed.size() <= crypto::kSealedBoxOverhead) {
    return absl::InvalidArgumentError("sealed_report: shorter than a sealed box");
  }
  if (sealed.size() > context_.config.limits.max_report_bytes) {
    return absl::InvalidArgumentError("sealed_report: larger than max_report_bytes");
  }
  LB_RETURN_IF_ERROR(ValidateJurisdiction(request.jurisdiction(), context_.config.jurisdictions));
  LB_ASSIGN_OR_RETURN(storage::AccountRecord account,
                      context_.stores.accounts().GetAccount(caller.device.account));
  if (account.jurisdiction != request.jurisdiction()) {
    return absl::InvalidArgumentError("jurisdiction: not the reporter's account's");
  }
  storage::OutboxReport report;
  report.jurisdiction = request.jurisdiction();
  report.reporter = caller.device;
  report.received_micros = context_.clock.NowMicros();
  report.sealed.assign(sealed.begin(), sealed.end());
  absl::Status put;
  for (int attempt = 0; attempt < 3; ++attempt) {
    report.id = crypto::RandomFixed<storage::ReportId>(context_.random);
    put = context_.stores.outbox().PutReport(report);
    if (!absl::IsAlreadyExists(put)) break;
  }
  LB_RETURN_IF_ERROR(put);
  response->set_report_id(report.id.str());
  return absl::OkStatus();
}

RelayHandler::RelayHandler(const HandlerContext& context) : context_(context) {}

absl::Status RelayHandler::GetRelayChallenge(const Principal& caller,
                                             const v1::GetRelayChallengeRequest& /*request*/,
                                             v1::GetRelayChallengeResponse* response) {
  LB_ASSIGN_OR_RETURN(Challenge challenge, context_.auth.IssueRelayChallenge(caller.peer_address));
  response->set_nonce(challenge.nonce.str());
  response->set_expires_micros(challenge.expires_micros);
  return absl::OkStatus();
}

absl::Status RelayHandler::RelayLogin(const Principal& caller, const v1::RelayLoginRequest& request,
                                      v1::RelayLoginResponse* response) {
  LB_ASSIGN_OR_RETURN(
      Session session,
      context_.auth.RelayLogin(request.nonce(), request.signature(), caller.peer_address));
  response->set_session_token(crypto::ToString(session.token.Expose()));
  response->set_expires_micros(session.expires_micros);
  return absl::OkStatus();
}

absl::Status RelayHandler::PullReports(const Principal& /*caller*/,
                                       const v1::PullReportsRequest& request,
                                       v1::PullReportsResponse* response) {
  if (request.limit() == 0 || request.limit() > kMaxPullReports) {
    return absl::InvalidArgumentError("limit: must be 1..500");
  }
  std::optional<storage::ReportId> after;
  if (!request.after().empty()) {
    if (request.after().size() != storage::ReportId::kSize) {
      return absl::InvalidArgumentError("after: must be empty or 16 bytes");
    }
    after = *storage::ReportId::FromString(request.after());
  }
  LB_ASSIGN_OR_RETURN(std::vector<storage::OutboxReport> reports,
                      context_.stores.outbox().ListReports(after, request.limit()));
  for (const storage::OutboxReport& r : reports) {
    v1::OutboxReport* out = response->add_reports();
    out->set_report_id(r.id.str());
    out->set_jurisdiction(r.jurisdiction);
    ToProto(r.reporter, out->mutable_reporter());
    out->set_received_micros(r.received_micros);
    out->set_sealed_report(crypto::ToString(r.sealed));
  }
  return absl::OkStatus();
}

absl::Status RelayHandler::AckReports(const Principal& /*caller*/,
                                      const v1::AckReportsRequest& request,
                                      v1::AckReportsResponse* /*response*/) {
  if (request.report_ids_size() == 0) return absl::InvalidArgumentError("report_ids: empty");
  if (request.report_ids_size() > kMaxReportAcks) {
    return absl::InvalidArgumentError("report_ids: more than 1000");
  }
  std::vector<storage::ReportId> ids;
  ids.reserve(request.report_ids_size());
  for (const std::string& id : request.report_ids()) {
    if (id.size() != storage::ReportId::kSize) {
      return absl::InvalidArgumentError("report_ids: must be 16 bytes each");
    }
    ids.push_back(*storage::ReportId::FromString(id));
  }
  return context_.stores.outbox().DeleteReports(ids);
}

absl::Status RelayHandler::VerifyFranking(const Principal& /*caller*/,
                                          const v1::VerifyFrankingRequest& request,
                                          v1::VerifyFrankingResponse* response) {
  if (request.claims_size() == 0) return absl::InvalidArgumentError("claims: empty");
  if (request.claims_size() > kMaxFrankingClaims) {
    return absl::InvalidArgumentError("claims: more than 1000");
  }
  for (const v1::FrankingClaim& claim : request.claims()) {
    auto commitment = crypto::Commitment::FromString(claim.franking_commitment());
    auto tag = crypto::FrankingTag::FromString(claim.franking_tag());
    auto sender = ParseDeviceAddress(claim.sender(), "sender");
    auto recipient = ParseDeviceAddress(claim.recipient(), "recipient");
    auto message_id = ParseMessageId(claim.message_id(), "message_id");
    if (!commitment.ok() || !tag.ok() || !sender.ok() || !recipient.ok() || !message_id.ok()) {
      response->add_valid(false);
      continue;
    }
    const crypto::Bytes sender_bytes = sender->Encode();
    const crypto::Bytes recipient_bytes = recipient->Encode();
    response->add_valid(
        crypto::VerifyFrankingTag(
            context_.keys.franking_key,
            crypto::FrankingFields{.commitment = *commitment,
                                   .sender = sender_bytes,
                                   .recipient = recipient_bytes,
                                   .timestamp_micros = claim.server_timestamp_micros(),
                                   .message_id = message_id->view()},
            *tag)
            .ok());
  }
  return absl::OkStatus();
}

}  // namespace letterbox::server
