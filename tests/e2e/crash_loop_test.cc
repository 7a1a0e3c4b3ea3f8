// kill -9 crash loop (docs/reliability.md, check 1): the real letterbox-server
// binary on a temporary data directory, four devices sending to each other
// concurrently with deadlines and retries (same message id on every retry),
// and the server killed with SIGKILL at seeded random moments and restarted
// on the same data directory. Afterwards every mailbox is fetched: every Send
// that returned OK must be there exactly once, with the bytes that were sent.
//
// Environment: LETTERBOX_CRASHES (default 5), LETTERBOX_CRASH_SEED (default
// 1), LETTERBOX_CRASH_DURABILITY (process|fsync, default process).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "support/process_harness.h"

namespace letterbox {
namespace {

namespace v1 = ::letterbox::v1;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::ChildProcess;
using testing::EnvNumber;
using testing::TempDir;

constexpr int kDevices = 4;

std::string EnvString(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// The current server address; replaced at every restart (port 0 each time).
class Target {
 public:
  void Set(int port) {
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials());
    std::lock_guard<std::mutex> lock(mu_);
    channel_ = std::move(channel);
  }
  std::shared_ptr<grpc::Channel> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    return channel_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> channel_;
};

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token_hex,
                                         std::chrono::milliseconds timeout = 2000ms) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  if (!token_hex.empty()) ctx->AddMetadata("authorization", "Bearer " + token_hex);
  return ctx;
}

struct Device {
  std::string account_id;  // 16 bytes
  uint32_t device_id = 0;
  crypto::IdentityKeyPair identity;
  std::string token_hex;
};

// RegisterAccount with a real identity (the DH key signed as
// crypto::IdentityDhSigningMessage says).
void Register(Target& target, Device& d) {
  v1::RegisterAccountRequest q;
  q.set_jurisdiction("JP");
  q.mutable_device()->set_identity_signing_key(d.identity.signing.public_key.str());
  q.mutable_device()->set_identity_dh_key(d.identity.dh.public_key.str());
  q.mutable_device()->set_identity_dh_signature(d.identity.dh_signature.str());
  v1::RegisterAccountResponse r;
  grpc::Status s = v1::AccountService::NewStub(target.Get())->RegisterAccount(Ctx("").get(), q, &r);
  INFO(s.error_message());
  REQUIRE(s.ok());
  d.account_id = r.account_id();
  d.device_id = r.device_id();
}

// GetChallenge + Login, signing ByteWriter: label "letterbox.auth.v1" ‖
// bytes(nonce) ‖ bytes(account_id) ‖ u32(device_id) (auth.proto).
grpc::Status Login(Target& target, Device& d) {
  auto stub = v1::AuthService::NewStub(target.Get());
  v1::GetChallengeRequest cq;
  cq.mutable_device()->set_account_id(d.account_id);
  cq.mutable_device()->set_device_id(d.device_id);
  v1::GetChallengeResponse cr;
  grpc::Status s = stub->GetChallenge(Ctx("").get(), cq, &cr);
  if (!s.ok()) return s;
  crypto::ByteWriter w;
  w.Label("letterbox.auth.v1")
      .Bytes(crypto::AsBytes(cr.nonce()))
      .Bytes(crypto::AsBytes(d.account_id))
      .U32(d.device_id);
  v1::LoginRequest lq;
  *lq.mutable_device() = cq.device();
  lq.set_nonce(cr.nonce());
  lq.set_signature(crypto::Ed25519Sign(d.identity.signing.secret_key, w.view()).str());
  v1::LoginResponse lr;
  s = stub->Login(Ctx("").get(), lq, &lr);
  if (s.ok()) d.token_hex = crypto::ToHex(crypto::AsBytes(lr.session_token()));
  return s;
}

// message id (16) ‖ u64 seq ‖ payload ‖ BLAKE2b-256 of all before (32).
std::string CheckedCiphertext(const std::string& message_id, uint64_t seq, size_t payload) {
  crypto::ByteWriter w;
  w.Raw(crypto::AsBytes(message_id)).U64(seq);
  crypto::Bytes random(payload, 0);
  crypto::SystemRandom::Instance().Fill(random);
  w.Raw(random);
  std::string out = crypto::ToString(w.view());
  out += crypto::Blake2b256Of(w.view()).str();
  return out;
}

