// The load engine's real end-to-end crypto (--crypto real): the sealed body
// and its checks without a server (load_crypto.h), then short load runs
// against an in-process server on 127.0.0.1:0 in which every delivered
// envelope must open and verify.
#include "letterbox/sim/load_crypto.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "letterbox/common/clock.h"
#include "letterbox/crypto/random.h"
#include "letterbox/server/messaging_server.h"
#include "letterbox/sim/load_engine.h"
#include "letterbox/storage/memory_store.h"

namespace letterbox::sim {
namespace {

using client::DeviceAddress;
using client::DeviceCrypto;
using crypto::SystemRandom;

constexpr uint64_t kSalt = 0x5eed5eed5eed5eedull;

DeviceAddress AddressOf(uint8_t tag) {
  DeviceAddress a;
  a.account.mutable_view()[0] = tag;
  a.device_id = 1;
  return a;
}

// Two devices without a server: bob publishes a signed prekey and one
// one-time prekey; alice seals with the bundle a server would hand out.
struct Pair {
  Pair() : alice(SystemRandom::Instance()), bob(SystemRandom::Instance()) {
    bob.RotateSignedPrekey();
    const auto otks = bob.GenerateOneTimePrekeys(1);
    bundle = *bob.BundleForTesting(otks[0].id);
  }

  client::SealedMessage Seal(uint64_t index) {
    return SealAs(index, LoadMessageId(1000, index, kSalt));
  }
  client::SealedMessage SealAs(uint64_t body_index, const client::MessageId& id) {
    auto sealed = SealLoadMessage(alice, bodies, bob_address, {body_index, 0, 1}, id, &bundle);
    REQUIRE(sealed.ok());
    return *std::move(sealed);
  }
  static v1::Envelope EnvelopeOf(const client::SealedMessage& m, const client::MessageId& id) {
    v1::Envelope e;
    e.set_message_id(id.str());
    e.set_ciphertext(crypto::ToString(m.ciphertext));
    e.set_franking_commitment(m.commitment.str());
    return e;
  }
  ReceiveVerdict Open(const v1::Envelope& e, uint32_t recipient = 1) {
    return OpenLoadMessage(bob, bodies, alice_address, {0, recipient, kSalt}, e);
  }

