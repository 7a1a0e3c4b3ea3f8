// File: letterbox/crypto/x25519.h
//
// X25519 key agreement (crypto_scalarmult). The shared secret is the raw
// X25519 output; feed it to HKDF, never use it as a key directly.
//
//   auto alice = X25519KeyPair::Generate(SystemRandom::Instance());
//   auto bob = X25519KeyPair::Generate(SystemRandom::Instance());
//   LB_ASSIGN_OR_RETURN(auto shared, X25519(alice.secret_key, bob.public_key));
#pragma once

#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"

namespace letterbox::crypto {

inline constexpr size_t kX25519KeySize = 32;

using X25519PublicKey = FixedBytes<kX25519KeySize, struct X25519PublicKeyTag>;
using X25519SecretKey = Secret<kX25519KeySize, struct X25519SecretKeyTag>;
using X25519SharedSecret = Secret<kX25519KeySize, struct X25519SharedSecretTag>;

struct X25519KeyPair {
  X25519PublicKey public_key;
  X25519SecretKey secret_key;

  // A fresh key pair: 32 random bytes as the scalar, its public point.
  [[nodiscard]] static X25519KeyPair Generate(Random& random);
  // The key pair whose secret scalar is `secret_key` (which it takes over).
  [[nodiscard]] static X25519KeyPair FromSecret(X25519SecretKey secret_key);
};

// The public key of a secret scalar.
[[nodiscard]] X25519PublicKey X25519PublicFromSecret(const X25519SecretKey& secret_key);

// X25519(secret, peer). INVALID_ARGUMENT if the result is all zero (the peer
// sent a low-order point), which also covers libsodium's own refusal.
[[nodiscard]] absl::StatusOr<X25519SharedSecret> X25519(const X25519SecretKey& secret_key,
                                                        const X25519PublicKey& peer);

}  // namespace letterbox::crypto
