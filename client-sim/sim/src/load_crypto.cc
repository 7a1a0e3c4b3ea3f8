#include "letterbox/sim/load_crypto.h"

#include <cstring>

#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::sim {
namespace {

// Filler offsets range over this many bytes of the pool.
constexpr size_t kFillerSpan = 4096;

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void PutU64(uint8_t* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

void PutU32(uint8_t* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetU64(const uint8_t* in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

uint32_t GetU32(const uint8_t* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | in[i];
  return v;
}

ReceiveVerdict Refused(ReceiveOutcome outcome, absl::StatusCode code) {
  ReceiveVerdict v;
  v.outcome = outcome;
  v.code = code;
  return v;
}

}  // namespace

client::MessageId LoadMessageId(int64_t start_ns, uint64_t index, uint64_t salt) {
  client::MessageId id;
  PutU64(id.data(), static_cast<uint64_t>(start_ns));
  PutU64(id.data() + 8, index ^ salt);
  return id;
}

LoadBodies::LoadBodies(uint32_t payload, crypto::Random& random)
    : payload_(payload), pool_(payload + kFillerSpan, '\0') {
  random.Fill({reinterpret_cast<uint8_t*>(pool_.data()), pool_.size()});
}

std::string_view LoadBodies::Filler(uint64_t index) const {
  return std::string_view(pool_).substr(SplitMix64(index) % kFillerSpan, payload_);
}

void LoadBodies::Build(uint64_t index, uint32_t sender, uint32_t recipient,
                       std::string* out) const {
  out->resize(body_size());
  auto* p = reinterpret_cast<uint8_t*>(out->data());
  PutU64(p, index);
  PutU32(p + 8, sender);
  PutU32(p + 12, recipient);
  const std::string_view filler = Filler(index);
  std::memcpy(p + kLoadBodyHeaderSize, filler.data(), filler.size());
}

bool LoadBodies::Check(crypto::ByteView body, uint32_t sender, uint32_t recipient,
                       uint64_t* index) const {
  if (body.size() != body_size()) return false;
  const uint8_t* p = body.data();
  *index = GetU64(p);
  if (GetU32(p + 8) != sender || GetU32(p + 12) != recipient) return false;
  const std::string_view filler = Filler(*index);
  return std::memcmp(p + kLoadBodyHeaderSize, filler.data(), filler.size()) == 0;
}

absl::StatusOr<client::SealedMessage> SealLoadMessage(client::DeviceCrypto& sender_crypto,
                                                      const LoadBodies& bodies,
                                                      const client::DeviceAddress& peer,
                                                      const LoadSendSpec& spec,
                                                      const client::MessageId& id,
                                                      const crypto::PrekeyBundle* bundle) {
  thread_local std::string body;
  bodies.Build(spec.index, spec.sender, spec.recipient, &body);
  return sender_crypto.Seal(peer, id, crypto::AsBytes(body), bundle);
}

ReceiveVerdict OpenLoadMessage(client::DeviceCrypto& recipient_crypto, const LoadBodies& bodies,
                               const client::DeviceAddress& sender_address,
                               const LoadReceiveSpec& spec, const v1::Envelope& envelope) {
  absl::StatusOr<client::MessageId> id = client::MessageId::FromString(envelope.message_id());
  absl::StatusOr<crypto::Commitment> commitment =
      crypto::Commitment::FromString(envelope.franking_commitment());
  if (!id.ok() || !commitment.ok()) {
    return Refused(ReceiveOutcome::kDecryptFailed, absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<client::OpenedMessage> opened = recipient_crypto.Open(
      sender_address, *id, crypto::AsBytes(envelope.ciphertext()), *commitment);
  if (!opened.ok()) {
    const absl::StatusCode code = opened.status().code();
    return Refused(code == absl::StatusCode::kAlreadyExists ? ReceiveOutcome::kDuplicate
                                                            : ReceiveOutcome::kDecryptFailed,
                   code);
  }
  ReceiveVerdict v;
  if (!bodies.Check(opened->body.Expose(), spec.sender, spec.recipient, &v.index) ||
      (v.index ^ spec.id_salt) != GetU64(id->data() + 8)) {
    v.outcome = ReceiveOutcome::kCorrupted;
    return v;
  }
  v.outcome = ReceiveOutcome::kVerified;
  return v;
}

absl::StatusOr<crypto::PrekeyBundle> BundleFromProto(const v1::ClaimBundleResponse& response) {
  crypto::PrekeyBundle b;
  const v1::DeviceIdentity& identity = response.identity();
  absl::StatusOr<crypto::Ed25519PublicKey> signing =
      crypto::Ed25519PublicKey::FromString(identity.identity_signing_key());
  absl::StatusOr<crypto::X25519PublicKey> dh =
      crypto::X25519PublicKey::FromString(identity.identity_dh_key());
  absl::StatusOr<crypto::Ed25519Signature> dh_signature =
      crypto::Ed25519Signature::FromString(identity.identity_dh_signature());
  absl::StatusOr<crypto::X25519PublicKey> spk =
      crypto::X25519PublicKey::FromString(response.signed_prekey().public_key());
  absl::StatusOr<crypto::Ed25519Signature> spk_signature =
      crypto::Ed25519Signature::FromString(response.signed_prekey().signature());
  if (!signing.ok() || !dh.ok() || !dh_signature.ok() || !spk.ok() || !spk_signature.ok()) {
    return absl::InvalidArgumentError("ClaimBundle answer: a key or signature of the wrong length");
  }
  b.identity_signing_key = *signing;
  b.identity_dh_key = *dh;
  b.identity_dh_signature = *dh_signature;
  b.signed_prekey_id = response.signed_prekey().key_id();
  b.signed_prekey = *spk;
  b.signed_prekey_signature = *spk_signature;
  if (response.has_one_time_prekey()) {
    absl::StatusOr<crypto::X25519PublicKey> otk =
        crypto::X25519PublicKey::FromString(response.one_time_prekey().public_key());
    if (!otk.ok()) return absl::InvalidArgumentError("ClaimBundle answer: one-time prekey length");
    b.one_time_prekey = crypto::OneTimePrekeyPublic{response.one_time_prekey().key_id(), *otk};
  }
  return b;
}

}  // namespace letterbox::sim
