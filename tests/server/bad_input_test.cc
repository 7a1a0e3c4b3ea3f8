// The bad-input table (docs/bad-input.md) as checks: every row sends one
// hostile or invalid request and asserts both the status code and that
// nothing observable through the store interfaces changed (threat model P7).
#include <functional>
#include <sstream>

#include "test_server.h"

namespace letterbox::server::testing {
namespace {

using Code = grpc::StatusCode;

// Everything the store interfaces show about the given devices' accounts,
// mailboxes and pools, plus the report outbox, as one comparable string.
std::string Snapshot(storage::Stores& stores, const std::vector<TestDevice>& devices) {
  std::ostringstream out;
  for (const TestDevice& d : devices) {
    auto account = stores.accounts().GetAccount(d.address.account);
    out << "account " << d.address.account.hex() << " " << account.status().code();
    if (account.ok()) {
      out << " " << account->jurisdiction << " " << account->encrypted_profile.size() << " "
          << account->next_device_id << " " << account->discovery_handle.has_value();
    }
    auto list = stores.accounts().ListDevices(d.address.account);
    if (list.ok()) {
      for (const auto& dev : *list) {
        out << " dev " << dev.id << " " << dev.identity_signing_key.hex();
        const storage::DeviceAddress a{d.address.account, dev.id};
        auto count = stores.prekeys().CountOneTimePrekeys(a);
        out << " otk " << (count.ok() ? *count : 99999);
        auto stats = stores.mailboxes().Stats(a);
        if (stats.ok()) out << " mbox " << stats->envelopes << "/" << stats->bytes;
        auto page = stores.mailboxes().Fetch(a, 0, 1000, 0);
        if (page.ok()) {
          for (const auto& e : page->envelopes) out << " e" << e.id;
        }
      }
    }
    out << "\n";
  }
  auto reports = stores.outbox().ListReports(std::nullopt, 1000);
  if (reports.ok()) {
    for (const auto& r : *reports) out << "report " << r.id.hex() << "\n";
  }
  auto count = stores.outbox().CountReports();
  out << "reports " << (count.ok() ? *count : 99999) << "\n";
  return out.str();
}

struct Row {
  std::string name;
  Code expected;
  std::function<grpc::Status()> call;
};

v1::DeviceIdentity BadSignatureIdentity() {
  auto id = crypto::IdentityKeyPair::Generate(SystemRandom::Instance());
  v1::DeviceIdentity out = IdentityProto(id);
  std::string sig = out.identity_dh_signature();
  sig[0] = static_cast<char>(sig[0] ^ 1);
  out.set_identity_dh_signature(sig);
  return out;
}

v1::DeviceIdentity GoodIdentity() {
  return IdentityProto(crypto::IdentityKeyPair::Generate(SystemRandom::Instance()));
}

TEST_CASE("Every row of the bad-input table gets its status and leaves storage unchanged") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.max_devices_per_account = 2;
  config.limits.max_prekey_pool = 12;
  config.limits.max_mailbox_envelopes = 1;
  config.limits.max_ciphertext_bytes = 1024;
  config.limits.max_report_bytes = 4096;
  config.limits.max_profile_bytes = 64;
  config.limits.max_receive_message_bytes = 64 * 1024;
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin("JP", "+819011112222");
  TestDevice alice2 = t.AddAndLogin(alice);  // alice's account is at max devices
  TestDevice bob = t.RegisterAndLogin("US");
  TestDevice full = t.RegisterAndLogin("JP");  // mailbox at its cap of 1
  t.UploadPrekeys(bob, 10);
  {
    v1::SendResponse r;
    REQUIRE(t.messages->Send(t.Ctx(alice).get(), TestServer::SendTo(full), &r).ok());
  }
  const std::string relay = t.RelayLogin();
  const std::vector<TestDevice> everyone = {alice, alice2, bob, full};

  auto Ctx = [&](const TestDevice& d) { return TestServer::Ctx(d); };
  auto Anon = [] { return TestServer::Ctx(); };
  const std::string unknown_account = RandomBytes(16);

