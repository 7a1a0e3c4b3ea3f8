// The profile is encrypted on the device; the server sees only the blob.
#include "letterbox/client/profile.h"

#include <catch2/catch.hpp>
#include <string>

#include "letterbox/crypto/random.h"

namespace letterbox::client {
namespace {

const Profile kProfile{
    .display_name = "Sato Hanako", .phone_number = "+819012345678", .email = "hanako@example.jp"};

TEST_CASE("a profile round-trips under its key") {
  crypto::DeterministicRandom rng(1);
  const ProfileKey key = NewProfileKey(rng);
  auto blob = EncryptProfile(key, kProfile, rng);
  REQUIRE(blob.ok());
  auto back = DecryptProfile(key, *blob);
  REQUIRE(back.ok());
  CHECK(*back == kProfile);
}

TEST_CASE("the encrypted profile contains no field in clear") {
  crypto::DeterministicRandom rng(2);
  const ProfileKey key = NewProfileKey(rng);
  auto blob = EncryptProfile(key, kProfile, rng);
  REQUIRE(blob.ok());
  const std::string s(blob->begin(), blob->end());
  for (const std::string* f : {&kProfile.display_name, &kProfile.phone_number, &kProfile.email}) {
    CHECK(s.find(*f) == std::string::npos);
  }
}

TEST_CASE("a profile does not open under another key or when altered") {
  crypto::DeterministicRandom rng(3);
  const ProfileKey key = NewProfileKey(rng);
  auto blob = EncryptProfile(key, kProfile, rng);
  REQUIRE(blob.ok());
  CHECK_FALSE(DecryptProfile(NewProfileKey(rng), *blob).ok());
  (*blob)[blob->size() / 2] ^= 1;
  CHECK_FALSE(DecryptProfile(key, *blob).ok());
}

TEST_CASE("an oversized profile field is refused") {
  crypto::DeterministicRandom rng(4);
  Profile p = kProfile;
  p.display_name = std::string(kMaxProfileFieldBytes + 1, 'x');
  CHECK(EncryptProfile(NewProfileKey(rng), p, rng).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace letterbox::client
