// File: letterbox/crypto/ed25519.h
//
// Ed25519 signatures (crypto_sign_detached / crypto_sign_verify_detached).
// libsodium 1.0.18 verifies strictly: it rejects non-canonical encodings and
// small-order public keys and R values.
//
//   auto id = Ed25519KeyPair::Generate(SystemRandom::Instance());
//   Ed25519Signature sig = Ed25519Sign(id.secret_key, message);
//   LB_RETURN_IF_ERROR(Ed25519Verify(id.public_key, message, sig));
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"

namespace letterbox::crypto {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SecretKeySize = 64;  // seed ‖ public key, libsodium layout
inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

using Ed25519PublicKey = FixedBytes<kEd25519PublicKeySize, struct Ed25519PublicKeyTag>;
using Ed25519SecretKey = Secret<kEd25519SecretKeySize, struct Ed25519SecretKeyTag>;
using Ed25519Seed = Secret<kEd25519SeedSize, struct Ed25519SeedTag>;
using Ed25519Signature = FixedBytes<kEd25519SignatureSize, struct Ed25519SignatureTag>;

struct Ed25519KeyPair {
  Ed25519PublicKey public_key;
  Ed25519SecretKey secret_key;

  // A fresh key pair from a 32-byte random seed.
  [[nodiscard]] static Ed25519KeyPair Generate(Random& random);
  // The key pair derived from `seed` (crypto_sign_seed_keypair).
  [[nodiscard]] static Ed25519KeyPair FromSeed(const Ed25519Seed& seed);
  // Rebuilds a key pair from a stored 64-byte secret key.
  [[nodiscard]] static Ed25519KeyPair FromSecret(Ed25519SecretKey secret_key);
};

// A detached signature over `message`.
[[nodiscard]] Ed25519Signature Ed25519Sign(const Ed25519SecretKey& secret_key, ByteView message);

// OK if `signature` is a valid signature of `message` under `public_key`;
// INVALID_ARGUMENT("signature does not verify") otherwise.
[[nodiscard]] absl::Status Ed25519Verify(const Ed25519PublicKey& public_key, ByteView message,
                                         const Ed25519Signature& signature);

}  // namespace letterbox::crypto
