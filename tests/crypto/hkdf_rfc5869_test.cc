// Known-answer tests for HKDF-SHA256: the SHA-256 cases of RFC 5869
// appendix A (A.1 to A.3), checked at both steps (Extract's PRK, Expand's
// OKM) and through the one-shot HkdfSha256, plus the length limits.
#include <catch2/catch.hpp>
#include <string>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/hmac.h"

namespace letterbox::crypto {
namespace {

Bytes Hex(const std::string& hex) {
  auto bytes = FromHex(hex);
  REQUIRE(bytes.ok());
  return *std::move(bytes);
}

// `count` consecutive byte values starting at `first` (RFC 5869 A.2's inputs).
Bytes Sequence(uint8_t first, size_t count) {
  Bytes out(count);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<uint8_t>(first + i);
  return out;
}

struct Rfc5869Case {
  Bytes ikm;
  Bytes salt;
  Bytes info;
  size_t length;
  Bytes prk;
  Bytes okm;
};

// Checks Extract, Expand and the one-shot function against one case.
void CheckCase(const Rfc5869Case& c) {
  auto prk = HkdfSha256Extract(c.salt, c.ikm);
  CHECK(ToHex(prk.Expose()) == ToHex(c.prk));

  auto expanded = HkdfSha256Expand(prk.Expose(), c.info, c.length);
  REQUIRE(expanded.ok());
  CHECK(ToHex(expanded->Expose()) == ToHex(c.okm));

  auto one_shot = HkdfSha256(c.ikm, c.salt, c.info, c.length);
  REQUIRE(one_shot.ok());
  CHECK(ToHex(one_shot->Expose()) == ToHex(c.okm));
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 A.1 (basic test case)") {
  CheckCase({
      .ikm = Bytes(22, 0x0b),
      .salt = Hex("000102030405060708090a0b0c"),
      .info = Hex("f0f1f2f3f4f5f6f7f8f9"),
      .length = 42,
      .prk = Hex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5"),
      .okm = Hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887"
                 "185865"),
  });
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 A.2 (longer inputs and outputs)") {
  CheckCase({
      .ikm = Sequence(0x00, 80),
      .salt = Sequence(0x60, 80),
      .info = Sequence(0xb0, 80),
      .length = 82,
      .prk = Hex("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244"),
      .okm = Hex("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac782"
                 "7271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3"
                 "434f1d87"),
  });
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 A.3 (empty salt and info)") {
  CheckCase({
      .ikm = Bytes(22, 0x0b),
      .salt = {},
      .info = {},
      .length = 42,
      .prk = Hex("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04"),
      .okm = Hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b6"
                 "1a96c8"),
  });
}

TEST_CASE("HKDF-SHA256 Extract treats an empty salt as 32 zero bytes") {
  const Bytes ikm(22, 0x0b);
  CHECK(HkdfSha256Extract({}, ikm).Equals(HkdfSha256Extract(Bytes(32, 0), ikm)));
}

TEST_CASE("HKDF-SHA256 derives up to 255 * 32 bytes and rejects anything longer") {
  const Bytes ikm(32, 0x01);
  auto longest = HkdfSha256(ikm, {}, {}, kHkdfSha256MaxOutput);
  REQUIRE(longest.ok());
  CHECK(longest->size() == 8160);

  auto too_long = HkdfSha256(ikm, {}, {}, kHkdfSha256MaxOutput + 1);
  CHECK(absl::IsInvalidArgument(too_long.status()));

  auto prk = HkdfSha256Extract({}, ikm);
  CHECK(absl::IsInvalidArgument(
      HkdfSha256Expand(prk.Expose(), {}, kHkdfSha256MaxOutput + 1).status()));
}

TEST_CASE("HKDF-SHA256 output is a prefix of any longer output with the same inputs") {
  const Bytes ikm(32, 0x02);
  auto short_okm = HkdfSha256(ikm, {}, AsBytes("info"), 40);
  auto long_okm = HkdfSha256(ikm, {}, AsBytes("info"), 100);
  REQUIRE(short_okm.ok());
  REQUIRE(long_okm.ok());
  CHECK(ToHex(long_okm->Expose().first(40)) == ToHex(short_okm->Expose()));
}

TEST_CASE("HKDF-SHA256 Expand rejects a PRK shorter than 32 bytes") {
  const Bytes short_prk(31, 0x07);
  CHECK(absl::IsInvalidArgument(HkdfSha256Expand(short_prk, {}, 32).status()));
}

}  // namespace
}  // namespace letterbox::crypto
