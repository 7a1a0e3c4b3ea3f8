// File: letterbox/crypto/bytes.h
//
// Byte containers with types that say what they hold.
//
//  - FixedBytes<N, Tag>: public values of a fixed size (public keys, nonces,
//    signatures, MACs, ids). Copyable, comparable, printable as hex. The Tag
//    makes an X25519 public key and an Ed25519 public key different types.
//  - Secret<N, Tag>: secret keys and other fixed-size secrets. Move-only;
//    zeroed (sodium_memzero) on destruction and when moved from; compared in
//    constant time (sodium_memcmp); never printable. Reading the bytes needs
//    an explicit, searchable call: secret.Expose().
//  - SecretBytes: the same guarantees for secrets of run-time length
//    (decrypted plaintexts, derived key material).
//
//   X25519PublicKey pub = ...;           // copy freely
//   X25519SecretKey sec = ...;           // move only
//   X25519SecretKey other = std::move(sec);   // sec is now all zero
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace letterbox::crypto {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// Views the characters of a string as bytes (no copy).
[[nodiscard]] inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
// Copies bytes into a std::string (for protobuf `bytes` fields).
[[nodiscard]] inline std::string ToString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
// Lower-case hex of public data. Never call it on a secret.
[[nodiscard]] std::string ToHex(ByteView b);
// Parses hex (either case, even length). INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<Bytes> FromHex(std::string_view hex);

// Overwrites `b` with zeros in a way the compiler cannot elide.
void SecureZero(std::span<uint8_t> b);
// Constant-time equality of two equal-length buffers; false if the lengths
// differ (the length itself is not secret).
[[nodiscard]] bool ConstantTimeEquals(ByteView a, ByteView b);

// A public value of exactly N bytes.
template <size_t N, typename Tag>
class FixedBytes {
 public:
  static constexpr size_t kSize = N;

  FixedBytes() : bytes_{} {}
  explicit FixedBytes(const std::array<uint8_t, N>& bytes) : bytes_(bytes) {}

  // Copies `b` if it is exactly N bytes; INVALID_ARGUMENT otherwise.
  [[nodiscard]] static absl::StatusOr<FixedBytes> FromBytes(ByteView b) {
    if (b.size() != N) {
      return absl::InvalidArgumentError("wrong length: expected " + std::to_string(N) +
                                        " bytes, got " + std::to_string(b.size()));
    }
    FixedBytes out;
    std::copy(b.begin(), b.end(), out.bytes_.begin());
    return out;
  }
  [[nodiscard]] static absl::StatusOr<FixedBytes> FromString(std::string_view s) {
    return FromBytes(AsBytes(s));
  }

  [[nodiscard]] const uint8_t* data() const { return bytes_.data(); }
  [[nodiscard]] uint8_t* data() { return bytes_.data(); }
  [[nodiscard]] static constexpr size_t size() { return N; }
  [[nodiscard]] ByteView view() const { return {bytes_.data(), N}; }
  [[nodiscard]] std::span<uint8_t> mutable_view() { return {bytes_.data(), N}; }
  [[nodiscard]] std::string str() const { return ToString(view()); }
  [[nodiscard]] std::string hex() const { return ToHex(view()); }
  [[nodiscard]] bool IsZero() const {
    for (uint8_t b : bytes_) {
      if (b != 0) return false;
    }
    return true;
  }

  friend bool operator==(const FixedBytes&, const FixedBytes&) = default;
  friend auto operator<=>(const FixedBytes&, const FixedBytes&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const FixedBytes& v) {
    return H::combine_contiguous(std::move(h), v.bytes_.data(), N);
  }

 private:
  std::array<uint8_t, N> bytes_;
};

// A secret of exactly N bytes. Move-only; zeroed on destruction and move-from.
template <size_t N, typename Tag>
class Secret {
 public:
  static constexpr size_t kSize = N;

  // An all-zero secret (a placeholder to be filled through mutable_view()).
  Secret() : bytes_{} {}
  ~Secret() { SecureZero(bytes_); }
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;
  Secret(Secret&& other) noexcept : bytes_(other.bytes_) { SecureZero(other.bytes_); }
  Secret& operator=(Secret&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      SecureZero(other.bytes_);
    }
    return *this;
  }

  // Copies `b` if it is exactly N bytes; INVALID_ARGUMENT otherwise. The
  // caller remains responsible for zeroing its own copy.
  [[nodiscard]] static absl::StatusOr<Secret> FromBytes(ByteView b) {
    if (b.size() != N) {
      return absl::InvalidArgumentError("wrong secret length: expected " + std::to_string(N) +
                                        " bytes, got " + std::to_string(b.size()));
    }
    Secret out;
    std::copy(b.begin(), b.end(), out.bytes_.begin());
    return out;
  }

  // An explicit copy, for the rare place that needs two owners.
  [[nodiscard]] Secret Clone() const {
    Secret out;
    out.bytes_ = bytes_;
    return out;
  }

  // The raw bytes. Every call site is a place where a secret leaves its type.
  [[nodiscard]] ByteView Expose() const { return {bytes_.data(), N}; }
  [[nodiscard]] std::span<uint8_t> mutable_view() { return {bytes_.data(), N}; }
  [[nodiscard]] const uint8_t* data() const { return bytes_.data(); }
  [[nodiscard]] uint8_t* data() { return bytes_.data(); }
  [[nodiscard]] static constexpr size_t size() { return N; }
  [[nodiscard]] bool IsZero() const {
    uint8_t acc = 0;
    for (uint8_t b : bytes_) acc |= b;
    return acc == 0;
  }

  // Constant-time comparison.
  [[nodiscard]] bool Equals(const Secret& other) const {
    return ConstantTimeEquals(Expose(), other.Expose());
  }

 private:
  std::array<uint8_t, N> bytes_;
};

// A secret of run-time length. Move-only; zeroed on destruction and move-from.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : bytes_(size, 0) {}
  // Copies `b`. The caller remains responsible for zeroing its own copy.
  explicit SecretBytes(ByteView b) : bytes_(b.begin(), b.end()) {}
  ~SecretBytes() { SecureZero(bytes_); }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
    SecureZero(other.bytes_);
    other.bytes_.clear();
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      SecureZero(bytes_);
      bytes_ = std::move(other.bytes_);
      SecureZero(other.bytes_);
      other.bytes_.clear();
    }
    return *this;
  }

  [[nodiscard]] SecretBytes Clone() const { return SecretBytes(Expose()); }
  [[nodiscard]] ByteView Expose() const { return {bytes_.data(), bytes_.size()}; }
  [[nodiscard]] std::span<uint8_t> mutable_view() { return {bytes_.data(), bytes_.size()}; }
  [[nodiscard]] size_t size() const { return bytes_.size(); }
  [[nodiscard]] bool empty() const { return bytes_.empty(); }
  [[nodiscard]] bool Equals(const SecretBytes& other) const {
    return ConstantTimeEquals(Expose(), other.Expose());
  }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace letterbox::crypto
