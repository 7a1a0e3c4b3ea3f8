// Fuzz target: the Double Ratchet under a hostile network. Two sessions
// (Alice and Bob) are built from a fixed SK with DeterministicRandom, then
// the input is a schedule of operations: either side encrypts a message
// (whose plaintext comes from the input), and the network delivers, drops,
// reorders (any in-flight message may be delivered next), tampers with
// (bit flips, truncation, extension, wrong associated data) or replays
// messages.
// Properties:
//  - Decrypt never crashes, whatever arrives (ASan/UBSan);
//  - every untampered message delivered for the first time decrypts to
//    exactly its plaintext, in any order, after any drops (the schedule
//    sends at most kMaxMessages, so no chain skips more than kRatchetMaxSkip
//    keys and no stored key is evicted);
//  - a tampered message, a message under the wrong associated data and a
//    replay are all rejected, and the rejected Decrypt leaves the session's
//    state exactly as it was (Decrypt is transactional);
//  - Bob cannot send before he has received (FAILED_PRECONDITION).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "fuzz_check.h"
#include "letterbox/crypto/double_ratchet.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/crypto/x3dh.h"

namespace crypto = letterbox::crypto;

FUZZ_INIT_SODIUM()

namespace {

// Below kRatchetMaxSkip and kRatchetMaxStoredSkippedKeys, so every
// untampered first delivery must succeed.
constexpr size_t kMaxMessages = 400;
constexpr size_t kMaxPlaintext = 64;

struct Sent {
  crypto::RatchetMessage message;
  crypto::Bytes plaintext;
};

struct Party {
  crypto::RatchetSession session;
  std::deque<Sent> outgoing;         // sent by this party, not yet delivered or dropped
  std::vector<Sent> delivered_from;  // sent by this party and already delivered
};

const crypto::Bytes& AssociatedData() {
  static const crypto::Bytes* ad =
      new crypto::Bytes(crypto::AsBytes("fuzz associated data").begin(),
                        crypto::AsBytes("fuzz associated data").end());
  return *ad;
}

// Decrypts `message` at `receiver` and checks that it is rejected without
// changing the receiver's state.
void ExpectRejected(crypto::RatchetSession& receiver, const crypto::RatchetMessage& message,
                    crypto::ByteView ad, const char* what) {
  const crypto::RatchetSession before = receiver.CloneForTesting();
  auto result = receiver.Decrypt(message, ad);
  FUZZ_CHECK(!result.ok(), what);
  FUZZ_CHECK(receiver.StateEqualsForTesting(before), "a rejected Decrypt changes nothing");
}

void Send(Party& sender, bool is_bob, bool bob_has_received, FuzzedDataProvider& in) {
  crypto::Bytes plaintext =
      in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, kMaxPlaintext));
  auto message = sender.session.Encrypt(plaintext, AssociatedData());
  if (is_bob && !bob_has_received) {
    FUZZ_CHECK(absl::IsFailedPrecondition(message.status()), "Bob cannot send before receiving");
    return;
  }
  FUZZ_CHECK(message.ok(), "Encrypt succeeds once a sending chain exists");
  FUZZ_CHECK(message->ciphertext.size() == plaintext.size() + 16, "ciphertext = plaintext + tag");
  sender.outgoing.push_back({std::move(*message), std::move(plaintext)});
}

void Deliver(Party& sender, Party& receiver, FuzzedDataProvider& in) {
  if (sender.outgoing.empty()) return;
  const size_t i = in.ConsumeIntegralInRange<size_t>(0, sender.outgoing.size() - 1);
  Sent sent = std::move(sender.outgoing[i]);
  sender.outgoing.erase(sender.outgoing.begin() + static_cast<std::ptrdiff_t>(i));
  // Through the wire encoding, as a real client receives it.
  auto decoded = crypto::RatchetMessage::Decode(sent.message.Encode());
  FUZZ_CHECK(decoded.ok() && *decoded == sent.message, "an encoded message decodes");
  auto plaintext = receiver.session.Decrypt(*decoded, AssociatedData());
  FUZZ_CHECK(plaintext.ok(), "an untampered first delivery decrypts");
  FUZZ_CHECK(
      plaintext->Expose().size() == sent.plaintext.size() &&
          std::equal(sent.plaintext.begin(), sent.plaintext.end(), plaintext->Expose().begin()),
      "the plaintext is the one sent");
  FUZZ_CHECK(receiver.session.stored_skipped_keys() <= crypto::kRatchetMaxStoredSkippedKeys,
             "skipped keys stay bounded");
  sender.delivered_from.push_back(std::move(sent));
}

