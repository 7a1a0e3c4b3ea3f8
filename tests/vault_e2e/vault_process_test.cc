// The vault as operators run it: real letterbox-server, letterbox-vault and
// letterbox-admin processes on 127.0.0.1 port 0 with temporary directories.
// Reports are built here exactly as a device builds them (register, send a
// franked message through MessageService, fetch it, reveal it in a
// ReportContent sealed to the vault's intake key) and travel through the
// relay; staff act only through the letterbox-admin binary. The vault's
// source-address policy is exercised with --source 127.0.0.2 / 127.0.0.3.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/crypto/x3dh.h"
#include "letterbox/server/authenticator.h"
#include "letterbox/storage/rocksdb_store.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "letterbox/v1/report_content.pb.h"
#include "letterbox/v1/reports.grpc.pb.h"
#include "rocksdb/db.h"
#include "support/process_harness.h"

namespace letterbox {
namespace {

using namespace std::chrono_literals;
namespace v1 = letterbox::v1;

// --- Files and processes (tests/support/process_harness.h). ---

using Child = testing::ChildProcess;
using testing::ReadFile;
using testing::RunResult;
using testing::TempDir;

RunResult Run(const std::string& binary, const std::vector<std::string>& args) {
  return testing::RunToExit(binary, args, 60s);
}

RunResult Admin(const std::vector<std::string>& args) { return Run(LETTERBOX_ADMIN_BIN, args); }

// The value of `key=` in `text` (up to the next space or newline).
std::string Field(const std::string& text, const std::string& key) {
  const size_t at = text.find(key + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 1;
  const size_t end = text.find_first_of(" \n", start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// The word after `key ` at the start of a line of `text`.
std::string LineValue(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

// --- A device, talking to the real messaging server. ---

struct Device {
  crypto::IdentityKeyPair identity;
  v1::DeviceAddress address;
  std::string token_hex;
};

std::unique_ptr<grpc::ClientContext> Context(const Device* device = nullptr) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + 10s);
  if (device != nullptr) context->AddMetadata("authorization", "Bearer " + device->token_hex);
  return context;
}

Device RegisterDevice(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& jurisdiction) {
  Device d{crypto::IdentityKeyPair::Generate(crypto::SystemRandom::Instance()), {}, {}};
  v1::RegisterAccountRequest request;
  request.set_jurisdiction(jurisdiction);
  request.mutable_device()->set_identity_signing_key(d.identity.signing.public_key.str());
  request.mutable_device()->set_identity_dh_key(d.identity.dh.public_key.str());
  request.mutable_device()->set_identity_dh_signature(d.identity.dh_signature.str());
  v1::RegisterAccountResponse registered;
  grpc::Status s =
      v1::AccountService::NewStub(channel)->RegisterAccount(Context().get(), request, &registered);
  INFO(s.error_message());
  REQUIRE(s.ok());
  d.address.set_account_id(registered.account_id());
  d.address.set_device_id(registered.device_id());

  auto auth = v1::AuthService::NewStub(channel);
  v1::GetChallengeRequest challenge_request;
  *challenge_request.mutable_device() = d.address;
  v1::GetChallengeResponse challenge;
  REQUIRE(auth->GetChallenge(Context().get(), challenge_request, &challenge).ok());
  storage::DeviceAddress address{*storage::AccountId::FromString(registered.account_id()),
                                 registered.device_id()};
  const auto nonce = *server::Nonce::FromString(challenge.nonce());
  v1::LoginRequest login;
  *login.mutable_device() = d.address;
  login.set_nonce(challenge.nonce());
  login.set_signature(
      crypto::Ed25519Sign(d.identity.signing.secret_key, server::DeviceLoginMessage(nonce, address))
          .str());
  v1::LoginResponse session;
  s = auth->Login(Context().get(), login, &session);
  INFO(s.error_message());
  REQUIRE(s.ok());
  d.token_hex = crypto::ToHex(crypto::AsBytes(session.session_token()));
  return d;
}

// What the sender keeps of a sent message (the recipient learns the same
// from the decrypted ciphertext in a real client).
struct SentMessage {
  std::string message_id;
  std::string plaintext;
  crypto::FrankingKey franking_key;
};

crypto::Bytes FrankingContext(const std::string& message_id) {
  crypto::ByteWriter w;
  w.Label("letterbox.franking.context.v1").Bytes(crypto::AsBytes(message_id));
  return std::move(w).Take();
}

SentMessage SendFranked(const std::shared_ptr<grpc::Channel>& channel, const Device& from,
                        const Device& to, const std::string& plaintext) {
  SentMessage m{crypto::RandomFixed<storage::MessageId>(crypto::SystemRandom::Instance()).str(),
                plaintext, crypto::NewFrankingKey(crypto::SystemRandom::Instance())};
  const crypto::Commitment commitment =
      crypto::Commit(m.franking_key, crypto::AsBytes(plaintext), FrankingContext(m.message_id));
  v1::SendRequest request;
  request.set_message_id(m.message_id);
  *request.mutable_recipient() = to.address;
  // The end-to-end ciphertext is opaque to everything under test here; it
  // is random bytes so that the plaintext never reaches the server.
  crypto::Bytes ciphertext(64);
  crypto::SystemRandom::Instance().Fill(ciphertext);
  request.set_ciphertext(crypto::ToString(ciphertext));
  request.set_franking_commitment(commitment.str());
  v1::SendResponse response;
  grpc::Status s =
      v1::MessageService::NewStub(channel)->Send(Context(&from).get(), request, &response);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return m;
}

std::vector<v1::Envelope> FetchAll(const std::shared_ptr<grpc::Channel>& channel,
                                   const Device& device) {
  std::vector<v1::Envelope> all;
  auto stub = v1::MessageService::NewStub(channel);
  v1::FetchRequest request;
  while (true) {
    v1::FetchResponse response;
    REQUIRE(stub->Fetch(Context(&device).get(), request, &response).ok());
    for (const auto& e : response.envelopes()) all.push_back(e);
    if (!response.more() || response.envelopes_size() == 0) break;
    request.set_after(response.envelopes().rbegin()->envelope_id());
  }
  return all;
}

// The reporter's ReportContent for `envelope`, sealed to the vault.
std::string SealedReport(const Device& reporter, const v1::Envelope& envelope,
                         const SentMessage& revealed, const crypto::X25519PublicKey& intake) {
  v1::ReportContent content;
  content.set_version(1);
  *content.mutable_reporter() = reporter.address;
  content.set_category(v1::REPORT_CATEGORY_HARASSMENT);
  v1::ReportedMessage* m = content.add_messages();
  m->set_message_id(envelope.message_id());
  *m->mutable_sender() = envelope.sender();
  *m->mutable_recipient() = reporter.address;
  m->set_server_timestamp_micros(envelope.server_timestamp_micros());
  m->set_franking_commitment(envelope.franking_commitment());
  m->set_franking_tag(envelope.franking_tag());
  m->set_franking_key(crypto::ToString(revealed.franking_key.Expose()));
  m->set_plaintext(revealed.plaintext);
  content.set_comment("threatening messages");
  const std::string serialized = content.SerializeAsString();
  auto sealed = crypto::SealedBoxSeal(intake, crypto::AsBytes(serialized));
  REQUIRE(sealed.ok());
  return crypto::ToString(*sealed);
}

grpc::Status Submit(const std::shared_ptr<grpc::Channel>& channel, const Device& reporter,
                    const std::string& sealed) {
  v1::SubmitReportRequest request;
  request.set_jurisdiction("JP");
  request.set_sealed_report(sealed);
  v1::SubmitReportResponse response;
  return v1::ReportService::NewStub(channel)->SubmitReport(Context(&reporter).get(), request,
                                                           &response);
}

// --- Reading the stores as an auditor would, read-only. ---

// Cases in the vault store (opened read-only; fine while the vault runs).
size_t CountCases(const std::string& vault_data) {
  auto stores = storage::vault::RocksDbVaultStores::Open({.path = vault_data, .read_only = true});
  if (!stores.ok()) return 0;
  auto cases = (*stores)->ListCases("", 100000);
  return cases.ok() ? cases->size() : 0;
}

// Reports still in the messaging server's outbox.
uint64_t CountOutbox(const std::string& server_data) {
  storage::RocksDbOptions options;
  options.path = server_data;
  options.read_only = true;
  options.create_if_missing = false;
  auto stores = storage::RocksDbStores::Open(options);
  if (!stores.ok()) return UINT64_MAX;
  auto n = (*stores)->outbox().CountReports();
  return n.ok() ? *n : UINT64_MAX;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 60s) {
  return testing::WaitFor(condition, timeout);
}

// --- The deployment under test. ---

struct VaultKeys {
  std::string intake_hex;
  std::string relay_hex;
  std::string audit_hex;
};

VaultKeys PrintPublicKeys(const std::string& keys_dir) {
  RunResult r = Run(LETTERBOX_VAULT_BIN, {"--keys-dir", keys_dir, "--print-public-keys"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  VaultKeys keys{LineValue(r.out, "intake-public-key"), LineValue(r.out, "relay-public-key"),
                 LineValue(r.out, "audit-public-key")};
  REQUIRE(keys.intake_hex.size() == 64);
  REQUIRE(keys.relay_hex.size() == 64);
  REQUIRE(keys.audit_hex.size() == 64);
  return keys;
}

class Deployment {
 public:
  explicit Deployment(bool with_server = true) {
    keys_ = PrintPublicKeys(tmp_.Sub("vault-keys"));
    if (with_server) StartServer("127.0.0.1:0");
  }

  // Starts letterbox-server on `listen` (the first time port 0; a restart
  // reuses the port, so the vault's --server address stays right).
  void StartServer(const std::string& listen) {
    server_ = std::make_unique<Child>(
        LETTERBOX_SERVER_BIN,
        std::vector<std::string>{
            "--listen", listen, "--data-dir", server_data(), "--keys-dir", tmp_.Sub("server-keys"),
            "--metrics-listen", "off", "--jurisdictions", "JP,US", "--vault-intake-public-key",
            keys_.intake_hex, "--vault-relay-public-key", keys_.relay_hex,
            "--limit-reports-per-device", "1000:1000", "--limit-shutdown-grace", "1s"},
        tmp_.Sub("server.log"));
    server_port_ = server_->WaitListening(60s);
    INFO(server_->Stderr());
    REQUIRE(server_port_ > 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_port_),
                                   grpc::InsecureChannelCredentials());
  }

  // Stops the messaging server (SIGTERM) and starts it again on its port.
  void RestartServer() {
    REQUIRE(server_->Signal(SIGTERM));
    REQUIRE(server_->WaitExit() == std::optional<int>(0));
    StartServer("127.0.0.1:" + std::to_string(server_port_));
  }

  void StartVault(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"--listen",
                                  "127.0.0.1:0",
                                  "--data-dir",
                                  vault_data(),
                                  "--keys-dir",
                                  tmp_.Sub("vault-keys"),
                                  "--networks",
                                  "JP=127.0.0.2/32;US=127.0.0.3/32",
                                  "--checkpoint-export",
                                  checkpoints(),
                                  "--relay-idle-interval",
                                  "50ms",
                                  "--checkpoint-interval",
                                  "1h",
                                  "--shutdown-grace",
                                  "1s"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (server_ != nullptr) {
      args.push_back("--server");
      args.push_back("127.0.0.1:" + std::to_string(server_port_));
    }
    vault_ = std::make_unique<Child>(LETTERBOX_VAULT_BIN, args, tmp_.Sub("vault.log"));
    vault_port_ = vault_->WaitListening(60s);
    INFO(vault_->Stderr());
    REQUIRE(vault_port_ > 0);
  }

  // Stops the vault with SIGTERM and expects a clean exit.
  void StopVault() {
    REQUIRE(vault_->Signal(SIGTERM));
    auto code = vault_->WaitExit();
    INFO(vault_->Stderr());
    REQUIRE(code == std::optional<int>(0));
  }

  [[nodiscard]] std::string server_data() const { return tmp_.Sub("server-data"); }
  [[nodiscard]] std::string vault_data() const { return tmp_.Sub("vault-data"); }
  [[nodiscard]] std::string checkpoints() const { return tmp_.Sub("checkpoints.log"); }
  [[nodiscard]] std::string Path(const std::string& name) const { return tmp_.Sub(name); }
  [[nodiscard]] std::string vault_address() const {
    return "127.0.0.1:" + std::to_string(vault_port_);
  }
  [[nodiscard]] const VaultKeys& keys() const { return keys_; }
  [[nodiscard]] crypto::X25519PublicKey intake() const {
    return *crypto::X25519PublicKey::FromBytes(*crypto::FromHex(keys_.intake_hex));
  }
  [[nodiscard]] const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  Child& vault() { return *vault_; }

 private:
  TempDir tmp_;
  VaultKeys keys_;
  std::unique_ptr<Child> server_;
  std::unique_ptr<Child> vault_;
  int server_port_ = 0;
  int vault_port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
};

// A staff member: key file, enrolment, session file.
struct Staff {
  std::string key;
  std::string session;
  std::string id;
  std::string public_key;
};

Staff Keygen(const Deployment& d, const std::string& name) {
  Staff s{d.Path("staff/" + name + ".key"), d.Path("staff/" + name + ".session"), "", ""};
  RunResult r = Admin({"keygen", "--key", s.key});
  INFO(r.err);
  REQUIRE(r.code == 0);
  s.public_key = Field(r.out, "public_key");
  REQUIRE(s.public_key.size() == 64);
  return s;
}

void Login(const Deployment& d, const Staff& s, const std::string& source) {
  RunResult r = Admin({"login", "--vault", d.vault_address(), "--source", source, "--staff-id",
                       s.id, "--key", s.key, "--session", s.session});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
}

// The bootstrap admin (enrolled offline before the vault starts).
Staff BootstrapAdmin(const Deployment& d) {
  Staff admin = Keygen(d, "admin");
  RunResult r =
      Admin({"bootstrap", "--data", d.vault_data(), "--key", admin.key, "--jurisdiction", "JP"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  admin.id = Field(r.out, "staff_id");
  REQUIRE(admin.id.size() == 32);
  return admin;
}

Staff Enrol(const Deployment& d, const Staff& admin, const std::string& name,
            const std::string& role) {
  Staff s = Keygen(d, name);
  RunResult r = Admin({"enrol", "--session", admin.session, "--public-key", s.public_key, "--role",
                       role, "--jurisdiction", "JP"});
  INFO(r.out << r.err);
  REQUIRE(r.code == 0);
  s.id = Field(r.out, "staff_id");
  REQUIRE(s.id.size() == 32);
  return s;
}

mode_t Mode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

// --- Specifications. ---

TEST_CASE("letterbox-vault creates its key files with mode 0600 and prints the public keys") {
  TempDir tmp;
  const VaultKeys first = PrintPublicKeys(tmp.Sub("keys"));
  size_t key_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(tmp.Sub("keys"))) {
    if (entry.path().extension() != ".key") continue;
    ++key_files;
    INFO(entry.path());
    CHECK(Mode(entry.path()) == 0600);
  }
  CHECK(key_files == 5);  // intake, kek, audit-signing, pseudonym, relay
  CHECK(Mode(tmp.Sub("keys")) == 0700);
  // The same keys on the next start.
  const VaultKeys second = PrintPublicKeys(tmp.Sub("keys"));
  CHECK(second.intake_hex == first.intake_hex);
  CHECK(second.relay_hex == first.relay_hex);
  CHECK(second.audit_hex == first.audit_hex);
}

TEST_CASE("key rotation: --rotate replaces the relay key and keeps the old one") {
  TempDir tmp;
  const VaultKeys before = PrintPublicKeys(tmp.Sub("keys"));
  RunResult r = Run(LETTERBOX_VAULT_BIN, {"--keys-dir", tmp.Sub("keys"), "--rotate", "relay"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("rotated relay key_id=") != std::string::npos);
  const VaultKeys after = PrintPublicKeys(tmp.Sub("keys"));
  CHECK(after.relay_hex != before.relay_hex);
  CHECK(after.intake_hex == before.intake_hex);
  RunResult kek = Run(LETTERBOX_VAULT_BIN, {"--keys-dir", tmp.Sub("keys"), "--rotate", "kek"});
  CHECK(kek.code == 0);
  CHECK(kek.out.find("rotated kek key_id=") != std::string::npos);
  RunResult pseudonym =
      Run(LETTERBOX_VAULT_BIN, {"--keys-dir", tmp.Sub("keys"), "--rotate", "pseudonym"});
  CHECK(pseudonym.code == 0);
  CHECK(pseudonym.out.find("rotated pseudonym key_id=") != std::string::npos);
}

TEST_CASE("a sealed report reaches the vault once and a reviewer reads it with letterbox-admin") {
  Deployment d;
  const Staff admin = BootstrapAdmin(d);
  d.StartVault();

  // The messaging server publishes the vault's intake key to devices.
  v1::GetVaultKeyResponse vault_key;
  Device alice = RegisterDevice(d.channel(), "JP");
  Device bob = RegisterDevice(d.channel(), "JP");
  REQUIRE(v1::ReportService::NewStub(d.channel())
              ->GetVaultKey(Context(&alice).get(), v1::GetVaultKeyRequest(), &vault_key)
              .ok());
  REQUIRE(crypto::ToHex(crypto::AsBytes(vault_key.intake_public_key())) == d.keys().intake_hex);

  const std::string canary = "canary-7f3a: you will regret reporting me";
  SentMessage sent = SendFranked(d.channel(), bob, alice, canary);
  std::vector<v1::Envelope> inbox = FetchAll(d.channel(), alice);
  REQUIRE(inbox.size() == 1);
  REQUIRE(Submit(d.channel(), alice, SealedReport(alice, inbox[0], sent, d.intake())).ok());

  // Through the relay into the vault, and out of the server's outbox.
  REQUIRE(WaitFor(
      [&] { return CountCases(d.vault_data()) == 1 && CountOutbox(d.server_data()) == 0; }));
  std::this_thread::sleep_for(500ms);  // several more relay rounds
  CHECK(CountCases(d.vault_data()) == 1);

  // The admin enrols a reviewer and an approver of JP; both log in from
  // JP's network (127.0.0.2).
  Login(d, admin, "127.0.0.2");
  const Staff reviewer = Enrol(d, admin, "reviewer", "reviewer");
  const Staff approver = Enrol(d, admin, "approver", "approver");
  Login(d, reviewer, "127.0.0.2");
  Login(d, approver, "127.0.0.2");
  CHECK(Mode(reviewer.session) == 0600);
  CHECK(Mode(reviewer.key) == 0600);

  RunResult queue = Admin({"queue", "--session", reviewer.session});
  INFO(queue.out << queue.err);
  REQUIRE(queue.code == 0);
  const std::string case_id = Field(queue.out, "case_id");
  REQUIRE(case_id.size() == 32);
  CHECK(queue.out.find("category=HARASSMENT") != std::string::npos);
  CHECK(queue.out.find(canary) == std::string::npos);

  RunResult early = Admin({"open", "--session", reviewer.session, "--case", case_id});
  CHECK(early.code == 4);
  CHECK(early.err.find("PERMISSION_DENIED: denied: no live grant") != std::string::npos);

  RunResult grant = Admin({"request-grant", "--session", reviewer.session, "--case", case_id,
                           "--justification", "threats reported by the recipient"});
  INFO(grant.out << grant.err);
  REQUIRE(grant.code == 0);
  const std::string grant_id = Field(grant.out, "grant_id");
  CHECK(Field(grant.out, "state") == "PENDING");

  RunResult self = Admin({"approve", "--session", reviewer.session, "--grant", grant_id});
  CHECK(self.code == 4);

  RunResult approve = Admin({"approve", "--session", approver.session, "--grant", grant_id});
  INFO(approve.out << approve.err);
  REQUIRE(approve.code == 0);
  CHECK(Field(approve.out, "state") == "APPROVED");

  RunResult opened = Admin({"open", "--session", reviewer.session, "--case", case_id});
  INFO(opened.out << opened.err);
  REQUIRE(opened.code == 0);
  CHECK(opened.out.find(canary) != std::string::npos);
  CHECK(opened.out.find("franking: verified") != std::string::npos);
  CHECK(opened.out.find("commitment=verified tag=verified") != std::string::npos);

  // The same reviewer and grant from the US office's address: denied.
  RunResult elsewhere =
      Admin({"open", "--session", reviewer.session, "--case", case_id, "--source", "127.0.0.3"});
  CHECK(elsewhere.code == 4);
  CHECK(elsewhere.err.find("denied: network") != std::string::npos);

  // The admin cannot read the case.
  RunResult by_admin = Admin({"open", "--session", admin.session, "--case", case_id});
  CHECK(by_admin.code == 4);

  // The reported plaintext is not in the messaging server's files.
  RunResult inspect = Admin({"inspect", "--data", d.server_data(), "--samples", "100"});
  INFO(inspect.err);
  REQUIRE(inspect.code == 0);
  CHECK(inspect.out.find("letterbox-server store") != std::string::npos);
  CHECK(inspect.out.find(canary) == std::string::npos);

  d.StopVault();
  RunResult verify = Admin({"audit", "verify", "--data", d.vault_data(), "--checkpoints",
                            d.checkpoints(), "--audit-public-key", d.keys().audit_hex});
  INFO(verify.out << verify.err);
  CHECK(verify.code == 0);
  CHECK(verify.out.rfind("OK: ", 0) == 0);
}

TEST_CASE("kill -9 of the vault during intake loses no accepted report and duplicates none") {
  constexpr int kBeforeKill = 100;  // waiting in the outbox when the vault starts
  constexpr int kWhileDown = 50;    // accepted by the server while the vault is dead
  Deployment d;
  Device alice = RegisterDevice(d.channel(), "JP");
  Device bob = RegisterDevice(d.channel(), "JP");
  std::map<std::string, SentMessage> sent;
  for (int i = 0; i < kBeforeKill + kWhileDown; ++i) {
    SentMessage m = SendFranked(d.channel(), bob, alice, "message " + std::to_string(i));
    sent.emplace(m.message_id, std::move(m));
  }
  std::vector<v1::Envelope> inbox = FetchAll(d.channel(), alice);
  REQUIRE(inbox.size() == static_cast<size_t>(kBeforeKill + kWhileDown));
  int accepted = 0;
  auto submit = [&](const v1::Envelope& e) {
    if (Submit(d.channel(), alice, SealedReport(alice, e, sent.at(e.message_id()), d.intake()))
            .ok()) {
      ++accepted;
    }
  };
  for (int i = 0; i < kBeforeKill; ++i) submit(inbox[i]);

  // One report per relay round, so intake is spread over many rounds; the
  // vault dies hard as soon as the first cases are stored.
  d.StartVault({"--relay-pull-batch", "1"});
  REQUIRE(WaitFor([&] { return CountCases(d.vault_data()) > 0; }, 30s));
  d.vault().Kill();
  const size_t at_kill = CountCases(d.vault_data());
  CHECK(at_kill > 0);
  CHECK(at_kill < static_cast<size_t>(kBeforeKill));  // the kill really was mid-intake

  for (int i = kBeforeKill; i < kBeforeKill + kWhileDown; ++i) submit(inbox[i]);
  REQUIRE(accepted == kBeforeKill + kWhileDown);

  d.StartVault();
  REQUIRE(WaitFor([&] { return CountOutbox(d.server_data()) == 0; }));
  std::this_thread::sleep_for(500ms);  // several more relay rounds
  const size_t cases = CountCases(d.vault_data());
  CHECK(cases == static_cast<size_t>(accepted));
  WARN("vault killed with " << at_kill << " of " << kBeforeKill << " waiting reports stored; "
                            << accepted << " accepted, " << cases << " cases after restart");

  // The audit chain survived the kill.
  d.StopVault();
  RunResult verify = Admin({"audit", "verify", "--data", d.vault_data(), "--checkpoints",
                            d.checkpoints(), "--audit-public-key", d.keys().audit_hex});
  INFO(verify.out << verify.err);
  CHECK(verify.code == 0);
}

TEST_CASE("the relay logs in again after the messaging server restarts and intake resumes") {
  Deployment d;
  d.StartVault();
  Device alice = RegisterDevice(d.channel(), "JP");
  Device bob = RegisterDevice(d.channel(), "JP");
  SentMessage first = SendFranked(d.channel(), bob, alice, "before the restart");
  SentMessage second = SendFranked(d.channel(), bob, alice, "after the restart");
  std::vector<v1::Envelope> inbox = FetchAll(d.channel(), alice);
  REQUIRE(inbox.size() == 2);
  const SentMessage& m0 = inbox[0].message_id() == first.message_id ? first : second;
  const SentMessage& m1 = inbox[0].message_id() == first.message_id ? second : first;
  REQUIRE(Submit(d.channel(), alice, SealedReport(alice, inbox[0], m0, d.intake())).ok());
  REQUIRE(WaitFor([&] { return CountCases(d.vault_data()) == 1; }));

  // The relay session lives only in the old server process.
  d.RestartServer();
  REQUIRE(Submit(d.channel(), alice, SealedReport(alice, inbox[1], m1, d.intake())).ok());
  REQUIRE(WaitFor([&] { return CountCases(d.vault_data()) == 2; }));
  CHECK(WaitFor([&] { return CountOutbox(d.server_data()) == 0; }));
  d.StopVault();
  const std::string log = d.vault().Stderr();
  size_t logins = 0;
  for (size_t at = log.find("event=relay_login"); at != std::string::npos;
       at = log.find("event=relay_login", at + 1)) {
    ++logins;
  }
  CHECK(logins == 2);  // the first session, and one after the restart
}

TEST_CASE(
    "audit verify passes on an intact log and names the first bad entry after a flipped byte") {
  Deployment d(/*with_server=*/false);
  const Staff admin = BootstrapAdmin(d);
  d.StartVault();
  Login(d, admin, "127.0.0.2");
  RunResult denied = Admin({"queue", "--session", admin.session});  // audited denial
  CHECK(denied.code == 4);
  RunResult checkpoint = Admin({"audit", "checkpoint", "--session", admin.session});
  INFO(checkpoint.err);
  CHECK(checkpoint.code == 0);
  d.StopVault();

  const std::vector<std::string> verify_args{"audit",
                                             "verify",
                                             "--data",
                                             d.vault_data(),
                                             "--checkpoints",
                                             d.checkpoints(),
                                             "--audit-public-key",
                                             d.keys().audit_hex};
  RunResult ok = Admin(verify_args);
  INFO(ok.out << ok.err);
  REQUIRE(ok.code == 0);

  // Flip one byte of entry 2 with a raw RocksDB write, as an insider would.
  {
    std::vector<std::string> families;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), d.vault_data(), &families).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& f : families) descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    REQUIRE(
        rocksdb::DB::Open(rocksdb::DBOptions(), d.vault_data(), descriptors, &handles, &db).ok());
    rocksdb::ColumnFamilyHandle* audit = nullptr;
    for (size_t i = 0; i < families.size(); ++i) {
      if (families[i] == "audit") audit = handles[i];
    }
    REQUIRE(audit != nullptr);
    std::string value;
    const std::string key = storage::vault::AuditKey(2);
    REQUIRE(db->Get(rocksdb::ReadOptions(), audit, key, &value).ok());
    value[value.size() / 2] ^= 0x01;
    rocksdb::WriteOptions sync;
    sync.sync = true;
    REQUIRE(db->Put(sync, audit, key, value).ok());
    for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
    REQUIRE(db->Close().ok());
    delete db;
  }

  RunResult bad = Admin(verify_args);
  INFO(bad.out << bad.err);
  CHECK(bad.code == 7);
  CHECK(bad.out.rfind("FAILED: ", 0) == 0);
  CHECK(bad.out.find("index 1") != std::string::npos);
}

TEST_CASE(
    "after --rotate pseudonym the restarted vault re-keys the old case and still rejects its "
    "message as a duplicate") {
  Deployment d;
  const Staff admin = BootstrapAdmin(d);
  d.StartVault();
  Device alice = RegisterDevice(d.channel(), "JP");
  Device bob = RegisterDevice(d.channel(), "JP");
  SentMessage first = SendFranked(d.channel(), bob, alice, "first threat");
  SentMessage second = SendFranked(d.channel(), bob, alice, "second threat");
  std::vector<v1::Envelope> inbox = FetchAll(d.channel(), alice);
  REQUIRE(inbox.size() == 2);
  const SentMessage& m0 = inbox[0].message_id() == first.message_id ? first : second;
  const SentMessage& m1 = inbox[0].message_id() == first.message_id ? second : first;
  REQUIRE(Submit(d.channel(), alice, SealedReport(alice, inbox[0], m0, d.intake())).ok());
  REQUIRE(WaitFor(
      [&] { return CountCases(d.vault_data()) == 1 && CountOutbox(d.server_data()) == 0; }));

  Login(d, admin, "127.0.0.2");
  const Staff reviewer = Enrol(d, admin, "reviewer", "reviewer");
  Login(d, reviewer, "127.0.0.2");
  RunResult queue = Admin({"queue", "--session", reviewer.session});
  INFO(queue.out << queue.err);
  REQUIRE(queue.code == 0);
  const std::string case_id = Field(queue.out, "case_id");
  const std::string reporter_before = Field(queue.out, "reporter");
  REQUIRE(case_id.size() == 32);
  d.StopVault();

  RunResult rotated =
      Run(LETTERBOX_VAULT_BIN, {"--keys-dir", d.Path("vault-keys"), "--rotate", "pseudonym"});
  INFO(rotated.out << rotated.err);
  REQUIRE(rotated.code == 0);
  CHECK(rotated.out.find("rotated pseudonym key_id=") != std::string::npos);
  size_t pseudonym_key_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(d.Path("vault-keys"))) {
    if (entry.path().filename().string().rfind("pseudonym.", 0) == 0) ++pseudonym_key_files;
  }
  CHECK(pseudonym_key_files == 2);  // the new pseudonym.key and the previous one

  d.StartVault();
  const std::string log = d.vault().Stderr();
  CHECK(log.find("event=pseudonyms_rekeyed count=1") != std::string::npos);
  CHECK(log.find("event=previous_pseudonym_key_present") != std::string::npos);

  // The same message reported again: still a duplicate, no new case.
  REQUIRE(Submit(d.channel(), alice, SealedReport(alice, inbox[0], m0, d.intake())).ok());
  REQUIRE(WaitFor([&] { return CountOutbox(d.server_data()) == 0; }));
  CHECK(CountCases(d.vault_data()) == 1);
  // Another message of the same people: a new case with the same pseudonyms.
  REQUIRE(Submit(d.channel(), alice, SealedReport(alice, inbox[1], m1, d.intake())).ok());
  REQUIRE(WaitFor([&] { return CountCases(d.vault_data()) == 2; }));

  Login(d, reviewer, "127.0.0.2");  // sessions do not survive a restart
  RunResult after = Admin({"queue", "--session", reviewer.session});
  INFO(after.out << after.err);
  REQUIRE(after.code == 0);
  CHECK(after.out.find("case_id=" + case_id) != std::string::npos);
  std::vector<std::string> reporters;
  std::istringstream lines(after.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("case_id=") != std::string::npos) reporters.push_back(Field(line, "reporter"));
  }
  REQUIRE(reporters.size() == 2);
  CHECK(reporters[0] == reporters[1]);
  CHECK(reporters[0] != reporter_before);

  d.StopVault();
  RunResult verify = Admin({"audit", "verify", "--data", d.vault_data(), "--checkpoints",
                            d.checkpoints(), "--audit-public-key", d.keys().audit_hex});
  INFO(verify.out << verify.err);
  CHECK(verify.code == 0);
}

}  // namespace
}  // namespace letterbox
