#include "letterbox/client/device_crypto.h"

#include <utility>

#include "letterbox/common/status.h"

namespace letterbox::client {

using crypto::ByteView;
using crypto::SecretBytes;

DeviceCrypto::DeviceCrypto(crypto::Random& random)
    : random_(&random), identity_(crypto::IdentityKeyPair::Generate(random)) {}

SignedPrekeyPublic DeviceCrypto::RotateSignedPrekey() {
  SignedPrekeyEntry entry{.pub = {}, .pair = crypto::X25519KeyPair::Generate(*random_)};
  entry.pub.id = next_signed_prekey_id_++;
  entry.pub.public_key = entry.pair.public_key;
  entry.pub.signature =
      crypto::SignSignedPrekey(identity_.signing.secret_key, entry.pub.id, entry.pub.public_key);
  SignedPrekeyPublic out = entry.pub;
  signed_prekeys_.push_front(std::move(entry));
  while (signed_prekeys_.size() > kRetainedSignedPrekeys) signed_prekeys_.pop_back();
  return out;
}

std::optional<SignedPrekeyPublic> DeviceCrypto::current_signed_prekey() const {
  if (signed_prekeys_.empty()) return std::nullopt;
  return signed_prekeys_.front().pub;
}

std::vector<crypto::OneTimePrekeyPublic> DeviceCrypto::GenerateOneTimePrekeys(size_t count) {
  std::vector<crypto::OneTimePrekeyPublic> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    auto pair = crypto::X25519KeyPair::Generate(*random_);
    const uint32_t id = next_one_time_prekey_id_++;
    out.push_back({.id = id, .public_key = pair.public_key});
    one_time_prekeys_.emplace(id, std::move(pair));
  }
  return out;
}

absl::StatusOr<crypto::PrekeyBundle> DeviceCrypto::BundleForTesting(
    std::optional<uint32_t> one_time_prekey_id) const {
  if (signed_prekeys_.empty()) return absl::FailedPreconditionError("no signed prekey");
  crypto::PrekeyBundle bundle;
  bundle.identity_signing_key = identity_.signing.public_key;
  bundle.identity_dh_key = identity_.dh.public_key;
  bundle.identity_dh_signature = identity_.dh_signature;
  bundle.signed_prekey_id = signed_prekeys_.front().pub.id;
  bundle.signed_prekey = signed_prekeys_.front().pub.public_key;
  bundle.signed_prekey_signature = signed_prekeys_.front().pub.signature;
  if (one_time_prekey_id.has_value()) {
    auto it = one_time_prekeys_.find(*one_time_prekey_id);
    if (it == one_time_prekeys_.end()) return absl::NotFoundError("no such one-time prekey");
    bundle.one_time_prekey = crypto::OneTimePrekeyPublic{it->first, it->second.public_key};
  }
  return bundle;
}

bool DeviceCrypto::HasSession(const DeviceAddress& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && !it->second.sessions.empty();
}

absl::Status DeviceCrypto::CheckPinned(const Peer& peer, const crypto::Ed25519PublicKey& signing,
                                       const crypto::X25519PublicKey& dh) {
  if (peer.identity.has_value() && (peer.identity->signing != signing || peer.identity->dh != dh)) {
    return absl::PermissionDeniedError("peer identity key changed");
  }
  return absl::OkStatus();
}

void DeviceCrypto::PushFront(Peer& peer, std::unique_ptr<Session> session) {
  peer.sessions.push_front(std::move(session));
  while (peer.sessions.size() > kMaxSessionsPerPeer) peer.sessions.pop_back();
}

absl::StatusOr<SealedMessage> DeviceCrypto::Seal(const DeviceAddress& peer_address,
                                                 const MessageId& message_id, ByteView body,
                                                 const crypto::PrekeyBundle* bundle) {
  if (body.size() > kMaxBodyBytes) return absl::InvalidArgumentError("message body too large");
  Peer& peer = peers_[peer_address];
  std::unique_ptr<Session> fresh;
  if (peer.sessions.empty()) {
    if (bundle == nullptr) {
      if (!peer.identity.has_value()) peers_.erase(peer_address);
      return absl::FailedPreconditionError("no session with peer and no prekey bundle");
    }
    LB_RETURN_IF_ERROR(CheckPinned(peer, bundle->identity_signing_key, bundle->identity_dh_key));
    LB_ASSIGN_OR_RETURN(crypto::X3dhInitiatorResult x3dh,
                        crypto::X3dhInitiate(identity_, *bundle, *random_));
    LB_ASSIGN_OR_RETURN(crypto::RatchetSession ratchet,
                        crypto::RatchetSession::InitAlice(std::move(x3dh.shared_key),
                                                          bundle->signed_prekey, *random_));
    fresh = std::make_unique<Session>(Session{.ratchet = std::move(ratchet),
                                              .associated_data = std::move(x3dh.associated_data),
                                              .pending_header = std::move(x3dh.header),
                                              .base_key = std::nullopt});
  }
  Session& session = fresh ? *fresh : *peer.sessions.front();

  InnerPlaintext inner{.franking_key = crypto::NewFrankingKey(*random_), .body = SecretBytes(body)};
  const crypto::Bytes context = FrankingContext(message_id);
  const crypto::Commitment commitment = crypto::Commit(inner.franking_key, body, context);
  LB_ASSIGN_OR_RETURN(SecretBytes encoded, inner.Encode());
  LB_ASSIGN_OR_RETURN(
      crypto::RatchetMessage ratchet_message,
      session.ratchet.Encrypt(encoded.Expose(),
                              MessageAssociatedData(session.associated_data, message_id)));
  ClientMessage message{.x3dh = session.pending_header, .ratchet = std::move(ratchet_message)};
  SealedMessage out{
      .ciphertext = message.Encode(), .commitment = commitment, .prekey = message.is_prekey()};
  if (fresh) {
    peer.identity = PinnedIdentity{bundle->identity_signing_key, bundle->identity_dh_key};
    PushFront(peer, std::move(fresh));
  }
  return out;
}

