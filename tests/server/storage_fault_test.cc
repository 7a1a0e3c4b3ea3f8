// The server under storage faults (docs/reliability.md, check 4): a store
// write that fails gives the client a non-OK status with a generic message,
// never OK; the server keeps serving; after the fault clears, sends succeed
// and nothing of the failed send was stored.
#include <catch2/catch.hpp>
#include <string>

#include "faulty_stores.h"
#include "test_server.h"

namespace letterbox::server::testing {
namespace {

std::vector<v1::Envelope> FetchAll(TestServer& t, const TestDevice& d) {
  v1::FetchRequest q;
  q.set_limit(100);
  v1::FetchResponse r;
  grpc::Status s = t.messages->Fetch(TestServer::Ctx(d).get(), q, &r);
  REQUIRE(s.ok());
  return {r.envelopes().begin(), r.envelopes().end()};
}

TEST_CASE("a Send whose store write fails gets INTERNAL \"internal error\" - never OK",
          "[server][faults]") {
  FaultyStores stores;
  TestServer t(TestServer::DefaultConfig(), &stores);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();

  stores.Fail("mailboxes.Store");
  for (int i = 0; i < 5; ++i) {
    v1::SendResponse r;
    grpc::Status s = t.messages->Send(TestServer::Ctx(alice).get(), TestServer::SendTo(bob), &r);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK(s.error_message() == "internal error");  // nothing about the engine leaks
    CHECK(s.error_details().empty());
  }
  CHECK(stores.Failures("mailboxes.Store") == 5);
  CHECK(FetchAll(t, bob).empty());
}

TEST_CASE("the server keeps serving while the store fails and recovers when the fault clears",
          "[server][faults]") {
  FaultyStores stores;
  TestServer t(TestServer::DefaultConfig(), &stores);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();

  stores.Fail("mailboxes.Store");
  v1::SendRequest failed = TestServer::SendTo(bob, "first try");
  v1::SendResponse r;
  REQUIRE_FALSE(t.messages->Send(TestServer::Ctx(alice).get(), failed, &r).ok());

  // Other RPCs (and other stores) still work during the fault.
  CHECK(FetchAll(t, bob).empty());
  TestDevice carol = t.RegisterAndLogin();
  CHECK(carol.address.device == 1);

  stores.ClearFaults();
  // The client retries with the same message id: stored once, not a replay.
  v1::SendResponse retried;
  grpc::Status s = t.messages->Send(TestServer::Ctx(alice).get(), failed, &retried);
  INFO(s.error_message());
  REQUIRE(s.ok());
  CHECK_FALSE(retried.duplicate());
  v1::SendResponse again;
  REQUIRE(
      t.messages->Send(TestServer::Ctx(alice).get(), TestServer::SendTo(bob, "next"), &again).ok());

  std::vector<v1::Envelope> got = FetchAll(t, bob);
  REQUIRE(got.size() == 2);
  CHECK(got[0].message_id() == failed.message_id());
  CHECK(got[0].ciphertext() == "first try");
  CHECK(got[1].ciphertext() == "next");
}

TEST_CASE("a failing Ack leaves the envelopes to be delivered again", "[server][faults]") {
  FaultyStores stores;
  TestServer t(TestServer::DefaultConfig(), &stores);
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendResponse sent;
  REQUIRE(t.messages->Send(TestServer::Ctx(alice).get(), TestServer::SendTo(bob), &sent).ok());

  std::vector<v1::Envelope> got = FetchAll(t, bob);
  REQUIRE(got.size() == 1);
  stores.Fail("mailboxes.Ack");
  v1::AckRequest ack;
  ack.add_envelope_ids(got[0].envelope_id());
  v1::AckResponse acked;
  grpc::Status s = t.messages->Ack(TestServer::Ctx(bob).get(), ack, &acked);
  CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(s.error_message() == "internal error");
  stores.ClearFaults();
  CHECK(FetchAll(t, bob).size() == 1);
  REQUIRE(t.messages->Ack(TestServer::Ctx(bob).get(), ack, &acked).ok());
  CHECK(acked.deleted() == 1);
  CHECK(FetchAll(t, bob).empty());
}

}  // namespace
}  // namespace letterbox::server::testing
