#include "letterbox/crypto/bytes.h"

#include <sodium.h>

namespace letterbox::crypto {

std::string ToHex(ByteView b) {
  std::string out(b.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), b.data(), b.size());
  out.pop_back();
  return out;
}

absl::StatusOr<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return absl::InvalidArgumentError("hex string has odd length");
  // sodium_hex2bin's pointers must not be null, which an empty view's may be.
  if (hex.empty()) return Bytes();
  Bytes out(hex.size() / 2);
  size_t out_len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &out_len, &end) !=
          0 ||
      out_len != out.size() || end != hex.data() + hex.size()) {
    return absl::InvalidArgumentError("not a hex string");
  }
  return out;
}

void SecureZero(std::span<uint8_t> b) {
  if (!b.empty()) sodium_memzero(b.data(), b.size());
}

bool ConstantTimeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace letterbox::crypto
