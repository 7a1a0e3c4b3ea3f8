// letterbox-sim hostile: attacks with their documented expected statuses
// (proto comments, docs/bad-input.md). docs/load-testing.md lists the rows.
#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/sim/modes.h"
#include "letterbox/sim/raw_client.h"
#include "letterbox/sim/workload.h"
#include "text.h"

namespace letterbox::sim {
namespace {

namespace po = boost::program_options;
using grpc::StatusCode;

struct HostileOptions {
  std::string server;
  std::string json;
  std::string jurisdiction = "JP";
  absl::Duration deadline = absl::Seconds(10);
  // The server's limits (defaults of server/include/letterbox/server/config.h).
  uint32_t max_ciphertext_bytes = 256 * 1024;
  uint32_t max_receive_bytes = 2 << 20;
  uint32_t max_report_bytes = 1 << 20;
  uint32_t claim_burst = 10;
  uint32_t drain_claims = 40;
  uint32_t flood_max = 20000;
  int flood_threads = 8;
};

struct Row {
  std::string attack;
  std::string expected;
  std::string observed;
  bool ok = false;
  std::string detail;  // the server's message(s) and counts
};

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  crypto::SystemRandom::Instance().Fill(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

std::string Describe(const grpc::Status& s) { return std::string(CodeName(s.error_code())); }

Row StatusRow(std::string attack, StatusCode expected, const grpc::Status& observed) {
  Row row;
  row.attack = std::move(attack);
  row.expected = std::string(CodeName(expected));
  row.observed = Describe(observed);
  row.ok = observed.error_code() == expected;
  row.detail = observed.error_message();
  return row;
}

Row SetupFailure(std::string attack, const absl::Status& why) {
  Row row;
  row.attack = std::move(attack);
  row.expected = "(setup)";
  row.observed = "setup failed";
  row.ok = false;
  row.detail = std::string(why.message());
  return row;
}

class Hostile {
 public:
  explicit Hostile(HostileOptions options)
      : options_(std::move(options)),
        channels_(MakeChannels(options_.server, 2)),
        client_(channels_[0]),
        spare_(channels_[1]) {
    setup_.jurisdiction = options_.jurisdiction;
    setup_.deadline = options_.deadline;
  }

  // Registers the devices the attacks need. The first failure's status.
  absl::Status SetUp() {
    for (SimDevice* d : {&attacker_, &victim_, &other_, &flood_target_, &login_target_}) {
      absl::StatusOr<SimDevice> created = client_.CreateDevice(setup_);
      if (!created.ok()) return created.status();
      *d = *std::move(created);
    }
    return absl::OkStatus();
  }

  std::vector<Row> RunAll() {
    std::vector<Row> rows;
    Unauthenticated(rows);
    Logins(rows);
    Probes(rows);
    Sizes(rows);
    Malformed(rows);
    Registration(rows);
    rows.push_back(PrekeyDraining());
    rows.push_back(ReplayedMessage());
    Flooding(rows);
    Reports(rows);
    Relay(rows);
    return rows;
  }

 private:
  grpc::ClientContext* Context(grpc::ClientContext& context, const SimDevice* as) const {
    SetDeadline(context, options_.deadline);
    if (as != nullptr) as->session.Attach(context);
    return &context;
  }

  v1::SendRequest ValidSend(const SimDevice& to, size_t ciphertext_bytes = 64) const {
    v1::SendRequest request;
    request.set_message_id(RandomBytes(16));
    *request.mutable_recipient() = to.Address();
    request.set_ciphertext(RandomBytes(ciphertext_bytes));
    const crypto::FrankingKey key = crypto::NewFrankingKey(crypto::SystemRandom::Instance());
    const std::string plaintext = RandomBytes(32);
    request.set_franking_commitment(
        crypto::Commit(key, crypto::AsBytes(plaintext), crypto::AsBytes("hostile")).str());
    return request;
  }

  grpc::Status Send(const SimDevice* as, const v1::SendRequest& request,
                    v1::SendResponse* response = nullptr, RawClient* via = nullptr) {
    grpc::ClientContext context;
    v1::SendResponse ignored;
    return (via != nullptr ? via : &client_)
        ->messages()
        .Send(Context(context, as), request, response != nullptr ? response : &ignored);
  }

  grpc::Status FetchWith(const SessionHeader& session) {
    grpc::ClientContext context;
    SetDeadline(context, options_.deadline);
    session.Attach(context);
    v1::FetchResponse response;
    return client_.messages().Fetch(&context, v1::FetchRequest(), &response);
  }

  void Unauthenticated(std::vector<Row>& rows) {
    rows.push_back(StatusRow("Fetch without a session token", StatusCode::UNAUTHENTICATED,
                             FetchWith(SessionHeader())));
    rows.push_back(StatusRow("Fetch with a garbage token (\"Bearer not-hex!\")",
                             StatusCode::UNAUTHENTICATED,
                             FetchWith(SessionHeader::FromValue("Bearer not-hex!"))));
    rows.push_back(StatusRow("Fetch with an unknown/expired-looking 32-byte token",
                             StatusCode::UNAUTHENTICATED,
                             FetchWith(SessionHeader::FromToken(RandomBytes(32)))));
    grpc::ClientContext context;
    v1::SendResponse response;
    rows.push_back(StatusRow(
        "Send without a session token", StatusCode::UNAUTHENTICATED,
        client_.messages().Send(Context(context, nullptr), ValidSend(victim_), &response)));
  }

  // Login attacks on attacker_ (at most 3 failures: below the per-device
  // failure burst of 5).
  void Logins(std::vector<Row>& rows) {
    const v1::DeviceAddress address = attacker_.Address();
    std::string nonce;
    if (grpc::Status s = client_.Challenge(address, &nonce, options_.deadline); !s.ok()) {
      rows.push_back(SetupFailure("login replay (a nonce used twice)", ToAbsl(s)));
      return;
    }
    const std::string signature = RawClient::SignLogin(attacker_.identity, nonce, address);
    v1::LoginResponse first, second;
    grpc::Status once = client_.Login(address, nonce, signature, &first, options_.deadline);
    if (!once.ok()) {
      rows.push_back(SetupFailure("login replay (a nonce used twice)", ToAbsl(once)));
    } else {
      rows.push_back(
          StatusRow("login replay (a nonce used twice)", StatusCode::UNAUTHENTICATED,
                    client_.Login(address, nonce, signature, &second, options_.deadline)));
    }
    if (grpc::Status s = client_.Challenge(address, &nonce, options_.deadline); !s.ok()) {
      rows.push_back(SetupFailure("login with a wrong signature", ToAbsl(s)));
    } else {
      const crypto::IdentityKeyPair stranger =
          crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
      rows.push_back(
          StatusRow("login with a wrong signature", StatusCode::UNAUTHENTICATED,
                    client_.Login(address, nonce, RawClient::SignLogin(stranger, nonce, address),
                                  &second, options_.deadline)));
    }
    const std::string never_issued = RandomBytes(32);
    rows.push_back(
        StatusRow("login with a nonce never issued", StatusCode::UNAUTHENTICATED,
                  client_.Login(address, never_issued,
                                RawClient::SignLogin(attacker_.identity, never_issued, address),
                                &second, options_.deadline)));
  }

  // Existing vs non-existing account: same code and same message.
  void Probes(std::vector<Row>& rows) {
    v1::DeviceAddress unknown;
    unknown.set_account_id(RandomBytes(16));
    unknown.set_device_id(1);
    const v1::DeviceAddress known = login_target_.Address();
    const crypto::IdentityKeyPair stranger =
        crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
    auto bad_login = [&](const v1::DeviceAddress& who) {
      std::string nonce;
      grpc::Status s = client_.Challenge(who, &nonce, options_.deadline);
      if (!s.ok()) return s;
      v1::LoginResponse response;
      return client_.Login(who, nonce, RawClient::SignLogin(stranger, nonce, who), &response,
                           options_.deadline);
    };
    rows.push_back(Compare("probe: bad login, existing vs unknown device", bad_login(known),
                           bad_login(unknown), StatusCode::UNAUTHENTICATED));
    auto challenge = [&](const v1::DeviceAddress& who) {
      std::string nonce;
      grpc::Status s = client_.Challenge(who, &nonce, options_.deadline);
      if (s.ok() && nonce.size() != 32) {
        return grpc::Status(StatusCode::INTERNAL, "nonce of " + std::to_string(nonce.size()));
      }
      return s;
    };
    rows.push_back(Compare("probe: GetChallenge, existing vs unknown device", challenge(known),
                           challenge(unknown), StatusCode::OK));
    auto list_devices = [&](const std::string& account) {
      grpc::ClientContext context;
      v1::ListDevicesRequest request;
      request.set_account_id(account);
      v1::ListDevicesResponse response;
      return client_.accounts().ListDevices(Context(context, nullptr), request, &response);
    };
    rows.push_back(Compare("probe: ListDevices without a session, existing vs unknown",
                           list_devices(known.account_id()), list_devices(unknown.account_id()),
                           StatusCode::UNAUTHENTICATED));
  }

  static Row Compare(std::string attack, const grpc::Status& existing, const grpc::Status& missing,
                     StatusCode expected) {
    Row row;
    row.attack = std::move(attack);
    row.expected = Cat("identical (", CodeName(expected), ")");
    const bool same = existing.error_code() == missing.error_code() &&
                      existing.error_message() == missing.error_message();
    row.observed = same ? Cat("identical (", Describe(existing), ")")
                        : Cat("differ: ", Describe(existing), " vs ", Describe(missing));
    row.ok = same && existing.error_code() == expected;
    row.detail = same ? existing.error_message()
                      : Cat("existing: \"", existing.error_message(), "\" unknown: \"",
                            missing.error_message(), "\"");
    return row;
  }

  void Sizes(std::vector<Row>& rows) {
    rows.push_back(
        StatusRow(Cat("Send: ciphertext of max_ciphertext_bytes+1 (",
                      options_.max_ciphertext_bytes + 1, " B)"),
                  StatusCode::INVALID_ARGUMENT,
                  Send(&attacker_, ValidSend(victim_, options_.max_ciphertext_bytes + 1))));
    const size_t above = static_cast<size_t>(options_.max_receive_bytes) + (1 << 20);
    rows.push_back(StatusRow(Cat("Send: request above the receive limit (", above >> 20, " MiB)"),
                             StatusCode::RESOURCE_EXHAUSTED,
                             Send(&attacker_, ValidSend(victim_, above), nullptr, &spare_)));
  }

  void Malformed(std::vector<Row>& rows) {
    auto send_row = [&](std::string attack, auto mutate) {
      v1::SendRequest request = ValidSend(victim_);
      mutate(request);
      rows.push_back(
          StatusRow(std::move(attack), StatusCode::INVALID_ARGUMENT, Send(&attacker_, request)));
    };
    send_row("Send: message_id of 15 bytes",
             [](v1::SendRequest& r) { r.set_message_id(RandomBytes(15)); });
    send_row("Send: recipient account_id of 15 bytes",
             [](v1::SendRequest& r) { r.mutable_recipient()->set_account_id(RandomBytes(15)); });
    send_row("Send: recipient device_id 0",
             [](v1::SendRequest& r) { r.mutable_recipient()->set_device_id(0); });
    send_row("Send: franking_commitment of 31 bytes",
             [](v1::SendRequest& r) { r.set_franking_commitment(RandomBytes(31)); });
    send_row("Send: empty ciphertext", [](v1::SendRequest& r) { r.clear_ciphertext(); });
    {
      grpc::ClientContext context;
      v1::ClaimBundleRequest request;
      *request.mutable_target() = victim_.Address();
      request.mutable_target()->set_device_id(0);
      v1::ClaimBundleResponse response;
      rows.push_back(
          StatusRow("ClaimBundle: target device_id 0", StatusCode::INVALID_ARGUMENT,
                    client_.keys().ClaimBundle(Context(context, &attacker_), request, &response)));
    }
    auto signed_prekey_row = [&](std::string attack, auto mutate) {
      const crypto::X25519KeyPair spk =
          crypto::X25519KeyPair::Generate(crypto::SystemRandom::Instance());
      v1::UploadSignedPrekeyRequest request;
      v1::SignedPrekey* p = request.mutable_signed_prekey();
      p->set_key_id(77);
      p->set_public_key(spk.public_key.str());
      p->set_signature(
          crypto::SignSignedPrekey(attacker_.identity.signing.secret_key, 77, spk.public_key)
              .str());
      mutate(*p);
      grpc::ClientContext context;
      v1::UploadSignedPrekeyResponse response;
      rows.push_back(StatusRow(
          std::move(attack), StatusCode::INVALID_ARGUMENT,
          client_.keys().UploadSignedPrekey(Context(context, &attacker_), request, &response)));
    };
    signed_prekey_row("UploadSignedPrekey: public key of 31 bytes",
                      [](v1::SignedPrekey& p) { p.set_public_key(RandomBytes(31)); });
    signed_prekey_row("UploadSignedPrekey: signature of 63 bytes",
                      [](v1::SignedPrekey& p) { p.set_signature(RandomBytes(63)); });
    signed_prekey_row("UploadSignedPrekey: signature by another key", [](v1::SignedPrekey& p) {
      const crypto::IdentityKeyPair stranger =
          crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
      const crypto::X25519PublicKey key = *crypto::X25519PublicKey::FromString(p.public_key());
      p.set_signature(crypto::SignSignedPrekey(stranger.signing.secret_key, p.key_id(), key).str());
    });
    {
      v1::UploadOneTimePrekeysRequest request;
      for (int i = 0; i < 2; ++i) {
        v1::OneTimePrekey* k = request.add_prekeys();
        k->set_key_id(9000);
        k->set_public_key(
            crypto::X25519KeyPair::Generate(crypto::SystemRandom::Instance()).public_key.str());
      }
      grpc::ClientContext context;
      v1::UploadOneTimePrekeysResponse response;
      rows.push_back(StatusRow(
          "UploadOneTimePrekeys: duplicate key ids", StatusCode::INVALID_ARGUMENT,
          client_.keys().UploadOneTimePrekeys(Context(context, &attacker_), request, &response)));
    }
    {
      v1::DeviceAddress bad;
      bad.set_account_id(RandomBytes(15));
      bad.set_device_id(1);
      std::string nonce;
      rows.push_back(StatusRow("GetChallenge: account_id of 15 bytes", StatusCode::INVALID_ARGUMENT,
                               client_.Challenge(bad, &nonce, options_.deadline)));
    }
    {
      v1::LoginResponse response;
      rows.push_back(StatusRow("Login: nonce of 31 bytes", StatusCode::INVALID_ARGUMENT,
                               client_.Login(attacker_.Address(), RandomBytes(31), RandomBytes(64),
                                             &response, options_.deadline)));
    }
    {
      grpc::ClientContext context;
      v1::FetchRequest request;
      request.set_limit(1'000'000);
      v1::FetchResponse response;
      rows.push_back(
          StatusRow("Fetch: limit 1000000 (above max_fetch_page)", StatusCode::INVALID_ARGUMENT,
                    client_.messages().Fetch(Context(context, &attacker_), request, &response)));
    }
    {
      grpc::ClientContext context;
      v1::AckResponse response;
      rows.push_back(StatusRow(
          "Ack: no envelope ids", StatusCode::INVALID_ARGUMENT,
          client_.messages().Ack(Context(context, &attacker_), v1::AckRequest(), &response)));
    }
  }

  void Registration(std::vector<Row>& rows) {
    auto register_row = [&](std::string attack, auto mutate) {
      const crypto::IdentityKeyPair identity =
          crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
      v1::RegisterAccountRequest request =
          RawClient::RegistrationFor(identity, options_.jurisdiction);
      mutate(request);
      v1::RegisterAccountResponse response;
      rows.push_back(StatusRow(std::move(attack), StatusCode::INVALID_ARGUMENT,
                               client_.Register(request, &response, setup_)));
    };
    register_row("RegisterAccount: bad identity-DH signature", [](v1::RegisterAccountRequest& r) {
      std::string sig = r.device().identity_dh_signature();
      sig[0] = static_cast<char>(sig[0] ^ 1);
      r.mutable_device()->set_identity_dh_signature(sig);
    });
    register_row("RegisterAccount: identity DH key signed by another key",
                 [](v1::RegisterAccountRequest& r) {
                   const crypto::IdentityKeyPair other =
                       crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance());
                   r.mutable_device()->set_identity_dh_signature(other.dh_signature.str());
                 });
    register_row("RegisterAccount: identity signing key of 31 bytes",
                 [](v1::RegisterAccountRequest& r) {
                   r.mutable_device()->set_identity_signing_key(RandomBytes(31));
                 });
    register_row("RegisterAccount: jurisdiction \"jp\"",
                 [](v1::RegisterAccountRequest& r) { r.set_jurisdiction("jp"); });
  }

  // The attacker claims the victim's bundle drain_claims times at once.
  Row PrekeyDraining() {
    Row row;
    row.attack =
        Cat("prekey draining: ", options_.drain_claims, " claims of one target in a burst");
    row.expected =
        Cat("RESOURCE_EXHAUSTED after <= ", options_.claim_burst, " OK; pool loses only those");
    auto count = [&]() -> std::optional<uint32_t> {
      grpc::ClientContext context;
      v1::CountOneTimePrekeysResponse response;
      if (!client_.keys()
               .CountOneTimePrekeys(Context(context, &victim_), v1::CountOneTimePrekeysRequest(),
                                    &response)
               .ok()) {
        return std::nullopt;
      }
      return response.count();
    };
    const std::optional<uint32_t> before = count();
    uint32_t ok = 0, exhausted = 0, other = 0, with_otk = 0;
    std::string other_codes;
    for (uint32_t i = 0; i < options_.drain_claims; ++i) {
      grpc::ClientContext context;
      v1::ClaimBundleRequest request;
      *request.mutable_target() = victim_.Address();
      v1::ClaimBundleResponse response;
      const grpc::Status s =
          client_.keys().ClaimBundle(Context(context, &attacker_), request, &response);
      if (s.ok()) {
        ++ok;
        if (response.has_one_time_prekey()) ++with_otk;
      } else if (s.error_code() == StatusCode::RESOURCE_EXHAUSTED) {
        ++exhausted;
      } else {
        ++other;
        other_codes += Cat(" ", Describe(s));
      }
    }
    const std::optional<uint32_t> after = count();
    row.observed =
        Cat(exhausted > 0 ? "RESOURCE_EXHAUSTED" : "never refused", " after ", ok, " OK");
    row.detail = Cat("pool ", before ? std::to_string(*before) : "?", " -> ",
                     after ? std::to_string(*after) : "?", "; ", exhausted,
                     " refused; one-time prekeys handed out: ", with_otk, other_codes);
    // A claim may refill a token or two while the burst runs.
    row.ok = exhausted > 0 && other == 0 && ok <= options_.claim_burst + 2 && before && after &&
             *before - *after == with_otk && *after > 0;
    return row;
  }

  // One sender floods flood_target_ until refused; then another sender
  // still gets through.
  void Flooding(std::vector<Row>& rows) {
    std::atomic<uint32_t> sent{0}, accepted{0};
    std::atomic<bool> refused{false};
    std::mutex mu;
    std::string refusal, unexpected;
    std::vector<std::thread> threads;
    for (int t = 0; t < options_.flood_threads; ++t) {
      threads.emplace_back([&] {
        while (!refused.load() && sent.fetch_add(1) < options_.flood_max) {
          const grpc::Status s = Send(&attacker_, ValidSend(flood_target_, 16));
          if (s.ok()) {
            accepted.fetch_add(1);
          } else {
            std::lock_guard<std::mutex> lock(mu);
            if (s.error_code() == StatusCode::RESOURCE_EXHAUSTED) {
              if (!refused.exchange(true)) refusal = s.error_message();
            } else if (unexpected.empty()) {
              unexpected = Cat(Describe(s), " ", s.error_message());
            }
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    Row flood;
    flood.attack = "mailbox flooding: one sender past its send rate";
    flood.expected = "RESOURCE_EXHAUSTED";
    flood.observed = refused.load() ? Cat("RESOURCE_EXHAUSTED after ", accepted.load(), " OK")
                                    : Cat("never refused in ", accepted.load(), " sends");
    flood.ok = refused.load() && unexpected.empty();
    flood.detail = Cat(refusal, unexpected.empty() ? "" : "; also " + unexpected);
    rows.push_back(flood);
    v1::SendResponse response;
    Row other = StatusRow("mailbox flooding: another sender, same mailbox, meanwhile",
                          StatusCode::OK, Send(&other_, ValidSend(flood_target_, 16), &response));
    rows.push_back(other);
  }

  // The same message id sent twice: OK both times, the second marked
  // duplicate, one envelope stored. Runs before the flood, which exhausts
  // the attacker's send rate.
  Row ReplayedMessage() {
    Row row;
    row.attack = "replayed message (same message id sent twice)";
    row.expected = "OK, duplicate=true, stored once";
    const v1::SendRequest request = ValidSend(victim_);
    v1::SendResponse first, second;
    const grpc::Status a = Send(&other_, request, &first);
    const grpc::Status b = Send(&other_, request, &second);
    int stored = 0;
    uint64_t after = 0;
    grpc::Status fetched;
    for (int page = 0; page < 100; ++page) {
      grpc::ClientContext context;
      v1::FetchRequest fetch;
      fetch.set_after(after);
      v1::FetchResponse response;
      fetched = client_.messages().Fetch(Context(context, &victim_), fetch, &response);
      if (!fetched.ok()) break;
      for (const v1::Envelope& e : response.envelopes()) {
        if (e.message_id() == request.message_id()) ++stored;
        after = e.envelope_id();
      }
      if (!response.more()) break;
    }
    row.observed =
        Cat(Describe(a), "/", Describe(b), ", duplicate=", second.duplicate() ? "true" : "false",
            ", stored ", stored, fetched.ok() ? "" : " (fetch failed)");
    row.ok =
        a.ok() && b.ok() && !first.duplicate() && second.duplicate() && stored == 1 && fetched.ok();
    row.detail = Cat(a.error_message(), b.error_message(), fetched.error_message());
    return row;
  }

  grpc::Status Report(const SimDevice& as, std::string sealed) {
    grpc::ClientContext context;
    v1::SubmitReportRequest request;
    request.set_jurisdiction(as.jurisdiction);
    request.set_sealed_report(std::move(sealed));
    v1::SubmitReportResponse response;
    return client_.reports().SubmitReport(Context(context, &as), request, &response);
  }

  void Reports(std::vector<Row>& rows) {
    // The server cannot open a sealed report (P2), so a forgery of a sealed
    // box's shape is relayed; the vault rejects it (P3).
    rows.push_back(StatusRow("forged report: 200 random bytes (relayed; the vault rejects it)",
                             StatusCode::OK, Report(attacker_, RandomBytes(200))));
    rows.push_back(StatusRow("forged report: shorter than a sealed box (40 B)",
                             StatusCode::INVALID_ARGUMENT, Report(attacker_, RandomBytes(40))));
    rows.push_back(
        StatusRow(Cat("forged report: max_report_bytes+1 (", options_.max_report_bytes + 1, " B)"),
                  StatusCode::INVALID_ARGUMENT,
                  Report(attacker_, RandomBytes(options_.max_report_bytes + 1))));
    rows.push_back(
        StatusRow("forged report: empty", StatusCode::INVALID_ARGUMENT, Report(attacker_, "")));
  }

  void Relay(std::vector<Row>& rows) {
    {
      grpc::ClientContext context;
      v1::PullReportsRequest request;
      request.set_limit(10);
      v1::PullReportsResponse response;
      rows.push_back(
          StatusRow("relay PullReports with a device token", StatusCode::PERMISSION_DENIED,
                    client_.relay().PullReports(Context(context, &attacker_), request, &response)));
    }
    {
      grpc::ClientContext context;
      v1::VerifyFrankingRequest request;
      request.add_claims();
      v1::VerifyFrankingResponse response;
      rows.push_back(StatusRow(
          "relay VerifyFranking with a device token", StatusCode::PERMISSION_DENIED,
          client_.relay().VerifyFranking(Context(context, &attacker_), request, &response)));
    }
    {
      grpc::ClientContext context;
      v1::PullReportsRequest request;
      request.set_limit(10);
      v1::PullReportsResponse response;
      rows.push_back(
          StatusRow("relay PullReports without a token", StatusCode::UNAUTHENTICATED,
                    client_.relay().PullReports(Context(context, nullptr), request, &response)));
    }
    {
      grpc::ClientContext challenge_context;
      v1::GetRelayChallengeResponse challenge;
      grpc::Status s = client_.relay().GetRelayChallenge(
          Context(challenge_context, nullptr), v1::GetRelayChallengeRequest(), &challenge);
      if (!s.ok()) {
        rows.push_back(SetupFailure("RelayLogin signed by a device key", ToAbsl(s)));
        return;
      }
      crypto::ByteWriter w;
      w.Label("letterbox.relay-auth.v1").Bytes(crypto::AsBytes(challenge.nonce()));
      grpc::ClientContext context;
      v1::RelayLoginRequest request;
      request.set_nonce(challenge.nonce());
      request.set_signature(
          crypto::Ed25519Sign(attacker_.identity.signing.secret_key, w.view()).str());
      v1::RelayLoginResponse response;
      rows.push_back(
          StatusRow("RelayLogin signed by a device key", StatusCode::UNAUTHENTICATED,
                    client_.relay().RelayLogin(Context(context, nullptr), request, &response)));
    }
  }

  HostileOptions options_;
  SetupOptions setup_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  RawClient client_;
  RawClient spare_;  // its own connection, for the oversized request
  SimDevice attacker_, victim_, other_, flood_target_, login_target_;
};

void PrintRows(const std::vector<Row>& rows) {
  size_t attack_width = 6, expected_width = 8, observed_width = 8;
  for (const Row& r : rows) {
    attack_width = std::max(attack_width, r.attack.size());
    expected_width = std::max(expected_width, r.expected.size());
    observed_width = std::max(observed_width, r.observed.size());
  }
  auto line = [&](std::string_view a, std::string_view e, std::string_view o, std::string_view k) {
    std::cout << absl::StrFormat("%-*s | %-*s | %-*s | %s\n", static_cast<int>(attack_width), a,
                                 static_cast<int>(expected_width), e,
                                 static_cast<int>(observed_width), o, k);
  };
  line("attack", "expected", "observed", "ok");
  std::cout << std::string(attack_width + expected_width + observed_width + 13, '-') << "\n";
  for (const Row& r : rows) line(r.attack, r.expected, r.observed, r.ok ? "ok" : "FAIL");
  for (const Row& r : rows) {
    if (!r.ok) std::cout << "  FAIL " << r.attack << ": " << r.detail << "\n";
  }
}

}  // namespace

int RunHostile(int argc, char** argv) {
  HostileOptions o;
  std::string deadline = "10s";
  po::options_description desc("letterbox-sim hostile options");
  // clang-format off
  desc.add_options()
      ("help,h", "this text")
      ("server", po::value(&o.server), "server address host:port (required)")
      ("json", po::value(&o.json), "also write the rows as JSON to this file")
      ("jurisdiction", po::value(&o.jurisdiction)->default_value("JP"), "jurisdiction of the test accounts")
      ("max-ciphertext-bytes", po::value(&o.max_ciphertext_bytes)->default_value(o.max_ciphertext_bytes), "the server's limit")
      ("max-receive-bytes", po::value(&o.max_receive_bytes)->default_value(o.max_receive_bytes), "the server's gRPC receive limit")
      ("max-report-bytes", po::value(&o.max_report_bytes)->default_value(o.max_report_bytes), "the server's limit")
      ("claim-burst", po::value(&o.claim_burst)->default_value(o.claim_burst), "the server's claims-per-(claimant, target) burst")
      ("drain-claims", po::value(&o.drain_claims)->default_value(o.drain_claims), "claims in the draining attack")
      ("flood-max", po::value(&o.flood_max)->default_value(o.flood_max), "sends before the flood row gives up")
      ("deadline", po::value(&deadline)->default_value("10s"), "deadline of every call");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "letterbox-sim: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help") > 0) {
    std::cout << desc;
    return 0;
  }
  if (o.server.empty()) {
    std::cerr << "letterbox-sim: --server is required\n";
    return 2;
  }
  if (o.drain_claims <= o.claim_burst + 2) {
    std::cerr << "letterbox-sim: --drain-claims must exceed --claim-burst + 2\n";
    return 2;
  }
  if (absl::StatusOr<absl::Duration> d = ParseDuration(deadline); d.ok()) {
    o.deadline = *d;
  } else {
    std::cerr << "letterbox-sim: --deadline: " << d.status().message() << "\n";
    return 2;
  }
  Hostile hostile(o);
  if (absl::Status s = hostile.SetUp(); !s.ok()) {
    std::cerr << "letterbox-sim: setup failed: " << s << "\n";
    return 1;
  }
  const std::vector<Row> rows = hostile.RunAll();
  PrintRows(rows);
  size_t failed = 0;
  for (const Row& r : rows) failed += r.ok ? 0 : 1;
  std::cout << "\n" << rows.size() - failed << " of " << rows.size() << " rows as expected\n";
  if (!o.json.empty()) {
    nlohmann::json doc{{"server", o.server},
                       {"passed", rows.size() - failed},
                       {"failed", failed},
                       {"rows", nlohmann::json::array()}};
    for (const Row& r : rows) {
      doc["rows"].push_back({{"attack", r.attack},
                             {"expected", r.expected},
                             {"observed", r.observed},
                             {"ok", r.ok},
                             {"detail", r.detail}});
    }
    std::ofstream out(o.json, std::ios::trunc);
    out << doc.dump(2) << "\n";
    out.flush();
    if (!out) {
      std::cerr << "letterbox-sim: cannot write " << o.json << "\n";
      return 1;
    }
  }
  return failed == 0 ? 0 : 1;
}

}  // namespace letterbox::sim
