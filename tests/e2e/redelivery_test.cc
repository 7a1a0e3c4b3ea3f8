// Killed between Fetch and Ack (docs/reliability.md, check 5): the real
// letterbox-server binary on a temporary data directory is killed with
// SIGKILL after a device has received envelopes but before it acknowledged
// them, and restarted on the same directory. Envelopes are deleted only by
// Ack, so every unacknowledged one must be delivered again with exactly the
// bytes first delivered (ids, timestamp, commitment, franking tag,
// ciphertext), and an acknowledged one never again. The other half of the
// check: a Send retried with the same message id across the crash is stored
// once.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/random.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "support/process_harness.h"
#include "support/test_device.h"

namespace letterbox {
namespace {

namespace v1 = ::letterbox::v1;
using namespace std::chrono_literals;
using testing::CallContext;
using testing::ChildProcess;
using testing::TempDir;
using testing::TestDevice;

constexpr int kMessages = 24;

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  crypto::SystemRandom::Instance().Fill({reinterpret_cast<uint8_t*>(out.data()), out.size()});
  return out;
}

// One letterbox-server on a temporary data directory. Each start listens on
// a fresh port 0; the process is SIGKILLed at scope exit.
class Server {
 public:
  Server() { Start(); }

  // kill -9, then a new process on the same data directory.
  void KillAndRestart() {
    process_->Kill();
    Start();
  }

  [[nodiscard]] const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

 private:
  void Start() {
    process_ = std::make_unique<ChildProcess>(
        LETTERBOX_SERVER_BIN,
        std::vector<std::string>{"--listen", "127.0.0.1:0", "--data-dir", tmp_.Sub("data"),
                                 "--metrics-listen", "off"},
        tmp_.Sub("server.log"));
    const int port = process_->WaitListening();
    if (port == 0) FAIL("letterbox-server did not start:\n" << process_->Stderr());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials());
  }

  TempDir tmp_;
  std::unique_ptr<ChildProcess> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Bob sends to Alice; both registered on `server`.
struct Conversation {
  explicit Conversation(Server& s) : server(s) {
    REQUIRE(testing::RegisterDevice(server.channel(), "JP", &alice).ok());
    REQUIRE(testing::RegisterDevice(server.channel(), "JP", &bob).ok());
  }

  // The request as first sent and the envelope the server said it stored.
  struct Sent {
    v1::SendRequest request;
    v1::Envelope envelope;
  };

  // One Send from Bob to Alice, answered OK.
  Sent Send() {
    Sent sent;
    sent.request.set_message_id(RandomBytes(16));
    *sent.request.mutable_recipient() = alice.address;
    sent.request.set_ciphertext(RandomBytes(64 + sent_.size() * 16));
    sent.request.set_franking_commitment(RandomBytes(32));
    v1::SendResponse response;
    grpc::Status s = v1::MessageService::NewStub(server.channel())
                         ->Send(CallContext(&bob).get(), sent.request, &response);
    INFO(s.error_message());
    REQUIRE(s.ok());
    REQUIRE(response.deliveries_size() == 1);
    sent.envelope = Expected(sent.request, response);
    sent_.push_back(sent);
    return sent;
  }

  // What Alice must receive for `request` answered with `response`.
  v1::Envelope Expected(const v1::SendRequest& request, const v1::SendResponse& response) const {
    v1::Envelope e;
    e.set_envelope_id(response.deliveries(0).envelope_id());
    e.set_message_id(request.message_id());
    *e.mutable_sender() = bob.address;
    e.set_server_timestamp_micros(response.server_timestamp_micros());
    e.set_franking_commitment(request.franking_commitment());
    e.set_franking_tag(response.deliveries(0).franking_tag());
    e.set_ciphertext(request.ciphertext());
    return e;
  }

  void SendMany(int n) {
    for (int i = 0; i < n; ++i) (void)Send();
  }

  // The envelopes of every Send so far, in sending order.
  [[nodiscard]] std::vector<v1::Envelope> SentEnvelopes() const {
    std::vector<v1::Envelope> out;
    for (const Sent& s : sent_) out.push_back(s.envelope);
    return out;
  }

  // Alice's whole mailbox by Fetch, without acknowledging anything.
  std::vector<v1::Envelope> FetchAlice() {
    std::vector<v1::Envelope> inbox;
    grpc::Status s = testing::FetchMailbox(server.channel(), alice, &inbox);
    INFO(s.error_message());
    REQUIRE(s.ok());
    return inbox;
  }

  // Both devices log in again on the restarted server.
  void LogInAgain() {
    REQUIRE(testing::LoginDevice(server.channel(), alice).ok());
    REQUIRE(testing::LoginDevice(server.channel(), bob).ok());
  }

  Server& server;
  TestDevice alice;
  TestDevice bob;