absl::StatusOr<std::unique_ptr<DeviceCrypto::Session>> DeviceCrypto::StartResponderSession(
    const crypto::X3dhInitialHeader& header, std::optional<uint32_t>* used_one_time_prekey) {
  const SignedPrekeyEntry* spk = nullptr;
  for (const auto& entry : signed_prekeys_) {
    if (entry.pub.id == header.signed_prekey_id) spk = &entry;
  }
  if (spk == nullptr) return absl::FailedPreconditionError("unknown signed prekey");
  const crypto::X25519KeyPair* otk = nullptr;
  if (header.one_time_prekey_id.has_value()) {
    auto it = one_time_prekeys_.find(*header.one_time_prekey_id);
    if (it == one_time_prekeys_.end()) {
      return absl::FailedPreconditionError("unknown or used one-time prekey");
    }
    otk = &it->second;
    *used_one_time_prekey = it->first;
  }
  LB_ASSIGN_OR_RETURN(crypto::X3dhResponderResult x3dh,
                      crypto::X3dhRespond(identity_, spk->pair, otk, header));
  return std::make_unique<Session>(Session{
      .ratchet = crypto::RatchetSession::InitBob(std::move(x3dh.shared_key), spk->pair, *random_),
      .associated_data = std::move(x3dh.associated_data),
      .pending_header = std::nullopt,
      .base_key = header.ephemeral_key});
}

absl::StatusOr<OpenedMessage> DeviceCrypto::Finish(SecretBytes inner_bytes,
                                                   const MessageId& message_id,
                                                   const crypto::Commitment& commitment) const {
  LB_ASSIGN_OR_RETURN(InnerPlaintext inner, InnerPlaintext::Parse(inner_bytes.Expose()));
  LB_RETURN_IF_ERROR(crypto::VerifyCommitment(inner.franking_key, inner.body.Expose(),
                                              FrankingContext(message_id), commitment));
  return OpenedMessage{.body = std::move(inner.body),
                       .franking_key = std::move(inner.franking_key)};
}

absl::StatusOr<OpenedMessage> DeviceCrypto::Open(const DeviceAddress& peer_address,
                                                 const MessageId& message_id, ByteView ciphertext,
                                                 const crypto::Commitment& commitment) {
  LB_ASSIGN_OR_RETURN(ClientMessage message, ClientMessage::Parse(ciphertext));
  auto peer_it = peers_.find(peer_address);

  if (message.is_prekey()) {
    const crypto::X3dhInitialHeader& header = *message.x3dh;
    if (peer_it != peers_.end()) {
      Peer& peer = peer_it->second;
      LB_RETURN_IF_ERROR(CheckPinned(peer, header.initiator_identity_signing_key,
                                     header.initiator_identity_dh_key));
      for (size_t i = 0; i < peer.sessions.size(); ++i) {
        Session& s = *peer.sessions[i];
        if (!s.base_key.has_value() || *s.base_key != header.ephemeral_key) continue;
        LB_ASSIGN_OR_RETURN(SecretBytes inner,
                            s.ratchet.Decrypt(message.ratchet, MessageAssociatedData(
                                                                   s.associated_data, message_id)));
        if (i != 0) {
          auto moved = std::move(peer.sessions[i]);
          peer.sessions.erase(peer.sessions.begin() + static_cast<std::ptrdiff_t>(i));
          peer.sessions.push_front(std::move(moved));
        }
        return Finish(std::move(inner), message_id, commitment);
      }
    }
    std::optional<uint32_t> used_otk;
    LB_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, StartResponderSession(header, &used_otk));
    LB_ASSIGN_OR_RETURN(
        SecretBytes inner,
        session->ratchet.Decrypt(message.ratchet,
                                 MessageAssociatedData(session->associated_data, message_id)));
    // The ratchet accepted the message: the session is genuine. Commit it.
    if (used_otk.has_value()) one_time_prekeys_.erase(*used_otk);
    Peer& peer = peers_[peer_address];
    peer.identity =
        PinnedIdentity{header.initiator_identity_signing_key, header.initiator_identity_dh_key};
    PushFront(peer, std::move(session));
    return Finish(std::move(inner), message_id, commitment);
  }

  if (peer_it == peers_.end() || peer_it->second.sessions.empty()) {
    return absl::FailedPreconditionError("no session with peer");
  }
  Peer& peer = peer_it->second;
  absl::Status first_error;
  absl::Status replay;
  for (size_t i = 0; i < peer.sessions.size(); ++i) {
    Session& s = *peer.sessions[i];
    absl::StatusOr<SecretBytes> inner =
        s.ratchet.Decrypt(message.ratchet, MessageAssociatedData(s.associated_data, message_id));
    if (!inner.ok()) {
      if (inner.status().code() == absl::StatusCode::kAlreadyExists) replay = inner.status();
      if (first_error.ok()) first_error = inner.status();
      continue;
    }
    // The peer answered on this session: it no longer needs the X3DH header.
    s.pending_header.reset();
    if (i != 0) {
      auto moved = std::move(peer.sessions[i]);
      peer.sessions.erase(peer.sessions.begin() + static_cast<std::ptrdiff_t>(i));
      peer.sessions.push_front(std::move(moved));
    }
    return Finish(*std::move(inner), message_id, commitment);
  }
  return replay.ok() ? first_error : replay;
}

}  // namespace letterbox::client
