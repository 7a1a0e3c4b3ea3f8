// File: letterbox/client/device_crypto.h
//
// Everything a device knows that is secret, and the end-to-end protocol on
// top of it, with no network: its identity keys, its signed and one-time
// prekeys, and one or more X3DH + Double Ratchet sessions per peer device.
// Device (device.h) wraps it with the server; tests drive two of them
// directly.
//
//   DeviceCrypto alice(SystemRandom::Instance()), bob(SystemRandom::Instance());
//   bob.RotateSignedPrekey();
//   auto otks = bob.GenerateOneTimePrekeys(10);
//   crypto::PrekeyBundle bundle = bob.BundleForTesting(otks[0].id);
//   LB_ASSIGN_OR_RETURN(SealedMessage out,
//                       alice.Seal(bob_address, message_id, body, &bundle));
//   LB_ASSIGN_OR_RETURN(OpenedMessage in,
//                       bob.Open(alice_address, message_id, out.ciphertext, out.commitment));
//
// Sessions. The first message to a device is a PREKEY message carrying the
// X3DH header; the initiator keeps sending PREKEY messages until it has
// decrypted a reply, so any of its early messages can start the session at
// the responder, in any order. If both sides initiate at once each keeps
// both sessions (at most kMaxSessionsPerPeer, most recently used first) and
// decrypts with whichever the sender used. A peer's identity keys are
// pinned on first contact; a later PREKEY message or bundle with other
// identity keys is refused (PERMISSION_DENIED).
//
// Not thread-safe: one caller at a time (Device serialises access).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "letterbox/client/message_format.h"
#include "letterbox/client/types.h"
#include "letterbox/crypto/double_ratchet.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x3dh.h"

namespace letterbox::client {

// The most sessions kept per peer device (simultaneous initiations, resets).
inline constexpr size_t kMaxSessionsPerPeer = 4;
// Signed prekeys kept after rotation, so PREKEY messages built on the
// previous ones still open.
inline constexpr size_t kRetainedSignedPrekeys = 3;

// A signed prekey as published. Copyable (public data only).
struct SignedPrekeyPublic {
  uint32_t id = 0;
  crypto::X25519PublicKey public_key;
  crypto::Ed25519Signature signature;
};

// What Seal produces for one recipient device: the envelope's ciphertext
// (an encoded ClientMessage) and its franking commitment.
struct SealedMessage {
  crypto::Bytes ciphertext;
  crypto::Commitment commitment;
  // True if the message was a PREKEY message (carried the X3DH header).
  bool prekey = false;
};

// What Open recovers. Move-only (secrets).
struct OpenedMessage {
  crypto::SecretBytes body;
  crypto::FrankingKey franking_key;
};

class DeviceCrypto {
 public:
  // A new device with a fresh identity (no prekeys yet). `random` must
  // outlive the object and every session it makes.
  explicit DeviceCrypto(crypto::Random& random);

  DeviceCrypto(const DeviceCrypto&) = delete;
  DeviceCrypto& operator=(const DeviceCrypto&) = delete;

  [[nodiscard]] const crypto::IdentityKeyPair& identity() const { return identity_; }

  // Makes a new signed prekey the current one and returns its public half
  // (to upload). The previous kRetainedSignedPrekeys - 1 stay usable.
  SignedPrekeyPublic RotateSignedPrekey();
  // The current signed prekey; nullopt before the first RotateSignedPrekey.
  [[nodiscard]] std::optional<SignedPrekeyPublic> current_signed_prekey() const;

  // Makes `count` new one-time prekeys with fresh ids and returns their
  // public halves (to upload). Their secrets stay here until used once.
  [[nodiscard]] std::vector<crypto::OneTimePrekeyPublic> GenerateOneTimePrekeys(size_t count);
  // How many one-time prekey secrets are held (unused ones).
  [[nodiscard]] size_t one_time_prekey_count() const { return one_time_prekeys_.size(); }

