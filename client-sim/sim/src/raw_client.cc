#include "letterbox/sim/raw_client.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "text.h"

namespace letterbox::sim {
namespace {

constexpr std::string_view kChannelIndexArg = "letterbox.sim.channel_index";

absl::Status Step(std::string_view step, const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      Cat(step, ": ", status.error_message()));
}

}  // namespace

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& address, int count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(std::string(kChannelIndexArg), i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxSendMessageSize(-1);
    args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(
        grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

absl::Status ToAbsl(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

std::string CodeName(grpc::StatusCode code) {
  // gRPC and abseil share the google.rpc.Code numbering.
  std::string name = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN_CODE" : name;
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
}

SessionHeader SessionHeader::FromToken(std::string_view token) {
  const std::string hex = crypto::ToHex(crypto::AsBytes(token));
  SessionHeader out;
  out.value_ = crypto::SecretBytes(crypto::AsBytes("Bearer " + hex));
  return out;
}

SessionHeader SessionHeader::FromValue(std::string_view value) {
  SessionHeader out;
  out.value_ = crypto::SecretBytes(crypto::AsBytes(value));
  return out;
}

void SessionHeader::Attach(grpc::ClientContext& context) const {
  if (value_.empty()) return;
  context.AddMetadata("authorization", crypto::ToString(value_.Expose()));
}

v1::DeviceAddress SimDevice::Address() const {
  v1::DeviceAddress out;
  out.set_account_id(account_id);
  out.set_device_id(device_id);
  return out;
}

RawClient::RawClient(std::shared_ptr<grpc::Channel> channel)
    : accounts_(v1::AccountService::NewStub(channel)),
      auth_(v1::AuthService::NewStub(channel)),
      keys_(v1::KeyService::NewStub(channel)),
      messages_(v1::MessageService::NewStub(channel)),
      reports_(v1::ReportService::NewStub(channel)),
      relay_(v1::RelayService::NewStub(channel)),
      diagnostics_(v1::DiagnosticsService::NewStub(channel)) {}

v1::RegisterAccountRequest RawClient::RegistrationFor(const crypto::IdentityKeyPair& identity,
                                                      std::string_view jurisdiction) {
  v1::RegisterAccountRequest request;
  request.set_jurisdiction(std::string(jurisdiction));
  v1::DeviceIdentity* device = request.mutable_device();
  device->set_identity_signing_key(identity.signing.public_key.str());
  device->set_identity_dh_key(identity.dh.public_key.str());
  device->set_identity_dh_signature(identity.dh_signature.str());
  return request;
}

grpc::Status RawClient::Register(const v1::RegisterAccountRequest& request,
                                 v1::RegisterAccountResponse* response,
                                 const SetupOptions& options) {
  const absl::Time give_up = absl::Now() + options.throttle_wait;
  absl::Duration backoff = absl::Milliseconds(50);
  for (;;) {
    grpc::ClientContext context;
    SetDeadline(context, options.deadline);
    grpc::Status status = accounts_->RegisterAccount(&context, request, response);
    if (status.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED || absl::Now() > give_up) {
      return status;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(absl::ToInt64Microseconds(backoff)));
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
}

grpc::Status RawClient::Challenge(const v1::DeviceAddress& address, std::string* nonce,
                                  absl::Duration deadline) {
  grpc::ClientContext context;
  SetDeadline(context, deadline);
  v1::GetChallengeRequest request;
  *request.mutable_device() = address;
  v1::GetChallengeResponse response;
  grpc::Status status = auth_->GetChallenge(&context, request, &response);
  if (status.ok()) *nonce = response.nonce();
  return status;
}

std::string RawClient::SignLogin(const crypto::IdentityKeyPair& identity, std::string_view nonce,
                                 const v1::DeviceAddress& address) {
  crypto::ByteWriter w;
  w.Label(kLoginLabel)
      .Bytes(crypto::AsBytes(nonce))
      .Bytes(crypto::AsBytes(address.account_id()))
      .U32(address.device_id());
  return crypto::Ed25519Sign(identity.signing.secret_key, w.view()).str();
}

grpc::Status RawClient::Login(const v1::DeviceAddress& address, std::string_view nonce,
                              std::string_view signature, v1::LoginResponse* response,
                              absl::Duration deadline) {
  grpc::ClientContext context;
  SetDeadline(context, deadline);
  v1::LoginRequest request;
  *request.mutable_device() = address;
  request.set_nonce(std::string(nonce));
  request.set_signature(std::string(signature));
  return auth_->Login(&context, request, response);
}

absl::Status RawClient::LogIn(SimDevice& device, absl::Duration deadline) {
  const v1::DeviceAddress address = device.Address();
  std::string nonce;
  if (absl::Status s = Step("GetChallenge", Challenge(address, &nonce, deadline)); !s.ok()) {
    return s;
  }
  v1::LoginResponse response;
  grpc::Status status =
      Login(address, nonce, SignLogin(device.identity, nonce, address), &response, deadline);
  if (absl::Status s = Step("Login", status); !s.ok()) return s;
  device.session = SessionHeader::FromToken(response.session_token());
  crypto::SecureZero({reinterpret_cast<uint8_t*>(response.mutable_session_token()->data()),
                      response.session_token().size()});
  return absl::OkStatus();
}

absl::Status RawClient::UploadKeys(const SimDevice& device, uint32_t count, uint32_t first_id,
                                   bool signed_prekey, absl::Duration deadline) {
  crypto::Random& rng = crypto::SystemRandom::Instance();
  if (signed_prekey) {
    const crypto::X25519KeyPair spk = crypto::X25519KeyPair::Generate(rng);
    v1::UploadSignedPrekeyRequest request;
    v1::SignedPrekey* out = request.mutable_signed_prekey();
    out->set_key_id(first_id);
    out->set_public_key(spk.public_key.str());
    out->set_signature(
        crypto::SignSignedPrekey(device.identity.signing.secret_key, first_id, spk.public_key)
            .str());
    grpc::ClientContext context;
    SetDeadline(context, deadline);
    device.session.Attach(context);
    v1::UploadSignedPrekeyResponse response;
    if (absl::Status s =
            Step("UploadSignedPrekey", keys_->UploadSignedPrekey(&context, request, &response));
        !s.ok()) {
      return s;
    }
  }
  uint32_t next = first_id;
  while (count > 0) {
    const uint32_t batch = std::min<uint32_t>(count, 100);
    v1::UploadOneTimePrekeysRequest request;
    for (uint32_t i = 0; i < batch; ++i) {
      v1::OneTimePrekey* otk = request.add_prekeys();
      otk->set_key_id(next++);
      otk->set_public_key(crypto::X25519KeyPair::Generate(rng).public_key.str());
    }
    grpc::ClientContext context;
    SetDeadline(context, deadline);
    device.session.Attach(context);
    v1::UploadOneTimePrekeysResponse response;
    if (absl::Status s =
            Step("UploadOneTimePrekeys", keys_->UploadOneTimePrekeys(&context, request, &response));
        !s.ok()) {
      return s;
    }
    count -= batch;
  }
  return absl::OkStatus();
}

absl::Status RawClient::UploadPublishedKeys(const SimDevice& device, uint32_t signed_prekey_id,
                                            const crypto::X25519PublicKey& signed_prekey,
                                            const crypto::Ed25519Signature& signature,
                                            std::span<const crypto::OneTimePrekeyPublic> one_time,
                                            absl::Duration deadline) {
  {
    v1::UploadSignedPrekeyRequest request;
    v1::SignedPrekey* out = request.mutable_signed_prekey();
    out->set_key_id(signed_prekey_id);
    out->set_public_key(signed_prekey.str());
    out->set_signature(signature.str());
    grpc::ClientContext context;
    SetDeadline(context, deadline);
    device.session.Attach(context);
    v1::UploadSignedPrekeyResponse response;
    if (absl::Status s =
            Step("UploadSignedPrekey", keys_->UploadSignedPrekey(&context, request, &response));
        !s.ok()) {
      return s;
    }
  }
  while (!one_time.empty()) {
    const size_t batch = std::min<size_t>(one_time.size(), 100);
    v1::UploadOneTimePrekeysRequest request;
    for (const crypto::OneTimePrekeyPublic& k : one_time.first(batch)) {
      v1::OneTimePrekey* otk = request.add_prekeys();
      otk->set_key_id(k.id);
      otk->set_public_key(k.public_key.str());
    }
    grpc::ClientContext context;
    SetDeadline(context, deadline);
    device.session.Attach(context);
    v1::UploadOneTimePrekeysResponse response;
    if (absl::Status s =
            Step("UploadOneTimePrekeys", keys_->UploadOneTimePrekeys(&context, request, &response));
        !s.ok()) {
      return s;
    }
    one_time = one_time.subspan(batch);
  }
  return absl::OkStatus();
}

absl::StatusOr<SimDevice> RawClient::CreateDevice(const SetupOptions& options) {
  return CreateDevice(options, crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance()));
}

absl::StatusOr<SimDevice> RawClient::CreateDevice(const SetupOptions& options,
                                                  crypto::IdentityKeyPair identity) {
  SimDevice device;
  device.identity = std::move(identity);
  device.jurisdiction = options.jurisdiction;
  v1::RegisterAccountResponse registered;
  grpc::Status status =
      Register(RegistrationFor(device.identity, options.jurisdiction), &registered, options);
  if (absl::Status s = Step("RegisterAccount", status); !s.ok()) return s;
  device.account_id = registered.account_id();
  device.device_id = registered.device_id();
  if (absl::Status s = LogIn(device, options.deadline); !s.ok()) return s;
  if (options.upload_signed_prekey || options.one_time_prekeys > 0) {
    if (absl::Status s = UploadKeys(device, options.one_time_prekeys, 1,
                                    options.upload_signed_prekey, options.deadline);
        !s.ok()) {
      return s;
    }
  }
  return device;
}

}  // namespace letterbox::sim
