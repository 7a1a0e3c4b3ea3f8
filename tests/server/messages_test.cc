// MessageService over real gRPC: stamping and franking, idempotency,
// SendToAccount device sets, caps and rates, Fetch paging, Ack, Subscribe,
// SendStream and envelope expiry.
#include <thread>

#include "test_server.h"

namespace letterbox::server::testing {
namespace {

v1::FetchResponse FetchAll(TestServer& t, const TestDevice& d) {
  v1::FetchResponse r;
  REQUIRE(t.messages->Fetch(t.Ctx(d).get(), {}, &r).ok());
  return r;
}

TEST_CASE(
    "Send stamps the authenticated sender and the server time - with a franking tag that "
    "verifies") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendRequest q = TestServer::SendTo(bob, "ciphertext");
  v1::SendResponse r;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), q, &r).ok());
  CHECK(r.server_timestamp_micros() == t.clock.NowMicros());
  REQUIRE(r.deliveries_size() == 1);
  CHECK_FALSE(r.duplicate());

  v1::FetchResponse f = FetchAll(t, bob);
  REQUIRE(f.envelopes_size() == 1);
  const v1::Envelope& e = f.envelopes(0);
  CHECK(e.sender().account_id() == alice.address.account.str());
  CHECK(e.sender().device_id() == 1);
  CHECK(e.server_timestamp_micros() == r.server_timestamp_micros());
  CHECK(e.ciphertext() == "ciphertext");
  CHECK(e.envelope_id() == r.deliveries(0).envelope_id());
  CHECK(e.franking_tag() == r.deliveries(0).franking_tag());
  const crypto::Bytes sender = alice.address.Encode();
  const crypto::Bytes recipient = bob.address.Encode();
  crypto::FrankingFields fields{
      .commitment = *crypto::Commitment::FromString(q.franking_commitment()),
      .sender = sender,
      .recipient = recipient,
      .timestamp_micros = e.server_timestamp_micros(),
      .message_id = crypto::AsBytes(q.message_id())};
  CHECK(crypto::VerifyFrankingTag(t.franking_key, fields,
                                  *crypto::FrankingTag::FromString(e.franking_tag()))
            .ok());
}

TEST_CASE("Sending the same message id twice returns the first answer and stores one envelope") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendRequest q = TestServer::SendTo(bob);
  v1::SendResponse first, second;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), q, &first).ok());
  t.clock.Advance(absl::Seconds(3));
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), q, &second).ok());
  CHECK(second.duplicate());
  CHECK(second.server_timestamp_micros() == first.server_timestamp_micros());
  CHECK(second.deliveries(0).envelope_id() == first.deliveries(0).envelope_id());
  CHECK(second.deliveries(0).franking_tag() == first.deliveries(0).franking_tag());
  CHECK(FetchAll(t, bob).envelopes_size() == 1);
}

TEST_CASE("Send to an unknown device is NOT_FOUND") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice ghost = alice;
  ghost.address.device = 7;
  v1::SendResponse r;
  CHECK(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(ghost), &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

v1::SendToAccountRequest ToAccount(const TestDevice& target, std::vector<uint32_t> devices) {
  v1::SendToAccountRequest q;
  q.set_message_id(RandomBytes(16));
  q.set_account_id(target.address.account.str());
  for (uint32_t d : devices) {
    auto* m = q.add_messages();
    m->set_device_id(d);
    m->set_ciphertext("ct" + std::to_string(d));
    m->set_franking_commitment(RandomBytes(32));
  }
  return q;
}

TEST_CASE("SendToAccount stores one envelope per device of the account") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  TestDevice bob2 = t.AddAndLogin(bob);
  v1::SendResponse r;
  REQUIRE(t.messages->SendToAccount(t.Ctx(alice).get(), ToAccount(bob, {2, 1}), &r).ok());
  REQUIRE(r.deliveries_size() == 2);
  CHECK(FetchAll(t, bob).envelopes(0).ciphertext() == "ct1");
  CHECK(FetchAll(t, bob2).envelopes(0).ciphertext() == "ct2");
}

