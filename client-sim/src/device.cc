#include "letterbox/client/device.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "letterbox/client/grpc_status.h"
#include "letterbox/client/report.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hash.h"

namespace letterbox::client {

namespace {

constexpr std::string_view kAuthLabel = "letterbox.auth.v1";
constexpr std::string_view kWireIdLabel = "letterbox.client.wire-message-id.v1";
constexpr int kTransientRetries = 3;
constexpr int kMaxStreamFailures = 5;
// How long Register/LinkNewDevice keep retrying their throttled key-upload
// steps before giving up.
constexpr absl::Duration kInitialKeysRetryBudget = absl::Seconds(30);

void ToProto(const DeviceAddress& a, v1::DeviceAddress* out) {
  out->set_account_id(a.account.str());
  out->set_device_id(a.device_id);
}

absl::StatusOr<DeviceAddress> FromProto(const v1::DeviceAddress& a) {
  LB_ASSIGN_OR_RETURN(AccountId account, AccountId::FromString(a.account_id()));
  if (a.device_id() == 0) return absl::InvalidArgumentError("device id 0");
  return DeviceAddress{account, a.device_id()};
}

void ToProto(const crypto::IdentityKeyPair& id, v1::DeviceIdentity* out) {
  out->set_identity_signing_key(id.signing.public_key.str());
  out->set_identity_dh_key(id.dh.public_key.str());
  out->set_identity_dh_signature(id.dh_signature.str());
}

absl::StatusOr<crypto::PrekeyBundle> BundleFromProto(const v1::ClaimBundleResponse& r) {
  crypto::PrekeyBundle b;
  LB_ASSIGN_OR_RETURN(b.identity_signing_key,
                      crypto::Ed25519PublicKey::FromString(r.identity().identity_signing_key()));
  LB_ASSIGN_OR_RETURN(b.identity_dh_key,
                      crypto::X25519PublicKey::FromString(r.identity().identity_dh_key()));
  LB_ASSIGN_OR_RETURN(b.identity_dh_signature,
                      crypto::Ed25519Signature::FromString(r.identity().identity_dh_signature()));
  b.signed_prekey_id = r.signed_prekey().key_id();
  LB_ASSIGN_OR_RETURN(b.signed_prekey,
                      crypto::X25519PublicKey::FromString(r.signed_prekey().public_key()));
  LB_ASSIGN_OR_RETURN(b.signed_prekey_signature,
                      crypto::Ed25519Signature::FromString(r.signed_prekey().signature()));
  if (r.has_one_time_prekey()) {
    LB_ASSIGN_OR_RETURN(crypto::X25519PublicKey otk,
                        crypto::X25519PublicKey::FromString(r.one_time_prekey().public_key()));
    b.one_time_prekey = crypto::OneTimePrekeyPublic{r.one_time_prekey().key_id(), otk};
  }
  return b;
}

bool IsTransient(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

Device::Device(std::shared_ptr<grpc::Channel> channel, DeviceOptions options,
               crypto::Random& random, std::unique_ptr<DeviceCrypto> crypto, DeviceAddress address,
               std::string jurisdiction, ProfileKey profile_key)
    : channel_(std::move(channel)),
      options_(options),
      random_(random),
      accounts_(v1::AccountService::NewStub(channel_)),
      auth_(v1::AuthService::NewStub(channel_)),
      keys_(v1::KeyService::NewStub(channel_)),
      messages_(v1::MessageService::NewStub(channel_)),
      reports_(v1::ReportService::NewStub(channel_)),
      address_(address),
      jurisdiction_(std::move(jurisdiction)),
      profile_key_(std::move(profile_key)),
      crypto_(std::move(crypto)) {}

Device::~Device() { StopSubscription().IgnoreError(); }

void Device::PrepareContext(grpc::ClientContext& context, absl::Duration deadline,
                            bool with_token) {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMicroseconds(deadline));
  if (with_token) {
    absl::MutexLock lock(&token_mu_);
    if (!bearer_.empty()) context.AddMetadata("authorization", bearer_);
  }
}

absl::Status Device::CallAuthenticated(
    const std::function<grpc::Status(grpc::ClientContext&)>& rpc) {
  for (int attempt = 0;; ++attempt) {
    grpc::ClientContext context;
    PrepareContext(context, options_.rpc_deadline, /*with_token=*/true);
    absl::Status status = FromGrpcStatus(rpc(context));
    if (status.code() != absl::StatusCode::kUnauthenticated || attempt > 0) return status;
    LB_RETURN_IF_ERROR(Login());
  }
}

absl::StatusOr<std::unique_ptr<Device>> Device::Register(std::shared_ptr<grpc::Channel> channel,
                                                         const Registration& registration,
                                                         DeviceOptions options) {
  crypto::Random& random =
      options.random != nullptr ? *options.random : crypto::SystemRandom::Instance();
  auto keys = std::make_unique<DeviceCrypto>(random);
  ProfileKey profile_key = NewProfileKey(random);

  v1::RegisterAccountRequest request;
  request.set_jurisdiction(registration.jurisdiction);
  const Profile& p = registration.profile;
  if (!p.display_name.empty() || !p.phone_number.empty() || !p.email.empty()) {
    LB_ASSIGN_OR_RETURN(crypto::Bytes blob, EncryptProfile(profile_key, p, random));
    request.set_encrypted_profile(crypto::ToString(blob));
  }
  request.set_phone_number(registration.phone_number);
  ToProto(keys->identity(), request.mutable_device());
  v1::RegisterAccountResponse response;
  {
    auto stub = v1::AccountService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMicroseconds(options.rpc_deadline));
    LB_RETURN_IF_ERROR(FromGrpcStatus(stub->RegisterAccount(&context, request, &response)));
  }
  LB_ASSIGN_OR_RETURN(AccountId account, AccountId::FromString(response.account_id()));
  if (response.device_id() == 0) return absl::InternalError("server assigned device id 0");
  std::unique_ptr<Device> device(new Device(std::move(channel), options, random, std::move(keys),
                                            DeviceAddress{account, response.device_id()},
                                            registration.jurisdiction, std::move(profile_key)));
  LB_RETURN_IF_ERROR(device->UploadInitialKeys());
  return device;
}

absl::StatusOr<std::unique_ptr<Device>> Device::LinkNewDevice() {
  auto keys = std::make_unique<DeviceCrypto>(random_);
  v1::AddDeviceRequest request;
  ToProto(keys->identity(), request.mutable_device());
  v1::AddDeviceResponse response;
  LB_RETURN_IF_ERROR(CallAuthenticated(
      [&](grpc::ClientContext& c) { return accounts_->AddDevice(&c, request, &response); }));
  if (response.device_id() == 0) return absl::InternalError("server assigned device id 0");
  std::unique_ptr<Device> device(new Device(channel_, options_, random_, std::move(keys),
                                            DeviceAddress{address_.account, response.device_id()},
                                            jurisdiction_, profile_key_.Clone()));
  LB_RETURN_IF_ERROR(device->UploadInitialKeys());
  {
    absl::MutexLock lock(&cache_mu_);
    device_cache_.erase(address_.account);
  }
  return device;
}

absl::Status Device::UploadInitialKeys() {
  // The account or device exists on the server by now, so a throttled step is
  // retried here rather than failing the whole Register/LinkNewDevice: a
  // caller retrying those would create another account or device each time.
  // Every step is idempotent (a new login, a replaced signed prekey, a top-up
  // to the target pool size).
  const absl::Time give_up = absl::Now() + kInitialKeysRetryBudget;
  absl::Duration wait = absl::Milliseconds(20);
  while (true) {
    absl::Status status = Login();
    if (status.ok()) status = RotateSignedPrekey();
    if (status.ok()) status = TopUpOneTimePrekeys().status();
    const bool throttled = status.code() == absl::StatusCode::kResourceExhausted ||
                           status.code() == absl::StatusCode::kUnavailable;
    if (!throttled || absl::Now() + wait > give_up) return status;
    absl::SleepFor(wait);
    wait = std::min(wait * 2, absl::Seconds(1));
  }
}

absl::Status Device::Login() {
  v1::GetChallengeRequest challenge_request;
  ToProto(address_, challenge_request.mutable_device());
  v1::GetChallengeResponse challenge;
  {
    grpc::ClientContext context;
    PrepareContext(context, options_.rpc_deadline, /*with_token=*/false);
    LB_RETURN_IF_ERROR(
        FromGrpcStatus(auth_->GetChallenge(&context, challenge_request, &challenge)));
  }
  crypto::ByteWriter signed_bytes;
  signed_bytes.Label(kAuthLabel)
      .Bytes(crypto::AsBytes(challenge.nonce()))
      .Bytes(address_.account.view())
      .U32(address_.device_id);
  v1::LoginRequest login;
  ToProto(address_, login.mutable_device());
  login.set_nonce(challenge.nonce());
  {
    absl::MutexLock lock(&crypto_mu_);
    login.set_signature(
        crypto::Ed25519Sign(crypto_->identity().signing.secret_key, signed_bytes.view()).str());
  }
  v1::LoginResponse response;
  {
    grpc::ClientContext context;
    PrepareContext(context, options_.rpc_deadline, /*with_token=*/false);
    LB_RETURN_IF_ERROR(FromGrpcStatus(auth_->Login(&context, login, &response)));
  }
  std::string bearer = "Bearer " + crypto::ToHex(crypto::AsBytes(response.session_token()));
  crypto::SecureZero({reinterpret_cast<uint8_t*>(response.mutable_session_token()->data()),
                      response.session_token().size()});
  {
    absl::MutexLock lock(&token_mu_);
    crypto::SecureZero({reinterpret_cast<uint8_t*>(bearer_.data()), bearer_.size()});
    bearer_ = std::move(bearer);
  }
  stats_.logins.fetch_add(1, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::Status Device::RotateSignedPrekey() {
  v1::UploadSignedPrekeyRequest request;
  {
    absl::MutexLock lock(&crypto_mu_);
    const SignedPrekeyPublic spk = crypto_->RotateSignedPrekey();
    request.mutable_signed_prekey()->set_key_id(spk.id);
    request.mutable_signed_prekey()->set_public_key(spk.public_key.str());
    request.mutable_signed_prekey()->set_signature(spk.signature.str());
  }
  v1::UploadSignedPrekeyResponse response;
  return CallAuthenticated(
      [&](grpc::ClientContext& c) { return keys_->UploadSignedPrekey(&c, request, &response); });
}

absl::StatusOr<uint32_t> Device::TopUpOneTimePrekeys() {
  v1::CountOneTimePrekeysResponse count;
  LB_RETURN_IF_ERROR(CallAuthenticated([&](grpc::ClientContext& c) {
    return keys_->CountOneTimePrekeys(&c, v1::CountOneTimePrekeysRequest(), &count);
  }));
  const uint32_t target = std::min<uint32_t>(options_.one_time_prekey_target, 100);
  if (count.count() >= target) return 0u;
  v1::UploadOneTimePrekeysRequest request;
  {
    absl::MutexLock lock(&crypto_mu_);
    for (const crypto::OneTimePrekeyPublic& k :
         crypto_->GenerateOneTimePrekeys(target - count.count())) {
      v1::OneTimePrekey* out = request.add_prekeys();
      out->set_key_id(k.id);
      out->set_public_key(k.public_key.str());
    }
  }
  v1::UploadOneTimePrekeysResponse response;
  LB_RETURN_IF_ERROR(CallAuthenticated(
      [&](grpc::ClientContext& c) { return keys_->UploadOneTimePrekeys(&c, request, &response); }));
  const auto uploaded = static_cast<uint32_t>(request.prekeys_size());
  stats_.one_time_prekeys_uploaded.fetch_add(uploaded, std::memory_order_relaxed);
  return uploaded;
}

void Device::MaybeTopUp() {
  if (!topup_wanted_.load(std::memory_order_acquire)) return;
  bool expected = false;
  if (!topup_running_.compare_exchange_strong(expected, true)) return;
  topup_wanted_.store(false, std::memory_order_release);
  if (!TopUpOneTimePrekeys().ok()) topup_wanted_.store(true, std::memory_order_release);
  topup_running_.store(false, std::memory_order_release);
}

absl::StatusOr<std::vector<uint32_t>> Device::ListDevices(const AccountId& account) {
  v1::ListDevicesRequest request;
  request.set_account_id(account.str());
  v1::ListDevicesResponse response;
  LB_RETURN_IF_ERROR(CallAuthenticated(
      [&](grpc::ClientContext& c) { return accounts_->ListDevices(&c, request, &response); }));
  std::vector<uint32_t> ids(response.device_ids().begin(), response.device_ids().end());
  std::sort(ids.begin(), ids.end());
  absl::MutexLock lock(&cache_mu_);
  device_cache_[account] = CachedDevices{ids, absl::Now()};
  return ids;
}

absl::StatusOr<std::vector<uint32_t>> Device::DevicesOf(const AccountId& account) {
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = device_cache_.find(account);
    if (it != device_cache_.end() && absl::Now() - it->second.fetched < options_.device_list_ttl) {
      return it->second.ids;
    }
  }
  return ListDevices(account);
}

absl::StatusOr<SealedMessage> Device::SealFor(const DeviceAddress& peer, const MessageId& wire_id,
                                              crypto::ByteView body) {
  {
    absl::MutexLock lock(&crypto_mu_);
    if (crypto_->HasSession(peer)) return crypto_->Seal(peer, wire_id, body, nullptr);
  }
  v1::ClaimBundleRequest request;
  ToProto(peer, request.mutable_target());
  v1::ClaimBundleResponse response;
  LB_RETURN_IF_ERROR(CallAuthenticated(
      [&](grpc::ClientContext& c) { return keys_->ClaimBundle(&c, request, &response); }));
  LB_ASSIGN_OR_RETURN(const crypto::PrekeyBundle bundle, BundleFromProto(response));
  // If another thread started a session meanwhile, Seal uses it and ignores
  // the bundle.
  absl::MutexLock lock(&crypto_mu_);
  return crypto_->Seal(peer, wire_id, body, &bundle);
}

MessageId Device::WireMessageId(const MessageId& logical_id, const AccountId& account) {
  crypto::ByteWriter w;
  w.Label(kWireIdLabel).Bytes(logical_id.view()).Bytes(account.view());
  // 16 bytes is a valid BLAKE2b output length, so neither call can fail.
  absl::StatusOr<crypto::Bytes> h = crypto::Blake2b(w.view(), kMessageIdSize);
  if (!h.ok()) return MessageId{};
  return MessageId::FromBytes(*h).value_or(MessageId{});
}

MessageId Device::WireMessageId(const MessageId& logical_id, const AccountId& account,
                                uint32_t device_id) {
  crypto::ByteWriter w;
  w.Label(kWireIdLabel).Bytes(logical_id.view()).Bytes(account.view()).U32(device_id);
  // 16 bytes is a valid BLAKE2b output length, so neither call can fail.
  absl::StatusOr<crypto::Bytes> h = crypto::Blake2b(w.view(), kMessageIdSize);
  if (!h.ok()) return MessageId{};
  return MessageId::FromBytes(*h).value_or(MessageId{});
}

absl::Status Device::SendWithRetry(const std::function<grpc::Status(grpc::ClientContext&)>& rpc) {
  for (int attempt = 0;; ++attempt) {
    absl::Status status = CallAuthenticated(rpc);
    // A retry carries the same message id and ciphertexts, so the server
    // stores it at most once.
    if (!IsTransient(status) || attempt >= kTransientRetries) return status;
    absl::SleepFor(absl::Milliseconds(20 * (attempt + 1)));
  }
}

absl::StatusOr<SendReceipt::Delivery> Device::SendToOneAccount(const AccountId& account,
                                                               const MessageId& wire_id,
                                                               crypto::ByteView body,
                                                               int* mismatch_retries) {
  LB_ASSIGN_OR_RETURN(std::vector<uint32_t> devices, DevicesOf(account));
  // Ciphertexts already made are reused on the retry: each device's ratchet
  // advanced when it was sealed.
  absl::flat_hash_map<uint32_t, SealedMessage> sealed;
  for (int round = 0;; ++round) {
    v1::SendToAccountRequest request;
    request.set_message_id(wire_id.str());
    request.set_account_id(account.str());
    for (uint32_t device_id : devices) {
      auto it = sealed.find(device_id);
      if (it == sealed.end()) {
        LB_ASSIGN_OR_RETURN(SealedMessage m, SealFor({account, device_id}, wire_id, body));
        it = sealed.emplace(device_id, std::move(m)).first;
      }
      v1::SendToAccountRequest::DeviceMessage* out = request.add_messages();
      out->set_device_id(device_id);
      out->set_ciphertext(crypto::ToString(it->second.ciphertext));
      out->set_franking_commitment(it->second.commitment.str());
    }
    v1::SendResponse response;
    absl::Status status = SendWithRetry(
        [&](grpc::ClientContext& c) { return messages_->SendToAccount(&c, request, &response); });
    if (status.ok()) {
      SendReceipt::Delivery delivery{.account = account,
                                     .message_id = wire_id,
                                     .device_ids = {},
                                     .server_timestamp_micros = response.server_timestamp_micros(),
                                     .duplicate = response.duplicate()};
      for (const auto& d : response.deliveries()) delivery.device_ids.push_back(d.device_id());
      return delivery;
    }
    if (status.code() != absl::StatusCode::kFailedPrecondition || round > 0) return status;
    ++*mismatch_retries;
    if (std::optional<DeviceMismatchInfo> mismatch = ParseDeviceMismatch(status)) {
      absl::flat_hash_set<uint32_t> next(devices.begin(), devices.end());
      for (uint32_t id : mismatch->extra_devices) next.erase(id);
      for (uint32_t id : mismatch->missing_devices) next.insert(id);
      devices.assign(next.begin(), next.end());
      std::sort(devices.begin(), devices.end());
      absl::MutexLock lock(&cache_mu_);
      device_cache_[account] = CachedDevices{devices, absl::Now()};
    } else {
      LB_ASSIGN_OR_RETURN(devices, ListDevices(account));
    }
  }
}

absl::StatusOr<SendReceipt::Delivery> Device::SendToOwnDevice(uint32_t device_id,
                                                              const MessageId& wire_id,
                                                              crypto::ByteView body) {
  LB_ASSIGN_OR_RETURN(SealedMessage m, SealFor({address_.account, device_id}, wire_id, body));
  v1::SendRequest request;
  request.set_message_id(wire_id.str());
  ToProto(DeviceAddress{address_.account, device_id}, request.mutable_recipient());
  request.set_ciphertext(crypto::ToString(m.ciphertext));
  request.set_franking_commitment(m.commitment.str());
  v1::SendResponse response;
  LB_RETURN_IF_ERROR(SendWithRetry(
      [&](grpc::ClientContext& c) { return messages_->Send(&c, request, &response); }));
  return SendReceipt::Delivery{.account = address_.account,
                               .message_id = wire_id,
                               .device_ids = {device_id},
                               .server_timestamp_micros = response.server_timestamp_micros(),
                               .duplicate = response.duplicate()};
}

absl::StatusOr<SendReceipt> Device::Send(std::span<const AccountId> recipients,
                                         crypto::ByteView body) {
  return Send(recipients, body, crypto::RandomFixed<MessageId>(random_));
}

absl::StatusOr<SendReceipt> Device::Send(std::span<const AccountId> recipients,
                                         crypto::ByteView body, const MessageId& logical_id) {
  if (recipients.empty()) return absl::InvalidArgumentError("no recipients");
  if (body.size() > kMaxBodyBytes) return absl::InvalidArgumentError("message body too large");
  std::vector<AccountId> accounts;
  for (const AccountId& a : recipients) {
    if (a == address_.account) return absl::InvalidArgumentError("own account among recipients");
    if (std::find(accounts.begin(), accounts.end(), a) == accounts.end()) accounts.push_back(a);
  }
  SendReceipt receipt{.logical_id = logical_id, .deliveries = {}, .device_mismatch_retries = 0};
  for (const AccountId& account : accounts) {
    LB_ASSIGN_OR_RETURN(SendReceipt::Delivery d,
                        SendToOneAccount(account, WireMessageId(logical_id, account), body,
                                         &receipt.device_mismatch_retries));
    receipt.deliveries.push_back(std::move(d));
  }
  LB_ASSIGN_OR_RETURN(const std::vector<uint32_t> own, DevicesOf(address_.account));
  for (uint32_t device_id : own) {
    if (device_id == address_.device_id) continue;
    absl::StatusOr<SendReceipt::Delivery> d =
        SendToOwnDevice(device_id, WireMessageId(logical_id, address_.account, device_id), body);
    if (absl::IsNotFound(d.status())) {  // removed meanwhile
      absl::MutexLock lock(&cache_mu_);
      device_cache_.erase(address_.account);
      continue;
    }
    LB_RETURN_IF_ERROR(d.status());
    receipt.deliveries.push_back(*std::move(d));
  }
  return receipt;
}

void Device::SetCallbacks(ReceiveCallbacks callbacks) {
  absl::MutexLock lock(&callbacks_mu_);
  callbacks_ = std::move(callbacks);
}

void Device::ProcessEnvelope(const v1::Envelope& envelope) {
  EnvelopeInfo info{.sender = {}, .message_id = {}, .envelope_id = envelope.envelope_id()};
  absl::Status status;
  bool duplicate = false;
  std::optional<ReceivedMessage> received;

  absl::StatusOr<DeviceAddress> sender = FromProto(envelope.sender());
  absl::StatusOr<MessageId> id = MessageId::FromString(envelope.message_id());
  absl::StatusOr<crypto::Commitment> commitment =
      crypto::Commitment::FromString(envelope.franking_commitment());
  absl::StatusOr<crypto::FrankingTag> tag =
      crypto::FrankingTag::FromString(envelope.franking_tag());
  if (sender.ok()) info.sender = *sender;
  if (id.ok()) info.message_id = *id;
  for (const absl::Status& s : {sender.status(), id.status(), commitment.status(), tag.status()}) {
    if (status.ok() && !s.ok()) status = absl::InvalidArgumentError("malformed envelope");
  }
  if (status.ok()) {
    bool low = false;
    {
      absl::MutexLock lock(&crypto_mu_);
      const std::pair<DeviceAddress, MessageId> key{*sender, *id};
      if (seen_.contains(key)) {
        duplicate = true;
      } else {
        absl::StatusOr<OpenedMessage> opened =
            crypto_->Open(*sender, *id, crypto::AsBytes(envelope.ciphertext()), *commitment);
        if (opened.ok()) {
          seen_.insert(key);
          seen_order_.push_back(key);
          while (seen_order_.size() > options_.dedup_capacity) {
            seen_.erase(seen_order_.front());
            seen_order_.pop_front();
          }
          received = ReceivedMessage{.sender = *sender,
                                     .recipient = address_,
                                     .message_id = *id,
                                     .envelope_id = envelope.envelope_id(),
                                     .server_timestamp_micros = envelope.server_timestamp_micros(),
                                     .commitment = *commitment,
                                     .franking_tag = *tag,
                                     .franking_key = std::move(opened->franking_key),
                                     .body = std::move(opened->body)};
        } else if (absl::IsAlreadyExists(opened.status())) {
          // The ratchet no longer holds the key: decrypted before (its id
          // left the de-duplication memory) or discarded as too old.
          duplicate = true;
        } else {
          status = opened.status();
        }
      }
      low = crypto_->one_time_prekey_count() < options_.one_time_prekey_low_water;
    }
    if (low) topup_wanted_.store(true, std::memory_order_release);
  }

  ReceiveCallbacks callbacks;
  {
    absl::MutexLock lock(&callbacks_mu_);
    callbacks = callbacks_;
  }
  if (duplicate) {
    stats_.duplicates.fetch_add(1, std::memory_order_relaxed);
    if (callbacks.on_duplicate) callbacks.on_duplicate(info);
  } else if (!status.ok()) {
    stats_.undecryptable.fetch_add(1, std::memory_order_relaxed);
    if (callbacks.on_error) callbacks.on_error(info, status);
  } else {
    stats_.received.fetch_add(1, std::memory_order_relaxed);
    if (callbacks.on_message) callbacks.on_message(*std::move(received));
  }
  // Acknowledged after the application has it; an undecryptable envelope
  // never becomes decryptable, so it is acknowledged too.
  QueueAck(envelope.envelope_id());
}

void Device::QueueAck(uint64_t envelope_id) {
  bool flush = false;
  {
    absl::MutexLock lock(&ack_mu_);
    pending_acks_.push_back(envelope_id);
    flush = pending_acks_.size() >= options_.ack_batch;
  }
  if (flush) FlushAcks().IgnoreError();
}

absl::Status Device::FlushAcks() {
  std::vector<uint64_t> ids;
  {
    absl::MutexLock lock(&ack_mu_);
    ids.swap(pending_acks_);
  }
  constexpr size_t kMaxAckBatch = 1000;
  for (size_t at = 0; at < ids.size(); at += kMaxAckBatch) {
    v1::AckRequest request;
    const size_t end = std::min(ids.size(), at + kMaxAckBatch);
    for (size_t i = at; i < end; ++i) request.add_envelope_ids(ids[i]);
    v1::AckResponse response;
    absl::Status status = CallAuthenticated(
        [&](grpc::ClientContext& c) { return messages_->Ack(&c, request, &response); });
    if (!status.ok()) {
      absl::MutexLock lock(&ack_mu_);
      pending_acks_.insert(pending_acks_.end(), ids.begin() + static_cast<std::ptrdiff_t>(at),
                           ids.end());
      return status;
    }
    stats_.acked.fetch_add(end - at, std::memory_order_relaxed);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Device::FetchAll() {
  uint64_t after = 0;
  size_t processed = 0;
  while (true) {
    v1::FetchRequest request;
    request.set_after(after);
    v1::FetchResponse response;
    LB_RETURN_IF_ERROR(CallAuthenticated(
        [&](grpc::ClientContext& c) { return messages_->Fetch(&c, request, &response); }));
    for (const v1::Envelope& e : response.envelopes()) {
      ProcessEnvelope(e);
      after = std::max(after, e.envelope_id());
      ++processed;
    }
    LB_RETURN_IF_ERROR(FlushAcks());
    if (response.prekeys_low()) topup_wanted_.store(true, std::memory_order_release);
    MaybeTopUp();
    if (!response.more() || response.envelopes_size() == 0) return processed;
  }
}

absl::Status Device::Subscribe() {
  absl::MutexLock lock(&sub_mu_);
  if (subscribed_) return absl::FailedPreconditionError("already subscribed");
  subscribed_ = true;
  stopping_ = false;
  stream_status_ = absl::OkStatus();
  reader_ = std::thread([this] { ReaderLoop(); });
  acker_ = std::thread([this] { AckLoop(); });
  return absl::OkStatus();
}

void Device::ReaderLoop() {
  int failures = 0;
  while (true) {
    grpc::ClientContext context;
    PrepareContext(context, options_.stream_deadline, /*with_token=*/true);
    {
      absl::MutexLock lock(&sub_mu_);
      if (stopping_) return;
      stream_context_ = &context;
    }
    v1::SubscribeRequest request;
    request.set_after(last_envelope_id_);
    std::unique_ptr<grpc::ClientReader<v1::Envelope>> reader =
        messages_->Subscribe(&context, request);
    v1::Envelope envelope;
    bool progressed = false;
    while (reader->Read(&envelope)) {
      progressed = true;
      ProcessEnvelope(envelope);
      last_envelope_id_ = std::max(last_envelope_id_, envelope.envelope_id());
    }
    absl::Status status = FromGrpcStatus(reader->Finish());
    {
      absl::MutexLock lock(&sub_mu_);
      stream_context_ = nullptr;
      if (stopping_) return;
    }
    if (progressed) failures = 0;
    if (absl::IsUnauthenticated(status)) {
      status = Login();
      if (status.ok()) continue;
    }
    if (!absl::IsDeadlineExceeded(status)) ++failures;
    if (failures >= kMaxStreamFailures) {
      absl::MutexLock lock(&sub_mu_);
      stream_status_ = status.ok() ? absl::UnavailableError("stream kept ending") : status;
      return;
    }
    stats_.resubscribes.fetch_add(1, std::memory_order_relaxed);
    const absl::Duration backoff =
        std::min(absl::Milliseconds(100) * (1 << failures), absl::Seconds(2));
    absl::MutexLock lock(&sub_mu_);
    sub_mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    if (stopping_) return;
  }
}

void Device::AckLoop() {
  while (true) {
    {
      absl::MutexLock lock(&sub_mu_);
      sub_mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.ack_interval);
      if (stopping_) return;
    }
    FlushAcks().IgnoreError();
    MaybeTopUp();
  }
}

absl::Status Device::StopSubscription() {
  {
    absl::MutexLock lock(&sub_mu_);
    if (!subscribed_ || stopping_) return absl::OkStatus();
    stopping_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  if (reader_.joinable()) reader_.join();
  if (acker_.joinable()) acker_.join();
  absl::Status flushed = FlushAcks();
  absl::MutexLock lock(&sub_mu_);
  subscribed_ = false;
  stopping_ = false;
  return stream_status_.ok() ? flushed : stream_status_;
}

absl::StatusOr<crypto::X25519PublicKey> Device::GetVaultKey() {
  {
    absl::MutexLock lock(&cache_mu_);
    if (vault_key_.has_value()) return *vault_key_;
  }
  v1::GetVaultKeyResponse response;
  LB_RETURN_IF_ERROR(CallAuthenticated([&](grpc::ClientContext& c) {
    return reports_->GetVaultKey(&c, v1::GetVaultKeyRequest(), &response);
  }));
  LB_ASSIGN_OR_RETURN(crypto::X25519PublicKey key,
                      crypto::X25519PublicKey::FromString(response.intake_public_key()));
  absl::MutexLock lock(&cache_mu_);
  vault_key_ = key;
  return key;
}

absl::StatusOr<std::string> Device::SubmitReport(v1::ReportCategory category,
                                                 std::span<const ReceivedMessage* const> messages,
                                                 std::string_view comment) {
  LB_ASSIGN_OR_RETURN(const crypto::X25519PublicKey vault_key, GetVaultKey());
  LB_ASSIGN_OR_RETURN(crypto::Bytes sealed,
                      BuildAndSealReport(address_, category, messages, comment, vault_key));
  v1::SubmitReportRequest request;
  request.set_jurisdiction(jurisdiction_);
  request.set_sealed_report(crypto::ToString(sealed));
  v1::SubmitReportResponse response;
  LB_RETURN_IF_ERROR(CallAuthenticated(
      [&](grpc::ClientContext& c) { return reports_->SubmitReport(&c, request, &response); }));
  return response.report_id();
}

Device::Stats Device::stats() const {
  return Stats{
      .received = stats_.received.load(std::memory_order_relaxed),
      .duplicates = stats_.duplicates.load(std::memory_order_relaxed),
      .undecryptable = stats_.undecryptable.load(std::memory_order_relaxed),
      .acked = stats_.acked.load(std::memory_order_relaxed),
      .one_time_prekeys_uploaded = stats_.one_time_prekeys_uploaded.load(std::memory_order_relaxed),
      .logins = stats_.logins.load(std::memory_order_relaxed),
      .resubscribes = stats_.resubscribes.load(std::memory_order_relaxed)};
}

}  // namespace letterbox::client
