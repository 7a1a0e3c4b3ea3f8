#include "letterbox/vault/relay_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"
#include "letterbox/server/authenticator.h"
#include "letterbox/server/logging.h"

namespace letterbox::vault {
namespace {

namespace v1 = letterbox::v1;
using server::LogEvent;
using server::LogLevel;

constexpr int kMaxClaimsPerCall = 1000;  // RelayService.VerifyFranking's limit
constexpr uint32_t kMaxPullBatch = 500;  // RelayService.PullReports's limit

std::string GrpcCodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// A relay error as an absl::Status naming the call; the server's short reason
// is kept (it never carries secrets).
absl::Status FromGrpc(std::string_view call, const grpc::Status& status) {
  absl::StatusCode code = static_cast<absl::StatusCode>(status.error_code());
  // Anything the server refuses is, to the vault, a relay that is not usable
  // right now: the report is redelivered later.
  if (code != absl::StatusCode::kCancelled && code != absl::StatusCode::kDeadlineExceeded) {
    code = absl::StatusCode::kUnavailable;
  }
  return absl::Status(code, std::string(call) + ": " + GrpcCodeName(status.error_code()) + " " +
                                status.error_message());
}

// `d` scaled by a uniform factor in [0.5, 1].
absl::Duration Jitter(absl::Duration d) {
  std::array<uint8_t, 4> r{};
  crypto::SystemRandom::Instance().Fill(r);
  uint32_t x = 0;
  std::memcpy(&x, r.data(), sizeof(x));
  return d * (0.5 + 0.5 * (static_cast<double>(x) / 4294967295.0));
}

}  // namespace

RelayClient::RelayClient(RelayClientOptions options, crypto::Ed25519KeyPair relay_key)
    : options_(std::move(options)),
      relay_key_(std::move(relay_key)),
      pull_batch_(std::clamp<uint32_t>(options_.pull_batch, 1, kMaxPullBatch)) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_receive_message_bytes);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
              static_cast<int>(absl::ToInt64Milliseconds(options_.max_backoff)));
  channel_ =
      grpc::CreateCustomChannel(options_.server_address, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::RelayService::NewStub(channel_);
}

RelayClient::~RelayClient() { Stop(); }

bool RelayClient::Register(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  in_flight_.push_back(context);
  return true;
}

void RelayClient::Unregister(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  in_flight_.erase(std::remove(in_flight_.begin(), in_flight_.end(), context), in_flight_.end());
}

void RelayClient::SetDeadline(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.rpc_timeout));
}

grpc::Status RelayClient::Login() {
  v1::GetRelayChallengeResponse challenge;
  {
    grpc::ClientContext context;
    SetDeadline(context);
    if (!Register(&context)) return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
    grpc::Status s = stub_->GetRelayChallenge(&context, v1::GetRelayChallengeRequest(), &challenge);
    Unregister(&context);
    if (!s.ok()) return s;
  }
  auto nonce = server::Nonce::FromString(challenge.nonce());
  if (!nonce.ok()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "relay challenge nonce has the wrong length");
  }
  const crypto::Ed25519Signature signature =
      crypto::Ed25519Sign(relay_key_.secret_key, server::RelayLoginMessage(*nonce));
  v1::RelayLoginRequest request;
  request.set_nonce(challenge.nonce());
  request.set_signature(signature.str());
  v1::RelayLoginResponse response;
  grpc::ClientContext context;
  SetDeadline(context);
  if (!Register(&context)) return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
  grpc::Status s = stub_->RelayLogin(&context, request, &response);
  Unregister(&context);
  if (!s.ok()) return s;
  crypto::SecretBytes token(crypto::AsBytes(response.session_token()));
  crypto::SecureZero({reinterpret_cast<uint8_t*>(response.mutable_session_token()->data()),
                      response.session_token().size()});
  if (token.empty()) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "relay login returned no session");
  }
  {
    absl::MutexLock lock(&mu_);
    token_ = std::move(token);
    ++counters_.logins;
  }
  LogEvent(LogLevel::kInfo, "relay_login", {{"server", options_.server_address}});
  return grpc::Status::OK;
}

template <typename Call>
grpc::Status RelayClient::CallWithSession(Call call) {
  grpc::Status status;
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::string authorization;
    {
      absl::MutexLock lock(&mu_);
      if (!token_.empty()) authorization = "Bearer " + crypto::ToHex(token_.Expose());
    }
    if (authorization.empty()) {
      status = Login();
      if (!status.ok()) return status;
      absl::MutexLock lock(&mu_);
      authorization = "Bearer " + crypto::ToHex(token_.Expose());
    }
    grpc::ClientContext context;
    SetDeadline(context);
    context.AddMetadata("authorization", authorization);
    crypto::SecureZero({reinterpret_cast<uint8_t*>(authorization.data()), authorization.size()});
    if (!Register(&context)) return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
    status = call(context);
    Unregister(&context);
    if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED) return status;
    // The session expired (or the server restarted): log in again.
    absl::MutexLock lock(&mu_);
    token_ = crypto::SecretBytes();
  }
  return status;
}

