// File: letterbox/sim/raw_client.h
//
// The simulator's own minimal device setup on the raw generated stubs (no
// letterbox_client): channels, account registration with a real Ed25519 /
// X25519 identity and its identity-DH signature, challenge-response login,
// and signed / one-time prekey upload. Encodings follow the proto comments
// (auth.proto, keys.proto, common.proto) and crypto/x3dh.h.
//
//   auto channels = MakeChannels("127.0.0.1:7443", 4);
//   RawClient client(channels[0]);
//   LB_ASSIGN_OR_RETURN(SimDevice alice, client.CreateDevice(SetupOptions{}));
//   grpc::ClientContext ctx;
//   alice.session.Attach(ctx);        // "authorization: Bearer <hex>"
//
// RawClient is thread-safe (its stubs are); a SimDevice is not shared across
// threads while it is being modified.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/diagnostics.grpc.pb.h"
#include "letterbox/v1/keys.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "letterbox/v1/relay.grpc.pb.h"
#include "letterbox/v1/reports.grpc.pb.h"

namespace letterbox::sim {

inline constexpr std::string_view kLoginLabel = "letterbox.auth.v1";

// `count` channels to `address` (plaintext; the simulator talks to loopback
// or a test network). Each carries a distinct channel argument and a local
// subchannel pool, so each has its own TCP connection. No send-size limit
// (the hostile mode sends oversized requests on purpose); receive limit
// 64 MiB.
[[nodiscard]] std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& address,
                                                                       int count);

// grpc::Status as absl::Status (the codes are the same google.rpc codes).
[[nodiscard]] absl::Status ToAbsl(const grpc::Status& status);

// The name of a gRPC status code ("OK", "RESOURCE_EXHAUSTED", ...).
[[nodiscard]] std::string CodeName(grpc::StatusCode code);

// A device session's "Bearer <hex>" header value. Move-only; the bytes are
// zeroed when it is destroyed; never printed.
class SessionHeader {
 public:
  SessionHeader() = default;
  // From the raw session token returned by Login.
  [[nodiscard]] static SessionHeader FromToken(std::string_view token);
  // An arbitrary header value (the hostile mode's forged tokens).
  [[nodiscard]] static SessionHeader FromValue(std::string_view value);

  // Adds "authorization: <value>" to `context`; nothing when empty.
  void Attach(grpc::ClientContext& context) const;
  [[nodiscard]] bool empty() const { return value_.empty(); }

 private:
  crypto::SecretBytes value_;
};

// One registered device and its session.
struct SimDevice {
  std::string account_id;  // 16 bytes
  uint32_t device_id = 0;
  std::string jurisdiction;
  crypto::IdentityKeyPair identity;
  SessionHeader session;

  // This device's address as the wire carries it.
  [[nodiscard]] v1::DeviceAddress Address() const;
};

struct SetupOptions {
  std::string jurisdiction = "JP";
  // One-time prekeys uploaded after login (at most 100 per upload call; 0:
  // none, and no signed prekey either when upload_signed_prekey is false).
  uint32_t one_time_prekeys = 100;
  bool upload_signed_prekey = true;
  // Per-call deadline.
  absl::Duration deadline = absl::Seconds(10);
  // How long registration keeps retrying while the server answers
  // RESOURCE_EXHAUSTED (registrations per address).
  absl::Duration throttle_wait = absl::Seconds(60);
};

// Thread-safe: holds only stubs.
class RawClient {
 public:
  explicit RawClient(std::shared_ptr<grpc::Channel> channel);

  // Registers an account with a fresh identity, logs its device 1 in and,
  // per `options`, uploads a signed prekey and one-time prekeys. Any failed
  // step: that step's status, prefixed with its name.
  [[nodiscard]] absl::StatusOr<SimDevice> CreateDevice(const SetupOptions& options);
  // The same for an identity made elsewhere (a client::DeviceCrypto's, whose
  // own prekeys are then published with UploadPublishedKeys).
  [[nodiscard]] absl::StatusOr<SimDevice> CreateDevice(const SetupOptions& options,
                                                       crypto::IdentityKeyPair identity);

