// File: letterbox/crypto/hash.h
//
// BLAKE2b (crypto_generichash), keyed or not, and SHA-256
// (crypto_hash_sha256) where a protocol names it (RFC 6962 audit trees).
//
//   Blake2b256 digest = Blake2b256Of(bytes);
//   Blake2b256 handle = Blake2b256Keyed(pepper.Expose(), phone_number);
#pragma once

#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"

namespace letterbox::crypto {

using Blake2b256 = FixedBytes<32, struct Blake2b256Tag>;
using Sha256Digest = FixedBytes<32, struct Sha256DigestTag>;

// Unkeyed BLAKE2b with a 32-byte output.
[[nodiscard]] Blake2b256 Blake2b256Of(ByteView message);
// Keyed BLAKE2b with a 32-byte output; `key` must be 16..64 bytes
// (INVALID_ARGUMENT otherwise).
[[nodiscard]] absl::StatusOr<Blake2b256> Blake2b256Keyed(ByteView key, ByteView message);
// BLAKE2b with an output of `out_len` bytes (16..64) and an optional key
// (empty, or 16..64 bytes). INVALID_ARGUMENT for lengths outside those ranges.
[[nodiscard]] absl::StatusOr<Bytes> Blake2b(ByteView message, size_t out_len, ByteView key = {});

// SHA-256.
[[nodiscard]] Sha256Digest Sha256(ByteView message);

}  // namespace letterbox::crypto
