// Known-answer tests: every Wycheproof vector for the primitives Letterbox
// wraps, run through our wrappers (never raw libsodium).
//
// Rules (from the vectors' own documentation):
//  - "valid": our wrapper must accept and produce exactly the expected output;
//  - "invalid": our wrapper must reject;
//  - "acceptable": our wrapper may reject; if it accepts, the output must match.
// A group whose parameters our API cannot express (another nonce, tag or key
// size) is counted as skipped, never as passed. Each file's tally must add up
// to its numberOfTests, and a missing vector file fails the test.
#include <catch2/catch.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::crypto {
namespace {

using nlohmann::json;

// The vectors of one file, parsed. A missing or malformed file fails the test.
json LoadVectors(const std::string& file_name) {
  const std::string path = std::string(LETTERBOX_WYCHEPROOF_DIR) + "/" + file_name;
  INFO("Wycheproof vector file: " << path);
  std::ifstream in(path);
  REQUIRE(in.is_open());
  json vectors = json::parse(in, /*cb=*/nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(vectors.is_discarded());
  REQUIRE(vectors.contains("numberOfTests"));
  REQUIRE(vectors.contains("testGroups"));
  return vectors;
}

Bytes Hex(const json& field) {
  auto bytes = FromHex(field.get<std::string>());
  REQUIRE(bytes.ok());
  return *std::move(bytes);
}

Bytes Concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// What our wrapper did with one vector.
struct Outcome {
  bool accepted = false;
  // The output equals the vector's; meaningful only when accepted.
  bool matches = false;
};

// The running account of one file.
struct Tally {
  int passed = 0;    // accepted with the expected output
  int rejected = 0;  // "invalid" or "acceptable" vectors that we rejected
  int skipped = 0;   // groups our API cannot express
  int failed = 0;    // broke a rule; each also fails a CHECK

  void Record(const json& test, const Outcome& outcome) {
    const std::string result = test.at("result").get<std::string>();
    INFO("tcId " << test.at("tcId") << " (" << result << "): " << test.value("comment", ""));
    if (result == "valid") {
      CHECK(outcome.accepted);
      CHECK(outcome.matches);
      ++(outcome.accepted && outcome.matches ? passed : failed);
    } else if (result == "invalid") {
      CHECK_FALSE(outcome.accepted);
      ++(outcome.accepted ? failed : rejected);
    } else if (result == "acceptable") {
      if (outcome.accepted) {
        CHECK(outcome.matches);
        ++(outcome.matches ? passed : failed);
      } else {
        ++rejected;
      }
    } else {
      FAIL("unknown result " << result);
    }
  }

  void Skip(const json& group) { skipped += static_cast<int>(group.at("tests").size()); }

  // Prints the account and requires that it covers every vector in the file.
  void Finish(const std::string& file_name, const json& vectors) const {
    const int total = passed + rejected + skipped + failed;
    const int declared = vectors.at("numberOfTests").get<int>();
    std::cout << "wycheproof " << file_name << ": " << declared << " tests: " << passed
              << " passed, " << rejected << " rejected-as-expected, " << skipped << " skipped";
    if (failed != 0) std::cout << ", " << failed << " FAILED";
    std::cout << std::endl;
    CHECK(failed == 0);
    REQUIRE(total == declared);
  }
};

// Runs an AEAD file through our Encrypt/Decrypt pair for `Nonce`.
template <typename Nonce, typename EncryptFn, typename DecryptFn>
void RunAeadFile(const std::string& file_name, EncryptFn encrypt, DecryptFn decrypt) {
  const json vectors = LoadVectors(file_name);
  Tally tally;
  for (const json& group : vectors.at("testGroups")) {
    if (group.at("ivSize").get<size_t>() != Nonce::kSize * 8 ||
        group.at("keySize").get<size_t>() != kAeadKeySize * 8 ||
        group.at("tagSize").get<size_t>() != kAeadTagSize * 8) {
      tally.Skip(group);
      continue;
    }
    for (const json& test : group.at("tests")) {
      auto key = AeadKey::FromBytes(Hex(test.at("key")));
      auto nonce = Nonce::FromBytes(Hex(test.at("iv")));
      REQUIRE(key.ok());
      REQUIRE(nonce.ok());
      const Bytes aad = Hex(test.at("aad"));
      const Bytes msg = Hex(test.at("msg"));
      const Bytes sealed = Concat(Hex(test.at("ct")), Hex(test.at("tag")));

      auto opened = decrypt(*key, *nonce, sealed, aad);
      Outcome outcome;
      outcome.accepted = opened.ok();
      outcome.matches = opened.ok() && ConstantTimeEquals(opened->Expose(), msg) &&
                        encrypt(*key, *nonce, msg, aad) == sealed;
      tally.Record(test, outcome);
    }
  }
  tally.Finish(file_name, vectors);
}

TEST_CASE("Wycheproof x25519_test.json: X25519 matches every vector and refuses zero secrets") {
  const std::string file_name = "x25519_test.json";
  const json vectors = LoadVectors(file_name);
  Tally tally;
  for (const json& group : vectors.at("testGroups")) {
    if (group.at("curve").get<std::string>() != "curve25519") {
      tally.Skip(group);
      continue;
    }
    for (const json& test : group.at("tests")) {
      auto secret = X25519SecretKey::FromBytes(Hex(test.at("private")));
      auto peer = X25519PublicKey::FromBytes(Hex(test.at("public")));
      const Bytes expected = Hex(test.at("shared"));
      Outcome outcome;
      if (secret.ok() && peer.ok()) {
        auto shared = X25519(*secret, *peer);
        outcome.accepted = shared.ok();
        outcome.matches = shared.ok() && ConstantTimeEquals(shared->Expose(), expected);
      }
      tally.Record(test, outcome);
    }
  }
  tally.Finish(file_name, vectors);
}

TEST_CASE("Wycheproof ed25519_test.json: Ed25519Verify accepts exactly the valid signatures") {
  const std::string file_name = "ed25519_test.json";
  const json vectors = LoadVectors(file_name);
  Tally tally;
  for (const json& group : vectors.at("testGroups")) {
    auto public_key = Ed25519PublicKey::FromBytes(Hex(group.at("publicKey").at("pk")));
    if (!public_key.ok()) {
      tally.Skip(group);
      continue;
    }
    for (const json& test : group.at("tests")) {
      // A signature of the wrong length is rejected at the type boundary.
      auto signature = Ed25519Signature::FromBytes(Hex(test.at("sig")));
      Outcome outcome;
      outcome.accepted =
          signature.ok() && Ed25519Verify(*public_key, Hex(test.at("msg")), *signature).ok();
      outcome.matches = outcome.accepted;
      tally.Record(test, outcome);
    }
  }
  tally.Finish(file_name, vectors);
}

TEST_CASE(
    "Wycheproof chacha20_poly1305_test.json: ChaCha20-Poly1305 IETF encrypts and opens every "
    "vector") {
  RunAeadFile<ChaCha20IetfNonce>(
      "chacha20_poly1305_test.json",
      [](const AeadKey& k, const ChaCha20IetfNonce& n, ByteView m, ByteView ad) {
        return ChaCha20Poly1305IetfEncrypt(k, n, m, ad);
      },
      [](const AeadKey& k, const ChaCha20IetfNonce& n, ByteView c, ByteView ad) {
        return ChaCha20Poly1305IetfDecrypt(k, n, c, ad);
      });
}

TEST_CASE(
    "Wycheproof xchacha20_poly1305_test.json: XChaCha20-Poly1305 encrypts and opens every vector") {
  RunAeadFile<XChaCha20Nonce>(
      "xchacha20_poly1305_test.json",
      [](const AeadKey& k, const XChaCha20Nonce& n, ByteView m, ByteView ad) {
        return XChaCha20Poly1305Encrypt(k, n, m, ad);
      },
      [](const AeadKey& k, const XChaCha20Nonce& n, ByteView c, ByteView ad) {
        return XChaCha20Poly1305Decrypt(k, n, c, ad);
      });
}

TEST_CASE("Wycheproof hmac_sha256_test.json: HMAC-SHA256 matches full and truncated tags") {
  const std::string file_name = "hmac_sha256_test.json";
  const json vectors = LoadVectors(file_name);
  Tally tally;
  for (const json& group : vectors.at("testGroups")) {
    const size_t tag_size = group.at("tagSize").get<size_t>() / 8;
    if (tag_size < 16 || tag_size > kHmacSha256Size) {
      tally.Skip(group);
      continue;
    }
    for (const json& test : group.at("tests")) {
      const Bytes key = Hex(test.at("key"));
      const Bytes msg = Hex(test.at("msg"));
      const Bytes tag = Hex(test.at("tag"));
      Outcome outcome;
      outcome.accepted = VerifyHmacSha256(key, msg, tag).ok();
      outcome.matches = tag.size() == tag_size &&
                        ConstantTimeEquals(HmacSha256(key, msg).view().first(tag_size), tag);
      tally.Record(test, outcome);
    }
  }
  tally.Finish(file_name, vectors);
}

TEST_CASE("Wycheproof hkdf_sha256_test.json: HKDF-SHA256 derives every vector's output") {
  const std::string file_name = "hkdf_sha256_test.json";
  const json vectors = LoadVectors(file_name);
  Tally tally;
  for (const json& group : vectors.at("testGroups")) {
    for (const json& test : group.at("tests")) {
      auto okm = HkdfSha256(Hex(test.at("ikm")), Hex(test.at("salt")), Hex(test.at("info")),
                            test.at("size").get<size_t>());
      Outcome outcome;
      outcome.accepted = okm.ok();
      outcome.matches = okm.ok() && ConstantTimeEquals(okm->Expose(), Hex(test.at("okm")));
      tally.Record(test, outcome);
    }
  }
  tally.Finish(file_name, vectors);
}

}  // namespace
}  // namespace letterbox::crypto