  // RegisterAccount, retried while throttled (RESOURCE_EXHAUSTED) for up to
  // options.throttle_wait. Returns the final gRPC status; fills `response`.
  [[nodiscard]] grpc::Status Register(const v1::RegisterAccountRequest& request,
                                      v1::RegisterAccountResponse* response,
                                      const SetupOptions& options);

  // The RegisterAccountRequest for `identity`, with a valid identity-DH
  // signature.
  [[nodiscard]] static v1::RegisterAccountRequest RegistrationFor(
      const crypto::IdentityKeyPair& identity, std::string_view jurisdiction);

  // GetChallenge for `address`. Fills `nonce` on OK.
  [[nodiscard]] grpc::Status Challenge(const v1::DeviceAddress& address, std::string* nonce,
                                       absl::Duration deadline);

  // The Ed25519 signature a device makes to log in with `nonce`:
  // Label("letterbox.auth.v1") ‖ Bytes(nonce) ‖ Bytes(account_id) ‖ U32(device_id).
  [[nodiscard]] static std::string SignLogin(const crypto::IdentityKeyPair& identity,
                                             std::string_view nonce,
                                             const v1::DeviceAddress& address);

  // Login with an explicit nonce and signature. Fills `response` on OK.
  [[nodiscard]] grpc::Status Login(const v1::DeviceAddress& address, std::string_view nonce,
                                   std::string_view signature, v1::LoginResponse* response,
                                   absl::Duration deadline);

  // GetChallenge, sign, Login; sets device.session on success.
  [[nodiscard]] absl::Status LogIn(SimDevice& device, absl::Duration deadline);

  // A signed prekey with id `key_id` and `count` one-time prekeys with ids
  // first_id, first_id+1, ... for `device` (already logged in).
  [[nodiscard]] absl::Status UploadKeys(const SimDevice& device, uint32_t count, uint32_t first_id,
                                        bool signed_prekey, absl::Duration deadline);

  // Uploads prekeys whose secrets are held elsewhere (a client::DeviceCrypto):
  // the signed prekey `signed_prekey_id` / `signed_prekey` with its
  // `signature`, then `one_time` in calls of at most 100, as the real client
  // does. The first failing call's status, prefixed with its name.
  [[nodiscard]] absl::Status UploadPublishedKeys(
      const SimDevice& device, uint32_t signed_prekey_id,
      const crypto::X25519PublicKey& signed_prekey, const crypto::Ed25519Signature& signature,
      std::span<const crypto::OneTimePrekeyPublic> one_time, absl::Duration deadline);

  v1::AccountService::Stub& accounts() { return *accounts_; }
  v1::AuthService::Stub& auth() { return *auth_; }
  v1::KeyService::Stub& keys() { return *keys_; }
  v1::MessageService::Stub& messages() { return *messages_; }
  v1::ReportService::Stub& reports() { return *reports_; }
  v1::RelayService::Stub& relay() { return *relay_; }
  v1::DiagnosticsService::Stub& diagnostics() { return *diagnostics_; }

 private:
  std::unique_ptr<v1::AccountService::Stub> accounts_;
  std::unique_ptr<v1::AuthService::Stub> auth_;
  std::unique_ptr<v1::KeyService::Stub> keys_;
  std::unique_ptr<v1::MessageService::Stub> messages_;
  std::unique_ptr<v1::ReportService::Stub> reports_;
  std::unique_ptr<v1::RelayService::Stub> relay_;
  std::unique_ptr<v1::DiagnosticsService::Stub> diagnostics_;
};

// Sets `context`'s deadline to now + `timeout`.
void SetDeadline(grpc::ClientContext& context, absl::Duration timeout);

}  // namespace letterbox::sim
