// File: letterbox/crypto/x3dh.h
//
// X3DH key agreement (Signal's "Extended Triple Diffie-Hellman"), adapted to
// Letterbox's key model: every device has an Ed25519 identity key (signing)
// and a separate X25519 identity key (DH) whose public half is signed by the
// Ed25519 key, so no XEdDSA is needed. docs/protocols.md gives every label,
// encoding and difference from Signal's specification.
//
// Bob (the responder) publishes a PrekeyBundle through the server; Alice (the
// initiator) claims it and derives a shared key; Bob derives the same key from
// the header Alice sends with her first message:
//
//   // Bob, once:
//   auto bob = IdentityKeyPair::Generate(rng);
//   auto spk = X25519KeyPair::Generate(rng);
//   Ed25519Signature spk_sig = SignSignedPrekey(bob.signing.secret_key, 7, spk.public_key);
//   // Alice, with Bob's bundle from the server:
//   LB_ASSIGN_OR_RETURN(X3dhInitiatorResult a, X3dhInitiate(alice, bundle, rng));
//   send(a.header.Encode(), first_ratchet_message);
//   // Bob, on receipt (after looking up the prekeys the header names):
//   LB_ASSIGN_OR_RETURN(X3dhInitialHeader h, X3dhInitialHeader::Decode(bytes));
//   LB_ASSIGN_OR_RETURN(X3dhResponderResult b, X3dhRespond(bob, spk, otk_or_null, h));
//   // a.shared_key equals b.shared_key; a.associated_data equals b.associated_data.
//
// Nothing in this file keeps state; every function is thread-safe as long as
// the Random passed in is.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::crypto {

// Domain-separation labels (ASCII, no NUL). Changing any of them is a
// protocol version change.
inline constexpr std::string_view kIdentityDhSigningLabel = "letterbox.identity-dh.v1";
inline constexpr std::string_view kSignedPrekeySigningLabel = "letterbox.signed-prekey.v1";
inline constexpr std::string_view kX3dhAssociatedDataLabel = "letterbox.x3dh.ad.v1";
inline constexpr std::string_view kX3dhKdfInfo = "Letterbox X3DH v1";
// Version byte that opens an encoded X3dhInitialHeader.
inline constexpr uint8_t kX3dhHeaderVersion = 1;

inline constexpr size_t kX3dhSharedKeySize = 32;

// SK, the 32-byte secret both parties derive; it seeds the Double Ratchet.
using X3dhSharedKey = Secret<kX3dhSharedKeySize, struct X3dhSharedKeyTag>;

// A device's long-term identity: an Ed25519 signing key pair and an X25519 DH
// key pair whose public half is signed by the signing key. Move-only (it
// holds secret keys).
struct IdentityKeyPair {
  Ed25519KeyPair signing;
  X25519KeyPair dh;
  // Ed25519 signature over IdentityDhSigningMessage(dh.public_key).
  Ed25519Signature dh_signature;

  // Fresh signing and DH key pairs from `random`, with the DH key signed.
  [[nodiscard]] static IdentityKeyPair Generate(Random& random);
};

// A one-time prekey as published: its id and public key.
struct OneTimePrekeyPublic {
  uint32_t id = 0;
  X25519PublicKey public_key;

  friend bool operator==(const OneTimePrekeyPublic&, const OneTimePrekeyPublic&) = default;
};

// What the server hands Alice for one of Bob's devices. Copyable (public data
// only). X3dhInitiate verifies both signatures; the server should verify them
// at upload too (VerifyPrekeyBundle), but the client never relies on that.
struct PrekeyBundle {
  Ed25519PublicKey identity_signing_key;
  X25519PublicKey identity_dh_key;
  Ed25519Signature identity_dh_signature;  // over IdentityDhSigningMessage
  uint32_t signed_prekey_id = 0;
  X25519PublicKey signed_prekey;
  Ed25519Signature signed_prekey_signature;  // over SignedPrekeySigningMessage
  // Absent when the server's pool for the device was empty.
  std::optional<OneTimePrekeyPublic> one_time_prekey;
};

// The bytes the Ed25519 identity key signs to vouch for the X25519 identity
// key: ByteWriter Label(kIdentityDhSigningLabel) ‖ Raw(dh_public_key).
[[nodiscard]] Bytes IdentityDhSigningMessage(const X25519PublicKey& identity_dh_key);

// The bytes the Ed25519 identity key signs to vouch for a signed prekey:
// ByteWriter Label(kSignedPrekeySigningLabel) ‖ U32(id) ‖ Raw(prekey).
[[nodiscard]] Bytes SignedPrekeySigningMessage(uint32_t signed_prekey_id,
                                               const X25519PublicKey& signed_prekey);

// Signs IdentityDhSigningMessage(identity_dh_key) with `identity_signing_key`.
[[nodiscard]] Ed25519Signature SignIdentityDhKey(const Ed25519SecretKey& identity_signing_key,
                                                 const X25519PublicKey& identity_dh_key);

