// HMAC-SHA256 on crypto_auth_hmacsha256_{init,update,final} (keys of any
// length) and HKDF-SHA256 (RFC 5869) built on it.
#include "letterbox/crypto/hmac.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string>

#include "letterbox/common/status.h"

namespace letterbox::crypto {

namespace {

static_assert(kHmacSha256Size == crypto_auth_hmacsha256_BYTES);

using HkdfPrk = Secret<kHmacSha256Size, struct HkdfPrkTag>;

constexpr size_t kMinTruncatedTagSize = 16;

// One HMAC-SHA256 computation. The state holds key-derived pads, so it is
// zeroed on destruction.
class HmacState {
 public:
  HmacState() = default;
  HmacState(const HmacState&) = delete;
  HmacState& operator=(const HmacState&) = delete;
  ~HmacState() { sodium_memzero(&state_, sizeof state_); }

  [[nodiscard]] bool Init(ByteView key) {
    // libsodium declares the key pointer nonnull, even for an empty key.
    static constexpr uint8_t kNoKey = 0;
    return crypto_auth_hmacsha256_init(&state_, key.empty() ? &kNoKey : key.data(), key.size()) ==
           0;
  }
  [[nodiscard]] bool Update(ByteView part) {
    return crypto_auth_hmacsha256_update(&state_, part.data(), part.size()) == 0;
  }
  [[nodiscard]] bool Final(std::span<uint8_t, kHmacSha256Size> out) {
    return crypto_auth_hmacsha256_final(&state_, out.data()) == 0;
  }

 private:
  crypto_auth_hmacsha256_state state_;
};

// HMAC-SHA256(key, concatenation of `parts`) into `out`; false if libsodium
// reports a failure (it never does in 1.0.18).
[[nodiscard]] bool ComputeHmac(ByteView key, std::initializer_list<ByteView> parts,
                               std::span<uint8_t, kHmacSha256Size> out) {
  HmacState state;
  if (!state.Init(key)) return false;
  for (ByteView part : parts) {
    if (!state.Update(part)) return false;
  }
  return state.Final(out);
}

absl::StatusOr<HkdfPrk> CheckedExtract(ByteView salt, ByteView ikm) {
  static constexpr std::array<uint8_t, kHmacSha256Size> kZeroSalt{};
  HkdfPrk prk;
  if (!ComputeHmac(salt.empty() ? ByteView(kZeroSalt) : salt, {ikm},
                   std::span<uint8_t, kHmacSha256Size>(prk.mutable_view()))) {
    return absl::InternalError("HMAC-SHA256 failed");
  }
  return prk;
}

absl::Status CheckOutputLength(size_t length) {
  if (length > kHkdfSha256MaxOutput) {
    return absl::InvalidArgumentError("HKDF-SHA256 output of " + std::to_string(length) +
                                      " bytes exceeds the maximum of " +
                                      std::to_string(kHkdfSha256MaxOutput));
  }
  return absl::OkStatus();
}

}  // namespace

HmacSha256Tag HmacSha256(ByteView key, ByteView message) {
  HmacSha256Tag tag;
  // libsodium's HMAC cannot fail; if it ever reported failure, the all-zero
  // tag returned is never accepted by VerifyHmacSha256, which checks itself.
  if (!ComputeHmac(key, {message}, std::span<uint8_t, kHmacSha256Size>(tag.mutable_view()))) {
    return HmacSha256Tag();
  }
  return tag;
}

absl::Status VerifyHmacSha256(ByteView key, ByteView message, ByteView tag) {
  if (tag.size() < kMinTruncatedTagSize || tag.size() > kHmacSha256Size) {
    return absl::InvalidArgumentError("HMAC-SHA256 tag must be 16 to 32 bytes, got " +
                                      std::to_string(tag.size()));
  }
  HmacSha256Tag expected;
  if (!ComputeHmac(key, {message}, std::span<uint8_t, kHmacSha256Size>(expected.mutable_view()))) {
    return absl::InternalError("HMAC-SHA256 failed");
  }
  if (!ConstantTimeEquals(expected.view().first(tag.size()), tag)) {
    return absl::InvalidArgumentError("HMAC-SHA256 tag does not verify");
  }
  return absl::OkStatus();
}

HkdfPrk HkdfSha256Extract(ByteView salt, ByteView ikm) {
  auto prk = CheckedExtract(salt, ikm);
  // Only an (impossible) libsodium failure lands here. HkdfSha256 uses the
  // checked path and reports it instead.
  if (!prk.ok()) return HkdfPrk();
  return *std::move(prk);
}

absl::StatusOr<SecretBytes> HkdfSha256Expand(ByteView prk, ByteView info, size_t length) {
  LB_RETURN_IF_ERROR(CheckOutputLength(length));
  if (prk.size() < kHmacSha256Size) {
    return absl::InvalidArgumentError("HKDF-SHA256 PRK must be at least 32 bytes, got " +
                                      std::to_string(prk.size()));
  }
  SecretBytes okm(length);
  // T(0) is empty; T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i) for i = 1, 2, ...
  Secret<kHmacSha256Size, struct HkdfBlockTag> block;
  size_t previous_size = 0;
  size_t written = 0;
  for (uint8_t counter = 1; written < length; ++counter) {
    const uint8_t counter_byte[1] = {counter};
    if (!ComputeHmac(prk, {block.Expose().first(previous_size), info, counter_byte},
                     std::span<uint8_t, kHmacSha256Size>(block.mutable_view()))) {
      return absl::InternalError("HMAC-SHA256 failed");
    }
    previous_size = kHmacSha256Size;
    const size_t take = std::min(kHmacSha256Size, length - written);
    std::copy_n(block.data(), take, okm.mutable_view().begin() + written);
    written += take;
  }
  return okm;
}

absl::StatusOr<SecretBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, size_t length) {
  LB_RETURN_IF_ERROR(CheckOutputLength(length));
  LB_ASSIGN_OR_RETURN(HkdfPrk prk, CheckedExtract(salt, ikm));
  return HkdfSha256Expand(prk.Expose(), info, length);
}

}  // namespace letterbox::crypto
