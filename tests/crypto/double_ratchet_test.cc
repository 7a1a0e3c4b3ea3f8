// Double Ratchet: the KDF chain matches the specification, delivery in any
// order within the bounds works, every failure leaves the session unchanged,
// and a stolen state stops working once a fresh DH ratchet round trip is done.
#include "letterbox/crypto/double_ratchet.h"

#include <catch2/catch.hpp>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/x3dh.h"

namespace letterbox::crypto {
namespace {

std::string Text(const SecretBytes& b) { return ToString(b.Expose()); }

// Alice and Bob after a real X3DH run, with sessions on one seeded Random.
// Not movable: the sessions point at `rng`.
struct Conversation {
  explicit Conversation(uint64_t seed) : rng(seed) {
    IdentityKeyPair alice_id = IdentityKeyPair::Generate(rng);
    IdentityKeyPair bob_id = IdentityKeyPair::Generate(rng);
    X25519KeyPair spk = X25519KeyPair::Generate(rng);
    bob_signed_prekey = spk.public_key;
    PrekeyBundle bundle;
    bundle.identity_signing_key = bob_id.signing.public_key;
    bundle.identity_dh_key = bob_id.dh.public_key;
    bundle.identity_dh_signature = bob_id.dh_signature;
    bundle.signed_prekey_id = 1;
    bundle.signed_prekey = spk.public_key;
    bundle.signed_prekey_signature = SignSignedPrekey(bob_id.signing.secret_key, 1, spk.public_key);
    auto a = X3dhInitiate(alice_id, bundle, rng);
    REQUIRE(a.ok());
    auto b = X3dhRespond(bob_id, spk, nullptr, a->header);
    REQUIRE(b.ok());
    ad = a->associated_data;
    auto alice_session = RatchetSession::InitAlice(std::move(a->shared_key), spk.public_key, rng);
    REQUIRE(alice_session.ok());
    alice.emplace(std::move(*alice_session));
    bob.emplace(RatchetSession::InitBob(std::move(b->shared_key), spk, rng));
  }
  Conversation(const Conversation&) = delete;
  Conversation& operator=(const Conversation&) = delete;

