// Two devices in memory, no server: sessions with and without a one-time
// prekey, messages both ways and out of order, franking checked on receipt.
#include "letterbox/client/device_crypto.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "letterbox/client/message_format.h"
#include "letterbox/crypto/random.h"

namespace letterbox::client {
namespace {

using crypto::AsBytes;
using crypto::DeterministicRandom;

std::string Str(const crypto::SecretBytes& b) {
  return {reinterpret_cast<const char*>(b.Expose().data()), b.size()};
}

struct Pair {
  DeterministicRandom rng;
  DeviceCrypto alice{rng};
  DeviceCrypto bob{rng};
  DeviceAddress a;
  DeviceAddress b;

  explicit Pair(uint64_t seed) : rng(seed) {
    a = {crypto::RandomFixed<AccountId>(rng), 1};
    b = {crypto::RandomFixed<AccountId>(rng), 1};
    bob.RotateSignedPrekey();
  }
  MessageId NewId() { return crypto::RandomFixed<MessageId>(rng); }
};

struct Sent {
  MessageId id;
  SealedMessage sealed;
  std::string body;
};

Sent SealOrDie(DeviceCrypto& from, const DeviceAddress& to, MessageId id, const std::string& body,
               const crypto::PrekeyBundle* bundle = nullptr) {
  auto sealed = from.Seal(to, id, AsBytes(body), bundle);
  REQUIRE(sealed.ok());
  return {id, *std::move(sealed), body};
}

void ExpectOpens(DeviceCrypto& to, const DeviceAddress& from, const Sent& m) {
  auto opened = to.Open(from, m.id, m.sealed.ciphertext, m.sealed.commitment);
  REQUIRE(opened.ok());
  CHECK(Str(opened->body) == m.body);
  // The revealed franking key opens the commitment the server saw.
  CHECK(crypto::VerifyCommitment(opened->franking_key, opened->body.Expose(), FrankingContext(m.id),
                                 m.sealed.commitment)
            .ok());
}

TEST_CASE("a session with a one-time prekey carries messages both ways") {
  Pair p(1);
  const auto otk = p.bob.GenerateOneTimePrekeys(3);
  const auto bundle = p.bob.BundleForTesting(otk[1].id).value();
  const Sent first = SealOrDie(p.alice, p.b, p.NewId(), "hello bob", &bundle);
  CHECK(first.sealed.prekey);
  ExpectOpens(p.bob, p.a, first);
  CHECK(p.bob.one_time_prekey_count() == 2);  // the used one is deleted

  const Sent reply = SealOrDie(p.bob, p.a, p.NewId(), "hello alice");
  CHECK_FALSE(reply.sealed.prekey);
  ExpectOpens(p.alice, p.b, reply);
  // After the reply Alice stops sending the X3DH header.
  const Sent third = SealOrDie(p.alice, p.b, p.NewId(), "how are you");
  CHECK_FALSE(third.sealed.prekey);
  ExpectOpens(p.bob, p.a, third);
}

TEST_CASE("a session without a one-time prekey carries messages both ways") {
  Pair p(2);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent first = SealOrDie(p.alice, p.b, p.NewId(), "no otk", &bundle);
  ExpectOpens(p.bob, p.a, first);
  const Sent reply = SealOrDie(p.bob, p.a, p.NewId(), "fine");
  ExpectOpens(p.alice, p.b, reply);
}

TEST_CASE("messages delivered out of order all decrypt") {
  Pair p(3);
  const auto otk = p.bob.GenerateOneTimePrekeys(1);
  const auto bundle = p.bob.BundleForTesting(otk[0].id).value();
  std::vector<Sent> to_bob;
  to_bob.push_back(SealOrDie(p.alice, p.b, p.NewId(), "m0", &bundle));
  for (int i = 1; i < 5; ++i)
    to_bob.push_back(SealOrDie(p.alice, p.b, p.NewId(), "m" + std::to_string(i)));
  // Every early message is a PREKEY message, so the last can arrive first.
  for (const Sent& m : to_bob) CHECK(m.sealed.prekey);
  for (int i : {4, 1, 3, 0, 2}) ExpectOpens(p.bob, p.a, to_bob[static_cast<size_t>(i)]);

  std::vector<Sent> to_alice;
  for (int i = 0; i < 4; ++i)
    to_alice.push_back(SealOrDie(p.bob, p.a, p.NewId(), "r" + std::to_string(i)));
  for (int i : {2, 0, 3, 1}) ExpectOpens(p.alice, p.b, to_alice[static_cast<size_t>(i)]);

  // A new DH ratchet step, then a late message from the old chain.
  const Sent a1 = SealOrDie(p.alice, p.b, p.NewId(), "after reply 1");
  const Sent a2 = SealOrDie(p.alice, p.b, p.NewId(), "after reply 2");
  ExpectOpens(p.bob, p.a, a2);
  const Sent b1 = SealOrDie(p.bob, p.a, p.NewId(), "bob again");
  ExpectOpens(p.alice, p.b, b1);
  ExpectOpens(p.bob, p.a, a1);
}

TEST_CASE("a commitment that does not match the plaintext is rejected on receipt") {
  Pair p(4);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent m = SealOrDie(p.alice, p.b, p.NewId(), "franked", &bundle);
  // A commitment to another plaintext under a fresh key: what a sender
  // lying about what it sent would attach.
  DeterministicRandom rng(40);
  const auto other_key = crypto::NewFrankingKey(rng);
  const auto lie = crypto::Commit(other_key, AsBytes("something else"), FrankingContext(m.id));
  auto opened = p.bob.Open(p.a, m.id, m.sealed.ciphertext, lie);
  CHECK(opened.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(opened.status().message() == "franking commitment does not match");
}

TEST_CASE("a commitment swapped for another message's is rejected on receipt") {
  Pair p(5);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent m1 = SealOrDie(p.alice, p.b, p.NewId(), "one", &bundle);
  const Sent m2 = SealOrDie(p.alice, p.b, p.NewId(), "two");
  auto opened = p.bob.Open(p.a, m2.id, m2.sealed.ciphertext, m1.sealed.commitment);
  CHECK(opened.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(opened.status().message() == "franking commitment does not match");
}

TEST_CASE("a commitment with a flipped bit is rejected on receipt") {
  Pair p(6);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  Sent m = SealOrDie(p.alice, p.b, p.NewId(), "franked", &bundle);
  m.sealed.commitment.data()[0] ^= 1;
  CHECK(p.bob.Open(p.a, m.id, m.sealed.ciphertext, m.sealed.commitment).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a ciphertext moved to another message id does not decrypt") {
  Pair p(7);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent m = SealOrDie(p.alice, p.b, p.NewId(), "bound to its id", &bundle);
  CHECK_FALSE(p.bob.Open(p.a, p.NewId(), m.sealed.ciphertext, m.sealed.commitment).ok());
  ExpectOpens(p.bob, p.a, m);  // the failed attempt changed nothing
}

TEST_CASE("every message carries a fresh franking key") {
  Pair p(8);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const MessageId id = p.NewId();
  const Sent m1 = SealOrDie(p.alice, p.b, id, "same body", &bundle);
  const Sent m2 = SealOrDie(p.alice, p.b, id, "same body");
  CHECK(m1.sealed.commitment != m2.sealed.commitment);
}

TEST_CASE("a replayed message is refused as already seen") {
  Pair p(9);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent m = SealOrDie(p.alice, p.b, p.NewId(), "once", &bundle);
  ExpectOpens(p.bob, p.a, m);
  CHECK(p.bob.Open(p.a, m.id, m.sealed.ciphertext, m.sealed.commitment).status().code() ==
        absl::StatusCode::kAlreadyExists);
}

TEST_CASE("sealing without a session or a bundle is a failed precondition") {
  Pair p(10);
  CHECK(p.alice.Seal(p.b, p.NewId(), AsBytes("x"), nullptr).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(p.alice.HasSession(p.b));
}

TEST_CASE("a NORMAL message from a peer without a session is a failed precondition") {
  Pair p(11);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent m = SealOrDie(p.alice, p.b, p.NewId(), "first", &bundle);
  ExpectOpens(p.bob, p.a, m);
  const Sent reply = SealOrDie(p.bob, p.a, p.NewId(), "reply");
  DeterministicRandom other_rng(99);
  DeviceCrypto stranger(other_rng);
  CHECK(stranger.Open(p.b, reply.id, reply.sealed.ciphertext, reply.sealed.commitment)
            .status()
            .code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("both sides initiating at once still converse") {
  Pair p(12);
  p.alice.RotateSignedPrekey();
  const auto bob_bundle = p.bob.BundleForTesting(std::nullopt).value();
  const auto alice_bundle = p.alice.BundleForTesting(std::nullopt).value();
  const Sent from_a = SealOrDie(p.alice, p.b, p.NewId(), "a first", &bob_bundle);
  const Sent from_b = SealOrDie(p.bob, p.a, p.NewId(), "b first", &alice_bundle);
  ExpectOpens(p.bob, p.a, from_a);
  ExpectOpens(p.alice, p.b, from_b);
  for (int i = 0; i < 3; ++i) {
    ExpectOpens(p.bob, p.a, SealOrDie(p.alice, p.b, p.NewId(), "a" + std::to_string(i)));
    ExpectOpens(p.alice, p.b, SealOrDie(p.bob, p.a, p.NewId(), "b" + std::to_string(i)));
  }
}

TEST_CASE("a PREKEY message with another identity for a known peer is refused") {
  Pair p(13);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  ExpectOpens(p.bob, p.a, SealOrDie(p.alice, p.b, p.NewId(), "real alice", &bundle));
  DeviceCrypto impostor(p.rng);
  const Sent fake = SealOrDie(impostor, p.b, p.NewId(), "i am alice", &bundle);
  CHECK(p.bob.Open(p.a, fake.id, fake.sealed.ciphertext, fake.sealed.commitment).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE("messages built on a rotated-out signed prekey still open") {
  Pair p(14);
  const auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  const Sent m = SealOrDie(p.alice, p.b, p.NewId(), "old spk", &bundle);
  p.bob.RotateSignedPrekey();
  ExpectOpens(p.bob, p.a, m);
}

TEST_CASE("a tampered bundle signature is refused when starting a session") {
  Pair p(15);
  auto bundle = p.bob.BundleForTesting(std::nullopt).value();
  bundle.signed_prekey_signature.data()[3] ^= 0x40;
  CHECK(p.alice.Seal(p.b, p.NewId(), AsBytes("x"), &bundle).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(p.alice.HasSession(p.b));
}

}  // namespace
}  // namespace letterbox::client