TEST_CASE(
    "SendToAccount with the wrong device set is FAILED_PRECONDITION naming missing and extra") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  t.AddAndLogin(bob);
  t.AddAndLogin(bob);  // bob has 1, 2, 3
  v1::SendResponse r;
  grpc::Status s = t.messages->SendToAccount(t.Ctx(alice).get(), ToAccount(bob, {1, 5}), &r);
  REQUIRE(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(s.error_message() == "device list mismatch: missing [2,3] extra [5]");
  v1::DeviceMismatch mismatch;
  REQUIRE(mismatch.ParseFromString(s.error_details()));
  CHECK(std::vector<uint32_t>(mismatch.missing_devices().begin(),
                              mismatch.missing_devices().end()) == std::vector<uint32_t>{2, 3});
  CHECK(std::vector<uint32_t>(mismatch.extra_devices().begin(), mismatch.extra_devices().end()) ==
        std::vector<uint32_t>{5});
  CHECK(FetchAll(t, bob).envelopes_size() == 0);
}

TEST_CASE("A full recipient mailbox is RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.max_mailbox_envelopes = 2;
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse r;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &r).ok());
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &r).ok());
  CHECK(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_CASE("A mailbox over max_mailbox_bytes is RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.max_mailbox_bytes = 10;
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse r;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob, "12345678"), &r).ok());
  CHECK(
      t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob, "12345678"), &r).error_code() ==
      grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_CASE(
    "Sends beyond sends_per_sender are RESOURCE_EXHAUSTED - other senders still get through") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.sends_per_sender = Rate{1, 3};
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice carol = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse r;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &r).ok());
  }
  CHECK(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(t.messages->Send(t.Ctx(carol).get(), TestServer::SendTo(bob), &r).ok());
}

TEST_CASE("Fetch pages through the mailbox in arrival order") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  for (int i = 0; i < 5; ++i) {
    v1::SendResponse r;
    REQUIRE(
        t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob, std::to_string(i)), &r).ok());
  }
  v1::FetchRequest q;
  q.set_limit(2);
  std::vector<std::string> seen;
  for (;;) {
    v1::FetchResponse r;
    REQUIRE(t.messages->Fetch(t.Ctx(bob).get(), q, &r).ok());
    for (const auto& e : r.envelopes()) seen.push_back(e.ciphertext());
    if (!r.more()) break;
    q.set_after(r.envelopes(r.envelopes_size() - 1).envelope_id());
  }
  CHECK(seen == std::vector<std::string>{"0", "1", "2", "3", "4"});
}

TEST_CASE("Ack deletes envelopes and is idempotent") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse s;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &s).ok());
  v1::AckRequest q;
  q.add_envelope_ids(s.deliveries(0).envelope_id());
  v1::AckResponse r;
  REQUIRE(t.messages->Ack(t.Ctx(bob).get(), q, &r).ok());
  CHECK(r.deleted() == 1);
  REQUIRE(t.messages->Ack(t.Ctx(bob).get(), q, &r).ok());
  CHECK(r.deleted() == 0);
  CHECK(FetchAll(t, bob).envelopes_size() == 0);
}

TEST_CASE("Envelopes older than envelope_ttl are no longer delivered") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse s;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &s).ok());
  CHECK(FetchAll(t, bob).envelopes_size() == 1);
  t.clock.Advance(absl::Hours(24 * 30) + absl::Seconds(1));
  std::string token;
  REQUIRE(t.Login(bob.address, *bob.identity, &token).ok());
  bob.token_hex = token;
  CHECK(FetchAll(t, bob).envelopes_size() == 0);
}