absl::StatusOr<std::vector<bool>> RelayClient::Verify(
    const std::vector<v1::FrankingClaim>& claims) {
  std::vector<bool> valid;
  valid.reserve(claims.size());
  for (size_t start = 0; start < claims.size(); start += kMaxClaimsPerCall) {
    const size_t end = std::min(claims.size(), start + kMaxClaimsPerCall);
    v1::VerifyFrankingRequest request;
    for (size_t i = start; i < end; ++i) *request.add_claims() = claims[i];
    v1::VerifyFrankingResponse response;
    grpc::Status s = CallWithSession([&](grpc::ClientContext& context) {
      return stub_->VerifyFranking(&context, request, &response);
    });
    if (!s.ok()) return FromGrpc("VerifyFranking", s);
    if (static_cast<size_t>(response.valid_size()) != end - start) {
      return absl::InternalError("VerifyFranking: the server answered " +
                                 std::to_string(response.valid_size()) + " verdicts for " +
                                 std::to_string(end - start) + " claims");
    }
    for (bool v : response.valid()) valid.push_back(v);
  }
  return valid;
}

absl::StatusOr<size_t> RelayClient::PullOnce(Vault& vault) {
  uint32_t batch = 0;
  {
    absl::MutexLock lock(&mu_);
    batch = pull_batch_;
  }
  v1::PullReportsRequest request;
  request.set_limit(batch);
  v1::PullReportsResponse response;
  grpc::Status s = CallWithSession([&](grpc::ClientContext& context) {
    return stub_->PullReports(&context, request, &response);
  });
  {
    absl::MutexLock lock(&mu_);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED && batch > 1) {
      // The batch was larger than the server may send in one message.
      pull_batch_ = std::max<uint32_t>(1, batch / 2);
    } else if (s.ok()) {
      pull_batch_ = std::min<uint32_t>(std::clamp<uint32_t>(options_.pull_batch, 1, kMaxPullBatch),
                                       batch * 2);
    }
  }
  if (!s.ok()) return FromGrpc("PullReports", s);

  std::vector<std::string> done;
  uint64_t accepted = 0;
  absl::Status ingest_error;
  for (v1::OutboxReport& report : *response.mutable_reports()) {
    IncomingReport incoming;
    incoming.relay_report_id = report.report_id();
    incoming.jurisdiction = report.jurisdiction();
    incoming.reporter = report.reporter();
    incoming.received_micros = report.received_micros();
    incoming.sealed = std::move(*report.mutable_sealed_report());
    absl::StatusOr<IntakeOutcome> outcome = vault.Ingest(incoming);
    if (!outcome.ok()) {
      ingest_error = outcome.status();
      LogEvent(LogLevel::kWarn, "intake_error",
               {{"relay_id", crypto::ToHex(crypto::AsBytes(report.report_id()))},
                {"code", absl::StatusCodeToString(outcome.status().code())},
                {"error", std::string(outcome.status().message())}});
      break;
    }
    LogEvent(LogLevel::kDebug, "report_ingested",
             {{"relay_id", crypto::ToHex(crypto::AsBytes(report.report_id()))},
              {"accepted", outcome->accepted},
              {"redelivered", outcome->redelivered},
              {"rejection", std::string(IntakeRejectionName(outcome->rejection))}});
    if (outcome->accepted && !outcome->redelivered) ++accepted;
    done.push_back(report.report_id());
  }
  {
    absl::MutexLock lock(&mu_);
    counters_.pulled += response.reports_size();
    counters_.ingested += done.size();
    counters_.accepted += accepted;
  }

  if (!done.empty()) {
    v1::AckReportsRequest ack;
    for (const std::string& id : done) ack.add_report_ids(id);
    v1::AckReportsResponse ack_response;
    grpc::Status a = CallWithSession([&](grpc::ClientContext& context) {
      return stub_->AckReports(&context, ack, &ack_response);
    });
    // Unacknowledged reports come back and Ingest recognises them.
    if (!a.ok()) return FromGrpc("AckReports", a);
    absl::MutexLock lock(&mu_);
    counters_.acknowledged += done.size();
  }
  if (!ingest_error.ok()) return ingest_error;
  return static_cast<size_t>(response.reports_size());
}

void RelayClient::Loop(Vault* vault) {
  absl::Duration backoff = options_.min_backoff;
  absl::Status last_error;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
    }
    absl::StatusOr<size_t> pulled = PullOnce(*vault);
    absl::Duration wait = absl::ZeroDuration();
    if (!pulled.ok()) {
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
        ++counters_.errors;
      }
      // Log a failure when it changes, not on every retry.
      if (pulled.status() != last_error) {
        LogEvent(LogLevel::kWarn, "relay_error",
                 {{"code", absl::StatusCodeToString(pulled.status().code())},
                  {"error", std::string(pulled.status().message())},
                  {"retry_in", absl::FormatDuration(backoff)}});
        last_error = pulled.status();
      }
      wait = Jitter(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    } else {
      if (!last_error.ok()) {
        LogEvent(LogLevel::kInfo, "relay_recovered", {{"server", options_.server_address}});
        last_error = absl::OkStatus();
      }
      backoff = options_.min_backoff;
      if (*pulled == 0) wait = options_.idle_interval;
    }
    if (wait > absl::ZeroDuration()) {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait);
    }
  }
}

void RelayClient::Start(Vault& vault) {
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this, &vault] { Loop(&vault); });
}

void RelayClient::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (grpc::ClientContext* context : in_flight_) context->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

RelayCounters RelayClient::counters() const {
  absl::MutexLock lock(&mu_);
  return counters_;
}

}  // namespace letterbox::vault
