// ReportService, RelayService and DiagnosticsService over real gRPC.
#include "letterbox/crypto/sealed_box.h"
#include "test_server.h"

namespace letterbox::server::testing {
namespace {

v1::SubmitReportRequest SealedReport(TestServer& t, const std::string& jurisdiction = "JP") {
  v1::SubmitReportRequest q;
  q.set_jurisdiction(jurisdiction);
  auto sealed = crypto::SealedBoxSeal(t.intake_key.public_key, crypto::AsBytes("report body"));
  REQUIRE(sealed.ok());
  q.set_sealed_report(crypto::ToString(*sealed));
  return q;
}

TEST_CASE("GetVaultKey returns the configured intake key and its id") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::GetVaultKeyResponse r;
  REQUIRE(t.reports->GetVaultKey(t.Ctx(alice).get(), {}, &r).ok());
  CHECK(r.intake_public_key() == t.intake_key.public_key.str());
  CHECK(r.key_id().size() == 16);
}

TEST_CASE("A submitted report reaches the relay with its reporter - and leaves after AckReports") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::SubmitReportRequest q = SealedReport(t);
  v1::SubmitReportResponse sr;
  REQUIRE(t.reports->SubmitReport(t.Ctx(alice).get(), q, &sr).ok());
  CHECK(sr.report_id().size() == 16);

  const std::string relay = t.RelayLogin();
  v1::PullReportsRequest pq;
  pq.set_limit(10);
  v1::PullReportsResponse pr;
  REQUIRE(t.relay->PullReports(t.Ctx(relay).get(), pq, &pr).ok());
  REQUIRE(pr.reports_size() == 1);
  CHECK(pr.reports(0).report_id() == sr.report_id());
  CHECK(pr.reports(0).jurisdiction() == "JP");
  CHECK(pr.reports(0).reporter().account_id() == alice.address.account.str());
  CHECK(pr.reports(0).sealed_report() == q.sealed_report());
  CHECK(pr.reports(0).received_micros() == t.clock.NowMicros());

  v1::AckReportsRequest aq;
  aq.add_report_ids(sr.report_id());
  v1::AckReportsResponse ar;
  REQUIRE(t.relay->AckReports(t.Ctx(relay).get(), aq, &ar).ok());
  REQUIRE(t.relay->AckReports(t.Ctx(relay).get(), aq, &ar).ok());
  pr.Clear();
  REQUIRE(t.relay->PullReports(t.Ctx(relay).get(), pq, &pr).ok());
  CHECK(pr.reports_size() == 0);
}

