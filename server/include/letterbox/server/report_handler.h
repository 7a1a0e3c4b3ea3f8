// File: letterbox/server/report_handler.h
//
// The logic of ReportService (reports.proto) and RelayService (relay.proto),
// free of gRPC. The server relays sealed reports it cannot open: it checks
// only size and routing (jurisdiction), records the authenticated reporter,
// and keeps each report in the OutboxStore until the vault, logged in with
// its relay key, pulls and acknowledges it. VerifyFranking lets the vault
// check tags without the franking key leaving this process.
//
//   ReportHandler reports(context);
//   RelayHandler relay(context);
//   LB_RETURN_IF_ERROR(reports.SubmitReport(device_caller, request, &response));
//   LB_RETURN_IF_ERROR(relay.PullReports(relay_caller, pull, &batch));
#pragma once

#include "absl/status/status.h"
#include "letterbox/server/handler_context.h"
#include "letterbox/server/principal.h"
#include "letterbox/server/rate_limiter.h"
#include "letterbox/v1/relay.pb.h"
#include "letterbox/v1/reports.pb.h"

namespace letterbox::server {

// The most claims one VerifyFranking call may carry, and the most report ids
// one AckReports call may carry.
inline constexpr int kMaxFrankingClaims = 1000;
inline constexpr int kMaxReportAcks = 1000;
// PullReports' limit range.
inline constexpr uint32_t kMaxPullReports = 500;

// Thread-safe. `caller` is a device principal. On error storage is unchanged.
class ReportHandler {
 public:
  explicit ReportHandler(const HandlerContext& context);

  // FAILED_PRECONDITION if no intake key is configured.
  [[nodiscard]] absl::Status GetVaultKey(const Principal& caller,
                                         const v1::GetVaultKeyRequest& request,
                                         v1::GetVaultKeyResponse* response);
  // RESOURCE_EXHAUSTED (reports_per_device, checked first), INVALID_ARGUMENT
  // (sealed_report empty, shorter than a sealed box, larger than
  // max_report_bytes; jurisdiction not configured or not the reporter's
  // account's).
  [[nodiscard]] absl::Status SubmitReport(const Principal& caller,
                                          const v1::SubmitReportRequest& request,
                                          v1::SubmitReportResponse* response);

 private:
  const HandlerContext& context_;
  RateLimiter reports_per_device_;
};

// Thread-safe. `caller` is anonymous for the login RPCs and a relay
// principal for the others (the gRPC layer refuses device sessions with
// PERMISSION_DENIED before calling in).
class RelayHandler {
 public:
  explicit RelayHandler(const HandlerContext& context);

  // RESOURCE_EXHAUSTED (challenges per address).
  [[nodiscard]] absl::Status GetRelayChallenge(const Principal& caller,
                                               const v1::GetRelayChallengeRequest& request,
                                               v1::GetRelayChallengeResponse* response);
  // UNAUTHENTICATED (one message for every failure), RESOURCE_EXHAUSTED.
  [[nodiscard]] absl::Status RelayLogin(const Principal& caller,
                                        const v1::RelayLoginRequest& request,
                                        v1::RelayLoginResponse* response);
  // INVALID_ARGUMENT (limit outside 1..500, `after` neither empty nor 16
  // bytes).
  [[nodiscard]] absl::Status PullReports(const Principal& caller,
                                         const v1::PullReportsRequest& request,
                                         v1::PullReportsResponse* response);
  // INVALID_ARGUMENT (no ids, more than 1000, an id not 16 bytes).
  // Idempotent.
  [[nodiscard]] absl::Status AckReports(const Principal& caller,
                                        const v1::AckReportsRequest& request,
                                        v1::AckReportsResponse* response);
  // INVALID_ARGUMENT (no claims or more than 1000). A claim with a malformed
  // field (wrong length, device id 0) is answered valid = false.
  [[nodiscard]] absl::Status VerifyFranking(const Principal& caller,
                                            const v1::VerifyFrankingRequest& request,
                                            v1::VerifyFrankingResponse* response);

 private:
  const HandlerContext& context_;
};

}  // namespace letterbox::server
