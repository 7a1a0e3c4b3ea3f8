// Ed25519 signatures on libsodium's crypto_sign_* (detached mode).
#include "letterbox/crypto/ed25519.h"

#include <sodium.h>

#include <utility>

namespace letterbox::crypto {

static_assert(kEd25519PublicKeySize == crypto_sign_PUBLICKEYBYTES);
static_assert(kEd25519SecretKeySize == crypto_sign_SECRETKEYBYTES);
static_assert(kEd25519SeedSize == crypto_sign_SEEDBYTES);
static_assert(kEd25519SignatureSize == crypto_sign_BYTES);

Ed25519KeyPair Ed25519KeyPair::Generate(Random& random) {
  return FromSeed(RandomSecret<Ed25519Seed>(random));
}

Ed25519KeyPair Ed25519KeyPair::FromSeed(const Ed25519Seed& seed) {
  Ed25519KeyPair pair;
  // crypto_sign_seed_keypair cannot fail (it always returns 0). Should it
  // report failure anyway, both halves are left all zero: a zero public key
  // never verifies anything.
  if (crypto_sign_seed_keypair(pair.public_key.data(), pair.secret_key.data(), seed.data()) != 0) {
    return Ed25519KeyPair();
  }
  return pair;
}

Ed25519KeyPair Ed25519KeyPair::FromSecret(Ed25519SecretKey secret_key) {
  // The stored key is seed ‖ public key. Rebuilding the pair from the seed
  // alone means a corrupted public half can never be used for signing
  // (signing with a mismatched public key leaks the secret scalar).
  Ed25519Seed seed;
  if (crypto_sign_ed25519_sk_to_seed(seed.data(), secret_key.data()) != 0) {
    return Ed25519KeyPair();
  }
  return FromSeed(seed);
}

Ed25519Signature Ed25519Sign(const Ed25519SecretKey& secret_key, ByteView message) {
  Ed25519Signature signature;
  unsigned long long signature_size = 0;
  // crypto_sign_detached always succeeds; an all-zero signature, returned if
  // it ever did not, fails verification.
  if (crypto_sign_detached(signature.data(), &signature_size, message.data(), message.size(),
                           secret_key.data()) != 0 ||
      signature_size != kEd25519SignatureSize) {
    return Ed25519Signature();
  }
  return signature;
}

absl::Status Ed25519Verify(const Ed25519PublicKey& public_key, ByteView message,
                           const Ed25519Signature& signature) {
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  public_key.data()) != 0) {
    return absl::InvalidArgumentError("signature does not verify");
  }
  return absl::OkStatus();
}

}  // namespace letterbox::crypto
