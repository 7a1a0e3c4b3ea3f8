// File: tests/server/test_server.h
//
// A MessagingServer on 127.0.0.1:0 over MemoryStores and a FakeClock, with
// a stub per service and helpers that register and log in devices with real
// Ed25519 keys, for the service tests:
//
//   TestServer t;
//   TestDevice alice = t.RegisterAndLogin();
//   v1::SendResponse r;
//   grpc::Status s = t.messages->Send(t.Ctx(alice).get(), request, &r);
#pragma once

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "letterbox/common/clock.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/server/authenticator.h"
#include "letterbox/server/messaging_server.h"
#include "letterbox/storage/memory_store.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/diagnostics.grpc.pb.h"
#include "letterbox/v1/keys.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "letterbox/v1/relay.grpc.pb.h"
#include "letterbox/v1/reports.grpc.pb.h"

namespace letterbox::server::testing {

namespace v1 = ::letterbox::v1;
using crypto::SystemRandom;

// A logged-in device: its address, its identity keys and its session token.
struct TestDevice {
  storage::DeviceAddress address;
  std::shared_ptr<crypto::IdentityKeyPair> identity;
  std::string token_hex;

  v1::DeviceAddress Proto() const {
    v1::DeviceAddress a;
    a.set_account_id(address.account.str());
    a.set_device_id(address.device);
    return a;
  }
};

inline v1::DeviceIdentity IdentityProto(const crypto::IdentityKeyPair& id) {
  v1::DeviceIdentity out;
  out.set_identity_signing_key(id.signing.public_key.str());
  out.set_identity_dh_key(id.dh.public_key.str());
  out.set_identity_dh_signature(id.dh_signature.str());
  return out;
}

inline std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  SystemRandom::Instance().Fill({reinterpret_cast<uint8_t*>(s.data()), n});
  return s;
}

class TestServer {
 public:
  // A config with a relay key and an intake key the fixture holds.
  static ServerConfig DefaultConfig() {
    ServerConfig config;
    config.limits.login_failures_per_device = Rate{0.1, 5};
    return config;
  }

  explicit TestServer(ServerConfig config = DefaultConfig(), storage::Stores* stores = nullptr)
      : relay_key(crypto::Ed25519KeyPair::Generate(SystemRandom::Instance())),
        intake_key(crypto::X25519KeyPair::Generate(SystemRandom::Instance())),
        franking_key(crypto::RandomSecret<crypto::FrankingServerKey>(SystemRandom::Instance())),
        stores_(stores != nullptr ? stores : &memory_stores) {
    config.vault_relay_public_key_hex = relay_key.public_key.hex();
    config.vault_intake_public_key_hex = intake_key.public_key.hex();
    config_ = config;
    Start();
  }