  DeviceCrypto alice;
  DeviceCrypto bob;
  crypto::PrekeyBundle bundle;
  DeviceAddress alice_address = AddressOf(1);
  DeviceAddress bob_address = AddressOf(2);
  LoadBodies bodies{64, SystemRandom::Instance()};
};

TEST_CASE("a sealed load message opens and verifies at its recipient") {
  Pair p;
  const client::SealedMessage m = p.Seal(7);
  CHECK(m.prekey);
  const ReceiveVerdict v = p.Open(Pair::EnvelopeOf(m, LoadMessageId(1000, 7, kSalt)));
  CHECK(v.outcome == ReceiveOutcome::kVerified);
  CHECK(v.index == 7);
}

TEST_CASE("a flipped ciphertext byte is a decrypt failure") {
  Pair p;
  const client::SealedMessage m = p.Seal(7);
  v1::Envelope e = Pair::EnvelopeOf(m, LoadMessageId(1000, 7, kSalt));
  std::string& ct = *e.mutable_ciphertext();
  ct[ct.size() - 5] = static_cast<char>(ct[ct.size() - 5] ^ 0x01);
  const ReceiveVerdict v = p.Open(e);
  CHECK(v.outcome == ReceiveOutcome::kDecryptFailed);
  CHECK(v.code != absl::StatusCode::kOk);
}

TEST_CASE("a commitment that does not match the plaintext is a decrypt failure") {
  Pair p;
  const client::SealedMessage m = p.Seal(7);
  v1::Envelope e = Pair::EnvelopeOf(m, LoadMessageId(1000, 7, kSalt));
  std::string& c = *e.mutable_franking_commitment();
  c[0] = static_cast<char>(c[0] ^ 0x01);
  CHECK(p.Open(e).outcome == ReceiveOutcome::kDecryptFailed);
}

TEST_CASE("a body sealed for another op index than its message id is corrupted") {
  Pair p;
  const client::MessageId id = LoadMessageId(1000, 8, kSalt);
  const client::SealedMessage m = p.SealAs(7, id);
  CHECK(p.Open(Pair::EnvelopeOf(m, id)).outcome == ReceiveOutcome::kCorrupted);
}

TEST_CASE("a body addressed to another recipient is corrupted") {
  Pair p;
  const client::SealedMessage m = p.Seal(7);
  const ReceiveVerdict v = p.Open(Pair::EnvelopeOf(m, LoadMessageId(1000, 7, kSalt)), 3);
  CHECK(v.outcome == ReceiveOutcome::kCorrupted);
}

TEST_CASE("a second delivery of one envelope is a duplicate and not a failure") {
  Pair p;
  const client::SealedMessage m = p.Seal(7);
  const v1::Envelope e = Pair::EnvelopeOf(m, LoadMessageId(1000, 7, kSalt));
  REQUIRE(p.Open(e).outcome == ReceiveOutcome::kVerified);
  const ReceiveVerdict again = p.Open(e);
  CHECK(again.outcome == ReceiveOutcome::kDuplicate);
  CHECK(again.code == absl::StatusCode::kAlreadyExists);
}

TEST_CASE("messages opened in reverse order of sealing all verify") {
  Pair p;
  std::vector<v1::Envelope> sent;
  for (uint64_t i = 0; i < 50; ++i) {
    sent.push_back(Pair::EnvelopeOf(p.Seal(i), LoadMessageId(1000, i, kSalt)));
  }
  for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
    CHECK(p.Open(*it).outcome == ReceiveOutcome::kVerified);
  }
}

TEST_CASE("a bundle with a short key is refused") {
  v1::ClaimBundleResponse r;
  r.mutable_identity()->set_identity_signing_key(std::string(31, 'k'));
  CHECK(absl::IsInvalidArgument(BundleFromProto(r).status()));
}

TEST_CASE("the crypto mode defaults to real when the mix sends to subscribers") {
  EngineConfig c;
  c.server = "127.0.0.1:1";  // Create makes no call
  c.subscribers = 2;
  auto with = LoadEngine::Create(c);
  REQUIRE(with.ok());
  CHECK((*with)->config().crypto == CryptoMode::kReal);
  c.subscribers = 0;
  auto without = LoadEngine::Create(c);
  REQUIRE(without.ok());
  CHECK((*without)->config().crypto == CryptoMode::kSynthetic);
}

TEST_CASE("real crypto bounds the calls in flight by the ratchet skip bound") {
  EngineConfig c;
  c.server = "127.0.0.1:1";
  c.crypto = CryptoMode::kReal;
  c.inflight = static_cast<int>(crypto::kRatchetMaxSkip) + 1;
  CHECK(absl::IsInvalidArgument(LoadEngine::Create(c).status()));
  c.rate = 1000;
  auto open = LoadEngine::Create(c);
  REQUIRE(open.ok());
  CHECK((*open)->config().max_outstanding == crypto::kRatchetMaxSkip);
}

// A MessagingServer on 127.0.0.1:0 over memory stores, with rate limits out
// of the way (its clock never moves, so no bucket refills).
class InProcessServer {
 public:
  InProcessServer() {
    server::ServerConfig config;
    server::Limits& l = config.limits;
    l.sends_per_sender = {1e6, 1e6};
    l.registrations_per_address = {1e6, 1e6};
    l.challenges_per_address = {1e6, 1e6};
    l.claims_per_claimant_target = {1e6, 1e6};
    server::ServerKeys keys{
        .franking_key = crypto::RandomSecret<crypto::FrankingServerKey>(SystemRandom::Instance()),
        .discovery_pepper = crypto::RandomSecret<crypto::MacKey>(SystemRandom::Instance())};
    auto started = server::MessagingServer::Start(config, stores_, clock_, std::move(keys), {});
    REQUIRE(started.ok());
    server_ = *std::move(started);
  }
  ~InProcessServer() { server_->Shutdown(absl::ZeroDuration()); }

  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }

 private:
  FakeClock clock_;
  storage::MemoryStores stores_;
  std::unique_ptr<server::MessagingServer> server_;
};

EngineConfig ShortRun(const InProcessServer& server, int devices, int subscribers, int inflight) {
  EngineConfig c;
  c.server = server.address();
  c.channels = 2;
  c.devices = devices;
  c.subscribers = subscribers;
  c.inflight = inflight;
  c.warmup = absl::Milliseconds(300);
  c.duration = absl::Seconds(1);
  c.crypto = CryptoMode::kReal;
  c.progress = false;
  return c;
}