// Signs SignedPrekeySigningMessage(id, signed_prekey) with `identity_signing_key`.
[[nodiscard]] Ed25519Signature SignSignedPrekey(const Ed25519SecretKey& identity_signing_key,
                                                uint32_t signed_prekey_id,
                                                const X25519PublicKey& signed_prekey);

// OK if `signature` is the signing key's signature over the identity DH key;
// INVALID_ARGUMENT("identity DH key signature does not verify") otherwise.
[[nodiscard]] absl::Status VerifyIdentityDhKey(const Ed25519PublicKey& identity_signing_key,
                                               const X25519PublicKey& identity_dh_key,
                                               const Ed25519Signature& signature);

// OK if both signatures in `bundle` verify under its identity signing key;
// INVALID_ARGUMENT naming the failing signature otherwise. The one-time
// prekey is not signed (as in Signal's X3DH) and is not checked.
[[nodiscard]] absl::Status VerifyPrekeyBundle(const PrekeyBundle& bundle);

// What Alice sends in clear with her first message so Bob can run X3DH.
// Copyable (public data only).
struct X3dhInitialHeader {
  Ed25519PublicKey initiator_identity_signing_key;
  X25519PublicKey initiator_identity_dh_key;
  // Lets Bob check that the DH identity key belongs to the signing key.
  Ed25519Signature initiator_identity_dh_signature;
  X25519PublicKey ephemeral_key;               // EK_A
  uint32_t signed_prekey_id = 0;               // which of Bob's signed prekeys was used
  std::optional<uint32_t> one_time_prekey_id;  // which one-time prekey, if any

  // U8(kX3dhHeaderVersion) ‖ Raw(signing key, 32) ‖ Raw(DH key, 32) ‖
  // Raw(signature, 64) ‖ Raw(EK, 32) ‖ U32(signed prekey id) ‖
  // U8(0 | 1) [‖ U32(one-time prekey id) when 1]: 166 or 170 bytes.
  [[nodiscard]] Bytes Encode() const;
  // Strict inverse of Encode. INVALID_ARGUMENT for a wrong version, a
  // truncated input, a presence flag other than 0 or 1, or trailing bytes.
  // Signatures are not checked here (X3dhRespond does).
  [[nodiscard]] static absl::StatusOr<X3dhInitialHeader> Decode(ByteView encoded);

  friend bool operator==(const X3dhInitialHeader&, const X3dhInitialHeader&) = default;
};

// Alice's result. Move-only (holds SK).
struct X3dhInitiatorResult {
  X3dhSharedKey shared_key;  // SK
  // AD = Label(kX3dhAssociatedDataLabel) ‖ Raw(IK_A sign) ‖ Raw(IK_A dh) ‖
  // Raw(IK_B sign) ‖ Raw(IK_B dh): 4 + 20 + 128 bytes.
  Bytes associated_data;
  X3dhInitialHeader header;  // to send to Bob
};

// Bob's result. Move-only (holds SK).
struct X3dhResponderResult {
  X3dhSharedKey shared_key;  // SK, equal to Alice's
  Bytes associated_data;     // AD, equal to Alice's
};

// Alice's side. Verifies both signatures in `bundle` (INVALID_ARGUMENT if
// either fails), draws an ephemeral key from `random`, and computes
//   DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
//   DH4 = DH(EK_A, OPK_B) if the bundle has a one-time prekey,
//   SK  = HKDF-SHA256(ikm = 0xFF×32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4],
//                     salt = 0x00×32, info = kX3dhKdfInfo, L = 32).
// INVALID_ARGUMENT if any DH output is all zero (a low-order public key).
// The ephemeral secret and every intermediate are zeroed before returning.
// Nothing is kept; the caller owns the result.
[[nodiscard]] absl::StatusOr<X3dhInitiatorResult> X3dhInitiate(const IdentityKeyPair& initiator,
                                                               const PrekeyBundle& bundle,
                                                               Random& random);

// Bob's side. `signed_prekey` must be the key pair for header.signed_prekey_id
// and `one_time_prekey` the key pair for header.one_time_prekey_id (nullptr
// when the header names none); looking them up is the caller's job, as is
// deleting the one-time prekey afterwards. Returns INVALID_ARGUMENT if the
// initiator's identity DH signature does not verify, if a one-time prekey is
// named but not supplied or supplied but not named, or if a DH output is all
// zero. Same KDF as X3dhInitiate; intermediates zeroed.
[[nodiscard]] absl::StatusOr<X3dhResponderResult> X3dhRespond(const IdentityKeyPair& responder,
                                                              const X25519KeyPair& signed_prekey,
                                                              const X25519KeyPair* one_time_prekey,
                                                              const X3dhInitialHeader& header);

// The associated data AD for an initiator and a responder identity (as
// documented on X3dhInitiatorResult::associated_data). Exposed so a client
// can recompute it from stored identities.
[[nodiscard]] Bytes X3dhAssociatedData(const Ed25519PublicKey& initiator_signing_key,
                                       const X25519PublicKey& initiator_dh_key,
                                       const Ed25519PublicKey& responder_signing_key,
                                       const X25519PublicKey& responder_dh_key);

}  // namespace letterbox::crypto
