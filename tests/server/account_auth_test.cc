// AccountService and AuthService over real gRPC: registration, devices,
// discovery, challenge-response login, sessions, throttling and P8.
#include "test_server.h"

namespace letterbox::server::testing {
namespace {

TEST_CASE("RegisterAccount creates an account whose first device is 1 and can log in") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  CHECK(alice.address.device == 1);
  v1::ListDevicesRequest q;
  q.set_account_id(alice.address.account.str());
  v1::ListDevicesResponse r;
  REQUIRE(t.accounts->ListDevices(t.Ctx(alice).get(), q, &r).ok());
  REQUIRE(r.device_ids_size() == 1);
  CHECK(r.device_ids(0) == 1);
}

TEST_CASE("AddDevice assigns increasing ids and ListDevices lists them in order") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice second = t.AddAndLogin(alice);
  TestDevice third = t.AddAndLogin(second);
  CHECK(second.address.device == 2);
  CHECK(third.address.device == 3);
  v1::ListDevicesRequest q;
  q.set_account_id(alice.address.account.str());
  v1::ListDevicesResponse r;
  REQUIRE(t.accounts->ListDevices(t.Ctx(third).get(), q, &r).ok());
  CHECK(std::vector<uint32_t>(r.device_ids().begin(), r.device_ids().end()) ==
        std::vector<uint32_t>{1, 2, 3});
}

