// Properties of the primitive wrappers beyond the Wycheproof vectors: key
// agreement is symmetric, forgeries and misuse are rejected with a Status
// (never an abort), and the encoding and randomness seams behave as their
// headers promise.
#include <catch2/catch.hpp>
#include <string>

#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::crypto {
namespace {

Bytes Hex(const std::string& hex) {
  auto bytes = FromHex(hex);
  REQUIRE(bytes.ok());
  return *std::move(bytes);
}

template <typename T>
T FixedFromHex(const std::string& hex) {
  auto value = T::FromBytes(Hex(hex));
  REQUIRE(value.ok());
  return *std::move(value);
}

std::string Str(ByteView b) { return ToString(b); }

// ---- X25519 ----------------------------------------------------------------

TEST_CASE("FromHex decodes hex and refuses odd lengths and non-hex characters") {
  CHECK(FromHex("").value().empty());
  CHECK(FromHex(std::string_view()).value().empty());
  CHECK(FromHex("00ff7a").value() == Bytes{0x00, 0xff, 0x7a});
  CHECK(FromHex("abc").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(FromHex("zz").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("X25519 gives both parties the same shared secret") {
  DeterministicRandom random(1);
  const auto alice = X25519KeyPair::Generate(random);
  const auto bob = X25519KeyPair::Generate(random);

  auto alice_view = X25519(alice.secret_key, bob.public_key);
  auto bob_view = X25519(bob.secret_key, alice.public_key);
  REQUIRE(alice_view.ok());
  REQUIRE(bob_view.ok());
  CHECK(alice_view->Equals(*bob_view));
  CHECK_FALSE(alice_view->IsZero());
}

TEST_CASE("X25519 rejects a low-order peer key that gives the all-zero shared secret") {
  DeterministicRandom random(2);
  const auto alice = X25519KeyPair::Generate(random);
  // The identity (u = 0), a point of order 4 (u = 1) and one of order 8.
  for (const char* low_order : {
           "0000000000000000000000000000000000000000000000000000000000000000",
           "0100000000000000000000000000000000000000000000000000000000000000",
           "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
       }) {
    INFO("peer " << low_order);
    auto shared = X25519(alice.secret_key, FixedFromHex<X25519PublicKey>(low_order));
    CHECK(absl::IsInvalidArgument(shared.status()));
  }
}

TEST_CASE("X25519KeyPair::FromSecret derives the public key of the scalar (RFC 7748 6.1)") {
  auto secret = X25519SecretKey::FromBytes(
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  REQUIRE(secret.ok());
  const auto pair = X25519KeyPair::FromSecret(*std::move(secret));
  CHECK(pair.public_key.hex() ==
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

// ---- Ed25519 ---------------------------------------------------------------

TEST_CASE("Ed25519 signatures verify under the signer's public key") {
  DeterministicRandom random(3);
  const auto id = Ed25519KeyPair::Generate(random);
  const Ed25519Signature sig = Ed25519Sign(id.secret_key, AsBytes("hello"));
  CHECK(Ed25519Verify(id.public_key, AsBytes("hello"), sig).ok());
}

TEST_CASE("Ed25519 key pairs from a seed match RFC 8032 7.1 test 1") {
  const auto seed = Ed25519Seed::FromBytes(
      Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  REQUIRE(seed.ok());
  const auto id = Ed25519KeyPair::FromSeed(*seed);
  CHECK(id.public_key.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  CHECK(Ed25519Sign(id.secret_key, {}).hex() ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b");
}

TEST_CASE("Ed25519 rejects a signature over a tampered message") {
  DeterministicRandom random(4);
  const auto id = Ed25519KeyPair::Generate(random);
  const Ed25519Signature sig = Ed25519Sign(id.secret_key, AsBytes("pay bob 10"));
  auto status = Ed25519Verify(id.public_key, AsBytes("pay bob 99"), sig);
  CHECK(absl::IsInvalidArgument(status));
  CHECK(status.message() == "signature does not verify");
}

TEST_CASE("Ed25519 rejects a tampered signature") {
  DeterministicRandom random(5);
  const auto id = Ed25519KeyPair::Generate(random);
  Ed25519Signature sig = Ed25519Sign(id.secret_key, AsBytes("hello"));
  sig.data()[10] ^= 0x01;
  CHECK(absl::IsInvalidArgument(Ed25519Verify(id.public_key, AsBytes("hello"), sig)));
}

TEST_CASE("Ed25519 rejects a signature under another public key") {
  DeterministicRandom random(6);
  const auto signer = Ed25519KeyPair::Generate(random);
  const auto other = Ed25519KeyPair::Generate(random);
  const Ed25519Signature sig = Ed25519Sign(signer.secret_key, AsBytes("hello"));
  CHECK(absl::IsInvalidArgument(Ed25519Verify(other.public_key, AsBytes("hello"), sig)));
}

TEST_CASE("Ed25519KeyPair::FromSecret rebuilds the public key from the seed half") {
  DeterministicRandom random(7);
  const auto id = Ed25519KeyPair::Generate(random);
  Ed25519SecretKey stored = id.secret_key.Clone();
  stored.data()[kEd25519SeedSize] ^= 0xff;  // corrupt the stored public half

  const auto rebuilt = Ed25519KeyPair::FromSecret(std::move(stored));
  CHECK(rebuilt.public_key == id.public_key);
  CHECK(rebuilt.secret_key.Equals(id.secret_key));
}

// ---- AEAD ------------------------------------------------------------------

struct AeadFixture {
  DeterministicRandom random{8};
  AeadKey key = RandomSecret<AeadKey>(random);
  ByteView plaintext = AsBytes("attack at dawn");
  ByteView ad = AsBytes("header v1");
  Bytes sealed = XChaCha20Seal(key, plaintext, ad, random);
};

TEST_CASE("XChaCha20Seal output opens with the same key and associated data") {
  AeadFixture f;
  CHECK(f.sealed.size() == kXChaCha20NonceSize + f.plaintext.size() + kAeadTagSize);
  auto opened = XChaCha20Open(f.key, f.sealed, f.ad);
  REQUIRE(opened.ok());
  CHECK(Str(opened->Expose()) == "attack at dawn");
}

TEST_CASE("XChaCha20Seal draws a fresh nonce for every message") {
  AeadFixture f;
  CHECK(XChaCha20Seal(f.key, f.plaintext, f.ad, f.random) != f.sealed);
}

TEST_CASE("XChaCha20Open rejects a box with any byte altered") {
  AeadFixture f;
  // A byte of the nonce, of the ciphertext and of the tag.
  for (size_t index : {size_t{0}, kXChaCha20NonceSize + 1, f.sealed.size() - 1}) {
    INFO("altered byte " << index);
    Bytes tampered = f.sealed;
    tampered[index] ^= 0x80;
    CHECK(absl::IsInvalidArgument(XChaCha20Open(f.key, tampered, f.ad).status()));
  }
}

TEST_CASE("XChaCha20Open rejects the wrong associated data") {
  AeadFixture f;
  CHECK(absl::IsInvalidArgument(XChaCha20Open(f.key, f.sealed, AsBytes("header v2")).status()));
}

TEST_CASE("XChaCha20Open rejects the wrong key") {
  AeadFixture f;
  const auto other = RandomSecret<AeadKey>(f.random);
  CHECK(absl::IsInvalidArgument(XChaCha20Open(other, f.sealed, f.ad).status()));
}

TEST_CASE("XChaCha20Open rejects input shorter than a nonce and a tag") {
  AeadFixture f;
  for (size_t length : {size_t{0}, size_t{23}, kXChaCha20NonceSize + kAeadTagSize - 1}) {
    INFO("length " << length);
    const ByteView truncated = ByteView(f.sealed).first(length);
    CHECK(absl::IsInvalidArgument(XChaCha20Open(f.key, truncated, f.ad).status()));
  }
}

TEST_CASE("XChaCha20Seal of an empty plaintext opens to an empty plaintext") {
  AeadFixture f;
  const Bytes sealed = XChaCha20Seal(f.key, {}, {}, f.random);
  auto opened = XChaCha20Open(f.key, sealed, {});
  REQUIRE(opened.ok());
  CHECK(opened->empty());
}

TEST_CASE("ChaCha20-Poly1305 IETF decryption rejects input shorter than a tag") {
  AeadFixture f;
  const ChaCha20IetfNonce nonce;
  CHECK(absl::IsInvalidArgument(
      ChaCha20Poly1305IetfDecrypt(f.key, nonce, Bytes(kAeadTagSize - 1), {}).status()));
}

// ---- Sealed boxes ----------------------------------------------------------

TEST_CASE("A sealed box opens with the recipient's key pair") {
  DeterministicRandom random(9);
  const auto vault = X25519KeyPair::Generate(random);
  auto sealed = SealedBoxSeal(vault.public_key, AsBytes("report"));
  REQUIRE(sealed.ok());
  CHECK(sealed->size() == 6 + kSealedBoxOverhead);
  auto opened = SealedBoxOpen(vault, *sealed);
  REQUIRE(opened.ok());
  CHECK(Str(opened->Expose()) == "report");
}

TEST_CASE("A sealed box does not open with another key pair") {
  DeterministicRandom random(10);
  const auto vault = X25519KeyPair::Generate(random);
  const auto other = X25519KeyPair::Generate(random);
  auto sealed = SealedBoxSeal(vault.public_key, AsBytes("report"));
  REQUIRE(sealed.ok());
  CHECK(absl::IsInvalidArgument(SealedBoxOpen(other, *sealed).status()));
}

TEST_CASE("A sealed box is rejected if altered or shorter than its overhead") {
  DeterministicRandom random(11);
  const auto vault = X25519KeyPair::Generate(random);
  auto sealed = SealedBoxSeal(vault.public_key, AsBytes("report"));
  REQUIRE(sealed.ok());

  Bytes tampered = *sealed;
  tampered.back() ^= 0x01;
  CHECK(absl::IsInvalidArgument(SealedBoxOpen(vault, tampered).status()));
  CHECK(absl::IsInvalidArgument(
      SealedBoxOpen(vault, ByteView(*sealed).first(kSealedBoxOverhead - 1)).status()));
}

TEST_CASE("Sealing to a low-order public key is refused") {
  CHECK(absl::IsInvalidArgument(SealedBoxSeal(X25519PublicKey(), AsBytes("report")).status()));
}

// ---- Encoding --------------------------------------------------------------

TEST_CASE("ByteReader reads back what ByteWriter wrote - big-endian and length-prefixed") {
  ByteWriter w;
  w.Label("lbl").U8(0x01).U32(0x02030405).I64(-2).Raw(AsBytes("xy"));
  CHECK(ToHex(w.view()) ==
        "000000036c626c"
        "01"
        "02030405"
        "fffffffffffffffe"
        "7879");

  ByteReader r(w.view());
  auto label = r.Bytes();
  auto u8 = r.U8();
  auto u32 = r.U32();
  auto i64 = r.I64();
  auto raw = r.Raw(2);
  REQUIRE(label.ok());
  REQUIRE(u8.ok());
  REQUIRE(u32.ok());
  REQUIRE(i64.ok());
  REQUIRE(raw.ok());
  CHECK(Str(*label) == "lbl");
  CHECK(*u8 == 0x01);
  CHECK(*u32 == 0x02030405);
  CHECK(*i64 == -2);
  CHECK(Str(*raw) == "xy");
  CHECK(r.ExpectEnd().ok());
}

TEST_CASE("ByteReader rejects truncated input") {
  const Bytes three_bytes = {0x00, 0x00, 0x01};
  ByteReader r(three_bytes);
  auto value = r.U32();
  CHECK(absl::IsInvalidArgument(value.status()));
  CHECK(value.status().message() == "truncated input");
  CHECK(absl::IsInvalidArgument(ByteReader(three_bytes).U64().status()));
  CHECK(absl::IsInvalidArgument(ByteReader(three_bytes).Raw(4).status()));
}

TEST_CASE("ByteReader rejects a length prefix longer than the remaining input") {
  const Bytes input = {0x00, 0x00, 0x00, 0x05, 'a', 'b', 'c'};
  ByteReader r(input);
  CHECK(absl::IsInvalidArgument(r.Bytes().status()));

  const Bytes huge = {0xff, 0xff, 0xff, 0xff, 'a'};
  CHECK(absl::IsInvalidArgument(ByteReader(huge).Bytes().status()));
}

TEST_CASE("ByteReader::ExpectEnd rejects trailing bytes") {
  const Bytes input = {0x01, 0x02};
  ByteReader r(input);
  REQUIRE(r.U8().ok());
  CHECK(absl::IsInvalidArgument(r.ExpectEnd()));
}

// ---- Hashes ----------------------------------------------------------------

TEST_CASE("BLAKE2b-256 and SHA-256 match their published empty-string and abc digests") {
  CHECK(Blake2b256Of({}).hex() ==
        "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  CHECK(Sha256(AsBytes("abc")).hex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("Keyed BLAKE2b-256 accepts keys of 16 to 64 bytes and rejects other lengths") {
  CHECK(Blake2b256Keyed(Bytes(16, 1), AsBytes("m")).ok());
  CHECK(Blake2b256Keyed(Bytes(64, 1), AsBytes("m")).ok());
  for (size_t wrong : {size_t{0}, size_t{15}, size_t{65}}) {
    INFO("key length " << wrong);
    CHECK(absl::IsInvalidArgument(Blake2b256Keyed(Bytes(wrong, 1), AsBytes("m")).status()));
  }
}

TEST_CASE("Keyed BLAKE2b-256 depends on the key") {
  auto a = Blake2b256Keyed(Bytes(32, 1), AsBytes("m"));
  auto b = Blake2b256Keyed(Bytes(32, 2), AsBytes("m"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(*a != Blake2b256Of(AsBytes("m")));
}

TEST_CASE("BLAKE2b accepts outputs of 16 to 64 bytes and keys that are empty or 16 to 64 bytes") {
  auto out16 = Blake2b(AsBytes("m"), 16);
  auto out64 = Blake2b(AsBytes("m"), 64, Bytes(64, 3));
  REQUIRE(out16.ok());
  REQUIRE(out64.ok());
  CHECK(out16->size() == 16);
  CHECK(out64->size() == 64);

  CHECK(absl::IsInvalidArgument(Blake2b(AsBytes("m"), 15).status()));
  CHECK(absl::IsInvalidArgument(Blake2b(AsBytes("m"), 65).status()));
  CHECK(absl::IsInvalidArgument(Blake2b(AsBytes("m"), 32, Bytes(15, 3)).status()));
  CHECK(absl::IsInvalidArgument(Blake2b(AsBytes("m"), 32, Bytes(65, 3)).status()));
}

TEST_CASE("BLAKE2b with a 32-byte output equals Blake2b256Of") {
  auto digest = Blake2b(AsBytes("m"), 32);
  REQUIRE(digest.ok());
  CHECK(ToHex(*digest) == Blake2b256Of(AsBytes("m")).hex());
}

// ---- Randomness ------------------------------------------------------------

TEST_CASE("DeterministicRandom with the same seed produces the same stream") {
  DeterministicRandom a(42);
  DeterministicRandom b(42);
  Bytes first_a(48), first_b(48), second_a(48), second_b(48);
  a.Fill(first_a);
  b.Fill(first_b);
  a.Fill(second_a);
  b.Fill(second_b);
  CHECK(first_a == first_b);
  CHECK(second_a == second_b);
  CHECK(first_a != second_a);
}

TEST_CASE("DeterministicRandom with different seeds produces different streams") {
  DeterministicRandom a(42);
  DeterministicRandom b(43);
  Bytes out_a(32), out_b(32);
  a.Fill(out_a);
  b.Fill(out_b);
  CHECK(out_a != out_b);
}

TEST_CASE("DeterministicRandom makes key generation reproducible") {
  DeterministicRandom a(5);
  DeterministicRandom b(5);
  CHECK(X25519KeyPair::Generate(a).public_key == X25519KeyPair::Generate(b).public_key);
}

}  // namespace
}  // namespace letterbox::crypto