  std::vector<Row> rows;
  auto add = [&](std::string name, Code code, std::function<grpc::Status()> call) {
    rows.push_back(Row{std::move(name), code, std::move(call)});
  };

  // --- AccountService.RegisterAccount ---
  auto reg = [&](std::function<void(v1::RegisterAccountRequest&)> edit) {
    return [&, edit] {
      v1::RegisterAccountRequest q;
      q.set_jurisdiction("JP");
      *q.mutable_device() = GoodIdentity();
      edit(q);
      v1::RegisterAccountResponse r;
      return t.accounts->RegisterAccount(Anon().get(), q, &r);
    };
  };
  add("RegisterAccount: missing device", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.clear_device(); }));
  add("RegisterAccount: signing key 31 bytes", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.mutable_device()->set_identity_signing_key(RandomBytes(31)); }));
  add("RegisterAccount: DH key 33 bytes", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.mutable_device()->set_identity_dh_key(RandomBytes(33)); }));
  add("RegisterAccount: signature empty", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.mutable_device()->clear_identity_dh_signature(); }));
  add("RegisterAccount: identity signature does not verify", Code::INVALID_ARGUMENT,
      reg([](auto& q) { *q.mutable_device() = BadSignatureIdentity(); }));
  add("RegisterAccount: jurisdiction missing", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.clear_jurisdiction(); }));
  add("RegisterAccount: jurisdiction lower-case", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.set_jurisdiction("jp"); }));
  add("RegisterAccount: jurisdiction not configured", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.set_jurisdiction("CN"); }));
  add("RegisterAccount: profile over max_profile_bytes", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.set_encrypted_profile(std::string(65, 'p')); }));
  add("RegisterAccount: phone number not E.164", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.set_phone_number("090-1111-2222"); }));
  add("RegisterAccount: phone number too long", Code::INVALID_ARGUMENT,
      reg([](auto& q) { q.set_phone_number("+1234567890123456"); }));
  add("RegisterAccount: phone number already registered", Code::ALREADY_EXISTS,
      reg([](auto& q) { q.set_phone_number("+819011112222"); }));

  // --- AccountService.AddDevice / RemoveDevice / ListDevices / Lookup ---
  add("AddDevice: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::AddDeviceRequest q;
    *q.mutable_device() = GoodIdentity();
    v1::AddDeviceResponse r;
    return t.accounts->AddDevice(Anon().get(), q, &r);
  });
  add("AddDevice: bad identity signature", Code::INVALID_ARGUMENT, [&] {
    v1::AddDeviceRequest q;
    *q.mutable_device() = BadSignatureIdentity();
    v1::AddDeviceResponse r;
    return t.accounts->AddDevice(Ctx(bob).get(), q, &r);
  });
  add("AddDevice: over max_devices_per_account", Code::RESOURCE_EXHAUSTED, [&] {
    v1::AddDeviceRequest q;
    *q.mutable_device() = GoodIdentity();
    v1::AddDeviceResponse r;
    return t.accounts->AddDevice(Ctx(alice).get(), q, &r);
  });
  add("RemoveDevice: device id 0", Code::INVALID_ARGUMENT, [&] {
    v1::RemoveDeviceRequest q;
    v1::RemoveDeviceResponse r;
    return t.accounts->RemoveDevice(Ctx(alice).get(), q, &r);
  });
  add("RemoveDevice: unknown device id", Code::NOT_FOUND, [&] {
    v1::RemoveDeviceRequest q;
    q.set_device_id(77);
    v1::RemoveDeviceResponse r;
    return t.accounts->RemoveDevice(Ctx(alice).get(), q, &r);
  });
  add("RemoveDevice: the last device", Code::FAILED_PRECONDITION, [&] {
    v1::RemoveDeviceRequest q;
    q.set_device_id(1);
    v1::RemoveDeviceResponse r;
    return t.accounts->RemoveDevice(Ctx(bob).get(), q, &r);
  });
  add("RemoveDevice: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::RemoveDeviceRequest q;
    q.set_device_id(2);
    v1::RemoveDeviceResponse r;
    return t.accounts->RemoveDevice(Anon().get(), q, &r);
  });
  add("ListDevices: account id 15 bytes", Code::INVALID_ARGUMENT, [&] {
    v1::ListDevicesRequest q;
    q.set_account_id(RandomBytes(15));
    v1::ListDevicesResponse r;
    return t.accounts->ListDevices(Ctx(alice).get(), q, &r);
  });
  add("ListDevices: unknown account", Code::NOT_FOUND, [&] {
    v1::ListDevicesRequest q;
    q.set_account_id(unknown_account);
    v1::ListDevicesResponse r;
    return t.accounts->ListDevices(Ctx(alice).get(), q, &r);
  });
  add("LookupByPhoneNumber: not E.164", Code::INVALID_ARGUMENT, [&] {
    v1::LookupByPhoneNumberRequest q;
    q.set_phone_number("hello");
    v1::LookupByPhoneNumberResponse r;
    return t.accounts->LookupByPhoneNumber(Ctx(bob).get(), q, &r);
  });
  add("LookupByPhoneNumber: unknown number", Code::NOT_FOUND, [&] {
    v1::LookupByPhoneNumberRequest q;
    q.set_phone_number("+819099998888");
    v1::LookupByPhoneNumberResponse r;
    return t.accounts->LookupByPhoneNumber(Ctx(bob).get(), q, &r);
  });

  // --- AuthService ---
  add("GetChallenge: account id empty", Code::INVALID_ARGUMENT, [&] {
    v1::GetChallengeRequest q;
    q.mutable_device()->set_device_id(1);
    v1::GetChallengeResponse r;
    return t.auth->GetChallenge(Anon().get(), q, &r);
  });
  add("GetChallenge: device id 0", Code::INVALID_ARGUMENT, [&] {
    v1::GetChallengeRequest q;
    q.mutable_device()->set_account_id(alice.address.account.str());
    v1::GetChallengeResponse r;
    return t.auth->GetChallenge(Anon().get(), q, &r);
  });
  add("Login: nonce 31 bytes", Code::INVALID_ARGUMENT, [&] {
    v1::LoginRequest q;
    *q.mutable_device() = alice.Proto();
    q.set_nonce(RandomBytes(31));
    q.set_signature(RandomBytes(64));
    v1::LoginResponse r;
    return t.auth->Login(Anon().get(), q, &r);
  });
  add("Login: signature 63 bytes", Code::INVALID_ARGUMENT, [&] {
    v1::LoginRequest q;
    *q.mutable_device() = alice.Proto();
    q.set_nonce(RandomBytes(32));
    q.set_signature(RandomBytes(63));
    v1::LoginResponse r;
    return t.auth->Login(Anon().get(), q, &r);
  });
  add("Login: nonce never issued", Code::UNAUTHENTICATED, [&] {
    v1::LoginRequest q;
    *q.mutable_device() = bob.Proto();
    q.set_nonce(RandomBytes(32));
    q.set_signature(TestServer::SignLogin(*bob.identity, bob.address, q.nonce()));
    v1::LoginResponse r;
    return t.auth->Login(Anon().get(), q, &r);
  });

  // --- KeyService ---
  add("UploadSignedPrekey: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::UploadSignedPrekeyResponse r;
    return t.keys_stub->UploadSignedPrekey(Anon().get(), {}, &r);
  });
  add("UploadSignedPrekey: missing prekey", Code::INVALID_ARGUMENT, [&] {
    v1::UploadSignedPrekeyResponse r;
    return t.keys_stub->UploadSignedPrekey(Ctx(bob).get(), {}, &r);
  });
  add("UploadSignedPrekey: public key 31 bytes", Code::INVALID_ARGUMENT, [&] {
    v1::UploadSignedPrekeyRequest q;
    q.mutable_signed_prekey()->set_public_key(RandomBytes(31));
    q.mutable_signed_prekey()->set_signature(RandomBytes(64));
    v1::UploadSignedPrekeyResponse r;
    return t.keys_stub->UploadSignedPrekey(Ctx(bob).get(), q, &r);
  });
  add("UploadSignedPrekey: signature does not verify", Code::INVALID_ARGUMENT, [&] {
    v1::UploadSignedPrekeyRequest q;
    q.mutable_signed_prekey()->set_key_id(2);
    q.mutable_signed_prekey()->set_public_key(RandomBytes(32));
    q.mutable_signed_prekey()->set_signature(RandomBytes(64));
    v1::UploadSignedPrekeyResponse r;
    return t.keys_stub->UploadSignedPrekey(Ctx(bob).get(), q, &r);
  });
  auto otk = [&](int n, int key_len, bool duplicate) {
    return [&, n, key_len, duplicate] {
      v1::UploadOneTimePrekeysRequest q;
      for (int i = 0; i < n; ++i) {
        auto* k = q.add_prekeys();
        k->set_key_id(duplicate ? 5000 : 5000 + i);
        k->set_public_key(RandomBytes(key_len));
      }
      v1::UploadOneTimePrekeysResponse r;
      return t.keys_stub->UploadOneTimePrekeys(Ctx(bob).get(), q, &r);
    };
  };
  add("UploadOneTimePrekeys: empty", Code::INVALID_ARGUMENT, otk(0, 32, false));
  add("UploadOneTimePrekeys: over max_prekeys_per_upload", Code::INVALID_ARGUMENT,
      otk(101, 32, false));
  add("UploadOneTimePrekeys: key 33 bytes", Code::INVALID_ARGUMENT, otk(1, 33, false));
  add("UploadOneTimePrekeys: duplicate ids", Code::INVALID_ARGUMENT, otk(2, 32, true));
  add("UploadOneTimePrekeys: pool over max_prekey_pool", Code::RESOURCE_EXHAUSTED,
      otk(3, 32, false));
  add("ClaimBundle: target missing", Code::INVALID_ARGUMENT, [&] {
    v1::ClaimBundleResponse r;
    return t.keys_stub->ClaimBundle(Ctx(alice).get(), {}, &r);
  });
  add("ClaimBundle: unknown device", Code::NOT_FOUND, [&] {
    v1::ClaimBundleRequest q;
    q.mutable_target()->set_account_id(unknown_account);
    q.mutable_target()->set_device_id(1);
    v1::ClaimBundleResponse r;
    return t.keys_stub->ClaimBundle(Ctx(alice).get(), q, &r);
  });
  add("ClaimBundle: no signed prekey yet", Code::NOT_FOUND, [&] {
    v1::ClaimBundleRequest q;
    *q.mutable_target() = alice.Proto();
    v1::ClaimBundleResponse r;
    return t.keys_stub->ClaimBundle(Ctx(bob).get(), q, &r);
  });
  add("CountOneTimePrekeys: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::CountOneTimePrekeysResponse r;
    return t.keys_stub->CountOneTimePrekeys(Anon().get(), {}, &r);
  });

  // --- MessageService ---
  auto send = [&](std::function<void(v1::SendRequest&)> edit) {
    return [&, edit] {
      v1::SendRequest q = TestServer::SendTo(bob);
      edit(q);
      v1::SendResponse r;
      return t.messages->Send(Ctx(alice).get(), q, &r);
    };
  };
  add("Send: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::SendResponse r;
    return t.messages->Send(Anon().get(), TestServer::SendTo(bob), &r);
  });
  add("Send: message id 15 bytes", Code::INVALID_ARGUMENT,
      send([](auto& q) { q.set_message_id(RandomBytes(15)); }));
  add("Send: recipient missing", Code::INVALID_ARGUMENT,
      send([](auto& q) { q.clear_recipient(); }));
  add("Send: recipient device 0", Code::INVALID_ARGUMENT,
      send([](auto& q) { q.mutable_recipient()->set_device_id(0); }));
  add("Send: ciphertext empty", Code::INVALID_ARGUMENT,
      send([](auto& q) { q.clear_ciphertext(); }));
  add("Send: ciphertext over max_ciphertext_bytes", Code::INVALID_ARGUMENT,
      send([](auto& q) { q.set_ciphertext(std::string(1025, 'c')); }));
  add("Send: commitment 31 bytes", Code::INVALID_ARGUMENT,
      send([](auto& q) { q.set_franking_commitment(RandomBytes(31)); }));
  add("Send: unknown recipient", Code::NOT_FOUND,
      send([&](auto& q) { q.mutable_recipient()->set_account_id(unknown_account); }));
  add("Send: recipient mailbox full", Code::RESOURCE_EXHAUSTED,
      send([&](auto& q) { *q.mutable_recipient() = full.Proto(); }));
  add("Send: message over the transport receive limit", Code::RESOURCE_EXHAUSTED,
      send([](auto& q) { q.set_ciphertext(std::string(70 * 1024, 'c')); }));
  auto to_account = [&](std::function<void(v1::SendToAccountRequest&)> edit) {
    return [&, edit] {
      v1::SendToAccountRequest q;
      q.set_message_id(RandomBytes(16));
      q.set_account_id(alice.address.account.str());
      for (uint32_t d : {1u, 2u}) {
        auto* m = q.add_messages();
        m->set_device_id(d);
        m->set_ciphertext("ct");
        m->set_franking_commitment(RandomBytes(32));
      }
      edit(q);
      v1::SendResponse r;
      return t.messages->SendToAccount(Ctx(bob).get(), q, &r);
    };
  };
  add("SendToAccount: no messages", Code::INVALID_ARGUMENT,
      to_account([](auto& q) { q.clear_messages(); }));
  add("SendToAccount: a device listed twice", Code::INVALID_ARGUMENT,
      to_account([](auto& q) { q.mutable_messages(1)->set_device_id(1); }));
  add("SendToAccount: more messages than max_devices", Code::INVALID_ARGUMENT,
      to_account([](auto& q) {
        *q.add_messages() = q.messages(0);
        q.mutable_messages(2)->set_device_id(3);
      }));
  add("SendToAccount: account id 17 bytes", Code::INVALID_ARGUMENT,
      to_account([](auto& q) { q.set_account_id(RandomBytes(17)); }));
  add("SendToAccount: unknown account", Code::NOT_FOUND,
      to_account([&](auto& q) { q.set_account_id(unknown_account); }));
  add("SendToAccount: device set mismatch", Code::FAILED_PRECONDITION,
      to_account([](auto& q) { q.mutable_messages(1)->set_device_id(3); }));
  add("Fetch: limit over max_fetch_page", Code::INVALID_ARGUMENT, [&] {
    v1::FetchRequest q;
    q.set_limit(101);
    v1::FetchResponse r;
    return t.messages->Fetch(Ctx(full).get(), q, &r);
  });
  add("Ack: no ids", Code::INVALID_ARGUMENT, [&] {
    v1::AckResponse r;
    return t.messages->Ack(Ctx(full).get(), {}, &r);
  });
  add("Ack: over max_ack_batch", Code::INVALID_ARGUMENT, [&] {
    v1::AckRequest q;
    for (int i = 0; i < 1001; ++i) q.add_envelope_ids(1'000'000 + i);
    v1::AckResponse r;
    return t.messages->Ack(Ctx(full).get(), q, &r);
  });
  add("Ack: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::AckRequest q;
    q.add_envelope_ids(1);
    v1::AckResponse r;
    return t.messages->Ack(Anon().get(), q, &r);
  });
  add("Subscribe: unauthenticated", Code::UNAUTHENTICATED, [&] {
    auto ctx = Anon();
    auto reader = t.messages->Subscribe(ctx.get(), {});
    v1::Envelope e;
    while (reader->Read(&e)) {
    }
    return reader->Finish();
  });

  // --- ReportService ---
  auto report = [&](std::string jurisdiction, size_t size) {
    return [&, jurisdiction, size] {
      v1::SubmitReportRequest q;
      q.set_jurisdiction(jurisdiction);
      q.set_sealed_report(RandomBytes(size));
      v1::SubmitReportResponse r;
      return t.reports->SubmitReport(Ctx(alice).get(), q, &r);
    };
  };
  add("SubmitReport: empty", Code::INVALID_ARGUMENT, report("JP", 0));
  add("SubmitReport: shorter than a sealed box", Code::INVALID_ARGUMENT, report("JP", 48));
  add("SubmitReport: over max_report_bytes", Code::INVALID_ARGUMENT, report("JP", 4097));
  add("SubmitReport: jurisdiction not configured", Code::INVALID_ARGUMENT, report("XX", 100));
  add("SubmitReport: jurisdiction not the reporter's", Code::INVALID_ARGUMENT, report("US", 100));
  add("SubmitReport: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::SubmitReportResponse r;
    return t.reports->SubmitReport(Anon().get(), {}, &r);
  });
  add("GetVaultKey: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::GetVaultKeyResponse r;
    return t.reports->GetVaultKey(Anon().get(), {}, &r);
  });

  // --- RelayService ---
  add("RelayLogin: nonce never issued", Code::UNAUTHENTICATED, [&] {
    v1::RelayLoginRequest q;
    q.set_nonce(RandomBytes(32));
    q.set_signature(RandomBytes(64));
    v1::RelayLoginResponse r;
    return t.relay->RelayLogin(Anon().get(), q, &r);
  });
  add("PullReports: device session", Code::PERMISSION_DENIED, [&] {
    v1::PullReportsRequest q;
    q.set_limit(1);
    v1::PullReportsResponse r;
    return t.relay->PullReports(Ctx(alice).get(), q, &r);
  });
  add("PullReports: unauthenticated", Code::UNAUTHENTICATED, [&] {
    v1::PullReportsResponse r;
    return t.relay->PullReports(Anon().get(), {}, &r);
  });
  add("PullReports: limit 0", Code::INVALID_ARGUMENT, [&] {
    v1::PullReportsResponse r;
    return t.relay->PullReports(TestServer::Ctx(relay).get(), {}, &r);
  });
  add("PullReports: limit 501", Code::INVALID_ARGUMENT, [&] {
    v1::PullReportsRequest q;
    q.set_limit(501);
    v1::PullReportsResponse r;
    return t.relay->PullReports(TestServer::Ctx(relay).get(), q, &r);
  });
  add("PullReports: after 5 bytes", Code::INVALID_ARGUMENT, [&] {
    v1::PullReportsRequest q;
    q.set_limit(1);
    q.set_after("12345");
    v1::PullReportsResponse r;
    return t.relay->PullReports(TestServer::Ctx(relay).get(), q, &r);
  });
  add("AckReports: device session", Code::PERMISSION_DENIED, [&] {
    v1::AckReportsRequest q;
    q.add_report_ids(RandomBytes(16));
    v1::AckReportsResponse r;
    return t.relay->AckReports(Ctx(alice).get(), q, &r);
  });
  add("AckReports: no ids", Code::INVALID_ARGUMENT, [&] {
    v1::AckReportsResponse r;
    return t.relay->AckReports(TestServer::Ctx(relay).get(), {}, &r);
  });
  add("AckReports: id 15 bytes", Code::INVALID_ARGUMENT, [&] {
    v1::AckReportsRequest q;
    q.add_report_ids(RandomBytes(15));
    v1::AckReportsResponse r;
    return t.relay->AckReports(TestServer::Ctx(relay).get(), q, &r);
  });
  add("VerifyFranking: no claims", Code::INVALID_ARGUMENT, [&] {
    v1::VerifyFrankingResponse r;
    return t.relay->VerifyFranking(TestServer::Ctx(relay).get(), {}, &r);
  });
  add("VerifyFranking: over 1000 claims", Code::INVALID_ARGUMENT, [&] {
    v1::VerifyFrankingRequest q;
    for (int i = 0; i < 1001; ++i) q.add_claims();
    v1::VerifyFrankingResponse r;
    return t.relay->VerifyFranking(TestServer::Ctx(relay).get(), q, &r);
  });
  add("VerifyFranking: device session", Code::PERMISSION_DENIED, [&] {
    v1::VerifyFrankingResponse r;
    return t.relay->VerifyFranking(Ctx(alice).get(), {}, &r);
  });

  // --- DiagnosticsService ---
  add("NoopStream: count over 1000000", Code::INVALID_ARGUMENT, [&] {
    v1::NoopStreamRequest q;
    q.set_count(1'000'001);
    auto ctx = Anon();
    auto reader = t.diagnostics->NoopStream(ctx.get(), q);
    v1::NoopResponse r;
    while (reader->Read(&r)) {
    }
    return reader->Finish();
  });
  add("NoopStream: payload over 64 KiB", Code::INVALID_ARGUMENT, [&] {
    v1::NoopStreamRequest q;
    q.set_count(1);
    q.set_payload_bytes(65537);
    auto ctx = Anon();
    auto reader = t.diagnostics->NoopStream(ctx.get(), q);
    v1::NoopResponse r;
    while (reader->Read(&r)) {
    }
    return reader->Finish();
  });

  for (const Row& row : rows) {
    INFO(row.name);
    const std::string before = Snapshot(t.stores(), everyone);
    const grpc::Status status = row.call();
    INFO("got " << status.error_code() << ": " << status.error_message());
    CHECK(status.error_code() == row.expected);
    CHECK_FALSE(status.error_message().empty());
    CHECK(Snapshot(t.stores(), everyone) == before);
  }
}

