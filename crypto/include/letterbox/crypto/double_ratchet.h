// File: letterbox/crypto/double_ratchet.h
//
// The Double Ratchet (Signal's specification, section 3, without header
// encryption), seeded by X3DH. Each message gets a fresh key; a DH ratchet
// step on every change of speaker gives forward secrecy and recovery after a
// compromise. docs/protocols.md gives every KDF label, encoding and bound.
//
//   // Alice, after X3dhInitiate:
//   LB_ASSIGN_OR_RETURN(RatchetSession alice,
//                       RatchetSession::InitAlice(std::move(a.shared_key), bundle.signed_prekey,
//                                                 SystemRandom::Instance()));
//   LB_ASSIGN_OR_RETURN(RatchetMessage m, alice.Encrypt(plaintext, a.associated_data));
//   send(m.Encode());
//   // Bob, after X3dhRespond:
//   RatchetSession bob = RatchetSession::InitBob(std::move(b.shared_key), signed_prekey,
//                                                SystemRandom::Instance());
//   LB_ASSIGN_OR_RETURN(RatchetMessage in, RatchetMessage::Decode(bytes));
//   LB_ASSIGN_OR_RETURN(SecretBytes pt, bob.Decrypt(in, b.associated_data));
//
// A RatchetSession is not thread-safe: one owner calls it at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/crypto/x3dh.h"

namespace letterbox::crypto {

// KDF labels (ASCII, no NUL). Changing any of them is a protocol version change.
inline constexpr std::string_view kRatchetRootKdfInfo = "Letterbox Ratchet v1 root";
inline constexpr std::string_view kRatchetMessageKeyInfo = "Letterbox Ratchet v1 message keys";
inline constexpr std::string_view kRatchetAssociatedDataLabel = "letterbox.ratchet.ad.v1";
// Version byte that opens an encoded RatchetHeader and an encoded RatchetMessage.
inline constexpr uint8_t kRatchetVersion = 1;
// The encoded header is exactly this long: version, DH key, PN, N.
inline constexpr size_t kRatchetHeaderSize = 1 + kX25519KeySize + 4 + 4;

// The most message keys one received message may make the session skip in
// one chain (Signal's MAX_SKIP). A message further ahead is rejected.
inline constexpr uint32_t kRatchetMaxSkip = 1000;
// The most skipped message keys a session stores across all chains; beyond
// it the oldest stored keys are discarded (those messages become undecryptable).
inline constexpr size_t kRatchetMaxStoredSkippedKeys = 2000;
// How many previous receiving ratchet keys are remembered so that a replay
// from an earlier chain is reported as a replay rather than as a forgery.
inline constexpr size_t kRatchetRetiredChainMemory = 16;

// The cleartext header of a ratchet message. Copyable (public data only).
struct RatchetHeader {
  X25519PublicKey dh;              // the sender's current ratchet public key
  uint32_t previous_chain_length;  // PN: messages in the sender's previous sending chain
  uint32_t message_number;         // N: this message's index in its sending chain

  // U8(kRatchetVersion) ‖ Raw(dh, 32) ‖ U32(PN) ‖ U32(N), big-endian:
  // exactly kRatchetHeaderSize bytes.
  [[nodiscard]] Bytes Encode() const;
  // Strict inverse of Encode. INVALID_ARGUMENT for any input that Encode
  // cannot produce: a wrong length, a wrong version byte. Never reads out of
  // bounds whatever the input.
  [[nodiscard]] static absl::StatusOr<RatchetHeader> Decode(ByteView encoded);

  friend bool operator==(const RatchetHeader&, const RatchetHeader&) = default;
};

// One encrypted message: its header and the AEAD ciphertext (plaintext + a
// 16-byte tag). Copyable (public data only).
struct RatchetMessage {
  RatchetHeader header;
  Bytes ciphertext;

  // U8(kRatchetVersion) ‖ Raw(header.Encode()) ‖ Bytes(ciphertext), where
  // Bytes is a 4-byte big-endian length then the bytes.
  [[nodiscard]] Bytes Encode() const;
  // Strict inverse of Encode. INVALID_ARGUMENT for a wrong version, a bad
  // header, a ciphertext shorter than an AEAD tag, a length prefix that does
  // not match, or trailing bytes.
  [[nodiscard]] static absl::StatusOr<RatchetMessage> Decode(ByteView encoded);

  friend bool operator==(const RatchetMessage&, const RatchetMessage&) = default;
};

// One side of a Double Ratchet conversation. Move-only; every secret (root,
// chain and skipped message keys, the ratchet secret key) is zeroed on
// destruction and when moved from. A moved-from session must not be used.
// Not thread-safe. Holds a reference to the Random given at construction,
// which must outlive it.
class RatchetSession {
 public:
  // The specification's RK, CK and MK: 32-byte secrets of distinct types.
  using RootKey = Secret<32, struct RatchetRootKeyTag>;
  using ChainKey = Secret<32, struct RatchetChainKeyTag>;
  using MessageKey = Secret<32, struct RatchetMessageKeyTag>;

