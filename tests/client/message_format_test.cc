// The client message format: round trips, and a strict parser that rejects
// everything the encoder cannot produce.
#include "letterbox/client/message_format.h"

#include <catch2/catch.hpp>

#include "letterbox/client/device_crypto.h"
#include "letterbox/crypto/random.h"

namespace letterbox::client {
namespace {

using crypto::Bytes;
using crypto::DeterministicRandom;

// A real PREKEY message (first message of a session) and the NORMAL reply.
struct Sample {
  Bytes prekey;
  Bytes normal;
};

Sample MakeSample(DeterministicRandom& rng) {
  DeviceCrypto alice(rng), bob(rng);
  bob.RotateSignedPrekey();
  const auto otks = bob.GenerateOneTimePrekeys(1);
  const auto bundle = bob.BundleForTesting(otks[0].id).value();
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 1};
  const auto id1 = crypto::RandomFixed<MessageId>(rng);
  const auto id2 = crypto::RandomFixed<MessageId>(rng);
  auto first = alice.Seal(b, id1, crypto::AsBytes("hello"), &bundle).value();
  REQUIRE(bob.Open(a, id1, first.ciphertext, first.commitment).ok());
  auto reply = bob.Seal(a, id2, crypto::AsBytes("hi"), nullptr).value();
  return {first.ciphertext, reply.ciphertext};
}

TEST_CASE("a PREKEY message parses and re-encodes to the same bytes") {
  DeterministicRandom rng(1);
  const Sample s = MakeSample(rng);
  auto parsed = ClientMessage::Parse(s.prekey);
  REQUIRE(parsed.ok());
  CHECK(parsed->is_prekey());
  CHECK(parsed->type() == ClientMessageType::kPrekey);
  CHECK(parsed->Encode() == s.prekey);
}

TEST_CASE("a NORMAL message parses and re-encodes to the same bytes") {
  DeterministicRandom rng(2);
  const Sample s = MakeSample(rng);
  auto parsed = ClientMessage::Parse(s.normal);
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->is_prekey());
  CHECK(parsed->Encode() == s.normal);
}

TEST_CASE("every truncation of a client message is rejected") {
  DeterministicRandom rng(3);
  const Sample s = MakeSample(rng);
  for (const Bytes* m : {&s.prekey, &s.normal}) {
    for (size_t n = 0; n < m->size(); ++n) {
      INFO("prefix length " << n);
      CHECK(ClientMessage::Parse(crypto::ByteView(m->data(), n)).status().code() ==
            absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_CASE("a client message with trailing bytes is rejected") {
  DeterministicRandom rng(4);
  Sample s = MakeSample(rng);
  s.prekey.push_back(0);
  s.normal.push_back(0);
  CHECK_FALSE(ClientMessage::Parse(s.prekey).ok());
  CHECK_FALSE(ClientMessage::Parse(s.normal).ok());
}

TEST_CASE("a client message with another version is rejected") {
  DeterministicRandom rng(5);
  Sample s = MakeSample(rng);
  for (uint8_t v : {uint8_t{0}, uint8_t{2}, uint8_t{255}}) {
    s.normal[0] = v;
    CHECK(ClientMessage::Parse(s.normal).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("a client message with an unknown type is rejected") {
  DeterministicRandom rng(6);
  Sample s = MakeSample(rng);
  for (uint8_t t : {uint8_t{0}, uint8_t{3}, uint8_t{255}}) {
    s.normal[1] = t;
    CHECK_FALSE(ClientMessage::Parse(s.normal).ok());
  }
}

TEST_CASE("a NORMAL type byte on a PREKEY body is rejected") {
  DeterministicRandom rng(7);
  Sample s = MakeSample(rng);
  s.prekey[1] = static_cast<uint8_t>(ClientMessageType::kNormal);
  CHECK_FALSE(ClientMessage::Parse(s.prekey).ok());
}

TEST_CASE("random bytes never parse as a client message") {
  DeterministicRandom rng(8);
  for (int i = 0; i < 2000; ++i) {
    Bytes junk(static_cast<size_t>(i % 300));
    rng.Fill(junk);
    auto parsed = ClientMessage::Parse(junk);
    // A random input that happened to parse must be canonical.
    if (parsed.ok()) CHECK(parsed->Encode() == junk);
  }
  // With a valid version and type prefix, random remainders still fail.
  for (int i = 0; i < 2000; ++i) {
    Bytes junk(2 + static_cast<size_t>(i % 200));
    rng.Fill(junk);
    junk[0] = kClientMessageVersion;
    junk[1] = static_cast<uint8_t>(1 + i % 2);
    CHECK_FALSE(ClientMessage::Parse(junk).ok());
  }
}

TEST_CASE("an inner plaintext round-trips with its franking key and body") {
  DeterministicRandom rng(9);
  InnerPlaintext p{.franking_key = crypto::NewFrankingKey(rng),
                   .body = crypto::SecretBytes(crypto::AsBytes("body text"))};
  auto encoded = p.Encode();
  REQUIRE(encoded.ok());
  CHECK(encoded->size() == 1 + 32 + 4 + 9);
  auto back = InnerPlaintext::Parse(encoded->Expose());
  REQUIRE(back.ok());
  CHECK(back->franking_key.Equals(p.franking_key));
  CHECK(back->body.Equals(p.body));
}

TEST_CASE("an inner plaintext that is truncated - padded or versioned wrongly is rejected") {
  DeterministicRandom rng(10);
  InnerPlaintext p{.franking_key = crypto::NewFrankingKey(rng),
                   .body = crypto::SecretBytes(crypto::AsBytes("x"))};
  const auto encoded = p.Encode();
  REQUIRE(encoded.ok());
  const Bytes good(encoded->Expose().begin(), encoded->Expose().end());
  for (size_t n = 0; n < good.size(); ++n) {
    CHECK_FALSE(InnerPlaintext::Parse(crypto::ByteView(good.data(), n)).ok());
  }
  Bytes padded = good;
  padded.push_back(0);
  CHECK_FALSE(InnerPlaintext::Parse(padded).ok());
  Bytes versioned = good;
  versioned[0] = 2;
  CHECK_FALSE(InnerPlaintext::Parse(versioned).ok());
}

TEST_CASE("a body larger than the limit is refused when encoding") {
  DeterministicRandom rng(11);
  InnerPlaintext p{.franking_key = crypto::NewFrankingKey(rng),
                   .body = crypto::SecretBytes(kMaxBodyBytes + 1)};
  CHECK(p.Encode().status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the franking context binds the message id") {
  DeterministicRandom rng(12);
  const auto a = crypto::RandomFixed<MessageId>(rng);
  const auto b = crypto::RandomFixed<MessageId>(rng);
  CHECK(FrankingContext(a) != FrankingContext(b));
  // ByteWriter().Label("letterbox.franking.context.v1").Bytes(id): 4+29+4+16.
  CHECK(FrankingContext(a).size() == 4 + 29 + 4 + 16);
}

}  // namespace
}  // namespace letterbox::client