 private:
  std::vector<Sent> sent_;
};

// Byte-for-byte equality of two envelope lists (every field, same order).
// Only ids are printed on a mismatch, never ciphertext.
void CheckIdentical(const std::vector<v1::Envelope>& actual,
                    const std::vector<v1::Envelope>& expected) {
  REQUIRE(actual.size() == expected.size());
  size_t different = 0;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (actual[i].SerializeAsString() != expected[i].SerializeAsString()) {
      ++different;
      UNSCOPED_INFO("envelope " << i << " differs: got id " << actual[i].envelope_id()
                                << ", expected id " << expected[i].envelope_id());
    }
  }
  CHECK(different == 0);
}

std::vector<uint64_t> Ids(const std::vector<v1::Envelope>& envelopes) {
  std::vector<uint64_t> ids;
  for (const auto& e : envelopes) ids.push_back(e.envelope_id());
  return ids;
}

// Reads `n` envelopes from an open Subscribe stream; fewer if it ends first.
std::vector<v1::Envelope> ReadN(grpc::ClientReader<v1::Envelope>& stream, int n) {
  std::vector<v1::Envelope> out;
  v1::Envelope e;
  while (static_cast<int>(out.size()) < n && stream.Read(&e)) out.push_back(e);
  return out;
}

TEST_CASE("envelopes fetched but not acknowledged are delivered again byte-identical after kill -9",
          "[e2e][crash]") {
  Server server;
  Conversation chat(server);
  chat.SendMany(kMessages);
  const std::vector<v1::Envelope> before = chat.FetchAlice();
  CheckIdentical(before, chat.SentEnvelopes());

  server.KillAndRestart();
  chat.LogInAgain();
  CheckIdentical(chat.FetchAlice(), before);
}

TEST_CASE("acknowledged envelopes stay deleted after kill -9 and the rest are delivered again",
          "[e2e][crash]") {
  Server server;
  Conversation chat(server);
  chat.SendMany(kMessages);
  const std::vector<v1::Envelope> fetched = chat.FetchAlice();
  REQUIRE(fetched.size() == static_cast<size_t>(kMessages));

  // Acknowledge every other envelope; keep the rest.
  v1::AckRequest ack;
  std::vector<v1::Envelope> kept;
  for (size_t i = 0; i < fetched.size(); ++i) {
    if (i % 2 == 0) {
      ack.add_envelope_ids(fetched[i].envelope_id());
    } else {
      kept.push_back(fetched[i]);
    }
  }
  v1::AckResponse acked;
  REQUIRE(v1::MessageService::NewStub(server.channel())
              ->Ack(CallContext(&chat.alice).get(), ack, &acked)
              .ok());
  REQUIRE(acked.deleted() == static_cast<uint32_t>(ack.envelope_ids_size()));

  server.KillAndRestart();
  chat.LogInAgain();
  const std::vector<v1::Envelope> after = chat.FetchAlice();
  CHECK(Ids(after) == Ids(kept));
  CheckIdentical(after, kept);
}

TEST_CASE("envelopes pushed on Subscribe but not acknowledged are pushed again after kill -9",
          "[e2e][crash]") {
  Server server;
  Conversation chat(server);
  auto stub = v1::MessageService::NewStub(server.channel());
  std::vector<v1::Envelope> pushed;
  {
    auto context = CallContext(&chat.alice, 30s);
    std::unique_ptr<grpc::ClientReader<v1::Envelope>> stream =
        stub->Subscribe(context.get(), v1::SubscribeRequest());
    // Sent while Alice is subscribed: delivered by push, not from the backlog.
    chat.SendMany(kMessages);
    pushed = ReadN(*stream, kMessages);
    CheckIdentical(pushed, chat.SentEnvelopes());

    server.KillAndRestart();
    v1::Envelope extra;
    CHECK_FALSE(stream->Read(&extra));  // the stream died with the process
    (void)stream->Finish();
  }

  chat.LogInAgain();
  auto context = CallContext(&chat.alice, 30s);
  std::unique_ptr<grpc::ClientReader<v1::Envelope>> stream =
      v1::MessageService::NewStub(server.channel())
          ->Subscribe(context.get(), v1::SubscribeRequest());
  CheckIdentical(ReadN(*stream, kMessages), pushed);
  context->TryCancel();
  (void)stream->Finish();
}

TEST_CASE("a Send retried with the same message id after kill -9 is stored once", "[e2e][crash]") {
  Server server;
  Conversation chat(server);
  const Conversation::Sent first = chat.Send();

  // The sender never saw the answer (say) and retries on the restarted server.
  server.KillAndRestart();
  chat.LogInAgain();
  v1::SendResponse retry;
  REQUIRE(v1::MessageService::NewStub(server.channel())
              ->Send(CallContext(&chat.bob).get(), first.request, &retry)
              .ok());
  CHECK(retry.duplicate());
  CheckIdentical({chat.Expected(first.request, retry)}, {first.envelope});
  CheckIdentical(chat.FetchAlice(), {first.envelope});
}

}  // namespace
}  // namespace letterbox
