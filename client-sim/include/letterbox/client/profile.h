// File: letterbox/client/profile.h
//
// The account profile (display name, phone number, e-mail), encrypted on the
// device with a random 32-byte profile key so the server stores only an
// opaque blob (threat model P1). The profile key is shared with contacts out
// of band (inside end-to-end messages); the server never sees it.
//
//   ProfileKey key = NewProfileKey(SystemRandom::Instance());
//   LB_ASSIGN_OR_RETURN(Bytes blob, EncryptProfile(key, profile, SystemRandom::Instance()));
//   request.set_encrypted_profile(crypto::ToString(blob));
//   LB_ASSIGN_OR_RETURN(Profile back, DecryptProfile(key, blob));
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"

namespace letterbox::client {

inline constexpr uint8_t kProfileVersion = 1;
// Each field's limit; the whole blob stays under the server's 4 KiB default.
inline constexpr size_t kMaxProfileFieldBytes = 1024;

using ProfileKey = crypto::AeadKey;

// Plain profile fields. Each may be empty.
struct Profile {
  std::string display_name;
  std::string phone_number;
  std::string email;

  friend bool operator==(const Profile&, const Profile&) = default;
};

// A fresh random profile key.
[[nodiscard]] ProfileKey NewProfileKey(crypto::Random& random);

// XChaCha20Seal(key, U8(kProfileVersion) ‖ Bytes(name) ‖ Bytes(phone) ‖
// Bytes(email), ad = Label("letterbox.profile.v1")): nonce ‖ ciphertext ‖ tag.
// INVALID_ARGUMENT if a field exceeds kMaxProfileFieldBytes.
[[nodiscard]] absl::StatusOr<crypto::Bytes> EncryptProfile(const ProfileKey& key,
                                                           const Profile& profile,
                                                           crypto::Random& random);

// The inverse. INVALID_ARGUMENT if the blob does not open under `key`, or
// its content is malformed (strict: wrong version, trailing bytes).
[[nodiscard]] absl::StatusOr<Profile> DecryptProfile(const ProfileKey& key, crypto::ByteView blob);

}  // namespace letterbox::client
