// Fuzz target: the messaging server's request path without the network:
// protobuf bytes -> parse -> validate -> handle, for every unary RPC of
// AccountService, AuthService, KeyService, MessageService, ReportService and
// RelayService, plus the bearer-token parser (Authenticator::Authenticate).
// Input: U8(rpc) ‖ the request's protobuf bytes (for kAuthenticate: the
// `authorization` header value). Requests come from a registered, logged-in
// device (ServerWorld); relay methods from the relay principal.
// Properties (reliability checks 7 and 8):
//  - no handler crashes, leaks or hits undefined behaviour on any request;
//  - every answer is a documented code: never INTERNAL, UNKNOWN or
//    DATA_LOSS (the in-memory store cannot fail, so one of these would be a
//    handler bug or an escaped exception);
//  - a rejected request leaves the store unchanged (CountingStores' count
//    of effective writes does not move);
//  - an accepted request's response serializes.
// The world persists across inputs (that is how the fuzzer reaches state
// such as a drained prekey pool) and is rebuilt every kInputsPerWorld
// inputs so it stays small; the fake clock advances one second per input so
// rate limits refill.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "server_world.h"

namespace fuzz = letterbox::fuzz;
namespace server = letterbox::server;
namespace v1 = letterbox::v1;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!letterbox::crypto::Initialize().ok()) std::abort();
  // Invalid UTF-8 in a string field is expected input here; protobuf's log
  // line for each one would only slow the run down.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

namespace {

constexpr uint64_t kInputsPerWorld = 1000;

enum Rpc : uint8_t {
  kRegisterAccount,
  kAddDevice,
  kRemoveDevice,
  kListDevices,
  kLookupByPhoneNumber,
  kGetChallenge,
  kLogin,
  kUploadSignedPrekey,
  kUploadOneTimePrekeys,
  kClaimBundle,
  kCountOneTimePrekeys,
  kSend,
  kSendToAccount,
  kFetch,
  kAck,
  kGetVaultKey,
  kSubmitReport,
  kGetRelayChallenge,
  kRelayLogin,
  kPullReports,
  kAckReports,
  kVerifyFranking,
  kAuthenticate,
  kRpcCount,
};

// Parses `bytes` as Request and, if that succeeds, runs `handler` on it.
// Returns false if the bytes are not a Request (nothing to check then).
template <typename Request, typename Response, typename Call>
bool Run(std::string_view bytes, Call call, absl::Status* status) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  Response response;
  *status = call(request, &response);
  if (status->ok()) {
    std::string out;
    FUZZ_CHECK(response.SerializeToString(&out), "an accepted request's response serializes");
  }
  return true;
}

std::unique_ptr<fuzz::ServerWorld> NewWorld() {
  auto world = fuzz::ServerWorld::Create();
  FUZZ_CHECK(world != nullptr, "the fuzz world sets up");
  return world;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::unique_ptr<fuzz::ServerWorld> world = NewWorld();
  static uint64_t inputs = 0;
  if (++inputs % kInputsPerWorld == 0) world = NewWorld();
  if (size < 1) return 0;
  world->clock.Advance(absl::Seconds(1));

  const uint8_t rpc = data[0] % kRpcCount;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  const server::Principal device = world->CallerPrincipal();
  const server::Principal anonymous = fuzz::ServerWorld::Anonymous();
  const server::Principal relay = fuzz::ServerWorld::Relay();
  auto& w = *world;
  const uint64_t writes_before = w.stores.writes();
  absl::Status status;
  bool parsed = true;

  // Each case: the request type, the response type, the handler call.
#define LB_FUZZ_RPC(Name, Handler, Principal)                    \
  case k##Name:                                                  \
    parsed = Run<v1::Name##Request, v1::Name##Response>(         \
        bytes,                                                   \
        [&](const v1::Name##Request& q, v1::Name##Response* r) { \
          return w.Handler.Name(Principal, q, r);                \
        },                                                       \
        &status);                                                \
    break;

  switch (rpc) {
    LB_FUZZ_RPC(RegisterAccount, accounts, anonymous)
    LB_FUZZ_RPC(AddDevice, accounts, device)
    LB_FUZZ_RPC(RemoveDevice, accounts, device)
    LB_FUZZ_RPC(ListDevices, accounts, device)
    LB_FUZZ_RPC(LookupByPhoneNumber, accounts, device)
    LB_FUZZ_RPC(GetChallenge, accounts, anonymous)
    LB_FUZZ_RPC(Login, accounts, anonymous)
    LB_FUZZ_RPC(UploadSignedPrekey, key_handler, device)
    LB_FUZZ_RPC(UploadOneTimePrekeys, key_handler, device)
    LB_FUZZ_RPC(ClaimBundle, key_handler, device)
    LB_FUZZ_RPC(CountOneTimePrekeys, key_handler, device)
    case kSend:
      parsed = Run<v1::SendRequest, v1::SendResponse>(
          bytes,
          [&](const v1::SendRequest& q, v1::SendResponse* r) {
            return w.messages.Send(device, q, r);
          },
          &status);
      break;
    case kSendToAccount:
      parsed = Run<v1::SendToAccountRequest, v1::SendResponse>(
          bytes,
          [&](const v1::SendToAccountRequest& q, v1::SendResponse* r) {
            return w.messages.SendToAccount(device, q, r);
          },
          &status);
      break;
      LB_FUZZ_RPC(Fetch, messages, device)
      LB_FUZZ_RPC(Ack, messages, device)
      LB_FUZZ_RPC(GetVaultKey, reports, device)
      LB_FUZZ_RPC(SubmitReport, reports, device)
      LB_FUZZ_RPC(GetRelayChallenge, relay, anonymous)
      LB_FUZZ_RPC(RelayLogin, relay, anonymous)
      LB_FUZZ_RPC(PullReports, relay, relay)
      LB_FUZZ_RPC(AckReports, relay, relay)
      LB_FUZZ_RPC(VerifyFranking, relay, relay)
    default: {  // kAuthenticate
      auto principal = w.auth.Authenticate(bytes, anonymous.peer_address);
      status = principal.status();
      if (principal.ok()) {
        FUZZ_CHECK(
            principal->kind == server::Principal::Kind::kDevice && principal->device == w.caller,
            "only the caller's own token authenticates");
      } else {
        FUZZ_CHECK(absl::IsUnauthenticated(status), "a bad token is UNAUTHENTICATED");
      }
      break;
    }
  }
#undef LB_FUZZ_RPC
  if (!parsed) return 0;

  FUZZ_CHECK(!absl::IsInternal(status) && !absl::IsUnknown(status) && !absl::IsDataLoss(status),
             "handlers answer documented codes only");
  if (!status.ok()) {
    if (w.stores.writes() != writes_before) {
      std::fprintf(stderr, "rpc %u rejected with %s after writing\n", rpc,
                   status.ToString().c_str());
    }
    FUZZ_CHECK(w.stores.writes() == writes_before, "a rejected request leaves the store unchanged");
  }
  return 0;
}