TEST_CASE("Subscribe streams stored envelopes first - then new ones as they arrive") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse s;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob, "old1"), &s).ok());
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob, "old2"), &s).ok());
  auto ctx = t.Ctx(bob);
  auto reader = t.messages->Subscribe(ctx.get(), v1::SubscribeRequest{});
  v1::Envelope e;
  REQUIRE(reader->Read(&e));
  CHECK(e.ciphertext() == "old1");
  REQUIRE(reader->Read(&e));
  CHECK(e.ciphertext() == "old2");
  for (int i = 0; i < 3; ++i) {
    REQUIRE(
        t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob, "new" + std::to_string(i)), &s)
            .ok());
    REQUIRE(reader->Read(&e));
    CHECK(e.ciphertext() == "new" + std::to_string(i));
  }
  ctx->TryCancel();
  while (reader->Read(&e)) {
  }
  CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
}

TEST_CASE("Shutdown ends Subscribe streams") {
  TestServer t;
  TestDevice bob = t.RegisterAndLogin();
  auto ctx = t.Ctx(bob);
  auto reader = t.messages->Subscribe(ctx.get(), v1::SubscribeRequest{});
  v1::Envelope e;
  std::thread stopper([&] { t.Stop(); });
  CHECK_FALSE(reader->Read(&e));
  CHECK_FALSE(reader->Finish().ok());
  stopper.join();
}

TEST_CASE("SendStream answers each request in order with the status a Send would give") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  auto ctx = t.Ctx(alice);
  auto stream = t.messages->SendStream(ctx.get());
  v1::SendRequest good = TestServer::SendTo(bob, "a");
  v1::SendRequest bad = TestServer::SendTo(bob, "b");
  bad.set_message_id("short");
  v1::SendStreamResponse r;
  REQUIRE(stream->Write(good));
  REQUIRE(stream->Read(&r));
  CHECK(r.code() == 0);
  CHECK(r.response().deliveries_size() == 1);
  REQUIRE(stream->Write(bad));
  REQUIRE(stream->Read(&r));
  CHECK(r.code() == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  REQUIRE(stream->Write(good));
  REQUIRE(stream->Read(&r));
  CHECK(r.code() == 0);
  CHECK(r.response().duplicate());
  stream->WritesDone();
  CHECK(stream->Finish().ok());
  CHECK(FetchAll(t, bob).envelopes_size() == 1);
}

// Writes `count` Sends to `to` on one SendStream from a writer thread while
// reading the answers, and checks they come back in order, each stored.
void CheckPipelinedSendStream(TestServer& t, const TestDevice& from, const TestDevice& to,
                              int count) {
  auto ctx = t.Ctx(from);
  auto stream = t.messages->SendStream(ctx.get());
  std::thread writer([&] {
    for (int i = 0; i < count; ++i) {
      if (!stream->Write(TestServer::SendTo(to, std::to_string(i)))) break;
    }
    stream->WritesDone();
  });
  uint64_t last_envelope = 0;
  int answered = 0;
  v1::SendStreamResponse r;
  while (stream->Read(&r)) {
    REQUIRE(r.code() == 0);
    REQUIRE(r.response().deliveries_size() == 1);
    // Requests are handled in arrival order: envelope ids only grow.
    CHECK(r.response().deliveries(0).envelope_id() > last_envelope);
    last_envelope = r.response().deliveries(0).envelope_id();
    ++answered;
  }
  writer.join();
  CHECK(stream->Finish().ok());
  CHECK(answered == count);
}

TEST_CASE("SendStream answers requests written ahead of their answers in order") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  CheckPipelinedSendStream(t, alice, bob, 300);
}

TEST_CASE("SendStream handled on the fsync writer pool answers in order") {
  ServerConfig config = TestServer::DefaultConfig();
  config.durability = storage::Durability::kFsync;
  config.fsync_writer_threads = 4;
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  CheckPipelinedSendStream(t, alice, bob, 300);
  // Unary calls go through the pool too.
  v1::SendResponse r;
  CHECK(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(bob), &r).ok());
}

}  // namespace
}  // namespace letterbox::server::testing
