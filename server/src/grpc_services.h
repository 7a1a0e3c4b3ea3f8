// File: server/src/grpc_services.h (internal to letterbox_server)
//
// The thin gRPC layer: one CallbackService per letterbox.v1 service, each
// method a one-liner that passes the call through the single authentication
// step (Gate) into the matching handler and converts the result with
// ToGrpcStatus. The streaming reactors (Subscribe, SendStream, NoopStream)
// live here too. No handler logic belongs in this file.
#pragma once

#include <grpcpp/grpcpp.h>

#include "letterbox/server/account_handler.h"
#include "letterbox/server/authenticator.h"
#include "letterbox/server/key_handler.h"
#include "letterbox/server/mailbox_notifier.h"
#include "letterbox/server/message_handler.h"
#include "letterbox/server/report_handler.h"
#include "letterbox/server/work_pool.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/diagnostics.grpc.pb.h"
#include "letterbox/v1/keys.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "letterbox/v1/relay.grpc.pb.h"
#include "letterbox/v1/reports.grpc.pb.h"

namespace letterbox::server {

// Which session a method needs.
enum class Access {
  kNone,    // no session; the principal is anonymous (peer address only)
  kDevice,  // a device session; a relay session is PERMISSION_DENIED
  kRelay,   // the relay session; a device session is PERMISSION_DENIED
};

// The one authentication step every method goes through. Thread-safe.
class Gate {
 public:
  // With a `pool`, every unary call runs (authentication included) on one of
  // its threads instead of gRPC's callback thread (fsync durability mode,
  // letterbox/server/work_pool.h); a call that finds its queue full fails
  // UNAVAILABLE at once. Without one, calls run inline.
  explicit Gate(Authenticator& auth, WorkPool* pool = nullptr) : auth_(auth), pool_(pool) {}

  // The caller as `access` requires, from the `authorization` metadata and
  // the peer address: UNAUTHENTICATED (missing, malformed, unknown or
  // expired token), PERMISSION_DENIED (the wrong kind of session).
  [[nodiscard]] absl::StatusOr<Principal> Check(grpc::CallbackServerContext* context,
                                                Access access) const;

  // Runs `method` of `handler` for an authenticated unary call and finishes
  // the call with its converted status. Never throws.
  template <typename Handler, typename Request, typename Response>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* context, Access access,
                                  Handler& handler,
                                  absl::Status (Handler::*method)(const Principal&, const Request&,
                                                                  Response*),
                                  const Request* request, Response* response) const {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    auto run = [this, context, access, &handler, method, request, response, reactor] {
      absl::Status status;
      try {
        absl::StatusOr<Principal> principal = Check(context, access);
        status =
            principal.ok() ? (handler.*method)(*principal, *request, response) : principal.status();
      } catch (...) {
        status = absl::InternalError("exception in handler");
      }
      reactor->Finish(Convert(status, context));
    };
    if (pool_ == nullptr) {
      run();
    } else if (!Offload(run)) {
      reactor->Finish(Convert(ServerBusy(), context));
    }
    return reactor;
  }

  // Runs `task` on the pool (true) or refuses it (false: full or stopping).
  // Without a pool, runs it inline and returns true.
  [[nodiscard]] bool Offload(std::function<void()> task) const;

  // The status of a call refused because the pool's queue is full.
  [[nodiscard]] static absl::Status ServerBusy();

  // ToGrpcStatus, logging INTERNAL errors first.
  static grpc::Status Convert(const absl::Status& status, grpc::CallbackServerContext* context);

 private:
  Authenticator& auth_;
  WorkPool* const pool_;
};

