// XChaCha20-Poly1305 and ChaCha20-Poly1305 (IETF) on libsodium's
// crypto_aead_*_ietf_{encrypt,decrypt}.
#include "letterbox/crypto/aead.h"

#include <sodium.h>

#include "letterbox/common/status.h"

namespace letterbox::crypto {

namespace {

static_assert(kAeadKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadKeySize == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadTagSize == crypto_aead_xchacha20poly1305_ietf_ABYTES);
static_assert(kAeadTagSize == crypto_aead_chacha20poly1305_ietf_ABYTES);
static_assert(kXChaCha20NonceSize == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
static_assert(kChaCha20IetfNonceSize == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);

// The two constructions differ only in the libsodium functions they call.
struct XChaCha20 {
  static constexpr size_t kMaxMessage = crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX;
  static constexpr auto kEncrypt = crypto_aead_xchacha20poly1305_ietf_encrypt;
  static constexpr auto kDecrypt = crypto_aead_xchacha20poly1305_ietf_decrypt;
};
struct ChaCha20Ietf {
  static constexpr size_t kMaxMessage = crypto_aead_chacha20poly1305_ietf_MESSAGEBYTES_MAX;
  static constexpr auto kEncrypt = crypto_aead_chacha20poly1305_ietf_encrypt;
  static constexpr auto kDecrypt = crypto_aead_chacha20poly1305_ietf_decrypt;
};

template <typename Cipher>
Bytes Encrypt(const AeadKey& key, const uint8_t* nonce, ByteView plaintext,
              ByteView associated_data) {
  // libsodium aborts beyond its message limit (about 256 GiB), which no
  // caller can reach in memory; refuse rather than abort. The empty result is
  // shorter than a tag, so it opens to nothing.
  if (plaintext.size() > Cipher::kMaxMessage) return Bytes();
  Bytes ciphertext(plaintext.size() + kAeadTagSize);
  unsigned long long ciphertext_size = 0;
  if (Cipher::kEncrypt(ciphertext.data(), &ciphertext_size, plaintext.data(), plaintext.size(),
                       associated_data.data(), associated_data.size(), nullptr, nonce,
                       key.data()) != 0 ||
      ciphertext_size != ciphertext.size()) {
    return Bytes();
  }
  return ciphertext;
}

template <typename Cipher>
absl::StatusOr<SecretBytes> Decrypt(const AeadKey& key, const uint8_t* nonce, ByteView ciphertext,
                                    ByteView associated_data) {
  if (ciphertext.size() < kAeadTagSize) {
    return absl::InvalidArgumentError("ciphertext is shorter than an authentication tag");
  }
  SecretBytes plaintext(ciphertext.size() - kAeadTagSize);
  unsigned long long plaintext_size = 0;
  if (Cipher::kDecrypt(plaintext.mutable_view().data(), &plaintext_size, nullptr, ciphertext.data(),
                       ciphertext.size(), associated_data.data(), associated_data.size(), nonce,
                       key.data()) != 0 ||
      plaintext_size != plaintext.size()) {
    return absl::InvalidArgumentError("ciphertext does not authenticate");
  }
  return plaintext;
}

}  // namespace

Bytes XChaCha20Poly1305Encrypt(const AeadKey& key, const XChaCha20Nonce& nonce, ByteView plaintext,
                               ByteView associated_data) {
  return Encrypt<XChaCha20>(key, nonce.data(), plaintext, associated_data);
}

absl::StatusOr<SecretBytes> XChaCha20Poly1305Decrypt(const AeadKey& key,
                                                     const XChaCha20Nonce& nonce,
                                                     ByteView ciphertext,
                                                     ByteView associated_data) {
  return Decrypt<XChaCha20>(key, nonce.data(), ciphertext, associated_data);
}

Bytes ChaCha20Poly1305IetfEncrypt(const AeadKey& key, const ChaCha20IetfNonce& nonce,
                                  ByteView plaintext, ByteView associated_data) {
  return Encrypt<ChaCha20Ietf>(key, nonce.data(), plaintext, associated_data);
}

absl::StatusOr<SecretBytes> ChaCha20Poly1305IetfDecrypt(const AeadKey& key,
                                                        const ChaCha20IetfNonce& nonce,
                                                        ByteView ciphertext,
                                                        ByteView associated_data) {
  return Decrypt<ChaCha20Ietf>(key, nonce.data(), ciphertext, associated_data);
}

Bytes XChaCha20Seal(const AeadKey& key, ByteView plaintext, ByteView associated_data,
                    Random& random) {
  const auto nonce = RandomFixed<XChaCha20Nonce>(random);
  Bytes ciphertext = XChaCha20Poly1305Encrypt(key, nonce, plaintext, associated_data);
  if (ciphertext.empty()) return Bytes();  // Encrypt refused; see Encrypt<>.
  Bytes sealed;
  sealed.reserve(kXChaCha20NonceSize + ciphertext.size());
  sealed.insert(sealed.end(), nonce.view().begin(), nonce.view().end());
  sealed.insert(sealed.end(), ciphertext.begin(), ciphertext.end());
  return sealed;
}

absl::StatusOr<SecretBytes> XChaCha20Open(const AeadKey& key, ByteView sealed,
                                          ByteView associated_data) {
  if (sealed.size() < kXChaCha20NonceSize + kAeadTagSize) {
    return absl::InvalidArgumentError("sealed box is shorter than a nonce and a tag");
  }
  LB_ASSIGN_OR_RETURN(XChaCha20Nonce nonce,
                      XChaCha20Nonce::FromBytes(sealed.first(kXChaCha20NonceSize)));
  return XChaCha20Poly1305Decrypt(key, nonce, sealed.subspan(kXChaCha20NonceSize), associated_data);
}

}  // namespace letterbox::crypto