  DeterministicRandom rng;
  Bytes ad;
  X25519PublicKey bob_signed_prekey;
  std::optional<RatchetSession> alice;
  std::optional<RatchetSession> bob;
};

RatchetMessage Send(RatchetSession& from, const std::string& text, ByteView ad) {
  auto m = from.Encrypt(AsBytes(text), ad);
  REQUIRE(m.ok());
  return std::move(*m);
}

absl::StatusOr<std::string> Open(RatchetSession& to, const RatchetMessage& m, ByteView ad) {
  auto pt = to.Decrypt(m, ad);
  if (!pt.ok()) return pt.status();
  return Text(*pt);
}

// Decrypt must fail with `code` and leave the session exactly as it was.
void CheckRejectedUnchanged(RatchetSession& s, const RatchetMessage& m, ByteView ad,
                            absl::StatusCode code) {
  RatchetSession before = s.CloneForTesting();
  auto pt = s.Decrypt(m, ad);
  REQUIRE_FALSE(pt.ok());
  CHECK(pt.status().code() == code);
  CHECK(s.StateEqualsForTesting(before));
}

// ---------------------------------------------------------------------------
// Encodings

RatchetHeader SampleHeader() {
  RatchetHeader h;
  for (size_t i = 0; i < h.dh.size(); ++i) h.dh.data()[i] = static_cast<uint8_t>(0xA0 + i);
  h.previous_chain_length = 0x01020304;
  h.message_number = 0x0A0B0C0D;
  return h;
}

TEST_CASE("Ratchet header encodes as version - DH key - big-endian PN and N") {
  const RatchetHeader h = SampleHeader();
  Bytes expected;
  expected.reserve(kRatchetHeaderSize);
  expected.push_back(0x01);
  for (uint8_t b : h.dh.view()) expected.push_back(b);
  for (uint8_t b : {0x01, 0x02, 0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D}) expected.push_back(b);
  CHECK(h.Encode() == expected);
  CHECK(h.Encode().size() == kRatchetHeaderSize);
  auto decoded = RatchetHeader::Decode(expected);
  REQUIRE(decoded.ok());
  CHECK(*decoded == h);
}

TEST_CASE("Ratchet header decoding rejects wrong versions - truncations and trailing bytes") {
  const Bytes encoded = SampleHeader().Encode();
  for (size_t len = 0; len < encoded.size(); ++len) {
    CHECK(RatchetHeader::Decode(ByteView(encoded).first(len)).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  Bytes longer = encoded;
  longer.push_back(0);
  CHECK(RatchetHeader::Decode(longer).status().code() == absl::StatusCode::kInvalidArgument);
  for (int version : {0, 2, 255}) {
    Bytes wrong = encoded;
    wrong[0] = static_cast<uint8_t>(version);
    CHECK(RatchetHeader::Decode(wrong).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE(
    "Ratchet header decoding of random bytes never crashes and accepts only canonical input") {
  std::mt19937_64 gen(1234);
  const Bytes valid = SampleHeader().Encode();
  for (int i = 0; i < 20000; ++i) {
    Bytes input;
    if (i % 2 == 0) {
      input.resize(gen() % 100);
      for (auto& b : input) b = static_cast<uint8_t>(gen());
    } else {  // mutate a valid encoding: flip, cut or extend
      input = valid;
      switch (gen() % 3) {
        case 0:
          input[gen() % input.size()] ^= static_cast<uint8_t>(1 + gen() % 255);
          break;
        case 1:
          input.resize(gen() % input.size());
          break;
        default:
          input.push_back(static_cast<uint8_t>(gen()));
      }
    }
    auto decoded = RatchetHeader::Decode(input);
    if (decoded.ok()) {
      CHECK(input.size() == kRatchetHeaderSize);
      CHECK(input[0] == kRatchetVersion);
      CHECK(decoded->Encode() == input);
    }
  }
}

TEST_CASE("Ratchet message round-trips and its decoding rejects every malformed variant") {
  RatchetMessage m{SampleHeader(), Bytes(40, 0x5A)};
  const Bytes encoded = m.Encode();
  CHECK(encoded.size() == 1 + kRatchetHeaderSize + 4 + 40);
  auto decoded = RatchetMessage::Decode(encoded);
  REQUIRE(decoded.ok());
  CHECK(*decoded == m);

  for (size_t len = 0; len < encoded.size(); ++len) {
    CHECK_FALSE(RatchetMessage::Decode(ByteView(encoded).first(len)).ok());
  }
  Bytes longer = encoded;
  longer.push_back(0);
  CHECK_FALSE(RatchetMessage::Decode(longer).ok());
  Bytes bad_version = encoded;
  bad_version[0] = 9;
  CHECK_FALSE(RatchetMessage::Decode(bad_version).ok());
  RatchetMessage short_ciphertext{SampleHeader(), Bytes(kAeadTagSize - 1, 0)};
  CHECK_FALSE(RatchetMessage::Decode(short_ciphertext.Encode()).ok());
}

TEST_CASE("Ratchet message decoding of random bytes never crashes") {
  std::mt19937_64 gen(99);
  for (int i = 0; i < 20000; ++i) {
    Bytes input(gen() % 120);
    for (auto& b : input) b = static_cast<uint8_t>(gen());
    if (!input.empty() && i % 2 == 0) input[0] = kRatchetVersion;
    if (input.size() > 1 + kRatchetHeaderSize && i % 4 == 0) input[1] = kRatchetVersion;
    auto decoded = RatchetMessage::Decode(input);
    if (decoded.ok()) CHECK(decoded->Encode() == input);
  }
}

// ---------------------------------------------------------------------------
// The KDF chain as specified

TEST_CASE("Alice's first two messages follow KDF_RK - KDF_CK and the message-key HKDF exactly") {
  // Re-derive Alice's ratchet key pair from the same seeded stream.
  DeterministicRandom rng(5), replay(5);
  X3dhSharedKey sk;
  for (size_t i = 0; i < sk.size(); ++i) sk.data()[i] = static_cast<uint8_t>(i);
  X25519KeyPair bob_spk = X25519KeyPair::Generate(rng);
  REQUIRE(X25519KeyPair::Generate(replay).public_key == bob_spk.public_key);
  X25519KeyPair alice_dhs = X25519KeyPair::Generate(replay);  // what InitAlice draws next

  auto alice = RatchetSession::InitAlice(sk.Clone(), bob_spk.public_key, rng);
  REQUIRE(alice.ok());
  const Bytes ad = {0xAD, 0xAD};
  auto m0 = alice->Encrypt(AsBytes("hello"), ad);
  auto m1 = alice->Encrypt(AsBytes("again"), ad);
  REQUIRE(m0.ok());
  REQUIRE(m1.ok());
  CHECK(m0->header.dh == alice_dhs.public_key);
  CHECK(m0->header.previous_chain_length == 0);
  CHECK(m0->header.message_number == 0);
  CHECK(m1->header.message_number == 1);

  auto dh = X25519(alice_dhs.secret_key, bob_spk.public_key);
  REQUIRE(dh.ok());
  auto root = HkdfSha256(dh->Expose(), sk.Expose(), AsBytes("Letterbox Ratchet v1 root"), 64);
  REQUIRE(root.ok());
  Bytes ck(root->Expose().begin() + 32, root->Expose().end());

  for (const RatchetMessage* m : {&*m0, &*m1}) {
    const uint8_t one[] = {0x01}, two[] = {0x02};
    HmacSha256Tag mk = HmacSha256(ck, one);
    HmacSha256Tag next_ck = HmacSha256(ck, two);
    auto okm = HkdfSha256(mk.view(), {}, AsBytes("Letterbox Ratchet v1 message keys"), 56);
    REQUIRE(okm.ok());
    auto key = AeadKey::FromBytes(okm->Expose().first(32));
    auto nonce = XChaCha20Nonce::FromBytes(okm->Expose().subspan(32));
    REQUIRE(key.ok());
    REQUIRE(nonce.ok());
    ByteWriter full_ad;
    full_ad.Label("letterbox.ratchet.ad.v1").Bytes(ad).Raw(m->header.Encode());
    auto pt = XChaCha20Poly1305Decrypt(*key, *nonce, m->ciphertext, full_ad.view());
    REQUIRE(pt.ok());
    CHECK(Text(*pt) == (m == &*m0 ? "hello" : "again"));
    ck.assign(next_ck.view().begin(), next_ck.view().end());
  }
}

// ---------------------------------------------------------------------------
// Basic behaviour

TEST_CASE("Bob decrypts Alice's first message and can then reply") {
  Conversation c(1);
  auto m = Send(*c.alice, "hi bob", c.ad);
  CHECK(Open(*c.bob, m, c.ad).value() == "hi bob");
  auto r = Send(*c.bob, "hi alice", c.ad);
  CHECK(Open(*c.alice, r, c.ad).value() == "hi alice");
}

TEST_CASE("Bob cannot send before he has decrypted a message") {
  Conversation c(2);
  auto m = c.bob->Encrypt(AsBytes("too early"), c.ad);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("A moved-to session carries on and a moved-from session refuses to work") {
  Conversation c(20);
  REQUIRE(Open(*c.bob, Send(*c.alice, "before the move", c.ad), c.ad).ok());
  RatchetSession moved = std::move(*c.alice);
  auto m = Send(moved, "after the move", c.ad);
  CHECK(Open(*c.bob, m, c.ad).value() == "after the move");
  auto from_moved = c.alice->Encrypt(AsBytes("x"), c.ad);
  REQUIRE_FALSE(from_moved.ok());
  CHECK(from_moved.status().code() == absl::StatusCode::kFailedPrecondition);
  auto reply = Send(*c.bob, "reply", c.ad);
  CHECK(c.alice->Decrypt(reply, c.ad).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(Open(moved, reply, c.ad).value() == "reply");
}

TEST_CASE("Messages round-trip through their byte encoding") {
  Conversation c(3);
  auto m = Send(*c.alice, "over the wire", c.ad);
  auto decoded = RatchetMessage::Decode(m.Encode());
  REQUIRE(decoded.ok());
  CHECK(Open(*c.bob, *decoded, c.ad).value() == "over the wire");
}

TEST_CASE("An empty plaintext encrypts and decrypts") {
  Conversation c(4);
  auto m = Send(*c.alice, "", c.ad);
  CHECK(m.ciphertext.size() == kAeadTagSize);
  CHECK(Open(*c.bob, m, c.ad).value().empty());
}

TEST_CASE("Every message in a chain has a distinct ciphertext for the same plaintext") {
  Conversation c(5);
  auto m0 = Send(*c.alice, "same", c.ad);
  auto m1 = Send(*c.alice, "same", c.ad);
  CHECK(m0.ciphertext != m1.ciphertext);
}

TEST_CASE("The same seed produces the same ciphertexts - another seed does not") {
  auto transcript = [](uint64_t seed) {
    Conversation c(seed);
    std::vector<Bytes> wire;
    for (int round = 0; round < 5; ++round) {
      for (int i = 0; i < 3; ++i) {
        auto m = Send(*c.alice, "a" + std::to_string(round * 10 + i), c.ad);
        REQUIRE(Open(*c.bob, m, c.ad).ok());
        wire.push_back(m.Encode());
      }
      auto r = Send(*c.bob, "b" + std::to_string(round), c.ad);
      REQUIRE(Open(*c.alice, r, c.ad).ok());
      wire.push_back(r.Encode());
    }
    return wire;
  };
  CHECK(transcript(42) == transcript(42));
  CHECK(transcript(42) != transcript(43));
}

TEST_CASE("Each change of speaker performs a DH ratchet step with a fresh key") {
  Conversation c(6);
  std::vector<X25519PublicKey> seen;
  for (int turn = 0; turn < 200; ++turn) {
    RatchetSession& from = turn % 2 == 0 ? *c.alice : *c.bob;
    RatchetSession& to = turn % 2 == 0 ? *c.bob : *c.alice;
    auto m = Send(from, "turn " + std::to_string(turn), c.ad);
    CHECK(m.header.message_number == 0);
    seen.push_back(m.header.dh);
    REQUIRE(Open(to, m, c.ad).value() == "turn " + std::to_string(turn));
  }
  std::sort(seen.begin(), seen.end());
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
  CHECK(c.alice->stored_skipped_keys() == 0);
  CHECK(c.bob->stored_skipped_keys() == 0);
}

// ---------------------------------------------------------------------------
// Failures leave the session unchanged

TEST_CASE("A replayed message is rejected as ALREADY_EXISTS and changes nothing") {
  Conversation c(7);
  auto m0 = Send(*c.alice, "zero", c.ad);
  auto m1 = Send(*c.alice, "one", c.ad);
  REQUIRE(Open(*c.bob, m0, c.ad).ok());
  REQUIRE(Open(*c.bob, m1, c.ad).ok());
  CheckRejectedUnchanged(*c.bob, m0, c.ad, absl::StatusCode::kAlreadyExists);
  CheckRejectedUnchanged(*c.bob, m1, c.ad, absl::StatusCode::kAlreadyExists);
}

TEST_CASE("A message decrypted out of order with a skipped key cannot be replayed") {
  Conversation c(8);
  auto m0 = Send(*c.alice, "zero", c.ad);
  auto m1 = Send(*c.alice, "one", c.ad);
  REQUIRE(Open(*c.bob, m1, c.ad).ok());
  CHECK(c.bob->stored_skipped_keys() == 1);
  REQUIRE(Open(*c.bob, m0, c.ad).value() == "zero");
  CHECK(c.bob->stored_skipped_keys() == 0);
  CheckRejectedUnchanged(*c.bob, m0, c.ad, absl::StatusCode::kAlreadyExists);
}

TEST_CASE("A replay from an earlier chain is rejected as ALREADY_EXISTS and changes nothing") {
  Conversation c(9);
  auto old = Send(*c.alice, "old chain", c.ad);
  REQUIRE(Open(*c.bob, old, c.ad).ok());
  for (int turn = 0; turn < 4; ++turn) {
    REQUIRE(Open(*c.alice, Send(*c.bob, "b", c.ad), c.ad).ok());
    REQUIRE(Open(*c.bob, Send(*c.alice, "a", c.ad), c.ad).ok());
  }
  CheckRejectedUnchanged(*c.bob, old, c.ad, absl::StatusCode::kAlreadyExists);
}

TEST_CASE("A tampered ciphertext is rejected and changes nothing - then the original decrypts") {
  Conversation c(10);
  auto m = Send(*c.alice, "payload", c.ad);
  for (size_t i = 0; i < m.ciphertext.size(); ++i) {
    RatchetMessage bad = m;
    bad.ciphertext[i] ^= 0x01;
    CheckRejectedUnchanged(*c.bob, bad, c.ad, absl::StatusCode::kInvalidArgument);
  }
  RatchetMessage truncated = m;
  truncated.ciphertext.pop_back();
  CheckRejectedUnchanged(*c.bob, truncated, c.ad, absl::StatusCode::kInvalidArgument);
  CHECK(Open(*c.bob, m, c.ad).value() == "payload");
}

TEST_CASE("A tampered header is rejected and changes nothing - then the original decrypts") {
  Conversation c(11);
  REQUIRE(Open(*c.bob, Send(*c.alice, "first", c.ad), c.ad).ok());
  REQUIRE(Open(*c.alice, Send(*c.bob, "reply", c.ad), c.ad).ok());
  auto m0 = Send(*c.alice, "new chain 0", c.ad);
  auto m1 = Send(*c.alice, "new chain 1", c.ad);

  for (size_t i = 0; i < X25519PublicKey::kSize; ++i) {
    RatchetMessage bad = m1;
    bad.header.dh.data()[i] ^= 0x04;
    CheckRejectedUnchanged(*c.bob, bad, c.ad, absl::StatusCode::kInvalidArgument);
  }
  RatchetMessage bad_pn = m1;
  bad_pn.header.previous_chain_length += 1;
  CheckRejectedUnchanged(*c.bob, bad_pn, c.ad, absl::StatusCode::kInvalidArgument);
  RatchetMessage bad_n = m1;
  bad_n.header.message_number = 0;  // claims m0's slot with m1's ciphertext
  CheckRejectedUnchanged(*c.bob, bad_n, c.ad, absl::StatusCode::kInvalidArgument);
  RatchetMessage far_n = m1;
  far_n.header.message_number = 500;
  CheckRejectedUnchanged(*c.bob, far_n, c.ad, absl::StatusCode::kInvalidArgument);

  CHECK(Open(*c.bob, m1, c.ad).value() == "new chain 1");
  CHECK(Open(*c.bob, m0, c.ad).value() == "new chain 0");
}

TEST_CASE("A message under different associated data is rejected and changes nothing") {
  Conversation c(12);
  auto m = Send(*c.alice, "bound to AD", c.ad);
  Bytes other_ad = c.ad;
  other_ad.back() ^= 0x01;
  CheckRejectedUnchanged(*c.bob, m, other_ad, absl::StatusCode::kInvalidArgument);
  CheckRejectedUnchanged(*c.bob, m, Bytes{}, absl::StatusCode::kInvalidArgument);
  CHECK(Open(*c.bob, m, c.ad).value() == "bound to AD");
}

TEST_CASE("A tampered message that would use a skipped key leaves that key in place") {
  Conversation c(13);
  auto m0 = Send(*c.alice, "zero", c.ad);
  auto m1 = Send(*c.alice, "one", c.ad);
  REQUIRE(Open(*c.bob, m1, c.ad).ok());
  RatchetMessage bad = m0;
  bad.ciphertext[0] ^= 0x10;
  CheckRejectedUnchanged(*c.bob, bad, c.ad, absl::StatusCode::kInvalidArgument);
  CHECK(c.bob->stored_skipped_keys() == 1);
  CHECK(Open(*c.bob, m0, c.ad).value() == "zero");
}

TEST_CASE("A header with a low-order ratchet key is rejected and changes nothing") {
  Conversation c(14);
  auto m = Send(*c.alice, "x", c.ad);
  RatchetMessage bad = m;
  bad.header.dh = X25519PublicKey();
  CheckRejectedUnchanged(*c.bob, bad, c.ad, absl::StatusCode::kInvalidArgument);
  CHECK(Open(*c.bob, m, c.ad).ok());
}

TEST_CASE("Alice rejects a message on Bob's signed prekey before Bob has replied") {
  Conversation c(15);
  RatchetMessage forged{RatchetHeader{c.bob_signed_prekey, 0, 0}, Bytes(32, 0)};
  CheckRejectedUnchanged(*c.alice, forged, c.ad, absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------
// Bounds on skipped keys

TEST_CASE("A message more than MAX_SKIP ahead is rejected and changes nothing") {
  Conversation c(16);
  std::vector<RatchetMessage> sent;
  for (uint32_t i = 0; i <= kRatchetMaxSkip + 1; ++i) {
    sent.push_back(Send(*c.alice, std::to_string(i), c.ad));
  }
  CheckRejectedUnchanged(*c.bob, sent.back(), c.ad, absl::StatusCode::kResourceExhausted);
  // Exactly MAX_SKIP skipped keys is allowed.
  CHECK(Open(*c.bob, sent[kRatchetMaxSkip], c.ad).value() == std::to_string(kRatchetMaxSkip));
  CHECK(c.bob->stored_skipped_keys() == kRatchetMaxSkip);
  CHECK(Open(*c.bob, sent.back(), c.ad).ok());
  CHECK(Open(*c.bob, sent[3], c.ad).value() == "3");
}

TEST_CASE("Skipped keys are capped in total and the oldest are discarded first") {
  Conversation c(17);
  std::vector<std::vector<RatchetMessage>> chains;
  auto run_chain = [&](uint32_t count) {
    std::vector<RatchetMessage> chain;
    for (uint32_t i = 0; i < count; ++i) chain.push_back(Send(*c.alice, std::to_string(i), c.ad));
    REQUIRE(Open(*c.bob, chain.back(), c.ad).ok());  // skips count - 1 keys
    REQUIRE(Open(*c.alice, Send(*c.bob, "ack", c.ad), c.ad).ok());
    chains.push_back(std::move(chain));
  };
  run_chain(kRatchetMaxSkip + 1);
  run_chain(kRatchetMaxSkip + 1);
  CHECK(c.bob->stored_skipped_keys() == kRatchetMaxStoredSkippedKeys);
  run_chain(101);  // 100 more keys: the 100 oldest of the first chain go
  CHECK(c.bob->stored_skipped_keys() == kRatchetMaxStoredSkippedKeys);
  CheckRejectedUnchanged(*c.bob, chains[0][0], c.ad, absl::StatusCode::kAlreadyExists);
  CheckRejectedUnchanged(*c.bob, chains[0][99], c.ad, absl::StatusCode::kAlreadyExists);
  CHECK(Open(*c.bob, chains[0][100], c.ad).value() == "100");
  CHECK(Open(*c.bob, chains[1][0], c.ad).value() == "0");
  CHECK(Open(*c.bob, chains[2][50], c.ad).value() == "50");
}

// ---------------------------------------------------------------------------
// Property-style runs over seeded random schedules

struct ScheduleOptions {
  bool reorder = false;  // deliver a random pending message, not the oldest
  int drop_percent = 0;  // chance that a delivery attempt drops the message
  bool replay = false;   // replay delivered messages (must be rejected)
  bool tamper = false;   // deliver tampered copies first (must be rejected)
};

// One direction of the conversation: what is in flight and what was delivered.
struct Channel {
  std::deque<std::pair<RatchetMessage, std::string>> in_flight;
  std::vector<RatchetMessage> delivered;
  int received = 0;
};

void RunSchedule(uint64_t seed, const ScheduleOptions& options) {
  INFO("seed " << seed);
  Conversation c(seed);
  std::mt19937_64 gen(seed);
  Channel to_bob, to_alice;
  int sent = 0;

  auto deliver = [&](RatchetSession& receiver, Channel& channel) {
    if (channel.in_flight.empty()) return;
    size_t index = options.reorder ? gen() % channel.in_flight.size() : 0;
    auto [message, text] = channel.in_flight[index];
    channel.in_flight.erase(channel.in_flight.begin() + static_cast<std::ptrdiff_t>(index));
    if (static_cast<int>(gen() % 100) < options.drop_percent) return;
    if (options.tamper) {
      RatchetMessage bad = message;
      switch (gen() % 4) {
        case 0:
          bad.ciphertext[gen() % bad.ciphertext.size()] ^= 0x20;
          break;
        case 1:
          bad.header.previous_chain_length ^= 1;
          break;
        case 2:
          bad.header.dh.data()[gen() % 32] ^= 0x02;
          break;
        default:
          bad.header.message_number += 1 + static_cast<uint32_t>(gen() % 5);
      }
      RatchetSession before = receiver.CloneForTesting();
      REQUIRE_FALSE(receiver.Decrypt(bad, c.ad).ok());
      REQUIRE(receiver.StateEqualsForTesting(before));
      Bytes wrong_ad = c.ad;
      wrong_ad[gen() % wrong_ad.size()] ^= 0x01;
      REQUIRE_FALSE(receiver.Decrypt(message, wrong_ad).ok());
      REQUIRE(receiver.StateEqualsForTesting(before));
    }
    auto opened = Open(receiver, message, c.ad);
    REQUIRE(opened.ok());
    REQUIRE(*opened == text);
    ++channel.received;
    channel.delivered.push_back(message);
    if (options.replay) {
      const RatchetMessage& old = channel.delivered[gen() % channel.delivered.size()];
      CheckRejectedUnchanged(receiver, old, c.ad, absl::StatusCode::kAlreadyExists);
    }
  };

  for (int step = 0; step < 300; ++step) {
    switch (gen() % 4) {
      case 0: {
        std::string text = "a" + std::to_string(sent++);
        to_bob.in_flight.emplace_back(Send(*c.alice, text, c.ad), text);
        break;
      }
      case 1:
        if (to_bob.received > 0) {  // Bob can send once he has received
          std::string text = "b" + std::to_string(sent++);
          to_alice.in_flight.emplace_back(Send(*c.bob, text, c.ad), text);
        }
        break;
      case 2:
        deliver(*c.bob, to_bob);
        break;
      default:
        deliver(*c.alice, to_alice);
    }
  }
  while (!to_bob.in_flight.empty()) deliver(*c.bob, to_bob);
  while (!to_alice.in_flight.empty()) deliver(*c.alice, to_alice);
  if (options.drop_percent == 0) {
    CHECK(c.alice->stored_skipped_keys() == 0);
    CHECK(c.bob->stored_skipped_keys() == 0);
  }
}

constexpr uint64_t kSchedules = 40;

TEST_CASE("Property: every message delivered in order decrypts") {
  for (uint64_t seed = 1; seed <= kSchedules; ++seed) RunSchedule(seed, {});
}

TEST_CASE("Property: every message delivered out of order within the skip bound decrypts") {
  for (uint64_t seed = 100; seed < 100 + kSchedules; ++seed) RunSchedule(seed, {.reorder = true});
}

TEST_CASE("Property: lost messages never block later ones") {
  for (uint64_t seed = 200; seed < 200 + kSchedules; ++seed) {
    RunSchedule(seed, {.reorder = true, .drop_percent = 30});
  }
}

TEST_CASE("Property: replays are rejected and leave the session unchanged") {
  for (uint64_t seed = 300; seed < 300 + kSchedules; ++seed) {
    RunSchedule(seed, {.reorder = true, .replay = true});
  }
}

TEST_CASE("Property: tampered headers - ciphertexts and AD are rejected with state unchanged") {
  for (uint64_t seed = 400; seed < 400 + kSchedules; ++seed) {
    RunSchedule(seed, {.reorder = true, .drop_percent = 10, .tamper = true});
  }
}

// ---------------------------------------------------------------------------
// Compromise

TEST_CASE("A stolen copy of Bob's state reads the rest of Alice's current chain") {
  Conversation c(500);
  REQUIRE(Open(*c.bob, Send(*c.alice, "before", c.ad), c.ad).ok());
  RatchetSession eve = c.bob->CloneForTesting();
  auto m1 = Send(*c.alice, "secret 1", c.ad);
  auto m2 = Send(*c.alice, "secret 2", c.ad);
  CHECK(Open(eve, m2, c.ad).value() == "secret 2");
  CHECK(Open(eve, m1, c.ad).value() == "secret 1");
  CHECK(Open(*c.bob, m1, c.ad).value() == "secret 1");
  CHECK(Open(*c.bob, m2, c.ad).value() == "secret 2");
}

TEST_CASE("A stolen copy of Bob's state cannot read messages Bob decrypted before the theft") {
  Conversation c(501);
  auto early = Send(*c.alice, "early", c.ad);
  REQUIRE(Open(*c.bob, early, c.ad).ok());
  RatchetSession eve = c.bob->CloneForTesting();
  CHECK_FALSE(eve.Decrypt(early, c.ad).ok());
}

TEST_CASE("After a state compromise - Alice's messages are safe once Bob's fresh key round-trips") {
  Conversation c(502);
  REQUIRE(Open(*c.bob, Send(*c.alice, "a0", c.ad), c.ad).ok());
  RatchetSession eve = c.bob->CloneForTesting();  // holds RK, CKr, and Bob's ratchet secret B1

  auto a1 = Send(*c.alice, "a1", c.ad);
  CHECK(Open(eve, a1, c.ad).value() == "a1");  // current chain: readable
  REQUIRE(Open(*c.bob, a1, c.ad).ok());

  // Bob replies on B1 (known to Eve); Alice ratchets to a fresh A2. Eve holds
  // B1's secret and the root key, so she can still follow this step: this is
  // the specification's behaviour, not a defect.
  REQUIRE(Open(*c.alice, Send(*c.bob, "b0", c.ad), c.ad).ok());
  auto a2 = Send(*c.alice, "a2", c.ad);
  CHECK(Open(eve, a2, c.ad).value() == "a2");
  REQUIRE(Open(*c.bob, a2, c.ad).ok());  // Bob ratchets to a fresh B2 Eve never saw

  // Bob's reply on B2 and Alice's next chain (A3, derived through B2) are
  // out of Eve's reach.
  auto b1 = Send(*c.bob, "b1", c.ad);
  CHECK_FALSE(eve.Decrypt(b1, c.ad).ok());
  REQUIRE(Open(*c.alice, b1, c.ad).ok());
  auto a3 = Send(*c.alice, "a3", c.ad);
  auto a4 = Send(*c.alice, "a4", c.ad);
  CHECK_FALSE(eve.Decrypt(a3, c.ad).ok());
  CHECK_FALSE(eve.Decrypt(a4, c.ad).ok());
  CHECK(Open(*c.bob, a3, c.ad).value() == "a3");
  CHECK(Open(*c.bob, a4, c.ad).value() == "a4");
}

}  // namespace
}  // namespace letterbox::crypto
