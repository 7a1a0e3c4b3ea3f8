// BLAKE2b (crypto_generichash) and SHA-256 (crypto_hash_sha256).
#include "letterbox/crypto/hash.h"

#include <sodium.h>

#include <string>

namespace letterbox::crypto {

namespace {

static_assert(Blake2b256::size() >= crypto_generichash_BYTES_MIN &&
              Blake2b256::size() <= crypto_generichash_BYTES_MAX);
static_assert(Sha256Digest::size() == crypto_hash_sha256_BYTES);

bool KeyLengthAllowed(size_t key_size) {
  return key_size == 0 || (key_size >= crypto_generichash_KEYBYTES_MIN &&
                           key_size <= crypto_generichash_KEYBYTES_MAX);
}

// BLAKE2b of `message` into `out`. Callers check the lengths first; libsodium
// also rejects out-of-range ones with -1 rather than aborting.
bool Blake2bInto(std::span<uint8_t> out, ByteView message, ByteView key) {
  return crypto_generichash(out.data(), out.size(), message.data(), message.size(),
                            key.empty() ? nullptr : key.data(), key.size()) == 0;
}

}  // namespace

Blake2b256 Blake2b256Of(ByteView message) {
  Blake2b256 digest;
  // Unkeyed BLAKE2b with a valid output length cannot fail; the all-zero
  // digest returned if it ever did matches no real digest.
  if (!Blake2bInto(digest.mutable_view(), message, {})) return Blake2b256();
  return digest;
}

absl::StatusOr<Blake2b256> Blake2b256Keyed(ByteView key, ByteView message) {
  if (key.empty() || !KeyLengthAllowed(key.size())) {
    return absl::InvalidArgumentError("BLAKE2b key must be 16 to 64 bytes, got " +
                                      std::to_string(key.size()));
  }
  Blake2b256 digest;
  if (!Blake2bInto(digest.mutable_view(), message, key)) {
    return absl::InternalError("crypto_generichash failed");
  }
  return digest;
}

absl::StatusOr<Bytes> Blake2b(ByteView message, size_t out_len, ByteView key) {
  if (out_len < crypto_generichash_BYTES_MIN || out_len > crypto_generichash_BYTES_MAX) {
    return absl::InvalidArgumentError("BLAKE2b output must be 16 to 64 bytes, got " +
                                      std::to_string(out_len));
  }
  if (!KeyLengthAllowed(key.size())) {
    return absl::InvalidArgumentError("BLAKE2b key must be empty or 16 to 64 bytes, got " +
                                      std::to_string(key.size()));
  }
  Bytes digest(out_len);
  if (!Blake2bInto(digest, message, key)) {
    return absl::InternalError("crypto_generichash failed");
  }
  return digest;
}

Sha256Digest Sha256(ByteView message) {
  Sha256Digest digest;
  // crypto_hash_sha256 always returns 0.
  if (crypto_hash_sha256(digest.data(), message.data(), message.size()) != 0) {
    return Sha256Digest();
  }
  return digest;
}

}  // namespace letterbox::crypto
