// File: letterbox/crypto/aead.h
//
// Authenticated encryption with associated data:
//  - XChaCha20-Poly1305 (24-byte nonce, safe with random nonces): use this
//    for anything new. XChaCha20Seal draws its own nonce and prepends it.
//  - ChaCha20-Poly1305 IETF (12-byte nonce): for protocols that fix it.
// Neither is key-committing: never use an AEAD tag as a franking commitment.
//
//   auto key = RandomSecret<AeadKey>(SystemRandom::Instance());
//   Bytes box = XChaCha20Seal(key, plaintext, ad, SystemRandom::Instance());
//   LB_ASSIGN_OR_RETURN(SecretBytes pt, XChaCha20Open(key, box, ad));
#pragma once

#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"

namespace letterbox::crypto {

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kXChaCha20NonceSize = 24;
inline constexpr size_t kChaCha20IetfNonceSize = 12;

using AeadKey = Secret<kAeadKeySize, struct AeadKeyTag>;

using XChaCha20Nonce = FixedBytes<kXChaCha20NonceSize, struct XChaCha20NonceTag>;
using ChaCha20IetfNonce = FixedBytes<kChaCha20IetfNonceSize, struct ChaCha20IetfNonceTag>;

// ciphertext ‖ tag (plaintext.size() + 16 bytes) under an explicit nonce.
// The caller guarantees the (key, nonce) pair is never reused.
[[nodiscard]] Bytes XChaCha20Poly1305Encrypt(const AeadKey& key, const XChaCha20Nonce& nonce,
                                             ByteView plaintext, ByteView associated_data);
// Opens ciphertext ‖ tag. INVALID_ARGUMENT if it is shorter than a tag or does
// not authenticate; nothing of the plaintext is returned then.
[[nodiscard]] absl::StatusOr<SecretBytes> XChaCha20Poly1305Decrypt(const AeadKey& key,
                                                                   const XChaCha20Nonce& nonce,
                                                                   ByteView ciphertext,
                                                                   ByteView associated_data);

[[nodiscard]] Bytes ChaCha20Poly1305IetfEncrypt(const AeadKey& key, const ChaCha20IetfNonce& nonce,
                                                ByteView plaintext, ByteView associated_data);
[[nodiscard]] absl::StatusOr<SecretBytes> ChaCha20Poly1305IetfDecrypt(
    const AeadKey& key, const ChaCha20IetfNonce& nonce, ByteView ciphertext,
    ByteView associated_data);

// nonce ‖ ciphertext ‖ tag with a fresh random 24-byte nonce.
[[nodiscard]] Bytes XChaCha20Seal(const AeadKey& key, ByteView plaintext, ByteView associated_data,
                                  Random& random);
// Opens the output of XChaCha20Seal. INVALID_ARGUMENT if malformed or forged.
[[nodiscard]] absl::StatusOr<SecretBytes> XChaCha20Open(const AeadKey& key, ByteView sealed,
                                                        ByteView associated_data);

}  // namespace letterbox::crypto