struct LoadOutcome {
  SessionSetUp setup;
  RunResult run;
};

LoadOutcome RunLoad(EngineConfig config) {
  auto engine = LoadEngine::Create(std::move(config));
  REQUIRE(engine.ok());
  const absl::Status set_up = (*engine)->SetUp();
  INFO(set_up.ToString());
  REQUIRE(set_up.ok());
  REQUIRE((*engine)->session_setup().has_value());
  auto run = (*engine)->Run(Workload::kMix);
  INFO(run.status().ToString());
  REQUIRE(run.ok());
  return {*(*engine)->session_setup(), *std::move(run)};
}

void CheckNoFailure(const CryptoFigures& f) {
  INFO("sealed " << f.sealed << " opened " << f.opened << " out of order " << f.out_of_order
                 << " duplicates " << f.duplicates << " claims " << f.bundle_claims << " prekey "
                 << f.prekey_messages);
  CHECK(f.mode == CryptoMode::kReal);
  CHECK(f.sealed > 0);
  CHECK(f.opened > 0);
  CHECK(f.decrypt_failures == 0);
  CHECK(f.corrupted == 0);
  CHECK(f.seal_failures == 0);
  CHECK(f.claim_failures == 0);
}

// The set-up pass started every session through the key directory; the
// run then sealed and verified every delivered message.
void RequireAllVerified(const LoadOutcome& o, int devices) {
  const SessionSetUp& p = o.setup;
  CHECK(p.sends == static_cast<uint64_t>(devices * (devices - 1)));
  CHECK(p.errors == 0);
  CHECK(p.crypto.bundle_claims > 0);
  CHECK(p.crypto.prekey_messages > 0);
  CHECK(p.received == p.to_subscribers);
  CheckNoFailure(p.crypto);
  CheckNoFailure(o.run.crypto);
  CHECK(o.run.ops[static_cast<size_t>(OpKind::kSend)].errors == 0);
}

TEST_CASE("a real-crypto load run delivers only messages that open and verify") {
  InProcessServer server;
  EngineConfig c = ShortRun(server, 6, 6, 16);
  c.mix = *ParseMix("send=100");
  const LoadOutcome o = RunLoad(c);
  RequireAllVerified(o, 6);
  CHECK(o.run.e2e_delivered > 0);
  // One claim per (sender, peer) at most, all at set-up.
  CHECK(o.setup.crypto.bundle_claims <= 6 * 5);
  CHECK(o.run.crypto.bundle_claims == 0);
}

TEST_CASE("many sends in flight between two devices open whatever their order") {
  InProcessServer server;
  EngineConfig c = ShortRun(server, 2, 2, 64);
  c.mix = *ParseMix("send=100");
  const LoadOutcome o = RunLoad(c);
  RequireAllVerified(o, 2);
  CHECK(o.run.e2e_delivered > 0);
}

TEST_CASE("sends to a peer without a session wait for one claim of its bundle") {
  InProcessServer server;
  EngineConfig c = ShortRun(server, 2, 2, 64);
  c.mix = *ParseMix("send=100");
  c.start_sessions = false;
  auto engine = LoadEngine::Create(c);
  REQUIRE(engine.ok());
  REQUIRE((*engine)->SetUp().ok());
  CHECK_FALSE((*engine)->session_setup().has_value());
  auto run = (*engine)->Run(Workload::kMix);
  REQUIRE(run.ok());
  CheckNoFailure(run->crypto);
  CHECK(run->ops[static_cast<size_t>(OpKind::kSend)].errors == 0);
  CHECK(run->e2e_delivered > 0);
  CHECK(run->crypto.prekey_messages > 0);
  // 64 sends in flight from the start, yet at most one claim per direction.
  CHECK(run->crypto.bundle_claims >= 1);
  CHECK(run->crypto.bundle_claims <= 2);
}

TEST_CASE("fetched and drained envelopes are opened and checked too") {
  InProcessServer server;
  EngineConfig c = ShortRun(server, 4, 1, 16);
  c.mix = *ParseMix("send=80,fetch=20");
  const LoadOutcome o = RunLoad(c);
  RequireAllVerified(o, 4);
  // Three of four devices do not subscribe: most messages reach them by
  // Fetch (fetch ops and the drainer), which open them as well.
  CHECK(o.run.crypto.opened > 2 * o.run.e2e_delivered);
}

}  // namespace
}  // namespace letterbox::sim
