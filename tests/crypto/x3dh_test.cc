// X3DH: both sides agree, signatures are enforced, identities are bound, and
// the initial header encoding is strict.
#include "letterbox/crypto/x3dh.h"

#include <catch2/catch.hpp>
#include <optional>
#include <random>

#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hmac.h"

namespace letterbox::crypto {
namespace {

// Bob's device: identity, one signed prekey (id 7), one one-time prekey (id 42).
struct Responder {
  IdentityKeyPair identity;
  X25519KeyPair signed_prekey;
  X25519KeyPair one_time_prekey;

  explicit Responder(Random& rng)
      : identity(IdentityKeyPair::Generate(rng)),
        signed_prekey(X25519KeyPair::Generate(rng)),
        one_time_prekey(X25519KeyPair::Generate(rng)) {}

  [[nodiscard]] PrekeyBundle Bundle(bool with_one_time_prekey) const {
    PrekeyBundle b;
    b.identity_signing_key = identity.signing.public_key;
    b.identity_dh_key = identity.dh.public_key;
    b.identity_dh_signature = identity.dh_signature;
    b.signed_prekey_id = 7;
    b.signed_prekey = signed_prekey.public_key;
    b.signed_prekey_signature =
        SignSignedPrekey(identity.signing.secret_key, 7, signed_prekey.public_key);
    if (with_one_time_prekey)
      b.one_time_prekey = OneTimePrekeyPublic{42, one_time_prekey.public_key};
    return b;
  }

  [[nodiscard]] absl::StatusOr<X3dhResponderResult> Respond(const X3dhInitialHeader& h) const {
    return X3dhRespond(identity, signed_prekey,
                       h.one_time_prekey_id.has_value() ? &one_time_prekey : nullptr, h);
  }
};

void CheckAgreement(bool with_one_time_prekey) {
  DeterministicRandom rng(1);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);

