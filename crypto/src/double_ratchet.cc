// The Double Ratchet (Signal's specification, section 3), transactional
// decryption and bounded skipped-key storage.
#include "letterbox/crypto/double_ratchet.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "letterbox/common/status.h"
#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hmac.h"

namespace letterbox::crypto {
namespace {

using RootKey = RatchetSession::RootKey;
using ChainKey = RatchetSession::ChainKey;
using MessageKey = RatchetSession::MessageKey;

constexpr size_t kMessageCipherSize = kAeadKeySize + kXChaCha20NonceSize;

// Copies a secret that a primitive returned as a public-typed value into a
// secret type, then zeroes the original.
template <typename SecretType>
SecretType TakeSecret(HmacSha256Tag& tag) {
  static_assert(SecretType::kSize == HmacSha256Tag::kSize);
  SecretType out;
  std::copy(tag.view().begin(), tag.view().end(), out.mutable_view().begin());
  SecureZero(tag.mutable_view());
  return out;
}

// KDF_RK(rk, dh_out) = HKDF-SHA256(salt = rk, ikm = dh_out, info) -> (rk', ck).
absl::StatusOr<std::pair<RootKey, ChainKey>> KdfRk(const RootKey& rk,
                                                   const X25519SharedSecret& dh_out) {
  LB_ASSIGN_OR_RETURN(SecretBytes okm,
                      HkdfSha256(dh_out.Expose(), rk.Expose(), AsBytes(kRatchetRootKdfInfo),
                                 RootKey::kSize + ChainKey::kSize));
  LB_ASSIGN_OR_RETURN(RootKey new_rk, RootKey::FromBytes(okm.Expose().first(RootKey::kSize)));
  LB_ASSIGN_OR_RETURN(ChainKey ck, ChainKey::FromBytes(okm.Expose().subspan(RootKey::kSize)));
  return std::make_pair(std::move(new_rk), std::move(ck));
}

// KDF_CK(ck): mk = HMAC-SHA256(ck, 0x01), ck' = HMAC-SHA256(ck, 0x02).
std::pair<ChainKey, MessageKey> KdfCk(const ChainKey& ck) {
  constexpr uint8_t kMessageKeyInput[] = {0x01};
  constexpr uint8_t kChainKeyInput[] = {0x02};
  HmacSha256Tag mk = HmacSha256(ck.Expose(), kMessageKeyInput);
  HmacSha256Tag next = HmacSha256(ck.Expose(), kChainKeyInput);
  return {TakeSecret<ChainKey>(next), TakeSecret<MessageKey>(mk)};
}

// The AEAD associated data: Label ‖ Bytes(X3DH AD) ‖ Raw(encoded header).
Bytes MessageAssociatedData(ByteView associated_data, const RatchetHeader& header) {
  ByteWriter w;
  w.Label(kRatchetAssociatedDataLabel).Bytes(associated_data).Raw(header.Encode());
  return std::move(w).Take();
}

// HKDF-SHA256(ikm = mk, salt = 0x00×32, info) -> 32-byte key ‖ 24-byte nonce.
absl::StatusOr<std::pair<AeadKey, XChaCha20Nonce>> MessageCipher(const MessageKey& mk) {
  LB_ASSIGN_OR_RETURN(SecretBytes okm, HkdfSha256(mk.Expose(), {}, AsBytes(kRatchetMessageKeyInfo),
                                                  kMessageCipherSize));
  LB_ASSIGN_OR_RETURN(AeadKey key, AeadKey::FromBytes(okm.Expose().first(kAeadKeySize)));
  LB_ASSIGN_OR_RETURN(XChaCha20Nonce nonce,
                      XChaCha20Nonce::FromBytes(okm.Expose().subspan(kAeadKeySize)));
  return std::make_pair(std::move(key), nonce);
}

absl::StatusOr<Bytes> EncryptWithKey(const MessageKey& mk, ByteView plaintext,
                                     ByteView associated_data, const RatchetHeader& header) {
  LB_ASSIGN_OR_RETURN(auto cipher, MessageCipher(mk));
  return XChaCha20Poly1305Encrypt(cipher.first, cipher.second, plaintext,
                                  MessageAssociatedData(associated_data, header));
}

absl::StatusOr<SecretBytes> DecryptWithKey(const MessageKey& mk, const RatchetMessage& message,
                                           ByteView associated_data) {
  LB_ASSIGN_OR_RETURN(auto cipher, MessageCipher(mk));
  auto plaintext = XChaCha20Poly1305Decrypt(cipher.first, cipher.second, message.ciphertext,
                                            MessageAssociatedData(associated_data, message.header));
  if (!plaintext.ok()) return absl::InvalidArgumentError("ratchet message does not authenticate");
  return plaintext;
}

absl::Status ReplayError() {
  return absl::AlreadyExistsError(
      "ratchet message key no longer held: already decrypted (replay) or discarded as too old");
}

}  // namespace

// ---------------------------------------------------------------------------
// Encodings

Bytes RatchetHeader::Encode() const {
  ByteWriter w;
  w.U8(kRatchetVersion).Raw(dh.view()).U32(previous_chain_length).U32(message_number);
  return std::move(w).Take();
}

absl::StatusOr<RatchetHeader> RatchetHeader::Decode(ByteView encoded) {
  if (encoded.size() != kRatchetHeaderSize) {
    return absl::InvalidArgumentError("ratchet header has the wrong length");
  }
  ByteReader r(encoded);
  LB_ASSIGN_OR_RETURN(uint8_t version, r.U8());
  if (version != kRatchetVersion) {
    return absl::InvalidArgumentError("unsupported ratchet header version");
  }
  RatchetHeader h;
  LB_ASSIGN_OR_RETURN(ByteView dh, r.Raw(X25519PublicKey::kSize));
  LB_ASSIGN_OR_RETURN(h.dh, X25519PublicKey::FromBytes(dh));
  LB_ASSIGN_OR_RETURN(h.previous_chain_length, r.U32());
  LB_ASSIGN_OR_RETURN(h.message_number, r.U32());
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return h;
}

Bytes RatchetMessage::Encode() const {
  ByteWriter w;
  w.U8(kRatchetVersion).Raw(header.Encode()).Bytes(ciphertext);
  return std::move(w).Take();
}

absl::StatusOr<RatchetMessage> RatchetMessage::Decode(ByteView encoded) {
  ByteReader r(encoded);
  LB_ASSIGN_OR_RETURN(uint8_t version, r.U8());
  if (version != kRatchetVersion) {
    return absl::InvalidArgumentError("unsupported ratchet message version");
  }
  RatchetMessage m;
  LB_ASSIGN_OR_RETURN(ByteView header, r.Raw(kRatchetHeaderSize));
  LB_ASSIGN_OR_RETURN(m.header, RatchetHeader::Decode(header));
  LB_ASSIGN_OR_RETURN(ByteView ciphertext, r.Bytes());
  if (ciphertext.size() < kAeadTagSize) {
    return absl::InvalidArgumentError("ratchet ciphertext is shorter than an AEAD tag");
  }
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  m.ciphertext.assign(ciphertext.begin(), ciphertext.end());
  return m;
}

// ---------------------------------------------------------------------------
// Session

RatchetSession::State RatchetSession::State::Clone() const {
  State out;
  out.dhs.public_key = dhs.public_key;
  out.dhs.secret_key = dhs.secret_key.Clone();
  out.dhr = dhr;
  out.rk = rk.Clone();
  if (cks.has_value()) out.cks = cks->Clone();
  if (ckr.has_value()) out.ckr = ckr->Clone();
  out.ns = ns;
  out.nr = nr;
  out.pn = pn;
  out.retired_dhr = retired_dhr;
  return out;
}

bool RatchetSession::State::Equals(const State& other) const {
  auto optional_equals = [](const std::optional<ChainKey>& a, const std::optional<ChainKey>& b) {
    if (a.has_value() != b.has_value()) return false;
    return !a.has_value() || a->Equals(*b);
  };
  return dhs.public_key == other.dhs.public_key && dhs.secret_key.Equals(other.dhs.secret_key) &&
         dhr == other.dhr && rk.Equals(other.rk) && optional_equals(cks, other.cks) &&
         optional_equals(ckr, other.ckr) && ns == other.ns && nr == other.nr && pn == other.pn &&
         retired_dhr == other.retired_dhr;
}

absl::StatusOr<RatchetSession> RatchetSession::InitAlice(X3dhSharedKey shared_key,
                                                         const X25519PublicKey& bob_signed_prekey,
                                                         Random& random) {
  State state;
  state.dhs = X25519KeyPair::Generate(random);
  state.dhr = bob_signed_prekey;
  LB_ASSIGN_OR_RETURN(RootKey sk, RootKey::FromBytes(shared_key.Expose()));
  LB_ASSIGN_OR_RETURN(X25519SharedSecret dh_out, X25519(state.dhs.secret_key, bob_signed_prekey));
  LB_ASSIGN_OR_RETURN(auto keys, KdfRk(sk, dh_out));
  state.rk = std::move(keys.first);
  state.cks = std::move(keys.second);
  return RatchetSession(&random, std::move(state));
}

RatchetSession RatchetSession::InitBob(X3dhSharedKey shared_key,
                                       const X25519KeyPair& bob_signed_prekey, Random& random) {
  State state;
  state.dhs.public_key = bob_signed_prekey.public_key;
  state.dhs.secret_key = bob_signed_prekey.secret_key.Clone();
  std::copy(shared_key.Expose().begin(), shared_key.Expose().end(),
            state.rk.mutable_view().begin());
  return RatchetSession(&random, std::move(state));
}

RatchetSession::RatchetSession(RatchetSession&& other) noexcept
    : random_(std::exchange(other.random_, nullptr)),
      state_(std::move(other.state_)),
      skipped_(std::move(other.skipped_)),
      skipped_by_age_(std::move(other.skipped_by_age_)),
      next_sequence_(other.next_sequence_) {
  other.Invalidate();
}

RatchetSession& RatchetSession::operator=(RatchetSession&& other) noexcept {
  if (this != &other) {
    random_ = std::exchange(other.random_, nullptr);
    state_ = std::move(other.state_);
    skipped_ = std::move(other.skipped_);
    skipped_by_age_ = std::move(other.skipped_by_age_);
    next_sequence_ = other.next_sequence_;
    other.Invalidate();
  }
  return *this;
}

void RatchetSession::Invalidate() {
  random_ = nullptr;
  state_.dhr.reset();
  state_.cks.reset();
  state_.ckr.reset();
  state_.retired_dhr.clear();
  skipped_.clear();
  skipped_by_age_.clear();
}

absl::StatusOr<RatchetMessage> RatchetSession::Encrypt(ByteView plaintext,
                                                       ByteView associated_data) {
  if (random_ == nullptr) return absl::FailedPreconditionError("ratchet session was moved from");
  if (!state_.cks.has_value()) {
    return absl::FailedPreconditionError(
        "no sending chain yet: the responder must decrypt a message before sending");
  }
  if (state_.ns == std::numeric_limits<uint32_t>::max()) {
    return absl::ResourceExhaustedError("sending chain exhausted");
  }
  auto [next_ck, mk] = KdfCk(*state_.cks);
  RatchetMessage message;
  message.header = RatchetHeader{state_.dhs.public_key, state_.pn, state_.ns};
  LB_ASSIGN_OR_RETURN(message.ciphertext,
                      EncryptWithKey(mk, plaintext, associated_data, message.header));
  state_.cks = std::move(next_ck);
  ++state_.ns;
  return message;
}

absl::StatusOr<SecretBytes> RatchetSession::Decrypt(const RatchetMessage& message,
                                                    ByteView associated_data) {
  if (random_ == nullptr) return absl::FailedPreconditionError("ratchet session was moved from");
  const RatchetHeader& header = message.header;

  // A key skipped earlier: use it, and delete it only on success.
  if (auto it = skipped_.find({header.dh, header.message_number}); it != skipped_.end()) {
    LB_ASSIGN_OR_RETURN(SecretBytes plaintext,
                        DecryptWithKey(it->second.key, message, associated_data));
    skipped_by_age_.erase(it->second.sequence);
    skipped_.erase(it);
    return plaintext;
  }

  const bool current_chain = state_.dhr.has_value() && header.dh == *state_.dhr;
  if (current_chain) {
    if (!state_.ckr.has_value()) {
      return absl::FailedPreconditionError(
          "message uses the peer's prekey as its ratchet key but no receiving chain exists");
    }
    if (header.message_number < state_.nr) return ReplayError();
  } else if (std::find(state_.retired_dhr.begin(), state_.retired_dhr.end(), header.dh) !=
             state_.retired_dhr.end()) {
    return ReplayError();
  }
  if (header.message_number == std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("ratchet message number out of range");
  }

  // Work on a copy; commit only once the message authenticates.
  State next = state_.Clone();
  StagedKeys staged;
  if (!current_chain) {
    LB_RETURN_IF_ERROR(SkipMessageKeys(next, header.previous_chain_length, staged));
    LB_RETURN_IF_ERROR(DhRatchet(next, header));
  }
  LB_RETURN_IF_ERROR(SkipMessageKeys(next, header.message_number, staged));
  auto [next_ck, mk] = KdfCk(*next.ckr);
  next.ckr = std::move(next_ck);
  ++next.nr;
  LB_ASSIGN_OR_RETURN(SecretBytes plaintext, DecryptWithKey(mk, message, associated_data));

  state_ = std::move(next);
  StoreSkippedKeys(std::move(staged));
  return plaintext;
}

absl::Status RatchetSession::SkipMessageKeys(State& state, uint32_t until, StagedKeys& staged) {
  if (uint64_t{state.nr} + kRatchetMaxSkip < until) {
    return absl::ResourceExhaustedError("ratchet message is too far ahead (more than " +
                                        std::to_string(kRatchetMaxSkip) + " skipped keys)");
  }
  if (!state.ckr.has_value()) return absl::OkStatus();
  while (state.nr < until) {
    auto [next_ck, mk] = KdfCk(*state.ckr);
    staged.emplace_back(SkippedKeyId{*state.dhr, state.nr}, std::move(mk));
    state.ckr = std::move(next_ck);
    ++state.nr;
  }
  return absl::OkStatus();
}

absl::Status RatchetSession::DhRatchet(State& state, const RatchetHeader& header) {
  if (state.dhr.has_value()) {
    state.retired_dhr.push_back(*state.dhr);
    if (state.retired_dhr.size() > kRatchetRetiredChainMemory) {
      state.retired_dhr.erase(state.retired_dhr.begin());
    }
  }
  state.pn = state.ns;
  state.ns = 0;
  state.nr = 0;
  state.dhr = header.dh;
  {
    LB_ASSIGN_OR_RETURN(X25519SharedSecret dh_out, X25519(state.dhs.secret_key, header.dh));
    LB_ASSIGN_OR_RETURN(auto keys, KdfRk(state.rk, dh_out));
    state.rk = std::move(keys.first);
    state.ckr = std::move(keys.second);
  }
  state.dhs = X25519KeyPair::Generate(*random_);
  LB_ASSIGN_OR_RETURN(X25519SharedSecret dh_out, X25519(state.dhs.secret_key, header.dh));
  LB_ASSIGN_OR_RETURN(auto keys, KdfRk(state.rk, dh_out));
  state.rk = std::move(keys.first);
  state.cks = std::move(keys.second);
  return absl::OkStatus();
}

void RatchetSession::StoreSkippedKeys(StagedKeys staged) {
  for (auto& [id, key] : staged) {
    if (auto it = skipped_.find(id); it != skipped_.end()) {
      skipped_by_age_.erase(it->second.sequence);
      skipped_.erase(it);
    }
    const uint64_t sequence = next_sequence_++;
    skipped_by_age_.emplace(sequence, id);
    skipped_.emplace(id, SkippedKey{std::move(key), sequence});
  }
  while (skipped_.size() > kRatchetMaxStoredSkippedKeys) {
    auto oldest = skipped_by_age_.begin();
    skipped_.erase(oldest->second);
    skipped_by_age_.erase(oldest);
  }
}

RatchetSession RatchetSession::CloneForTesting() const {
  RatchetSession out(random_, state_.Clone());
  for (const auto& [id, entry] : skipped_) {
    out.skipped_.emplace(id, SkippedKey{entry.key.Clone(), entry.sequence});
  }
  out.skipped_by_age_ = skipped_by_age_;
  out.next_sequence_ = next_sequence_;
  return out;
}

bool RatchetSession::StateEqualsForTesting(const RatchetSession& other) const {
  if (!state_.Equals(other.state_) || next_sequence_ != other.next_sequence_ ||
      skipped_by_age_ != other.skipped_by_age_ || skipped_.size() != other.skipped_.size()) {
    return false;
  }
  for (const auto& [id, entry] : skipped_) {
    auto it = other.skipped_.find(id);
    if (it == other.skipped_.end() || it->second.sequence != entry.sequence ||
        !it->second.key.Equals(entry.key)) {
      return false;
    }
  }
  return true;
}

}  // namespace letterbox::crypto
