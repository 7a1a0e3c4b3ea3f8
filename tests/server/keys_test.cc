// KeyService over real gRPC: prekey uploads, bundle claims, the empty pool,
// the per-(claimant, target) rate, and exactly-once hand-out under
// concurrent claims.
#include <mutex>
#include <set>
#include <thread>

#include "test_server.h"

namespace letterbox::server::testing {
namespace {

v1::ClaimBundleRequest ClaimOf(const TestDevice& target) {
  v1::ClaimBundleRequest q;
  *q.mutable_target() = target.Proto();
  return q;
}

TEST_CASE("A claimed bundle carries the identity - the signed prekey and one one-time prekey") {
  TestServer t;
  TestDevice bob = t.RegisterAndLogin();
  TestDevice alice = t.RegisterAndLogin();
  t.UploadPrekeys(bob, 2);
  v1::ClaimBundleResponse r;
  REQUIRE(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).ok());
  CHECK(r.target().device_id() == 1);
  CHECK(r.identity().identity_signing_key() == bob.identity->signing.public_key.str());
  CHECK(r.signed_prekey().key_id() == 1);
  REQUIRE(r.has_one_time_prekey());
  CHECK(r.one_time_prekey().key_id() == 100);
  // The bundle verifies as a client would check it.
  crypto::PrekeyBundle bundle;
  bundle.identity_signing_key =
      *crypto::Ed25519PublicKey::FromString(r.identity().identity_signing_key());
  bundle.identity_dh_key = *crypto::X25519PublicKey::FromString(r.identity().identity_dh_key());
  bundle.identity_dh_signature =
      *crypto::Ed25519Signature::FromString(r.identity().identity_dh_signature());
  bundle.signed_prekey_id = r.signed_prekey().key_id();
  bundle.signed_prekey = *crypto::X25519PublicKey::FromString(r.signed_prekey().public_key());
  bundle.signed_prekey_signature =
      *crypto::Ed25519Signature::FromString(r.signed_prekey().signature());
  CHECK(crypto::VerifyPrekeyBundle(bundle).ok());
  v1::CountOneTimePrekeysResponse c;
  REQUIRE(t.keys_stub->CountOneTimePrekeys(t.Ctx(bob).get(), {}, &c).ok());
  CHECK(c.count() == 1);
}

TEST_CASE("With the pool empty a bundle has the signed prekey only and Fetch says prekeys_low") {
  TestServer t;
  TestDevice bob = t.RegisterAndLogin();
  TestDevice alice = t.RegisterAndLogin();
  t.UploadPrekeys(bob, 1);
  v1::ClaimBundleResponse r;
  REQUIRE(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).ok());
  CHECK(r.has_one_time_prekey());
  REQUIRE(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).ok());
  CHECK_FALSE(r.has_one_time_prekey());
  CHECK(r.has_signed_prekey());
  v1::FetchResponse f;
  REQUIRE(t.messages->Fetch(t.Ctx(bob).get(), {}, &f).ok());
  CHECK(f.prekeys_low());
}

TEST_CASE("Claiming a device without a signed prekey or an unknown device is NOT_FOUND") {
  TestServer t;
  TestDevice bob = t.RegisterAndLogin();
  TestDevice alice = t.RegisterAndLogin();
  v1::ClaimBundleResponse r;
  CHECK(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  TestDevice ghost = bob;
  ghost.address.device = 9;
  CHECK(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(ghost), &r).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("A signed prekey not signed by the caller's identity key is INVALID_ARGUMENT") {
  TestServer t;
  TestDevice bob = t.RegisterAndLogin();
  auto other = crypto::IdentityKeyPair::Generate(SystemRandom::Instance());
  auto spk = crypto::X25519KeyPair::Generate(SystemRandom::Instance());
  v1::UploadSignedPrekeyRequest q;
  q.mutable_signed_prekey()->set_key_id(1);
  q.mutable_signed_prekey()->set_public_key(spk.public_key.str());
  q.mutable_signed_prekey()->set_signature(
      crypto::SignSignedPrekey(other.signing.secret_key, 1, spk.public_key).str());
  v1::UploadSignedPrekeyResponse r;
  CHECK(t.keys_stub->UploadSignedPrekey(t.Ctx(bob).get(), q, &r).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("Uploads report the pool size and stop at max_prekey_pool") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.max_prekey_pool = 5;
  TestServer t(config);
  TestDevice bob = t.RegisterAndLogin();
  v1::UploadOneTimePrekeysRequest q;
  for (int i = 0; i < 4; ++i) {
    auto* k = q.add_prekeys();
    k->set_key_id(i);
    k->set_public_key(RandomBytes(32));
  }
  v1::UploadOneTimePrekeysResponse r;
  REQUIRE(t.keys_stub->UploadOneTimePrekeys(t.Ctx(bob).get(), q, &r).ok());
  CHECK(r.pool_size() == 4);
  for (auto& k : *q.mutable_prekeys()) k.set_key_id(k.key_id() + 10);
  CHECK(t.keys_stub->UploadOneTimePrekeys(t.Ctx(bob).get(), q, &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::CountOneTimePrekeysResponse c;
  REQUIRE(t.keys_stub->CountOneTimePrekeys(t.Ctx(bob).get(), {}, &c).ok());
  CHECK(c.count() == 4);
}

TEST_CASE("Claims beyond claims_per_claimant_target are RESOURCE_EXHAUSTED for that pair only") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.claims_per_claimant_target = Rate{1, 3};
  TestServer t(config);
  TestDevice bob = t.RegisterAndLogin();
  TestDevice alice = t.RegisterAndLogin();
  TestDevice carol = t.RegisterAndLogin();
  t.UploadPrekeys(bob, 10);
  v1::ClaimBundleResponse r;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).ok());
  }
  CHECK(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(t.keys_stub->ClaimBundle(t.Ctx(carol).get(), ClaimOf(bob), &r).ok());
  t.clock.Advance(absl::Seconds(1));
  CHECK(t.keys_stub->ClaimBundle(t.Ctx(alice).get(), ClaimOf(bob), &r).ok());
}

TEST_CASE("Concurrent claims over gRPC hand out each one-time prekey exactly once") {
  constexpr int kClaimants = 8;
  constexpr int kClaimsEach = 10;
  constexpr int kPool = 60;
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.claims_per_claimant_target = Rate{0, 0};  // no limit
  TestServer t(config);
  TestDevice bob = t.RegisterAndLogin();
  t.UploadPrekeys(bob, kPool);
  std::vector<TestDevice> claimants;
  for (int i = 0; i < kClaimants; ++i) claimants.push_back(t.RegisterAndLogin());

  std::mutex mu;
  std::vector<uint32_t> handed_out;
  int without = 0;
  int failures = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < kClaimants; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kClaimsEach; ++j) {
        v1::ClaimBundleResponse r;
        grpc::Status s = t.keys_stub->ClaimBundle(t.Ctx(claimants[i]).get(), ClaimOf(bob), &r);
        std::lock_guard<std::mutex> lock(mu);
        if (!s.ok()) {
          ++failures;
        } else if (r.has_one_time_prekey()) {
          handed_out.push_back(r.one_time_prekey().key_id());
        } else {
          ++without;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  CHECK(handed_out.size() == kPool);
  CHECK(std::set<uint32_t>(handed_out.begin(), handed_out.end()).size() == kPool);
  CHECK(without == kClaimants * kClaimsEach - kPool);
}

}  // namespace
}  // namespace letterbox::server::testing