// Rate limits, each on a server whose limit is one event.
TEST_CASE("Rate-limited rows of the bad-input table change nothing") {
  ServerConfig config = TestServer::DefaultConfig();
  config.limits.sends_per_sender = Rate{0.0001, 1};
  config.limits.reports_per_device = Rate{0.0001, 1};
  config.limits.claims_per_claimant_target = Rate{0.0001, 1};
  config.limits.lookups_per_device = Rate{0.0001, 1};
  TestServer t(config);
  TestDevice alice = t.RegisterAndLogin("JP");
  TestDevice bob = t.RegisterAndLogin("JP", "+819012345678");
  t.UploadPrekeys(bob, 5);
  const std::vector<TestDevice> everyone = {alice, bob};

  std::vector<Row> rows;
  rows.push_back({"Send: over sends_per_sender", Code::RESOURCE_EXHAUSTED, [&] {
                    v1::SendResponse r;
                    return t.messages->Send(TestServer::Ctx(alice).get(), TestServer::SendTo(bob),
                                            &r);
                  }});
  rows.push_back({"ClaimBundle: over claims_per_claimant_target", Code::RESOURCE_EXHAUSTED, [&] {
                    v1::ClaimBundleRequest q;
                    *q.mutable_target() = bob.Proto();
                    v1::ClaimBundleResponse r;
                    return t.keys_stub->ClaimBundle(TestServer::Ctx(alice).get(), q, &r);
                  }});
  rows.push_back({"SubmitReport: over reports_per_device", Code::RESOURCE_EXHAUSTED, [&] {
                    v1::SubmitReportRequest q;
                    q.set_jurisdiction("JP");
                    q.set_sealed_report(RandomBytes(100));
                    v1::SubmitReportResponse r;
                    return t.reports->SubmitReport(TestServer::Ctx(alice).get(), q, &r);
                  }});
  rows.push_back({"LookupByPhoneNumber: over lookups_per_device", Code::RESOURCE_EXHAUSTED, [&] {
                    v1::LookupByPhoneNumberRequest q;
                    q.set_phone_number("+819012345678");
                    v1::LookupByPhoneNumberResponse r;
                    return t.accounts->LookupByPhoneNumber(TestServer::Ctx(alice).get(), q, &r);
                  }});
  for (const Row& row : rows) {
    INFO(row.name);
    const std::string initial = Snapshot(t.stores(), everyone);
    REQUIRE(row.call().ok());  // uses the one allowed event
    const std::string before = Snapshot(t.stores(), everyone);
    // The snapshot sees writes (negative control), except for the lookup,
    // which writes nothing even when it succeeds.
    if (row.name.rfind("Lookup", 0) != 0) CHECK(before != initial);
    const grpc::Status status = row.call();
    CHECK(status.error_code() == row.expected);
    CHECK(Snapshot(t.stores(), everyone) == before);
  }
}

}  // namespace
}  // namespace letterbox::server::testing