class AccountServiceImpl final : public v1::AccountService::CallbackService {
 public:
  AccountServiceImpl(const Gate& gate, AccountHandler& handler) : gate_(gate), handler_(handler) {}
  grpc::ServerUnaryReactor* RegisterAccount(grpc::CallbackServerContext* c,
                                            const v1::RegisterAccountRequest* q,
                                            v1::RegisterAccountResponse* r) override {
    return gate_.Unary(c, Access::kNone, handler_, &AccountHandler::RegisterAccount, q, r);
  }
  grpc::ServerUnaryReactor* AddDevice(grpc::CallbackServerContext* c, const v1::AddDeviceRequest* q,
                                      v1::AddDeviceResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &AccountHandler::AddDevice, q, r);
  }
  grpc::ServerUnaryReactor* RemoveDevice(grpc::CallbackServerContext* c,
                                         const v1::RemoveDeviceRequest* q,
                                         v1::RemoveDeviceResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &AccountHandler::RemoveDevice, q, r);
  }
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* c,
                                        const v1::ListDevicesRequest* q,
                                        v1::ListDevicesResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &AccountHandler::ListDevices, q, r);
  }
  grpc::ServerUnaryReactor* LookupByPhoneNumber(grpc::CallbackServerContext* c,
                                                const v1::LookupByPhoneNumberRequest* q,
                                                v1::LookupByPhoneNumberResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &AccountHandler::LookupByPhoneNumber, q, r);
  }

 private:
  const Gate& gate_;
  AccountHandler& handler_;
};

class AuthServiceImpl final : public v1::AuthService::CallbackService {
 public:
  AuthServiceImpl(const Gate& gate, AccountHandler& handler) : gate_(gate), handler_(handler) {}
  grpc::ServerUnaryReactor* GetChallenge(grpc::CallbackServerContext* c,
                                         const v1::GetChallengeRequest* q,
                                         v1::GetChallengeResponse* r) override {
    return gate_.Unary(c, Access::kNone, handler_, &AccountHandler::GetChallenge, q, r);
  }
  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* c, const v1::LoginRequest* q,
                                  v1::LoginResponse* r) override {
    return gate_.Unary(c, Access::kNone, handler_, &AccountHandler::Login, q, r);
  }

 private:
  const Gate& gate_;
  AccountHandler& handler_;
};

class KeyServiceImpl final : public v1::KeyService::CallbackService {
 public:
  KeyServiceImpl(const Gate& gate, KeyHandler& handler) : gate_(gate), handler_(handler) {}
  grpc::ServerUnaryReactor* UploadSignedPrekey(grpc::CallbackServerContext* c,
                                               const v1::UploadSignedPrekeyRequest* q,
                                               v1::UploadSignedPrekeyResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &KeyHandler::UploadSignedPrekey, q, r);
  }
  grpc::ServerUnaryReactor* UploadOneTimePrekeys(grpc::CallbackServerContext* c,
                                                 const v1::UploadOneTimePrekeysRequest* q,
                                                 v1::UploadOneTimePrekeysResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &KeyHandler::UploadOneTimePrekeys, q, r);
  }
  grpc::ServerUnaryReactor* ClaimBundle(grpc::CallbackServerContext* c,
                                        const v1::ClaimBundleRequest* q,
                                        v1::ClaimBundleResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &KeyHandler::ClaimBundle, q, r);
  }
  grpc::ServerUnaryReactor* CountOneTimePrekeys(grpc::CallbackServerContext* c,
                                                const v1::CountOneTimePrekeysRequest* q,
                                                v1::CountOneTimePrekeysResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &KeyHandler::CountOneTimePrekeys, q, r);
  }

 private:
  const Gate& gate_;
  KeyHandler& handler_;
};

class MessageServiceImpl final : public v1::MessageService::CallbackService {
 public:
  MessageServiceImpl(const Gate& gate, MessageHandler& handler, MailboxNotifier& notifier)
      : gate_(gate), handler_(handler), notifier_(notifier) {}
  grpc::ServerUnaryReactor* Send(grpc::CallbackServerContext* c, const v1::SendRequest* q,
                                 v1::SendResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &MessageHandler::Send, q, r);
  }
  grpc::ServerUnaryReactor* SendToAccount(grpc::CallbackServerContext* c,
                                          const v1::SendToAccountRequest* q,
                                          v1::SendResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &MessageHandler::SendToAccount, q, r);
  }
  grpc::ServerUnaryReactor* Fetch(grpc::CallbackServerContext* c, const v1::FetchRequest* q,
                                  v1::FetchResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &MessageHandler::Fetch, q, r);
  }
  grpc::ServerUnaryReactor* Ack(grpc::CallbackServerContext* c, const v1::AckRequest* q,
                                v1::AckResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &MessageHandler::Ack, q, r);
  }
  grpc::ServerWriteReactor<v1::Envelope>* Subscribe(grpc::CallbackServerContext* c,
                                                    const v1::SubscribeRequest* q) override;
  grpc::ServerBidiReactor<v1::SendRequest, v1::SendStreamResponse>* SendStream(
      grpc::CallbackServerContext* c) override;

 private:
  const Gate& gate_;
  MessageHandler& handler_;
  MailboxNotifier& notifier_;
};

