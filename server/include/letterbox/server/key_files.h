// File: letterbox/server/key_files.h
//
// Server secrets on disk: a keys directory of named key files, shared by the
// messaging server (franking key, discovery pepper) and the vault (intake key
// pair, key-encryption key, audit signing key, pseudonym key).
//
//  - The directory is created with mode 0700; a key file is created with mode
//    0600, written atomically (temporary file, fsync, link/rename, fsync of the
//    directory) and generated from libsodium's CSPRNG on first use.
//  - A key file that group or others may access, that another user owns, that
//    is a symlink, or whose size, magic, version, kind or name is wrong is
//    refused with FAILED_PRECONDITION / DATA_LOSS naming the file. Nothing is
//    ever regenerated over a file that exists but cannot be loaded.
//  - Every key carries a key id: the first 8 bytes of
//    BLAKE2b-256("letterbox.key-id.v1" ‖ kind ‖ material), in hex, where the
//    material is the public key for key pairs and the secret itself for
//    symmetric keys. The id is stored in the file and re-checked on load, so
//    a damaged file is detected. Ids are public and may be logged.
//  - Rotate() makes a new current key and keeps the previous ones, by key id,
//    for verification and decryption of old data.
//
// Layout of `<dir>`:
//   <name>.key            the current key
//   <name>.<keyid>.key    previous keys (hard links made by Rotate)
//
// File format v1 (all integers big-endian):
//   "LBKEY\0" (6) ‖ version u8 = 1 ‖ kind u8 ‖ name length u8 ‖ name ‖
//   key id (8) ‖ created Unix seconds i64 ‖ secret length u16 ‖ secret
//
//   LB_ASSIGN_OR_RETURN(KeyDirectory keys, KeyDirectory::Open("/var/lib/letterbox/keys"));
//   LB_ASSIGN_OR_RETURN(auto franking,
//                       keys.LoadOrCreate<crypto::FrankingServerKey>("franking"));
//   spdlog::info("event=key_loaded name=franking key_id={}", franking.id);  // never .key
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::server {

// What a key file holds; decides how the key id is derived and how a new key
// is generated.
enum class KeyKind : uint8_t {
  kSymmetric = 1,  // random bytes; id over the secret
  kX25519 = 2,     // 32-byte X25519 scalar; id over the public key
  kEd25519 = 3,    // 64-byte libsodium Ed25519 secret key; id over the public key
};

// The kind a Secret type is stored as: kSymmetric unless specialised below.
template <typename SecretType>
inline constexpr KeyKind kKeyKindOf = KeyKind::kSymmetric;
template <>
inline constexpr KeyKind kKeyKindOf<crypto::X25519SecretKey> = KeyKind::kX25519;
template <>
inline constexpr KeyKind kKeyKindOf<crypto::Ed25519SecretKey> = KeyKind::kEd25519;

// The current format version written by this code.
inline constexpr uint8_t kKeyFileVersion = 1;

// A key as read from its file, untyped. Move-only (the secret is zeroed when
// it is destroyed).
struct RawKey {
  std::string id;  // 16 lower-case hex characters
  KeyKind kind = KeyKind::kSymmetric;
  crypto::Bytes public_key;  // empty for kSymmetric
  int64_t created_unix_seconds = 0;
  crypto::SecretBytes secret;
};

// A key as typed by its user.
template <typename SecretType>
struct LoadedKey {
  SecretType key;
  std::string id;            // public; fine to log
  crypto::Bytes public_key;  // empty for symmetric keys
  int64_t created_unix_seconds = 0;
};

// A named key's current key and its previous ones.
template <typename SecretType>
struct KeyRing {
  LoadedKey<SecretType> current;
  std::vector<LoadedKey<SecretType>> previous;  // oldest rotation order not guaranteed

  // The key with `id`, current or previous; nullptr if there is none. The
  // pointer lives as long as the ring.
  [[nodiscard]] const LoadedKey<SecretType>* Find(std::string_view id) const {
    if (current.id == id) return &current;
    for (const auto& k : previous) {
      if (k.id == id) return &k;
    }
    return nullptr;
  }
};

// A keys directory. Cheap to copy (it holds the path and a Random*). Methods
// are safe to call from several threads and several processes: creation
// never overwrites a file another writer made first; concurrent Rotate calls
// on the same name are not serialised (each succeeds, the last one wins, all
// rotated-out keys stay loadable).
class KeyDirectory {
 public:
  // Opens `path`, creating it (mode 0700, parent must exist) if missing.
  // FAILED_PRECONDITION if it is not a directory, is owned by another user
  // or is writable by group or others; INVALID_ARGUMENT if `path` is empty;
  // INTERNAL on other I/O errors. `random` (not owned, must outlive the
  // directory) generates new keys; the default is libsodium's CSPRNG.
  [[nodiscard]] static absl::StatusOr<KeyDirectory> Open(
      std::string path, crypto::Random& random = crypto::SystemRandom::Instance());

  [[nodiscard]] const std::string& path() const { return path_; }

  // Typed: loads the current key `name`, generating it first if there is no
  // file. Key names are [a-z0-9_-]{1,64}. Errors as LoadOrCreateRaw.
  template <typename SecretType>
  [[nodiscard]] absl::StatusOr<LoadedKey<SecretType>> LoadOrCreate(std::string_view name) const {
    auto raw = LoadOrCreateRaw(name, kKeyKindOf<SecretType>, SecretType::kSize);
    if (!raw.ok()) return raw.status();
    return Typed<SecretType>(std::move(*raw));
  }

  // Typed: the current key and every previous key of `name`. NOT_FOUND if
  // there is no current key file; other errors as LoadRaw.
  template <typename SecretType>
  [[nodiscard]] absl::StatusOr<KeyRing<SecretType>> LoadRing(std::string_view name) const {
    auto raws = LoadAllRaw(name, kKeyKindOf<SecretType>, SecretType::kSize);
    if (!raws.ok()) return raws.status();
    KeyRing<SecretType> ring;
    for (size_t i = 0; i < raws->size(); ++i) {
      auto typed = Typed<SecretType>(std::move((*raws)[i]));
      if (!typed.ok()) return typed.status();
      if (i == 0) {
        ring.current = std::move(*typed);
      } else {
        ring.previous.push_back(std::move(*typed));
      }
    }
    return ring;
  }

  // Typed: generates a new current key for `name`, keeping the old one as
  // <name>.<old id>.key, and returns the new key. If there was no key yet,
  // this is creation. Errors as RotateRaw.
  template <typename SecretType>
  [[nodiscard]] absl::StatusOr<LoadedKey<SecretType>> Rotate(std::string_view name) const {
    auto raw = RotateRaw(name, kKeyKindOf<SecretType>, SecretType::kSize);
    if (!raw.ok()) return raw.status();
    return Typed<SecretType>(std::move(*raw));
  }

  // Untyped forms. `size` is the secret's length in bytes (for kX25519 it
  // must be 32, for kEd25519 64).
  //
  // LoadOrCreateRaw: the current key, generated if <name>.key does not exist.
  //   INVALID_ARGUMENT for a bad name or size; FAILED_PRECONDITION if the
  //   file's permissions, owner or type are unsafe; DATA_LOSS if the file is
  //   damaged (wrong length, magic, version, name, kind, size or key id);
  //   INTERNAL on I/O errors.
  [[nodiscard]] absl::StatusOr<RawKey> LoadOrCreateRaw(std::string_view name, KeyKind kind,
                                                       size_t size) const;
  // LoadRaw: the current key; NOT_FOUND if <name>.key does not exist, other
  //   errors as LoadOrCreateRaw.
  [[nodiscard]] absl::StatusOr<RawKey> LoadRaw(std::string_view name, KeyKind kind,
                                               size_t size) const;
  // LoadAllRaw: the current key first, then every previous key. NOT_FOUND if
  //   there is no current key; a damaged or unsafe previous key file fails
  //   the whole load (errors as LoadOrCreateRaw).
  [[nodiscard]] absl::StatusOr<std::vector<RawKey>> LoadAllRaw(std::string_view name, KeyKind kind,
                                                               size_t size) const;
  // RotateRaw: as Rotate. The old current key is linked to its archive name
  //   before the new key replaces it, so a crash at any point leaves every
  //   key loadable. Errors as LoadOrCreateRaw.
  [[nodiscard]] absl::StatusOr<RawKey> RotateRaw(std::string_view name, KeyKind kind,
                                                 size_t size) const;

 private:
  KeyDirectory(std::string path, crypto::Random* random)
      : path_(std::move(path)), random_(random) {}

  template <typename SecretType>
  static absl::StatusOr<LoadedKey<SecretType>> Typed(RawKey raw) {
    auto secret = SecretType::FromBytes(raw.secret.Expose());
    if (!secret.ok()) return secret.status();
    return LoadedKey<SecretType>{std::move(*secret), std::move(raw.id), std::move(raw.public_key),
                                 raw.created_unix_seconds};
  }

  std::string path_;
  crypto::Random* random_;
};

}  // namespace letterbox::server