  // Starts (or restarts) the server on the same stores, clock and keys.
  void Start() {
    ServerKeys keys{.franking_key = franking_key.Clone(), .discovery_pepper = pepper.Clone()};
    auto started = MessagingServer::Start(config_, *stores_, clock, std::move(keys), {});
    REQUIRE(started.ok());
    server = *std::move(started);
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server->port()),
                                  grpc::InsecureChannelCredentials());
    accounts = v1::AccountService::NewStub(channel);
    auth = v1::AuthService::NewStub(channel);
    keys_stub = v1::KeyService::NewStub(channel);
    messages = v1::MessageService::NewStub(channel);
    reports = v1::ReportService::NewStub(channel);
    relay = v1::RelayService::NewStub(channel);
    diagnostics = v1::DiagnosticsService::NewStub(channel);
  }

  void Stop() {
    server->Shutdown(absl::Seconds(1));
    server.reset();
  }

  ~TestServer() {
    if (server != nullptr) server->Shutdown(absl::ZeroDuration());
  }

  storage::Stores& stores() { return *stores_; }
  // Points the next Start() at other stores (the restart test reopens RocksDB).
  void ReplaceStores(storage::Stores* stores) { stores_ = stores; }
  const ServerConfig& config() const { return config_; }

  // A client context with a 10 s deadline and, if given, the bearer token.
  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token_hex = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token_hex.empty()) ctx->AddMetadata("authorization", "Bearer " + token_hex);
    return ctx;
  }
  static std::unique_ptr<grpc::ClientContext> Ctx(const TestDevice& d) { return Ctx(d.token_hex); }

  // Signs a login for `address` with `identity` over `nonce`.
  static std::string SignLogin(const crypto::IdentityKeyPair& identity,
                               const storage::DeviceAddress& address, const std::string& nonce) {
    const Nonce n = *Nonce::FromString(nonce);
    return crypto::Ed25519Sign(identity.signing.secret_key, DeviceLoginMessage(n, address)).str();
  }

  // GetChallenge + Login; the status of Login.
  grpc::Status Login(const storage::DeviceAddress& address, const crypto::IdentityKeyPair& identity,
                     std::string* token_hex) {
    v1::GetChallengeRequest cq;
    cq.mutable_device()->set_account_id(address.account.str());
    cq.mutable_device()->set_device_id(address.device);
    v1::GetChallengeResponse cr;
    grpc::Status s = auth->GetChallenge(Ctx().get(), cq, &cr);
    if (!s.ok()) return s;
    v1::LoginRequest lq;
    *lq.mutable_device() = cq.device();
    lq.set_nonce(cr.nonce());
    lq.set_signature(SignLogin(identity, address, cr.nonce()));
    v1::LoginResponse lr;
    s = auth->Login(Ctx().get(), lq, &lr);
    if (s.ok()) *token_hex = crypto::ToHex(crypto::AsBytes(lr.session_token()));
    return s;
  }

  TestDevice RegisterAndLogin(const std::string& jurisdiction = "JP",
                              const std::string& phone_number = "") {
    TestDevice d;
    d.identity = std::make_shared<crypto::IdentityKeyPair>(
        crypto::IdentityKeyPair::Generate(SystemRandom::Instance()));
    v1::RegisterAccountRequest q;
    q.set_jurisdiction(jurisdiction);
    q.set_phone_number(phone_number);
    *q.mutable_device() = IdentityProto(*d.identity);
    v1::RegisterAccountResponse r;
    grpc::Status s = accounts->RegisterAccount(Ctx().get(), q, &r);
    INFO(s.error_message());
    REQUIRE(s.ok());
    d.address.account = *storage::AccountId::FromString(r.account_id());
    d.address.device = r.device_id();
    REQUIRE(Login(d.address, *d.identity, &d.token_hex).ok());
    return d;
  }

  // Adds a device to `owner`'s account and logs it in.
  TestDevice AddAndLogin(const TestDevice& owner) {
    TestDevice d;
    d.identity = std::make_shared<crypto::IdentityKeyPair>(
        crypto::IdentityKeyPair::Generate(SystemRandom::Instance()));
    v1::AddDeviceRequest q;
    *q.mutable_device() = IdentityProto(*d.identity);
    v1::AddDeviceResponse r;
    grpc::Status s = accounts->AddDevice(Ctx(owner).get(), q, &r);
    INFO(s.error_message());
    REQUIRE(s.ok());
    d.address = {owner.address.account, r.device_id()};
    REQUIRE(Login(d.address, *d.identity, &d.token_hex).ok());
    return d;
  }

  // Uploads a signed prekey (id 1) and `one_time` one-time prekeys (ids
  // 100, 101, ...).
  void UploadPrekeys(const TestDevice& d, int one_time) {
    auto spk = crypto::X25519KeyPair::Generate(SystemRandom::Instance());
    v1::UploadSignedPrekeyRequest sq;
    sq.mutable_signed_prekey()->set_key_id(1);
    sq.mutable_signed_prekey()->set_public_key(spk.public_key.str());
    sq.mutable_signed_prekey()->set_signature(
        crypto::SignSignedPrekey(d.identity->signing.secret_key, 1, spk.public_key).str());
    v1::UploadSignedPrekeyResponse sr;
    REQUIRE(keys_stub->UploadSignedPrekey(Ctx(d).get(), sq, &sr).ok());
    if (one_time == 0) return;
    v1::UploadOneTimePrekeysRequest oq;
    for (int i = 0; i < one_time; ++i) {
      auto* k = oq.add_prekeys();
      k->set_key_id(100 + i);
      k->set_public_key(RandomBytes(32));
    }
    v1::UploadOneTimePrekeysResponse orr;
    REQUIRE(keys_stub->UploadOneTimePrekeys(Ctx(d).get(), oq, &orr).ok());
  }

  // A valid Send from anyone to `to` with a fresh message id.
  static v1::SendRequest SendTo(const TestDevice& to, const std::string& ciphertext = "ct") {
    v1::SendRequest q;
    q.set_message_id(RandomBytes(16));
    *q.mutable_recipient() = to.Proto();
    q.set_ciphertext(ciphertext);
    q.set_franking_commitment(RandomBytes(32));
    return q;
  }

  // The relay's session token (hex), via GetRelayChallenge + RelayLogin.
  std::string RelayLogin() {
    v1::GetRelayChallengeResponse cr;
    REQUIRE(relay->GetRelayChallenge(Ctx().get(), {}, &cr).ok());
    crypto::ByteWriter w;
    w.Label("letterbox.relay-auth.v1").Bytes(crypto::AsBytes(cr.nonce()));
    v1::RelayLoginRequest lq;
    lq.set_nonce(cr.nonce());
    lq.set_signature(crypto::Ed25519Sign(relay_key.secret_key, w.view()).str());
    v1::RelayLoginResponse lr;
    grpc::Status s = relay->RelayLogin(Ctx().get(), lq, &lr);
    REQUIRE(s.ok());
    return crypto::ToHex(crypto::AsBytes(lr.session_token()));
  }

  FakeClock clock;
  storage::MemoryStores memory_stores;
  crypto::Ed25519KeyPair relay_key;
  crypto::X25519KeyPair intake_key;
  crypto::FrankingServerKey franking_key;
  crypto::MacKey pepper = crypto::RandomSecret<crypto::MacKey>(SystemRandom::Instance());

  std::unique_ptr<MessagingServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::AccountService::Stub> accounts;
  std::unique_ptr<v1::AuthService::Stub> auth;
  std::unique_ptr<v1::KeyService::Stub> keys_stub;
  std::unique_ptr<v1::MessageService::Stub> messages;
  std::unique_ptr<v1::ReportService::Stub> reports;
  std::unique_ptr<v1::RelayService::Stub> relay;
  std::unique_ptr<v1::DiagnosticsService::Stub> diagnostics;

 private:
  ServerConfig config_;
  storage::Stores* stores_;
};

}  // namespace letterbox::server::testing