  auto a = X3dhInitiate(alice, bob.Bundle(with_one_time_prekey), rng);
  REQUIRE(a.ok());
  CHECK(a->header.one_time_prekey_id.has_value() == with_one_time_prekey);
  CHECK(a->header.signed_prekey_id == 7);
  auto b = bob.Respond(a->header);
  REQUIRE(b.ok());
  CHECK(a->shared_key.Equals(b->shared_key));
  CHECK_FALSE(a->shared_key.IsZero());
  CHECK(a->associated_data == b->associated_data);
}

TEST_CASE("X3DH with a one-time prekey gives both sides the same key and AD") {
  CheckAgreement(/*with_one_time_prekey=*/true);
}

TEST_CASE("X3DH without a one-time prekey gives both sides the same key and AD") {
  CheckAgreement(/*with_one_time_prekey=*/false);
}

TEST_CASE("X3DH derives SK with HKDF over 0xFF padding and DH1..DH4 as specified") {
  DeterministicRandom rng(2);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  // Replay the initiator's randomness to learn the ephemeral key it draws.
  DeterministicRandom rng_copy(99);
  DeterministicRandom rng_for_x3dh(99);
  X25519KeyPair ephemeral = X25519KeyPair::Generate(rng_copy);

  auto a = X3dhInitiate(alice, bob.Bundle(true), rng_for_x3dh);
  REQUIRE(a.ok());
  REQUIRE(a->header.ephemeral_key == ephemeral.public_key);

  Bytes ikm(32, 0xFF);
  auto append = [&](const X25519SecretKey& s, const X25519PublicKey& p) {
    auto dh = X25519(s, p);
    REQUIRE(dh.ok());
    ikm.insert(ikm.end(), dh->Expose().begin(), dh->Expose().end());
  };
  append(alice.dh.secret_key, bob.signed_prekey.public_key);
  append(ephemeral.secret_key, bob.identity.dh.public_key);
  append(ephemeral.secret_key, bob.signed_prekey.public_key);
  append(ephemeral.secret_key, bob.one_time_prekey.public_key);
  const Bytes salt(32, 0);
  auto expected = HkdfSha256(ikm, salt, AsBytes("Letterbox X3DH v1"), 32);
  REQUIRE(expected.ok());
  CHECK(ConstantTimeEquals(a->shared_key.Expose(), expected->Expose()));

  ByteWriter ad;
  ad.Label("letterbox.x3dh.ad.v1")
      .Raw(alice.signing.public_key.view())
      .Raw(alice.dh.public_key.view())
      .Raw(bob.identity.signing.public_key.view())
      .Raw(bob.identity.dh.public_key.view());
  CHECK(a->associated_data == std::move(ad).Take());
}

TEST_CASE("X3DH signing messages are the label followed by the signed fields") {
  X25519PublicKey key;
  for (size_t i = 0; i < key.size(); ++i) key.data()[i] = static_cast<uint8_t>(i);

  ByteWriter identity;
  identity.Label("letterbox.identity-dh.v1").Raw(key.view());
  CHECK(IdentityDhSigningMessage(key) == std::move(identity).Take());

  ByteWriter prekey;
  prekey.Label("letterbox.signed-prekey.v1").U32(0x01020304).Raw(key.view());
  CHECK(SignedPrekeySigningMessage(0x01020304, key) == std::move(prekey).Take());
}

TEST_CASE("X3DH initiation rejects a bundle whose identity DH signature does not verify") {
  DeterministicRandom rng(3);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  PrekeyBundle bundle = bob.Bundle(true);
  bundle.identity_dh_signature.data()[5] ^= 0x01;
  auto a = X3dhInitiate(alice, bundle, rng);
  REQUIRE_FALSE(a.ok());
  CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH initiation rejects a bundle whose signed prekey signature does not verify") {
  DeterministicRandom rng(4);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  PrekeyBundle bundle = bob.Bundle(true);
  bundle.signed_prekey_signature.data()[0] ^= 0x80;
  auto a = X3dhInitiate(alice, bundle, rng);
  REQUIRE_FALSE(a.ok());
  CHECK(a.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH initiation rejects a signed prekey swapped for another key") {
  DeterministicRandom rng(5);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  PrekeyBundle bundle = bob.Bundle(false);
  bundle.signed_prekey = X25519KeyPair::Generate(rng).public_key;
  CHECK(X3dhInitiate(alice, bundle, rng).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH initiation rejects a signed prekey presented under another id") {
  DeterministicRandom rng(6);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  PrekeyBundle bundle = bob.Bundle(false);
  bundle.signed_prekey_id = 8;
  CHECK(X3dhInitiate(alice, bundle, rng).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH initiation rejects an identity DH key signed by a different signing key") {
  DeterministicRandom rng(7);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  IdentityKeyPair mallory = IdentityKeyPair::Generate(rng);
  PrekeyBundle bundle = bob.Bundle(false);
  bundle.identity_dh_key = mallory.dh.public_key;
  bundle.identity_dh_signature = mallory.dh_signature;
  CHECK(X3dhInitiate(alice, bundle, rng).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH response rejects an initiator whose identity DH signature does not verify") {
  DeterministicRandom rng(8);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  IdentityKeyPair mallory = IdentityKeyPair::Generate(rng);
  auto a = X3dhInitiate(mallory, bob.Bundle(true), rng);
  REQUIRE(a.ok());
  // Mallory claims Alice's signing identity with her own DH key.
  X3dhInitialHeader forged = a->header;
  forged.initiator_identity_signing_key = alice.signing.public_key;
  auto b = bob.Respond(forged);
  REQUIRE_FALSE(b.ok());
  CHECK(b.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH response rejects a one-time prekey mismatch between header and caller") {
  DeterministicRandom rng(9);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  auto with = X3dhInitiate(alice, bob.Bundle(true), rng);
  auto without = X3dhInitiate(alice, bob.Bundle(false), rng);
  REQUIRE(with.ok());
  REQUIRE(without.ok());
  CHECK(X3dhRespond(bob.identity, bob.signed_prekey, nullptr, with->header).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(X3dhRespond(bob.identity, bob.signed_prekey, &bob.one_time_prekey, without->header)
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH response with the wrong one-time prekey yields a different key") {
  DeterministicRandom rng(10);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  X25519KeyPair other = X25519KeyPair::Generate(rng);
  auto a = X3dhInitiate(alice, bob.Bundle(true), rng);
  REQUIRE(a.ok());
  auto b = X3dhRespond(bob.identity, bob.signed_prekey, &other, a->header);
  REQUIRE(b.ok());
  CHECK_FALSE(a->shared_key.Equals(b->shared_key));
}

TEST_CASE("X3DH with a different initiator identity gives a different key and AD") {
  DeterministicRandom rng(11);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  IdentityKeyPair carol = IdentityKeyPair::Generate(rng);
  DeterministicRandom same_a(5), same_c(5);  // same ephemeral key for both runs
  auto a = X3dhInitiate(alice, bob.Bundle(true), same_a);
  auto c = X3dhInitiate(carol, bob.Bundle(true), same_c);
  REQUIRE(a.ok());
  REQUIRE(c.ok());
  CHECK(a->header.ephemeral_key == c->header.ephemeral_key);
  CHECK_FALSE(a->shared_key.Equals(c->shared_key));
  CHECK(a->associated_data != c->associated_data);
}

TEST_CASE("X3DH with a different responder identity gives a different key and AD") {
  DeterministicRandom rng(12);
  Responder bob(rng);
  Responder dave(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  DeterministicRandom same_b(5), same_d(5);
  auto b = X3dhInitiate(alice, bob.Bundle(true), same_b);
  auto d = X3dhInitiate(alice, dave.Bundle(true), same_d);
  REQUIRE(b.ok());
  REQUIRE(d.ok());
  CHECK_FALSE(b->shared_key.Equals(d->shared_key));
  CHECK(b->associated_data != d->associated_data);
}

TEST_CASE("X3DH draws a fresh ephemeral key - so two runs give different keys") {
  DeterministicRandom rng(13);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  auto first = X3dhInitiate(alice, bob.Bundle(false), rng);
  auto second = X3dhInitiate(alice, bob.Bundle(false), rng);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->header.ephemeral_key != second->header.ephemeral_key);
  CHECK_FALSE(first->shared_key.Equals(second->shared_key));
  CHECK(first->associated_data == second->associated_data);
}

TEST_CASE("X3DH is reproducible under the same seed") {
  auto run = [](uint64_t seed) {
    DeterministicRandom rng(seed);
    Responder bob(rng);
    IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
    auto a = X3dhInitiate(alice, bob.Bundle(true), rng);
    REQUIRE(a.ok());
    return std::move(*a);
  };
  auto first = run(77);
  auto second = run(77);
  CHECK(first.shared_key.Equals(second.shared_key));
  CHECK(first.header == second.header);
}

TEST_CASE("X3DH rejects a low-order ephemeral key from the initiator") {
  DeterministicRandom rng(14);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  auto a = X3dhInitiate(alice, bob.Bundle(false), rng);
  REQUIRE(a.ok());
  X3dhInitialHeader h = a->header;
  h.ephemeral_key = X25519PublicKey();  // the all-zero point has small order
  CHECK(bob.Respond(h).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X3DH initial header round-trips through its encoding") {
  DeterministicRandom rng(15);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  for (bool otk : {true, false}) {
    auto a = X3dhInitiate(alice, bob.Bundle(otk), rng);
    REQUIRE(a.ok());
    Bytes encoded = a->header.Encode();
    CHECK(encoded.size() == (otk ? 170u : 166u));
    auto decoded = X3dhInitialHeader::Decode(encoded);
    REQUIRE(decoded.ok());
    CHECK(*decoded == a->header);
  }
}

TEST_CASE("X3DH initial header decoding rejects every truncation - extension and bad flag") {
  DeterministicRandom rng(16);
  Responder bob(rng);
  IdentityKeyPair alice = IdentityKeyPair::Generate(rng);
  auto a = X3dhInitiate(alice, bob.Bundle(true), rng);
  REQUIRE(a.ok());
  const Bytes encoded = a->header.Encode();
  for (size_t len = 0; len < encoded.size(); ++len) {
    CHECK_FALSE(X3dhInitialHeader::Decode(ByteView(encoded).first(len)).ok());
  }
  Bytes longer = encoded;
  longer.push_back(0);
  CHECK_FALSE(X3dhInitialHeader::Decode(longer).ok());
  Bytes bad_version = encoded;
  bad_version[0] = 2;
  CHECK_FALSE(X3dhInitialHeader::Decode(bad_version).ok());
  Bytes bad_flag = encoded;
  bad_flag[165] = 2;
  CHECK_FALSE(X3dhInitialHeader::Decode(bad_flag).ok());
}

TEST_CASE("X3DH initial header decoding never accepts random bytes that Encode cannot produce") {
  std::mt19937_64 gen(17);
  for (int i = 0; i < 5000; ++i) {
    Bytes input(gen() % 200);
    for (auto& b : input) b = static_cast<uint8_t>(gen());
    auto decoded = X3dhInitialHeader::Decode(input);
    if (decoded.ok()) CHECK(decoded->Encode() == input);
  }
}

}  // namespace
}  // namespace letterbox::crypto