TEST_CASE("Reports beyond reports_per_device are RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.reports_per_device = Rate{0.01, 2};
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin();
  v1::SubmitReportResponse sr;
  REQUIRE(t.reports->SubmitReport(t.Ctx(alice).get(), SealedReport(t), &sr).ok());
  REQUIRE(t.reports->SubmitReport(t.Ctx(alice).get(), SealedReport(t), &sr).ok());
  CHECK(t.reports->SubmitReport(t.Ctx(alice).get(), SealedReport(t), &sr).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_CASE("VerifyFranking accepts the server's tags and rejects altered ones") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice bob = t.RegisterAndLogin();
  v1::SendRequest send = TestServer::SendTo(bob);
  v1::SendResponse sent;
  REQUIRE(t.messages->Send(t.Ctx(alice).get(), send, &sent).ok());
  v1::VerifyFrankingRequest q;
  v1::FrankingClaim* good = q.add_claims();
  good->set_franking_commitment(send.franking_commitment());
  *good->mutable_sender() = alice.Proto();
  *good->mutable_recipient() = bob.Proto();
  good->set_server_timestamp_micros(sent.server_timestamp_micros());
  good->set_message_id(send.message_id());
  good->set_franking_tag(sent.deliveries(0).franking_tag());
  v1::FrankingClaim* altered = q.add_claims();
  *altered = *good;
  altered->set_server_timestamp_micros(good->server_timestamp_micros() + 1);
  v1::FrankingClaim* misattributed = q.add_claims();
  *misattributed = *good;
  *misattributed->mutable_sender() = bob.Proto();
  v1::FrankingClaim* malformed = q.add_claims();
  *malformed = *good;
  malformed->set_franking_tag("short");
  v1::VerifyFrankingResponse r;
  REQUIRE(t.relay->VerifyFranking(t.Ctx(t.RelayLogin()).get(), q, &r).ok());
  CHECK(std::vector<bool>(r.valid().begin(), r.valid().end()) ==
        std::vector<bool>{true, false, false, false});
}

TEST_CASE("A device session on the relay service is PERMISSION_DENIED") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::PullReportsRequest pq;
  pq.set_limit(10);
  v1::PullReportsResponse pr;
  CHECK(t.relay->PullReports(t.Ctx(alice).get(), pq, &pr).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  v1::AckReportsResponse ar;
  v1::AckReportsRequest aq;
  aq.add_report_ids(RandomBytes(16));
  CHECK(t.relay->AckReports(t.Ctx(alice).get(), aq, &ar).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  v1::VerifyFrankingResponse vr;
  CHECK(t.relay->VerifyFranking(t.Ctx(alice).get(), {}, &vr).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
}

TEST_CASE("The relay session cannot call device RPCs") {
  TestServer t;
  v1::FetchResponse r;
  CHECK(t.messages->Fetch(t.Ctx(t.RelayLogin()).get(), {}, &r).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
}

TEST_CASE("RelayLogin with a key other than the configured relay key is UNAUTHENTICATED") {
  TestServer t;
  v1::GetRelayChallengeResponse cr;
  REQUIRE(t.relay->GetRelayChallenge(t.Ctx().get(), {}, &cr).ok());
  auto other = crypto::Ed25519KeyPair::Generate(SystemRandom::Instance());
  crypto::ByteWriter w;
  w.Label("letterbox.relay-auth.v1").Bytes(crypto::AsBytes(cr.nonce()));
  v1::RelayLoginRequest lq;
  lq.set_nonce(cr.nonce());
  lq.set_signature(crypto::Ed25519Sign(other.secret_key, w.view()).str());
  v1::RelayLoginResponse lr;
  grpc::Status s = t.relay->RelayLogin(t.Ctx().get(), lq, &lr);
  CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(s.error_message() == "authentication failed");
}

TEST_CASE("Diagnostics Noop answers without a session and NoopStream streams count payloads") {
  TestServer t;
  v1::NoopResponse r;
  CHECK(t.diagnostics->Noop(t.Ctx().get(), {}, &r).ok());
  v1::NoopStreamRequest q;
  q.set_count(5);
  q.set_payload_bytes(100);
  auto ctx = t.Ctx();
  auto reader = t.diagnostics->NoopStream(ctx.get(), q);
  int n = 0;
  while (reader->Read(&r)) {
    CHECK(r.payload().size() == 100);
    ++n;
  }
  CHECK(reader->Finish().ok());
  CHECK(n == 5);
}

TEST_CASE("Diagnostics is absent when disabled") {
  ServerConfig config = TestServer::DefaultConfig();
  config.enable_diagnostics = false;
  TestServer t(config);
  v1::NoopResponse r;
  CHECK(t.diagnostics->Noop(t.Ctx().get(), {}, &r).error_code() == grpc::StatusCode::UNIMPLEMENTED);
}

TEST_CASE("Start refuses a vault key that is not hex with INVALID_ARGUMENT") {
  storage::MemoryStores stores;
  FakeClock clock;
  ServerConfig config;
  config.vault_intake_public_key_hex = "not hex";
  auto started = MessagingServer::Start(
      config, stores, clock,
      ServerKeys{
          .franking_key = crypto::RandomSecret<crypto::FrankingServerKey>(SystemRandom::Instance()),
          .discovery_pepper = crypto::RandomSecret<crypto::MacKey>(SystemRandom::Instance())},
      {});
  CHECK(started.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Start on an address already in use is UNAVAILABLE") {
  TestServer t;
  storage::MemoryStores stores;
  FakeClock clock;
  MessagingServer::Options options;
  options.listen_address = "127.0.0.1:" + std::to_string(t.server->port());
  auto started = MessagingServer::Start(
      ServerConfig{}, stores, clock,
      ServerKeys{
          .franking_key = crypto::RandomSecret<crypto::FrankingServerKey>(SystemRandom::Instance()),
          .discovery_pepper = crypto::RandomSecret<crypto::MacKey>(SystemRandom::Instance())},
      std::move(options));
  CHECK(started.status().code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace letterbox::server::testing
