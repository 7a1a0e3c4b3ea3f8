// File: letterbox/crypto/hmac.h
//
// HMAC-SHA256 (RFC 2104, crypto_auth_hmacsha256 with keys of any length) and
// HKDF-SHA256 (RFC 5869) built on it.
//
//   auto tag = HmacSha256(key.Expose(), message);
//   LB_RETURN_IF_ERROR(VerifyHmacSha256(key.Expose(), message, tag.view()));
//   LB_ASSIGN_OR_RETURN(SecretBytes okm, HkdfSha256(ikm, salt, info, 64));
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"

namespace letterbox::crypto {

inline constexpr size_t kHmacSha256Size = 32;
inline constexpr size_t kHkdfSha256MaxOutput = 255 * kHmacSha256Size;

using HmacSha256Tag = FixedBytes<kHmacSha256Size, struct HmacSha256TagTag>;
// A 32-byte MAC key (the franking key, the discovery pepper, token keys).
using MacKey = Secret<32, struct MacKeyTag>;

// HMAC-SHA256(key, message). `key` may be any length, including empty.
[[nodiscard]] HmacSha256Tag HmacSha256(ByteView key, ByteView message);

// OK if `tag` equals HMAC-SHA256(key, message), compared in constant time.
// `tag` may be truncated to between 16 and 32 bytes (RFC 2104 section 5);
// INVALID_ARGUMENT for a mismatch or a tag length outside that range.
[[nodiscard]] absl::Status VerifyHmacSha256(ByteView key, ByteView message, ByteView tag);

// HKDF-Extract(salt, ikm) -> PRK. An empty salt means 32 zero bytes.
[[nodiscard]] Secret<kHmacSha256Size, struct HkdfPrkTag> HkdfSha256Extract(ByteView salt,
                                                                           ByteView ikm);
// HKDF-Expand(prk, info, length). INVALID_ARGUMENT if length > 8160 or the PRK
// is shorter than 32 bytes.
[[nodiscard]] absl::StatusOr<SecretBytes> HkdfSha256Expand(ByteView prk, ByteView info,
                                                           size_t length);
// Extract then Expand. INVALID_ARGUMENT if length > 8160.
[[nodiscard]] absl::StatusOr<SecretBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info,
                                                     size_t length);

}  // namespace letterbox::crypto
