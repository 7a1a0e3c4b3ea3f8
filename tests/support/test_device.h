// File: tests/support/test_device.h
//
// A device of the real messaging server, for end-to-end tests that talk to a
// letterbox-server process over the generated gRPC stubs: register an
// account with a real identity key, log in by challenge-response, and page
// through the mailbox. Header-only. No Catch2 assertions inside (every
// outcome is a grpc::Status), so any thread may use it.
//
//   TestDevice alice;
//   grpc::Status s = RegisterDevice(channel, "JP", &alice);   // registered and logged in
//   std::vector<v1::Envelope> inbox;
//   s = FetchMailbox(channel, alice, &inbox);
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"

namespace letterbox::testing {

// A registered device and, after a login, its session token.
struct TestDevice {
  crypto::IdentityKeyPair identity;
  letterbox::v1::DeviceAddress address;
  std::string token_hex;  // "" until logged in
};

// A client context with a deadline `timeout` from now, carrying `device`'s
// session token when `device` is not null.
inline std::unique_ptr<grpc::ClientContext> CallContext(
    const TestDevice* device, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  if (device != nullptr) context->AddMetadata("authorization", "Bearer " + device->token_hex);
  return context;
}

// GetChallenge + Login for `device`; on OK its token_hex is the new session.
// The device signs ByteWriter: label "letterbox.auth.v1" ‖ bytes(nonce) ‖
// bytes(account_id) ‖ u32(device_id) (auth.proto). Returns the first failing
// call's status unchanged.
inline grpc::Status LoginDevice(const std::shared_ptr<grpc::Channel>& channel, TestDevice& device) {
  auto auth = letterbox::v1::AuthService::NewStub(channel);
  letterbox::v1::GetChallengeRequest challenge_request;
  *challenge_request.mutable_device() = device.address;
  letterbox::v1::GetChallengeResponse challenge;
  grpc::Status s = auth->GetChallenge(CallContext(nullptr).get(), challenge_request, &challenge);
  if (!s.ok()) return s;
  crypto::ByteWriter signed_bytes;
  signed_bytes.Label("letterbox.auth.v1")
      .Bytes(crypto::AsBytes(challenge.nonce()))
      .Bytes(crypto::AsBytes(device.address.account_id()))
      .U32(device.address.device_id());
  letterbox::v1::LoginRequest login;
  *login.mutable_device() = device.address;
  login.set_nonce(challenge.nonce());
  login.set_signature(
      crypto::Ed25519Sign(device.identity.signing.secret_key, signed_bytes.view()).str());
  letterbox::v1::LoginResponse session;
  s = auth->Login(CallContext(nullptr).get(), login, &session);
  if (s.ok()) device.token_hex = crypto::ToHex(crypto::AsBytes(session.session_token()));
  return s;
}

// Registers a new account in `jurisdiction` with a fresh identity and logs
// its first device in; `*device` is filled on OK. Returns the first failing
// call's status unchanged.
inline grpc::Status RegisterDevice(const std::shared_ptr<grpc::Channel>& channel,
                                   const std::string& jurisdiction, TestDevice* device) {
  device->identity = crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
  letterbox::v1::RegisterAccountRequest request;
  request.set_jurisdiction(jurisdiction);
  request.mutable_device()->set_identity_signing_key(device->identity.signing.public_key.str());
  request.mutable_device()->set_identity_dh_key(device->identity.dh.public_key.str());
  request.mutable_device()->set_identity_dh_signature(device->identity.dh_signature.str());
  letterbox::v1::RegisterAccountResponse registered;
  grpc::Status s = letterbox::v1::AccountService::NewStub(channel)->RegisterAccount(
      CallContext(nullptr).get(), request, &registered);
  if (!s.ok()) return s;
  device->address.set_account_id(registered.account_id());
  device->address.set_device_id(registered.device_id());
  return LoginDevice(channel, *device);
}

// Every envelope in `device`'s mailbox, in arrival order, paging with Fetch
// (nothing is acknowledged). On error `*out` holds the pages read so far.
inline grpc::Status FetchMailbox(const std::shared_ptr<grpc::Channel>& channel,
                                 const TestDevice& device,
                                 std::vector<letterbox::v1::Envelope>* out) {
  out->clear();
  auto stub = letterbox::v1::MessageService::NewStub(channel);
  letterbox::v1::FetchRequest request;
  while (true) {
    letterbox::v1::FetchResponse response;
    grpc::Status s = stub->Fetch(CallContext(&device).get(), request, &response);
    if (!s.ok()) return s;
    for (const auto& e : response.envelopes()) out->push_back(e);
    if (!response.more() || response.envelopes_size() == 0) return grpc::Status::OK;
    request.set_after(response.envelopes().rbegin()->envelope_id());
  }
}

}  // namespace letterbox::testing
