// X25519 key agreement on libsodium's crypto_scalarmult.
#include "letterbox/crypto/x25519.h"

#include <sodium.h>

#include <utility>

namespace letterbox::crypto {

static_assert(kX25519KeySize == crypto_scalarmult_BYTES);
static_assert(kX25519KeySize == crypto_scalarmult_SCALARBYTES);

X25519KeyPair X25519KeyPair::Generate(Random& random) {
  return FromSecret(RandomSecret<X25519SecretKey>(random));
}

X25519KeyPair X25519KeyPair::FromSecret(X25519SecretKey secret_key) {
  X25519KeyPair pair;
  pair.public_key = X25519PublicFromSecret(secret_key);
  pair.secret_key = std::move(secret_key);
  return pair;
}

X25519PublicKey X25519PublicFromSecret(const X25519SecretKey& secret_key) {
  X25519PublicKey public_key;
  // A clamped scalar times the base point is never the identity, so this
  // cannot fail; if libsodium ever says otherwise, the all-zero key we return
  // is one that X25519() refuses as a peer.
  if (crypto_scalarmult_base(public_key.data(), secret_key.data()) != 0) {
    return X25519PublicKey();
  }
  return public_key;
}

absl::StatusOr<X25519SharedSecret> X25519(const X25519SecretKey& secret_key,
                                          const X25519PublicKey& peer) {
  X25519SharedSecret shared;
  // libsodium returns -1 for an all-zero result; the explicit check keeps the
  // rule independent of the library version.
  if (crypto_scalarmult(shared.data(), secret_key.data(), peer.data()) != 0 || shared.IsZero()) {
    return absl::InvalidArgumentError("X25519 produced the all-zero shared secret");
  }
  return shared;
}

}  // namespace letterbox::crypto