class ReportServiceImpl final : public v1::ReportService::CallbackService {
 public:
  ReportServiceImpl(const Gate& gate, ReportHandler& handler) : gate_(gate), handler_(handler) {}
  grpc::ServerUnaryReactor* GetVaultKey(grpc::CallbackServerContext* c,
                                        const v1::GetVaultKeyRequest* q,
                                        v1::GetVaultKeyResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &ReportHandler::GetVaultKey, q, r);
  }
  grpc::ServerUnaryReactor* SubmitReport(grpc::CallbackServerContext* c,
                                         const v1::SubmitReportRequest* q,
                                         v1::SubmitReportResponse* r) override {
    return gate_.Unary(c, Access::kDevice, handler_, &ReportHandler::SubmitReport, q, r);
  }

 private:
  const Gate& gate_;
  ReportHandler& handler_;
};

class RelayServiceImpl final : public v1::RelayService::CallbackService {
 public:
  RelayServiceImpl(const Gate& gate, RelayHandler& handler) : gate_(gate), handler_(handler) {}
  grpc::ServerUnaryReactor* GetRelayChallenge(grpc::CallbackServerContext* c,
                                              const v1::GetRelayChallengeRequest* q,
                                              v1::GetRelayChallengeResponse* r) override {
    return gate_.Unary(c, Access::kNone, handler_, &RelayHandler::GetRelayChallenge, q, r);
  }
  grpc::ServerUnaryReactor* RelayLogin(grpc::CallbackServerContext* c,
                                       const v1::RelayLoginRequest* q,
                                       v1::RelayLoginResponse* r) override {
    return gate_.Unary(c, Access::kNone, handler_, &RelayHandler::RelayLogin, q, r);
  }
  grpc::ServerUnaryReactor* PullReports(grpc::CallbackServerContext* c,
                                        const v1::PullReportsRequest* q,
                                        v1::PullReportsResponse* r) override {
    return gate_.Unary(c, Access::kRelay, handler_, &RelayHandler::PullReports, q, r);
  }
  grpc::ServerUnaryReactor* AckReports(grpc::CallbackServerContext* c,
                                       const v1::AckReportsRequest* q,
                                       v1::AckReportsResponse* r) override {
    return gate_.Unary(c, Access::kRelay, handler_, &RelayHandler::AckReports, q, r);
  }
  grpc::ServerUnaryReactor* VerifyFranking(grpc::CallbackServerContext* c,
                                           const v1::VerifyFrankingRequest* q,
                                           v1::VerifyFrankingResponse* r) override {
    return gate_.Unary(c, Access::kRelay, handler_, &RelayHandler::VerifyFranking, q, r);
  }

 private:
  const Gate& gate_;
  RelayHandler& handler_;
};

// Limits of NoopStream (diagnostics.proto).
inline constexpr uint32_t kMaxNoopStreamCount = 1'000'000;
inline constexpr uint32_t kMaxNoopPayloadBytes = 64 * 1024;

class DiagnosticsServiceImpl final : public v1::DiagnosticsService::CallbackService {
 public:
  grpc::ServerUnaryReactor* Noop(grpc::CallbackServerContext* c, const v1::NoopRequest* q,
                                 v1::NoopResponse* r) override;
  grpc::ServerWriteReactor<v1::NoopResponse>* NoopStream(grpc::CallbackServerContext* c,
                                                         const v1::NoopStreamRequest* q) override;
};

}  // namespace letterbox::server