  // A bundle as the server would hand out for this device, with the named
  // one-time prekey (or none). For tests without a server. FAILED_PRECONDITION
  // before the first RotateSignedPrekey; NOT_FOUND for an unknown prekey id.
  [[nodiscard]] absl::StatusOr<crypto::PrekeyBundle> BundleForTesting(
      std::optional<uint32_t> one_time_prekey_id) const;

  // True if at least one session with `peer` exists.
  [[nodiscard]] bool HasSession(const DeviceAddress& peer) const;

  // Encrypts `body` for `peer` under message id `message_id`, with a fresh
  // franking key inside the ciphertext and its commitment beside it. With no
  // session yet, `bundle` (the peer's, from ClaimBundle) starts one by X3DH;
  // it is ignored when a session exists. Errors: FAILED_PRECONDITION (no
  // session and no bundle), INVALID_ARGUMENT (bad bundle signatures or keys,
  // body over kMaxBodyBytes), PERMISSION_DENIED (the bundle's identity is not
  // the one pinned for the peer). Nothing changes on error.
  [[nodiscard]] absl::StatusOr<SealedMessage> Seal(const DeviceAddress& peer,
                                                   const MessageId& message_id,
                                                   crypto::ByteView body,
                                                   const crypto::PrekeyBundle* bundle);

  // Decrypts an envelope's ciphertext from `peer` (the server-stamped
  // sender), checks the commitment against the plaintext, and returns it.
  // Errors: INVALID_ARGUMENT (malformed, does not authenticate, or the
  // commitment does not match the plaintext), ALREADY_EXISTS (a replay of a
  // message already decrypted), FAILED_PRECONDITION (no session for a
  // NORMAL message; unknown signed or one-time prekey), PERMISSION_DENIED
  // (the X3DH header's identity is not the one pinned for the peer),
  // RESOURCE_EXHAUSTED (too far ahead in a chain). The session state changes
  // only when the ratchet accepts the message: a commitment mismatch after a
  // successful decryption still consumes that message's key.
  [[nodiscard]] absl::StatusOr<OpenedMessage> Open(const DeviceAddress& peer,
                                                   const MessageId& message_id,
                                                   crypto::ByteView ciphertext,
                                                   const crypto::Commitment& commitment);

 private:
  struct Session {
    crypto::RatchetSession ratchet;
    crypto::Bytes associated_data;
    // Initiator: the header sent with every message until a reply decrypts.
    std::optional<crypto::X3dhInitialHeader> pending_header;
    // Responder: the initiator's ephemeral key, naming the X3DH run.
    std::optional<crypto::X25519PublicKey> base_key;
  };
  struct PinnedIdentity {
    crypto::Ed25519PublicKey signing;
    crypto::X25519PublicKey dh;
  };
  struct Peer {
    std::optional<PinnedIdentity> identity;
    std::deque<std::unique_ptr<Session>> sessions;  // most recently used first
  };
  struct SignedPrekeyEntry {
    SignedPrekeyPublic pub;
    crypto::X25519KeyPair pair;
  };

  [[nodiscard]] absl::StatusOr<std::unique_ptr<Session>> StartResponderSession(
      const crypto::X3dhInitialHeader& header, std::optional<uint32_t>* used_one_time_prekey);
  [[nodiscard]] static absl::Status CheckPinned(const Peer& peer,
                                                const crypto::Ed25519PublicKey& signing,
                                                const crypto::X25519PublicKey& dh);
  [[nodiscard]] absl::StatusOr<OpenedMessage> Finish(crypto::SecretBytes inner,
                                                     const MessageId& message_id,
                                                     const crypto::Commitment& commitment) const;
  static void PushFront(Peer& peer, std::unique_ptr<Session> session);

  crypto::Random* random_;
  crypto::IdentityKeyPair identity_;
  std::deque<SignedPrekeyEntry> signed_prekeys_;  // current first
  uint32_t next_signed_prekey_id_ = 1;
  std::map<uint32_t, crypto::X25519KeyPair> one_time_prekeys_;
  uint32_t next_one_time_prekey_id_ = 1;
  absl::flat_hash_map<DeviceAddress, Peer> peers_;
};

}  // namespace letterbox::client