void Drop(Party& sender, FuzzedDataProvider& in) {
  if (sender.outgoing.empty()) return;
  const size_t i = in.ConsumeIntegralInRange<size_t>(0, sender.outgoing.size() - 1);
  sender.outgoing.erase(sender.outgoing.begin() + static_cast<std::ptrdiff_t>(i));
}

// A modified copy of an in-flight message reaches the receiver; the
// original stays in flight and must still decrypt later.
void Tamper(const Party& sender, Party& receiver, FuzzedDataProvider& in) {
  if (sender.outgoing.empty()) return;
  const size_t i = in.ConsumeIntegralInRange<size_t>(0, sender.outgoing.size() - 1);
  const crypto::RatchetMessage& original = sender.outgoing[i].message;
  crypto::Bytes wire = original.Encode();
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: {  // flip one bit anywhere
      const size_t bit = in.ConsumeIntegralInRange<size_t>(0, wire.size() * 8 - 1);
      wire[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      break;
    }
    case 1:  // truncate
      wire.resize(in.ConsumeIntegralInRange<size_t>(0, wire.size() - 1));
      break;
    case 2: {  // append bytes
      crypto::Bytes extra = in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(1, 16));
      if (extra.empty()) extra.push_back(0);
      wire.insert(wire.end(), extra.begin(), extra.end());
      break;
    }
    default: {  // the right bytes under the wrong associated data
      crypto::Bytes ad = AssociatedData();
      const size_t bit = in.ConsumeIntegralInRange<size_t>(0, ad.size() * 8 - 1);
      ad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      ExpectRejected(receiver.session, original, ad, "wrong associated data is rejected");
      return;
    }
  }
  auto decoded = crypto::RatchetMessage::Decode(wire);
  if (!decoded.ok()) return;  // the parser already refused it
  FUZZ_CHECK(!(*decoded == original), "a changed encoding is a changed message");
  ExpectRejected(receiver.session, *decoded, AssociatedData(), "a tampered message is rejected");
}

void Replay(const Party& sender, Party& receiver, FuzzedDataProvider& in) {
  if (sender.delivered_from.empty()) return;
  const size_t i = in.ConsumeIntegralInRange<size_t>(0, sender.delivered_from.size() - 1);
  ExpectRejected(receiver.session, sender.delivered_from[i].message, AssociatedData(),
                 "a replay is rejected");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);

  crypto::DeterministicRandom alice_random(1);
  crypto::DeterministicRandom bob_random(2);
  crypto::X3dhSharedKey sk;
  for (size_t i = 0; i < sk.size(); ++i) sk.mutable_view()[i] = static_cast<uint8_t>(i);
  crypto::X25519KeyPair bob_spk = crypto::X25519KeyPair::Generate(bob_random);
  auto alice_session =
      crypto::RatchetSession::InitAlice(sk.Clone(), bob_spk.public_key, alice_random);
  FUZZ_CHECK(alice_session.ok(), "InitAlice with a valid prekey");
  Party alice{std::move(*alice_session), {}, {}};
  Party bob{crypto::RatchetSession::InitBob(std::move(sk), bob_spk, bob_random), {}, {}};

  size_t sent = 0;
  while (in.remaining_bytes() > 0) {
    const bool bob_has_received = !alice.delivered_from.empty();
    switch (in.ConsumeIntegralInRange<int>(0, 9)) {
      case 0:
        if (sent++ < kMaxMessages) Send(alice, false, bob_has_received, in);
        break;
      case 1:
        if (sent++ < kMaxMessages) Send(bob, true, bob_has_received, in);
        break;
      case 2:
        Deliver(alice, bob, in);
        break;
      case 3:
        Deliver(bob, alice, in);
        break;
      case 4:
        Drop(alice, in);
        break;
      case 5:
        Drop(bob, in);
        break;
      case 6:
        Tamper(alice, bob, in);
        break;
      case 7:
        Tamper(bob, alice, in);
        break;
      case 8:
        Replay(alice, bob, in);
        break;
      default:
        Replay(bob, alice, in);
        break;
    }
  }
  return 0;
}