TEST_CASE("AddDevice beyond max_devices_per_account is RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.max_devices_per_account = 2;
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin();
  t.AddAndLogin(alice);
  auto id = crypto::IdentityKeyPair::Generate(SystemRandom::Instance());
  v1::AddDeviceRequest q;
  *q.mutable_device() = IdentityProto(id);
  v1::AddDeviceResponse r;
  CHECK(t.accounts->AddDevice(t.Ctx(alice).get(), q, &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_CASE("RemoveDevice removes a device and ends its session - the last device stays") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  TestDevice second = t.AddAndLogin(alice);
  v1::RemoveDeviceRequest q;
  q.set_device_id(2);
  v1::RemoveDeviceResponse r;
  REQUIRE(t.accounts->RemoveDevice(t.Ctx(alice).get(), q, &r).ok());
  v1::CountOneTimePrekeysResponse cr;
  CHECK(t.keys_stub->CountOneTimePrekeys(t.Ctx(second).get(), {}, &cr).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(t.accounts->RemoveDevice(t.Ctx(alice).get(), q, &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  q.set_device_id(1);
  CHECK(t.accounts->RemoveDevice(t.Ctx(alice).get(), q, &r).error_code() ==
        grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_CASE("LookupByPhoneNumber finds the account by its normalised number only") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin("JP", "+81 90-1234-5678");
  TestDevice bob = t.RegisterAndLogin();
  v1::LookupByPhoneNumberRequest q;
  q.set_phone_number("+819012345678");
  v1::LookupByPhoneNumberResponse r;
  REQUIRE(t.accounts->LookupByPhoneNumber(t.Ctx(bob).get(), q, &r).ok());
  CHECK(r.account_id() == alice.address.account.str());
  q.set_phone_number("+819012345679");
  CHECK(t.accounts->LookupByPhoneNumber(t.Ctx(bob).get(), q, &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("Registering a phone number twice is ALREADY_EXISTS") {
  TestServer t;
  t.RegisterAndLogin("JP", "+819012345678");
  auto id = crypto::IdentityKeyPair::Generate(SystemRandom::Instance());
  v1::RegisterAccountRequest q;
  q.set_jurisdiction("US");
  q.set_phone_number("+819012345678");
  *q.mutable_device() = IdentityProto(id);
  v1::RegisterAccountResponse r;
  CHECK(t.accounts->RegisterAccount(t.Ctx().get(), q, &r).error_code() ==
        grpc::StatusCode::ALREADY_EXISTS);
}

TEST_CASE("Lookups beyond lookups_per_device are RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.lookups_per_device = Rate{0.001, 2};
  TestServer t(config);
  TestDevice bob = t.RegisterAndLogin();
  v1::LookupByPhoneNumberRequest q;
  q.set_phone_number("+819012345678");
  v1::LookupByPhoneNumberResponse r;
  CHECK(t.accounts->LookupByPhoneNumber(t.Ctx(bob).get(), q, &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(t.accounts->LookupByPhoneNumber(t.Ctx(bob).get(), q, &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(t.accounts->LookupByPhoneNumber(t.Ctx(bob).get(), q, &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_CASE("Registrations beyond registrations_per_address are RESOURCE_EXHAUSTED") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.registrations_per_address = Rate{0.001, 2};
  TestServer t(config);
  t.RegisterAndLogin();
  t.RegisterAndLogin();
  auto id = crypto::IdentityKeyPair::Generate(SystemRandom::Instance());
  v1::RegisterAccountRequest q;
  q.set_jurisdiction("JP");
  *q.mutable_device() = IdentityProto(id);
  v1::RegisterAccountResponse r;
  CHECK(t.accounts->RegisterAccount(t.Ctx().get(), q, &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// --- Authentication ---

v1::LoginRequest SignedLogin(TestServer& t, const TestDevice& d, std::string* nonce_out = nullptr) {
  v1::GetChallengeRequest cq;
  *cq.mutable_device() = d.Proto();
  v1::GetChallengeResponse cr;
  REQUIRE(t.auth->GetChallenge(TestServer::Ctx().get(), cq, &cr).ok());
  if (nonce_out != nullptr) *nonce_out = cr.nonce();
  v1::LoginRequest lq;
  *lq.mutable_device() = d.Proto();
  lq.set_nonce(cr.nonce());
  lq.set_signature(TestServer::SignLogin(*d.identity, d.address, cr.nonce()));
  return lq;
}

TEST_CASE("GetChallenge returns a fresh 32-byte nonce that expires after challenge_ttl") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::GetChallengeRequest cq;
  *cq.mutable_device() = alice.Proto();
  v1::GetChallengeResponse a, b;
  REQUIRE(t.auth->GetChallenge(t.Ctx().get(), cq, &a).ok());
  REQUIRE(t.auth->GetChallenge(t.Ctx().get(), cq, &b).ok());
  CHECK(a.nonce().size() == 32);
  CHECK(a.nonce() != b.nonce());
  CHECK(a.expires_micros() == t.clock.NowMicros() + 60'000'000);
}

TEST_CASE("Login with a correct signature returns a working 32-byte session token") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::LoginResponse r;
  REQUIRE(t.auth->Login(t.Ctx().get(), SignedLogin(t, alice), &r).ok());
  CHECK(r.session_token().size() == 32);
  CHECK(r.expires_micros() == t.clock.NowMicros() + absl::ToInt64Microseconds(absl::Hours(24)));
  v1::CountOneTimePrekeysResponse cr;
  CHECK(t.keys_stub
            ->CountOneTimePrekeys(t.Ctx(crypto::ToHex(crypto::AsBytes(r.session_token()))).get(),
                                  {}, &cr)
            .ok());
}

TEST_CASE("A nonce works once: replaying a successful login is UNAUTHENTICATED") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::LoginRequest lq = SignedLogin(t, alice);
  v1::LoginResponse r;
  REQUIRE(t.auth->Login(t.Ctx().get(), lq, &r).ok());
  grpc::Status replay = t.auth->Login(t.Ctx().get(), lq, &r);
  CHECK(replay.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(replay.error_message() == "authentication failed");
}

TEST_CASE("A challenge older than challenge_ttl is UNAUTHENTICATED") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::LoginRequest lq = SignedLogin(t, alice);
  t.clock.Advance(absl::Seconds(61));
  v1::LoginResponse r;
  CHECK(t.auth->Login(t.Ctx().get(), lq, &r).error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("A session token stops working after session_ttl") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::CountOneTimePrekeysResponse cr;
  REQUIRE(t.keys_stub->CountOneTimePrekeys(t.Ctx(alice).get(), {}, &cr).ok());
  t.clock.Advance(absl::Hours(24) + absl::Seconds(1));
  grpc::Status s = t.keys_stub->CountOneTimePrekeys(t.Ctx(alice).get(), {}, &cr);
  CHECK(s.error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("A missing - malformed or unknown token is UNAUTHENTICATED") {
  TestServer t;
  v1::CountOneTimePrekeysResponse cr;
  CHECK(t.keys_stub->CountOneTimePrekeys(t.Ctx().get(), {}, &cr).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(t.keys_stub->CountOneTimePrekeys(t.Ctx("zz").get(), {}, &cr).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  CHECK(t.keys_stub->CountOneTimePrekeys(t.Ctx(std::string(64, 'a')).get(), {}, &cr).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE("Device sessions survive a restart of the server on the same stores") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  t.Stop();
  t.Start();
  v1::CountOneTimePrekeysResponse cr;
  CHECK(t.keys_stub->CountOneTimePrekeys(t.Ctx(alice).get(), {}, &cr).ok());
}

TEST_CASE("Repeated failed logins for one device are throttled with RESOURCE_EXHAUSTED") {
  TestServer t;  // login_failures_per_device burst 5
  TestDevice alice = t.RegisterAndLogin();
  for (int i = 0; i < 5; ++i) {
    v1::LoginRequest lq = SignedLogin(t, alice);
    lq.set_signature(std::string(64, '\1'));
    v1::LoginResponse r;
    CHECK(t.auth->Login(t.Ctx().get(), lq, &r).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  }
  v1::LoginResponse r;
  CHECK(t.auth->Login(t.Ctx().get(), SignedLogin(t, alice), &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  t.clock.Advance(absl::Seconds(20));  // 0.1 per second refills two failures
  CHECK(t.auth->Login(t.Ctx().get(), SignedLogin(t, alice), &r).ok());
}

TEST_CASE("P8: GetChallenge answers an unknown device exactly as an existing one") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::GetChallengeRequest existing, unknown;
  *existing.mutable_device() = alice.Proto();
  unknown.mutable_device()->set_account_id(RandomBytes(16));
  unknown.mutable_device()->set_device_id(1);
  v1::GetChallengeResponse a, b;
  grpc::Status sa = t.auth->GetChallenge(t.Ctx().get(), existing, &a);
  grpc::Status sb = t.auth->GetChallenge(t.Ctx().get(), unknown, &b);
  CHECK(sa.error_code() == sb.error_code());
  CHECK(sa.error_message() == sb.error_message());
  CHECK(a.nonce().size() == b.nonce().size());
  CHECK(a.expires_micros() == b.expires_micros());
}

TEST_CASE("P8: Login fails identically for an unknown device and a wrong signature") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  // Wrong signature for an existing device.
  v1::LoginRequest wrong = SignedLogin(t, alice);
  wrong.set_signature(TestServer::SignLogin(
      crypto::IdentityKeyPair::Generate(SystemRandom::Instance()), alice.address, wrong.nonce()));
  // A correctly formed login for a device that does not exist.
  TestDevice ghost;
  ghost.identity = std::make_shared<crypto::IdentityKeyPair>(
      crypto::IdentityKeyPair::Generate(SystemRandom::Instance()));
  ghost.address = {*storage::AccountId::FromString(RandomBytes(16)), 1};
  v1::LoginRequest unknown = SignedLogin(t, ghost);
  // A nonce that was never issued.
  v1::LoginRequest forged = SignedLogin(t, alice);
  forged.set_nonce(RandomBytes(32));
  v1::LoginResponse r;
  grpc::Status a = t.auth->Login(t.Ctx().get(), wrong, &r);
  grpc::Status b = t.auth->Login(t.Ctx().get(), unknown, &r);
  grpc::Status c = t.auth->Login(t.Ctx().get(), forged, &r);
  CHECK(a.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(b.error_code() == a.error_code());
  CHECK(c.error_code() == a.error_code());
  CHECK(b.error_message() == a.error_message());
  CHECK(c.error_message() == a.error_message());
}

TEST_CASE("P8: unauthenticated ListDevices is the same for existing and unknown accounts") {
  TestServer t;
  TestDevice alice = t.RegisterAndLogin();
  v1::ListDevicesRequest existing, unknown;
  existing.set_account_id(alice.address.account.str());
  unknown.set_account_id(RandomBytes(16));
  v1::ListDevicesResponse r;
  grpc::Status a = t.accounts->ListDevices(t.Ctx().get(), existing, &r);
  grpc::Status b = t.accounts->ListDevices(t.Ctx().get(), unknown, &r);
  CHECK(a.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(a.error_code() == b.error_code());
  CHECK(a.error_message() == b.error_message());
}

}  // namespace
}  // namespace letterbox::server::testing
