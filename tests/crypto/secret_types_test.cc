// The secret-type rules of bytes.h: secrets are move-only, a moved-from
// secret holds nothing, equality is by value (in constant time), and fixed
// sizes are enforced where bytes enter a type.
#include <catch2/catch.hpp>
#include <type_traits>
#include <utility>

#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::crypto {
namespace {

static_assert(!std::is_copy_constructible_v<AeadKey>);
static_assert(!std::is_copy_assignable_v<AeadKey>);
static_assert(std::is_nothrow_move_constructible_v<AeadKey>);
static_assert(!std::is_copy_constructible_v<X25519SecretKey>);
static_assert(!std::is_copy_constructible_v<Ed25519SecretKey>);
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

// Public values, by contrast, copy freely but do not mix with each other.
static_assert(std::is_copy_constructible_v<X25519PublicKey>);
static_assert(!std::is_convertible_v<X25519PublicKey, Ed25519PublicKey>);
static_assert(!std::is_same_v<X25519SecretKey, X25519SharedSecret>);

AeadKey KeyOf(uint8_t fill) {
  auto key = AeadKey::FromBytes(Bytes(kAeadKeySize, fill));
  REQUIRE(key.ok());
  return *std::move(key);
}

TEST_CASE("Secret types are move-only (checked at compile time)") {
  SUCCEED("see the static_asserts at the top of this file");
}

TEST_CASE("A Secret moved from by construction is all zero") {
  AeadKey source = KeyOf(0xab);
  AeadKey target = std::move(source);
  CHECK(source.IsZero());  // NOLINT(bugprone-use-after-move): the property under test
  CHECK(target.Equals(KeyOf(0xab)));
}

TEST_CASE("A Secret moved from by assignment is all zero") {
  AeadKey source = KeyOf(0xab);
  AeadKey target = KeyOf(0x01);
  target = std::move(source);
  CHECK(source.IsZero());  // NOLINT(bugprone-use-after-move)
  CHECK(target.Equals(KeyOf(0xab)));
}

TEST_CASE("A SecretBytes moved from by construction is empty") {
  SecretBytes source(Bytes{1, 2, 3});
  SecretBytes target = std::move(source);
  CHECK(source.empty());  // NOLINT(bugprone-use-after-move)
  CHECK(target.Equals(SecretBytes(Bytes{1, 2, 3})));
}

TEST_CASE("A SecretBytes moved from by assignment is empty") {
  SecretBytes source(Bytes{1, 2, 3});
  SecretBytes target(Bytes{9});
  target = std::move(source);
  CHECK(source.empty());  // NOLINT(bugprone-use-after-move)
  CHECK(target.Equals(SecretBytes(Bytes{1, 2, 3})));
}

TEST_CASE("Secret::Equals is value equality") {
  CHECK(KeyOf(0x11).Equals(KeyOf(0x11)));
  CHECK_FALSE(KeyOf(0x11).Equals(KeyOf(0x12)));

  Bytes almost(kAeadKeySize, 0x11);
  almost.back() ^= 0x01;
  auto differs_in_last_byte = AeadKey::FromBytes(almost);
  REQUIRE(differs_in_last_byte.ok());
  CHECK_FALSE(KeyOf(0x11).Equals(*differs_in_last_byte));
}

TEST_CASE("Secret::Clone gives an equal - independent secret") {
  AeadKey original = KeyOf(0x42);
  AeadKey copy = original.Clone();
  CHECK(copy.Equals(original));
  copy.mutable_view()[0] ^= 0xff;
  CHECK_FALSE(copy.Equals(original));
}

TEST_CASE("SecretBytes::Equals is value equality - and different lengths are unequal") {
  CHECK(SecretBytes(Bytes{1, 2, 3}).Equals(SecretBytes(Bytes{1, 2, 3})));
  CHECK_FALSE(SecretBytes(Bytes{1, 2, 3}).Equals(SecretBytes(Bytes{1, 2, 4})));
  CHECK_FALSE(SecretBytes(Bytes{1, 2, 3}).Equals(SecretBytes(Bytes{1, 2})));
  CHECK(SecretBytes().Equals(SecretBytes()));
}

TEST_CASE("FixedBytes::FromBytes accepts exactly N bytes and rejects any other length") {
  CHECK(X25519PublicKey::FromBytes(Bytes(32, 7)).ok());
  for (size_t wrong : {size_t{0}, size_t{31}, size_t{33}, size_t{64}}) {
    INFO("length " << wrong);
    CHECK(absl::IsInvalidArgument(X25519PublicKey::FromBytes(Bytes(wrong, 7)).status()));
  }
}

TEST_CASE("Secret::FromBytes accepts exactly N bytes and rejects any other length") {
  CHECK(AeadKey::FromBytes(Bytes(32, 7)).ok());
  for (size_t wrong : {size_t{0}, size_t{16}, size_t{31}, size_t{33}}) {
    INFO("length " << wrong);
    CHECK(absl::IsInvalidArgument(AeadKey::FromBytes(Bytes(wrong, 7)).status()));
  }
}

TEST_CASE("A default-constructed Secret is all zero") { CHECK(AeadKey().IsZero()); }

}  // namespace
}  // namespace letterbox::crypto
