// Anonymous public-key encryption on crypto_box_seal / crypto_box_seal_open.
#include "letterbox/crypto/sealed_box.h"

#include <sodium.h>

namespace letterbox::crypto {

static_assert(kSealedBoxOverhead == crypto_box_SEALBYTES);
static_assert(kX25519KeySize == crypto_box_PUBLICKEYBYTES);
static_assert(kX25519KeySize == crypto_box_SECRETKEYBYTES);

absl::StatusOr<Bytes> SealedBoxSeal(const X25519PublicKey& recipient, ByteView message) {
  if (message.size() > crypto_box_MESSAGEBYTES_MAX - kSealedBoxOverhead) {
    return absl::InvalidArgumentError("message is too long to seal");
  }
  Bytes sealed(message.size() + kSealedBoxOverhead);
  // crypto_box_seal fails when the ephemeral X25519 agreement with
  // `recipient` yields the all-zero secret (a low-order point).
  if (crypto_box_seal(sealed.data(), message.data(), message.size(), recipient.data()) != 0) {
    return absl::InvalidArgumentError("cannot seal to this public key");
  }
  return sealed;
}

absl::StatusOr<SecretBytes> SealedBoxOpen(const X25519KeyPair& recipient, ByteView sealed) {
  if (sealed.size() < kSealedBoxOverhead) {
    return absl::InvalidArgumentError("sealed box is shorter than its 48-byte overhead");
  }
  SecretBytes message(sealed.size() - kSealedBoxOverhead);
  if (crypto_box_seal_open(message.mutable_view().data(), sealed.data(), sealed.size(),
                           recipient.public_key.data(), recipient.secret_key.data()) != 0) {
    return absl::InvalidArgumentError("sealed box does not open with this key");
  }
  return message;
}

}  // namespace letterbox::crypto