bool CiphertextIntact(const v1::Envelope& e) {
  const std::string& c = e.ciphertext();
  if (c.size() < 16 + 8 + 32) return false;
  const std::string body = c.substr(0, c.size() - 32);
  return crypto::Blake2b256Of(crypto::AsBytes(body)).str() == c.substr(c.size() - 32) &&
         c.compare(0, 16, e.message_id()) == 0;
}

struct Sent {
  std::string recipient;  // account id ‖ device id
  std::string digest;     // BLAKE2b-256 of the ciphertext
};

struct SenderStats {
  uint64_t retries = 0;
  uint64_t duplicate_replies = 0;
  uint64_t unfinished = 0;  // stopped while the Send's outcome was unknown
  std::vector<std::string> errors;
};

std::string Key(const std::string& account, uint32_t device, const std::string& message_id) {
  return account + std::to_string(device) + "/" + message_id;
}

TEST_CASE("kill -9 at random moments loses - duplicates and corrupts no acknowledged send",
          "[e2e][crash]") {
  const uint64_t crashes = EnvNumber("LETTERBOX_CRASHES", 5);
  const uint64_t seed = EnvNumber("LETTERBOX_CRASH_SEED", 1);
  const std::string durability = EnvString("LETTERBOX_CRASH_DURABILITY", "process");
  const auto started = Clock::now();

  TempDir tmp;
  const std::vector<std::string> args = {"--listen",
                                         "127.0.0.1:0",
                                         "--data-dir",
                                         tmp.Sub("data"),
                                         "--metrics-listen",
                                         "off",
                                         "--durability",
                                         durability,
                                         "--limit-sends-per-sender",
                                         "100000:100000",
                                         "--limit-max-mailbox-envelopes",
                                         "1000000",
                                         "--limit-max-mailbox-bytes",
                                         "4294967296"};
  const std::string log = tmp.Sub("server.log");
  auto server = std::make_unique<ChildProcess>(LETTERBOX_SERVER_BIN, args, log);
  Target target;
  int port = server->WaitListening();
  REQUIRE(port > 0);
  target.Set(port);

  std::vector<Device> devices(kDevices);
  for (Device& d : devices) {
    d.identity = crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
    Register(target, d);
    REQUIRE(Login(target, d).ok());
  }

  std::mutex acked_mu;
  std::map<std::string, Sent> acked;  // Key(sender, message id) -> what was sent
  std::atomic<bool> stop{false};
  std::vector<SenderStats> stats(kDevices);
  std::vector<std::thread> senders;
  // A failed REQUIRE below must not leave running threads behind.
  struct JoinAll {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinAll() {
      stop.store(true);
      for (std::thread& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } join_all{stop, senders};
  for (int i = 0; i < kDevices; ++i) {
    senders.emplace_back([&, i] {
      Device& me = devices[static_cast<size_t>(i)];
      SenderStats& st = stats[static_cast<size_t>(i)];
      std::mt19937_64 rng(seed * 100 + static_cast<uint64_t>(i));
      for (uint64_t seq = 0; !stop.load(); ++seq) {
        const Device& to =
            devices[(static_cast<size_t>(i) + 1 + rng() % (kDevices - 1)) % kDevices];
        v1::SendRequest q;
        std::string id(16, '\0');
        crypto::SystemRandom::Instance().Fill({reinterpret_cast<uint8_t*>(id.data()), id.size()});
        q.set_message_id(id);
        q.mutable_recipient()->set_account_id(to.account_id);
        q.mutable_recipient()->set_device_id(to.device_id);
        q.set_ciphertext(CheckedCiphertext(id, seq, 64 + rng() % 448));
        std::string commitment(32, '\0');
        crypto::SystemRandom::Instance().Fill(
            {reinterpret_cast<uint8_t*>(commitment.data()), commitment.size()});
        q.set_franking_commitment(commitment);
        // Retry the same request until OK; after `stop`, give up 10 s later.
        std::optional<Clock::time_point> give_up;
        for (int attempt = 0;; ++attempt) {
          if (stop.load() && !give_up) give_up = Clock::now() + 10s;
          if (give_up && Clock::now() > *give_up) {
            ++st.unfinished;
            break;
          }
          if (attempt > 0) {
            ++st.retries;
            std::this_thread::sleep_for(20ms);  // back off while the server restarts
          }
          v1::SendResponse r;
          grpc::Status s =
              v1::MessageService::NewStub(target.Get())->Send(Ctx(me.token_hex).get(), q, &r);
          if (s.ok()) {
            if (r.duplicate()) ++st.duplicate_replies;
            std::lock_guard<std::mutex> lock(acked_mu);
            acked[Key(me.account_id, me.device_id, id)] =
                Sent{to.account_id + std::to_string(to.device_id),
                     crypto::Blake2b256Of(crypto::AsBytes(q.ciphertext())).str()};
            break;
          }
          if (s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
            (void)Login(target, me);  // retried with the next attempt
            continue;
          }
          if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
              s.error_code() == grpc::StatusCode::NOT_FOUND ||
              s.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
            st.errors.push_back(s.error_message());
            break;
          }
          // UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, RESOURCE_EXHAUSTED,
          // CANCELLED, UNKNOWN: the outcome is unknown; retry the same id.
        }
      }
    });
  }

  std::mt19937_64 schedule(seed);
  for (uint64_t k = 0; k < crashes; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + schedule() % 1000));
    server->Kill();
    server = std::make_unique<ChildProcess>(LETTERBOX_SERVER_BIN, args, log);
    port = server->WaitListening();
    INFO("restart " << k + 1 << " failed; server log:\n" << testing::ReadFile(log));
    REQUIRE(port > 0);
    target.Set(port);
  }
  std::this_thread::sleep_for(300ms);
  stop.store(true);
  for (std::thread& t : senders) t.join();  // JoinAll then finds nothing to do

  // Fetch every mailbox and compare with what was acknowledged.
  uint64_t delivered = 0, duplicated = 0, corrupted = 0, unacknowledged = 0;
  std::map<std::string, int> seen;
  for (Device& d : devices) {
    if (!Login(target, d).ok()) REQUIRE(Login(target, d).ok());
    uint64_t after = 0;
    while (true) {
      v1::FetchRequest fq;
      fq.set_after(after);
      fq.set_limit(100);
      v1::FetchResponse fr;
      grpc::Status s =
          v1::MessageService::NewStub(target.Get())->Fetch(Ctx(d.token_hex, 10s).get(), fq, &fr);
      INFO(s.error_message());
      REQUIRE(s.ok());
      for (const v1::Envelope& e : fr.envelopes()) {
        after = e.envelope_id();
        const std::string key =
            Key(e.sender().account_id(), e.sender().device_id(), e.message_id());
        auto it = acked.find(key);
        const bool matches =
            it == acked.end() ||
            (it->second.recipient == d.account_id + std::to_string(d.device_id) &&
             it->second.digest == crypto::Blake2b256Of(crypto::AsBytes(e.ciphertext())).str());
        if (!CiphertextIntact(e) || !matches) {
          ++corrupted;
          continue;
        }
        if (++seen[key] > 1) {
          ++duplicated;
          continue;
        }
        if (it == acked.end()) {
          ++unacknowledged;
        } else {
          ++delivered;
        }
      }
      if (!fr.more() || fr.envelopes_size() == 0) break;
    }
  }
  const uint64_t lost = acked.size() - delivered;
  SenderStats total;
  for (const SenderStats& s : stats) {
    total.retries += s.retries;
    total.duplicate_replies += s.duplicate_replies;
    total.unfinished += s.unfinished;
    total.errors.insert(total.errors.end(), s.errors.begin(), s.errors.end());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "crash loop [durability=%s seed=%llu crashes=%llu]: acknowledged=%zu delivered=%llu "
      "lost=%llu duplicated-in-storage=%llu corrupted=%llu | retries=%llu "
      "duplicate-replies=%llu stored-unacknowledged=%llu unfinished=%llu elapsed=%.1fs\n",
      durability.c_str(), static_cast<unsigned long long>(seed),
      static_cast<unsigned long long>(crashes), acked.size(),
      static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(duplicated), static_cast<unsigned long long>(corrupted),
      static_cast<unsigned long long>(total.retries),
      static_cast<unsigned long long>(total.duplicate_replies),
      static_cast<unsigned long long>(unacknowledged),
      static_cast<unsigned long long>(total.unfinished), seconds);
  for (const std::string& e : total.errors) UNSCOPED_INFO("unexpected Send error: " << e);
  CHECK(total.errors.empty());
  CHECK(acked.size() > 0);
  CHECK(lost == 0);
  CHECK(duplicated == 0);
  CHECK(corrupted == 0);
}

}  // namespace
}  // namespace letterbox