  // Alice (the X3DH initiator): RK = SK, a fresh ratchet key pair from
  // `random`, DHr = Bob's signed prekey, and a first DH ratchet step so she
  // can send at once. INVALID_ARGUMENT if `bob_signed_prekey` is a low-order
  // point. Takes ownership of `shared_key`.
  [[nodiscard]] static absl::StatusOr<RatchetSession> InitAlice(
      X3dhSharedKey shared_key, const X25519PublicKey& bob_signed_prekey, Random& random);

  // Bob (the X3DH responder): RK = SK, DHs = his signed prekey pair (copied;
  // the caller keeps its own), no chains yet. Bob cannot send until he has
  // decrypted Alice's first message. Takes ownership of `shared_key`.
  // `random` is used for Bob's later ratchet key pairs.
  [[nodiscard]] static RatchetSession InitBob(X3dhSharedKey shared_key,
                                              const X25519KeyPair& bob_signed_prekey,
                                              Random& random);

  // Moves the whole state. The source's secrets are zeroed and its chains
  // and skipped keys dropped; Encrypt and Decrypt on it then return
  // FAILED_PRECONDITION rather than use zeroed keys.
  RatchetSession(RatchetSession&& other) noexcept;
  RatchetSession& operator=(RatchetSession&& other) noexcept;
  RatchetSession(const RatchetSession&) = delete;
  RatchetSession& operator=(const RatchetSession&) = delete;
  ~RatchetSession() = default;

  // Encrypts `plaintext` under the next sending message key, authenticating
  // `associated_data` (the X3DH AD) and the header. Advances the sending
  // chain (the message key is deleted at once). FAILED_PRECONDITION if there
  // is no sending chain yet (Bob before his first Decrypt) or the session was
  // moved from;
  // RESOURCE_EXHAUSTED if the chain has reached 2^32 - 1 messages. The session
  // is unchanged on error.
  [[nodiscard]] absl::StatusOr<RatchetMessage> Encrypt(ByteView plaintext,
                                                       ByteView associated_data);

  // Decrypts `message`, authenticating `associated_data` and the header, and
  // performs a DH ratchet step when the header carries a new ratchet key.
  // Transactional: on any error the session is exactly as before. Outcomes:
  //  - OK: the plaintext (owned by the caller); the message key is deleted.
  //  - ALREADY_EXISTS: the message's key is no longer held: it was already
  //    decrypted (a replay), or it was discarded as too old. No decryption is
  //    attempted.
  //  - RESOURCE_EXHAUSTED: the message would skip more than kRatchetMaxSkip
  //    keys in one chain.
  //  - INVALID_ARGUMENT: the message does not authenticate (tampered header,
  //    ciphertext or associated data, or a forgery), or carries a low-order
  //    ratchet key.
  //  - FAILED_PRECONDITION: the header names the current receiving key but
  //    no receiving chain exists yet (Alice before Bob has replied), or the
  //    session was moved from.
  // Decrypt may draw from the Random (a new ratchet key pair) even when it
  // fails; the session state is unaffected.
  [[nodiscard]] absl::StatusOr<SecretBytes> Decrypt(const RatchetMessage& message,
                                                    ByteView associated_data);

  // How many skipped message keys the session holds (for tests and metrics).
  [[nodiscard]] size_t stored_skipped_keys() const { return skipped_.size(); }

  // A full copy of the session, secrets included. TEST ONLY: it exists so
  // tests can model an attacker who has stolen a device's state, and to
  // check that failed operations leave the state unchanged. Never call it in
  // production code: a copied ratchet defeats forward secrecy.
  [[nodiscard]] RatchetSession CloneForTesting() const;

  // True if both sessions hold identical state (constant-time on secrets).
  // TEST ONLY, like CloneForTesting.
  [[nodiscard]] bool StateEqualsForTesting(const RatchetSession& other) const;

 private:
  // Everything but the skipped keys: small, so Decrypt copies it to work
  // transactionally.
  struct State {
    X25519KeyPair dhs;
    std::optional<X25519PublicKey> dhr;
    RootKey rk;
    std::optional<ChainKey> cks;
    std::optional<ChainKey> ckr;
    uint32_t ns = 0;
    uint32_t nr = 0;
    uint32_t pn = 0;
    std::vector<X25519PublicKey> retired_dhr;  // oldest first, bounded

    [[nodiscard]] State Clone() const;
    [[nodiscard]] bool Equals(const State& other) const;
  };
  using SkippedKeyId = std::pair<X25519PublicKey, uint32_t>;
  struct SkippedKey {
    MessageKey key;
    uint64_t sequence;  // insertion order, for evicting the oldest
  };
  using StagedKeys = std::vector<std::pair<SkippedKeyId, MessageKey>>;

  RatchetSession(Random* random, State state) : random_(random), state_(std::move(state)) {}

  [[nodiscard]] static absl::Status SkipMessageKeys(State& state, uint32_t until,
                                                    StagedKeys& staged);
  [[nodiscard]] absl::Status DhRatchet(State& state, const RatchetHeader& header);
  void StoreSkippedKeys(StagedKeys staged);
  // Leaves a moved-from session empty and unusable.
  void Invalidate();

  Random* random_;  // null once moved from
  State state_;
  std::map<SkippedKeyId, SkippedKey> skipped_;
  std::map<uint64_t, SkippedKeyId> skipped_by_age_;  // sequence -> id, oldest first
  uint64_t next_sequence_ = 0;
};

}  // namespace letterbox::crypto
