// Vault kill -9 during grant changes (docs/reliability.md, check 6): the real
// letterbox-vault holds one case (reported by a device through a real
// letterbox-server and the relay). A staff thread requests, approves,
// rejects, revokes and breaks glass on grants for it, as fast as the vault
// answers, while the test kills the vault with SIGKILL at seeded random
// moments and restarts it on the same data directory. Afterwards, on the
// final store:
//   - every grant whose creation the vault acknowledged exists, in the state
//     of the last acknowledged change, or in a state that a later change
//     whose answer was lost with the process could have produced; a revoke
//     that was acknowledged is final;
//   - no grant exists that was never requested;
//   - every acknowledged change has its allow entry in the audit log;
//   - the audit chain verifies against the checkpoints exported during the
//     crashes (letterbox-admin audit verify) and against those stored.
//
// Environment: LETTERBOX_VAULT_CRASHES (default 10, about 10 s; the full run is 50),
// LETTERBOX_VAULT_CRASH_SEED (default: a fresh one; it is printed).
#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "letterbox/common/clock.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "letterbox/v1/report_content.pb.h"
#include "letterbox/v1/reports.grpc.pb.h"
#include "letterbox/v1/vault.grpc.pb.h"
#include "letterbox/vault/vault.h"
#include "support/process_harness.h"
#include "support/test_device.h"

namespace letterbox {
namespace {

namespace v1 = ::letterbox::v1;
namespace sv = ::letterbox::storage::vault;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::CallContext;
using testing::ChildProcess;
using testing::RunResult;
using testing::TempDir;
using testing::TestDevice;

// JP's staff network; every staff call is made from this address.
constexpr char kStaffSource[] = "127.0.0.2";
constexpr char kNetworks[] = "JP=127.0.0.2/32;US=127.0.0.3/32";

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  crypto::SystemRandom::Instance().Fill({reinterpret_cast<uint8_t*>(out.data()), out.size()});
  return out;
}

std::string Hex(const std::string& bytes) { return crypto::ToHex(crypto::AsBytes(bytes)); }

// --- One case in the vault, reported as a device reports it. ---

struct VaultPublicKeys {
  std::string intake_hex;
  std::string relay_hex;
  std::string audit_hex;
};

// The value after "`key` " on a line of `text`.
std::string LineValue(const std::string& text, const std::string& key) {
  const size_t at = text.find(key + " ");
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 1;
  return text.substr(start, text.find('\n', start) - start);
}

// Creates the vault's key files in `keys_dir` and returns the public halves.
VaultPublicKeys CreateVaultKeys(const std::string& keys_dir) {
  RunResult r =
      testing::RunToExit(LETTERBOX_VAULT_BIN, {"--keys-dir", keys_dir, "--print-public-keys"});
  INFO(r.err);
  REQUIRE(r.code == 0);
  VaultPublicKeys keys{LineValue(r.out, "intake-public-key"), LineValue(r.out, "relay-public-key"),
                       LineValue(r.out, "audit-public-key")};
  REQUIRE(keys.intake_hex.size() == 64);
  REQUIRE(keys.relay_hex.size() == 64);
  REQUIRE(keys.audit_hex.size() == 64);
  return keys;
}

// Bob sends Alice a franked message and Alice reports it: a ReportContent
// revealing plaintext and franking key, sealed to the vault's intake key,
// submitted to the messaging server, which the vault's relay pulls from.
void ReportOneMessage(const std::shared_ptr<grpc::Channel>& server, const std::string& intake_hex) {
  TestDevice alice, bob;
  REQUIRE(testing::RegisterDevice(server, "JP", &alice).ok());
  REQUIRE(testing::RegisterDevice(server, "JP", &bob).ok());

  const std::string message_id = RandomBytes(16);
  const std::string plaintext = "you will regret reporting me";
  const crypto::FrankingKey franking_key = crypto::NewFrankingKey(crypto::SystemRandom::Instance());
  crypto::ByteWriter context;
  context.Label("letterbox.franking.context.v1").Bytes(crypto::AsBytes(message_id));
  v1::SendRequest send;
  send.set_message_id(message_id);
  *send.mutable_recipient() = alice.address;
  send.set_ciphertext(RandomBytes(64));  // opaque here; the plaintext never reaches the server
  send.set_franking_commitment(
      crypto::Commit(franking_key, crypto::AsBytes(plaintext), context.view()).str());
  v1::SendResponse sent;
  REQUIRE(v1::MessageService::NewStub(server)->Send(CallContext(&bob).get(), send, &sent).ok());

  std::vector<v1::Envelope> inbox;
  REQUIRE(testing::FetchMailbox(server, alice, &inbox).ok());
  REQUIRE(inbox.size() == 1);
  const v1::Envelope& e = inbox[0];
  v1::ReportContent content;
  content.set_version(1);
  *content.mutable_reporter() = alice.address;
  content.set_category(v1::REPORT_CATEGORY_HARASSMENT);
  v1::ReportedMessage* m = content.add_messages();
  m->set_message_id(e.message_id());
  *m->mutable_sender() = e.sender();
  *m->mutable_recipient() = alice.address;
  m->set_server_timestamp_micros(e.server_timestamp_micros());
  m->set_franking_commitment(e.franking_commitment());
  m->set_franking_tag(e.franking_tag());
  m->set_franking_key(crypto::ToString(franking_key.Expose()));
  m->set_plaintext(plaintext);
  const auto intake = crypto::X25519PublicKey::FromBytes(*crypto::FromHex(intake_hex));
  REQUIRE(intake.ok());
  auto sealed = crypto::SealedBoxSeal(*intake, crypto::AsBytes(content.SerializeAsString()));
  REQUIRE(sealed.ok());
  v1::SubmitReportRequest submit;
  submit.set_jurisdiction("JP");
  submit.set_sealed_report(crypto::ToString(*sealed));
  v1::SubmitReportResponse submitted;
  REQUIRE(v1::ReportService::NewStub(server)
              ->SubmitReport(CallContext(&alice).get(), submit, &submitted)
              .ok());
}

// --- The vault process. ---

// Where the vault listens now. Port 0 while it is down; the generation
// changes with every start (sessions do not survive a restart).
struct Endpoint {
  int port = 0;
  uint64_t generation = 0;
};

// letterbox-vault on one data directory, restarted on a fresh port 0 each
// time, pulling reports from the messaging server at `server_port` and
// signing and exporting an audit checkpoint every 200 ms (so checkpoints are
// written all through the crashes). Start, Kill and Stop belong to the test
// thread; endpoint() may be read from any thread.
class VaultProcess {
 public:
  VaultProcess(const TempDir& tmp, int server_port)
      : tmp_(tmp),
        args_{"--listen",
              "127.0.0.1:0",
              "--data-dir",
              data_dir(),
              "--keys-dir",
              tmp.Sub("vault-keys"),
              "--networks",
              kNetworks,
              "--server",
              "127.0.0.1:" + std::to_string(server_port),
              "--checkpoint-export",
              checkpoints(),
              "--checkpoint-interval",
              "200ms",
              "--relay-idle-interval",
              "50ms",
              "--shutdown-grace",
              "1s"} {}

  void Start() {
    process_ = std::make_unique<ChildProcess>(LETTERBOX_VAULT_BIN, args_, tmp_.Sub("vault.log"));
    const int port = process_->WaitListening();
    if (port == 0) FAIL("letterbox-vault did not start:\n" << process_->Stderr());
    std::lock_guard<std::mutex> lock(mu_);
    endpoint_ = Endpoint{port, endpoint_.generation + 1};
  }

  void Kill() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      endpoint_.port = 0;
    }
    process_->Kill();
  }

  // SIGTERM; the exit code (nullopt if it did not exit within 30 s).
  std::optional<int> Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      endpoint_.port = 0;
    }
    process_->Signal(SIGTERM);
    return process_->WaitExit();
  }

  [[nodiscard]] Endpoint endpoint() const {
    std::lock_guard<std::mutex> lock(mu_);
    return endpoint_;
  }
  [[nodiscard]] std::string data_dir() const { return tmp_.Sub("vault-data"); }
  [[nodiscard]] std::string checkpoints() const { return tmp_.Sub("checkpoints.log"); }
  [[nodiscard]] std::string log() const { return testing::ReadFile(tmp_.Sub("vault.log")); }

 private:
  const TempDir& tmp_;
  const std::vector<std::string> args_;
  std::unique_ptr<ChildProcess> process_;
  mutable std::mutex mu_;
  Endpoint endpoint_;
};

// A channel to the vault at 127.0.0.1:`port` whose TCP connection comes
// from kStaffSource: the vault decides by the source address which
// jurisdiction's networks a call comes from, and gRPC 1.51 has no channel
// argument for it (letterbox-admin --source does the same). The channel does
// not reconnect. Null if the vault cannot be reached.
std::shared_ptr<grpc::Channel> StaffChannel(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_in source{};
  source.sin_family = AF_INET;
  ::inet_pton(AF_INET, kStaffSource, &source.sin_addr);
  sockaddr_in vault{};
  vault.sin_family = AF_INET;
  vault.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &vault.sin_addr);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&source), sizeof(source)) != 0 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&vault), sizeof(vault)) != 0 ||
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK) != 0) {
    ::close(fd);
    return nullptr;
  }
  return grpc::CreateCustomInsecureChannelFromFd("127.0.0.1:" + std::to_string(port), fd,
                                                 grpc::ChannelArguments());
}

// --- Staff. ---

struct Staff {
  crypto::Ed25519KeyPair key;
  std::string id;         // 16 bytes
  std::string token_hex;  // a session on the current vault process; "" if none
};

Staff NewStaff() {
  return Staff{crypto::Ed25519KeyPair::Generate(crypto::SystemRandom::Instance()), "", ""};
}

std::unique_ptr<grpc::ClientContext> StaffContext(const Staff* staff,
                                                  std::chrono::milliseconds timeout = 2s) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  if (staff != nullptr) context->AddMetadata("authorization", "Bearer " + staff->token_hex);
  return context;
}

// Challenge-response login (vault.proto, Login): the staff member signs
// ByteWriter().Label("letterbox.vault-auth.v1").Bytes(nonce).Bytes(staff_id).
grpc::Status LoginStaff(v1::VaultService::Stub& vault, Staff& staff) {
  v1::VaultGetChallengeRequest challenge_request;
  challenge_request.set_staff_id(staff.id);
  v1::VaultGetChallengeResponse challenge;
  grpc::Status s = vault.GetChallenge(StaffContext(nullptr).get(), challenge_request, &challenge);
  if (!s.ok()) return s;
  crypto::ByteWriter signed_bytes;
  signed_bytes.Label("letterbox.vault-auth.v1")
      .Bytes(crypto::AsBytes(challenge.nonce()))
      .Bytes(crypto::AsBytes(staff.id));
  v1::VaultLoginRequest login;
  login.set_staff_id(staff.id);
  login.set_nonce(challenge.nonce());
  login.set_signature(crypto::Ed25519Sign(staff.key.secret_key, signed_bytes.view()).str());
  v1::VaultLoginResponse session;
  s = vault.Login(StaffContext(nullptr).get(), login, &session);
  if (s.ok()) staff.token_hex = crypto::ToHex(crypto::AsBytes(session.session_token()));
  return s;
}

// The first admin, enrolled offline on the stopped vault's store, as
// `letterbox-admin bootstrap` does.
Staff BootstrapAdmin(const std::string& data_dir) {
  Staff admin = NewStaff();
  auto stores = sv::RocksDbVaultStores::Open({.path = data_dir});
  REQUIRE(stores.ok());
  auto id = vault::BootstrapAdmin(**stores, SystemClock::Instance(), admin.key.public_key, "JP");
  INFO(id.status());
  REQUIRE(id.ok());
  admin.id = *id;
  return admin;
}

Staff Enrol(v1::VaultService::Stub& vault, const Staff& admin, v1::StaffRole role) {
  Staff staff = NewStaff();
  v1::EnrolStaffRequest request;
  request.set_public_key(staff.key.public_key.str());
  request.set_role(role);
  request.set_jurisdiction("JP");
  v1::EnrolStaffResponse enrolled;
  grpc::Status s = vault.EnrolStaff(StaffContext(&admin).get(), request, &enrolled);
  INFO(s.error_message());
  REQUIRE(s.ok());
  staff.id = enrolled.staff().staff_id();
  return staff;
}

// --- Grant changes under crashes, and what the vault acknowledged. ---

// The expected fate of one grant, from the vault's answers.
struct ExpectedGrant {
  bool break_glass = false;
  v1::GrantKind kind = v1::GRANT_KIND_UNSPECIFIED;
  // The state set by the last change the vault acknowledged (or, after a
  // lost reject, the state the vault's refusal of a revoke revealed).
  sv::GrantState acknowledged = sv::GrantState::kNone;
  // The states the grant may be stored in: the acknowledged one, plus those
  // of later changes whose answer was lost when the vault died.
  std::set<sv::GrantState> allowed;
  // True when an approve or reject was acknowledged (approver_id is set).
  bool decided = false;
  // False while a change with an unknown outcome awaits a definite answer.
  bool settled = true;
};

// One change the vault answered OK.
struct AcknowledgedChange {
  std::string action;  // the RPC, as the audit log names it
  std::string grant_id;
};

// The staff thread: one grant change after another against whichever vault
// process is up, reconnecting and logging in again after each restart. A
// change whose answer is lost (the process died) is "unknown": for an
// existing grant it is followed by revokes until the vault answers
// definitely; for a new grant (whose id is then unknown) it is counted.
class GrantTraffic {
 public:
  GrantTraffic(const VaultProcess& vault, Staff admin, Staff reviewer, Staff approver,
               std::string case_id, uint64_t seed)
      : vault_(vault),
        admin_(std::move(admin)),
        reviewer_(std::move(reviewer)),
        approver_(std::move(approver)),
        case_id_(std::move(case_id)),
        rng_(seed) {}

  // The thread body: changes until `stop`.
  void Run(const std::atomic<bool>& stop) {
    while (!stop.load()) {
      if (!Step()) std::this_thread::sleep_for(10ms);  // the vault is down or restarting
    }
  }

  // Results; read them after the thread has been joined.
  std::map<std::string, ExpectedGrant> grants;
  std::vector<AcknowledgedChange> acknowledged;
  uint64_t unknown_outcomes = 0;
  uint64_t unknown_requests = 0;     // RequestGrant answers lost
  uint64_t unknown_break_glass = 0;  // BreakGlass answers lost
  uint64_t checkpoints_signed = 0;
  // Answers a correct vault never gives here.
  std::vector<std::string> unexpected;

  const Staff& reviewer() const { return reviewer_; }
  const Staff& approver() const { return approver_; }

 private:
  enum class Outcome { kNotSent, kOk, kUnknown, kDefinite };

  static bool OutcomeUnknown(grpc::StatusCode code) {
    return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
           code == grpc::StatusCode::CANCELLED || code == grpc::StatusCode::UNKNOWN ||
           code == grpc::StatusCode::INTERNAL;
  }

  // Calls `rpc` as `who` on the vault now up: kNotSent if it is down or
  // the session had to be renewed (nothing happened), kOk, kUnknown (the
  // answer was lost), or kDefinite (an error answer, in `*status`).
  Outcome Call(
      Staff& who,
      const std::function<grpc::Status(v1::VaultService::Stub&, grpc::ClientContext*)>& rpc,
      grpc::Status* status) {
    const Endpoint now = vault_.endpoint();
    if (now.port == 0) return Outcome::kNotSent;
    if (stub_ == nullptr || generation_ != now.generation) {
      std::shared_ptr<grpc::Channel> channel = StaffChannel(now.port);
      if (channel == nullptr) return Outcome::kNotSent;
      stub_ = v1::VaultService::NewStub(channel);
      generation_ = now.generation;
      for (Staff* s : {&admin_, &reviewer_, &approver_}) s->token_hex.clear();
    }
    if (who.token_hex.empty()) {
      const grpc::Status login = LoginStaff(*stub_, who);
      if (!login.ok()) {
        if (OutcomeUnknown(login.error_code())) stub_.reset();
        return Outcome::kNotSent;
      }
    }
    *status = rpc(*stub_, StaffContext(&who).get());
    if (status->ok()) return Outcome::kOk;
    if (status->error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      who.token_hex.clear();  // refused before anything was changed
      return Outcome::kNotSent;
    }
    if (OutcomeUnknown(status->error_code())) {
      stub_.reset();
      ++unknown_outcomes;
      return Outcome::kUnknown;
    }
    return Outcome::kDefinite;
  }

  void Unexpected(const std::string& action, const grpc::Status& s) {
    unexpected.push_back(action + ": code " + std::to_string(s.error_code()) + " " +
                         s.error_message());
  }

  // An OK answer must show the grant in the state the change produces.
  void CheckAnswer(const std::string& action, const v1::Grant& grant, v1::GrantState state) {
    if (grant.state() != state || grant.case_id() != case_id_) {
      unexpected.push_back(action + " answered OK with grant " + Hex(grant.grant_id()) +
                           " in state " + v1::GrantState_Name(grant.state()));
    }
  }

  // A grant id chosen at random among settled grants whose acknowledged
  // state is one of `states`; "" if there is none.
  std::string Pick(std::initializer_list<sv::GrantState> states) {
    std::vector<const std::string*> candidates;
    for (const auto& [id, g] : grants) {
      if (!g.settled) continue;
      for (sv::GrantState s : states) {
        if (g.acknowledged == s) candidates.push_back(&id);
      }
    }
    return candidates.empty() ? "" : *candidates[rng_() % candidates.size()];
  }

  std::string FirstUnsettled() const {
    for (const auto& [id, g] : grants) {
      if (!g.settled) return id;
    }
    return "";
  }

  // One change; false if nothing was sent.
  bool Step() {
    if (const std::string id = FirstUnsettled(); !id.empty()) return Revoke(id, reviewer_);
    const uint64_t dice = rng_() % 100;
    if (dice < 20) {
      if (const std::string id = Pick({sv::GrantState::kPending}); !id.empty()) {
        return Decide(id, true);
      }
    } else if (dice < 30) {
      if (const std::string id = Pick({sv::GrantState::kPending}); !id.empty()) {
        return Decide(id, false);
      }
    } else if (dice < 50) {
      const std::string id =
          Pick({sv::GrantState::kPending, sv::GrantState::kApproved, sv::GrantState::kRevoked});
      if (!id.empty()) return Revoke(id, rng_() % 2 == 0 ? reviewer_ : approver_);
    } else if (dice < 60) {
      return BreakGlass();
    } else if (dice < 65) {
      return SignCheckpoint();
    }
    return Request();
  }

  bool Request() {
    const v1::GrantKind kind =
        rng_() % 4 == 0 ? v1::GRANT_KIND_REVEAL_IDENTITY : v1::GRANT_KIND_OPEN;
    v1::RequestGrantRequest request;
    request.set_case_id(case_id_);
    request.set_kind(kind);
    request.set_justification("threats reported by the recipient");
    v1::Grant grant;
    grpc::Status s;
    const Outcome o = Call(
        reviewer_,
        [&](auto& stub, auto* context) { return stub.RequestGrant(context, request, &grant); }, &s);
    if (o == Outcome::kOk) {
      grants[grant.grant_id()] = ExpectedGrant{.break_glass = false,
                                               .kind = kind,
                                               .acknowledged = sv::GrantState::kPending,
                                               .allowed = {sv::GrantState::kPending}};
      acknowledged.push_back({"RequestGrant", grant.grant_id()});
      CheckAnswer("RequestGrant", grant, v1::GRANT_STATE_PENDING);
    } else if (o == Outcome::kUnknown) {
      ++unknown_requests;
    } else if (o == Outcome::kDefinite) {
      Unexpected("RequestGrant", s);
    }
    return o != Outcome::kNotSent;
  }

  bool BreakGlass() {
    v1::BreakGlassRequest request;
    request.set_case_id(case_id_);
    request.set_justification("imminent harm reported");
    v1::Grant grant;
    grpc::Status s;
    const Outcome o = Call(
        reviewer_,
        [&](auto& stub, auto* context) { return stub.BreakGlass(context, request, &grant); }, &s);
    if (o == Outcome::kOk) {
      grants[grant.grant_id()] = ExpectedGrant{.break_glass = true,
                                               .kind = v1::GRANT_KIND_OPEN,
                                               .acknowledged = sv::GrantState::kApproved,
                                               .allowed = {sv::GrantState::kApproved}};
      acknowledged.push_back({"BreakGlass", grant.grant_id()});
      CheckAnswer("BreakGlass", grant, v1::GRANT_STATE_APPROVED);
    } else if (o == Outcome::kUnknown) {
      ++unknown_break_glass;
    } else if (o == Outcome::kDefinite) {
      Unexpected("BreakGlass", s);
    }
    return o != Outcome::kNotSent;
  }

  // Approves (or rejects) a pending grant as the approver.
  bool Decide(const std::string& id, bool approve) {
    const std::string action = approve ? "ApproveGrant" : "RejectGrant";
    const sv::GrantState to = approve ? sv::GrantState::kApproved : sv::GrantState::kRejected;
    v1::Grant grant;
    grpc::Status s;
    const Outcome o = Call(
        approver_,
        [&](auto& stub, auto* context) {
          if (approve) {
            v1::ApproveGrantRequest request;
            request.set_grant_id(id);
            return stub.ApproveGrant(context, request, &grant);
          }
          v1::RejectGrantRequest request;
          request.set_grant_id(id);
          request.set_reason("not needed");
          return stub.RejectGrant(context, request, &grant);
        },
        &s);
    ExpectedGrant& g = grants[id];
    if (o == Outcome::kOk) {
      g.acknowledged = to;
      g.allowed = {to};
      g.decided = true;
      acknowledged.push_back({action, id});
      CheckAnswer(action, grant, approve ? v1::GRANT_STATE_APPROVED : v1::GRANT_STATE_REJECTED);
    } else if (o == Outcome::kUnknown) {
      g.allowed.insert(to);
      g.settled = false;
    } else if (o == Outcome::kDefinite) {
      Unexpected(action + " of a grant acknowledged as pending", s);
    }
    return o != Outcome::kNotSent;
  }

  // Revokes a grant as `by`. Also settles a grant after a lost answer: OK
  // makes it REVOKED; "grant was rejected" tells that a lost reject happened.
  bool Revoke(const std::string& id, Staff& by) {
    v1::RevokeGrantRequest request;
    request.set_grant_id(id);
    request.set_reason("no longer needed");
    v1::Grant grant;
    grpc::Status s;
    const Outcome o = Call(
        by, [&](auto& stub, auto* context) { return stub.RevokeGrant(context, request, &grant); },
        &s);
    ExpectedGrant& g = grants[id];
    if (o == Outcome::kOk) {
      g.acknowledged = sv::GrantState::kRevoked;
      g.allowed = {sv::GrantState::kRevoked};
      g.settled = true;
      acknowledged.push_back({"RevokeGrant", id});
      CheckAnswer("RevokeGrant", grant, v1::GRANT_STATE_REVOKED);
    } else if (o == Outcome::kUnknown) {
      g.allowed.insert(sv::GrantState::kRevoked);
      g.settled = false;
    } else if (o == Outcome::kDefinite && s.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
               g.allowed.count(sv::GrantState::kRejected) > 0) {
      g.acknowledged = sv::GrantState::kRejected;
      g.allowed = {sv::GrantState::kRejected};
      g.settled = true;
    } else if (o == Outcome::kDefinite) {
      Unexpected("RevokeGrant", s);
      g.settled = true;  // the final comparison reports the grant
    }
    return o != Outcome::kNotSent;
  }

  bool SignCheckpoint() {
    v1::Checkpoint checkpoint;
    grpc::Status s;
    const Outcome o = Call(
        admin_,
        [&](auto& stub, auto* context) {
          return stub.SignCheckpoint(context, v1::SignCheckpointRequest(), &checkpoint);
        },
        &s);
    if (o == Outcome::kOk) ++checkpoints_signed;
    if (o == Outcome::kDefinite) Unexpected("SignCheckpoint", s);
    return o != Outcome::kNotSent;
  }

  const VaultProcess& vault_;
  Staff admin_;
  Staff reviewer_;
  Staff approver_;
  const std::string case_id_;
  std::mt19937_64 rng_;
  std::unique_ptr<v1::VaultService::Stub> stub_;
  uint64_t generation_ = 0;
};

// --- The comparison with the final store. ---

struct Comparison {
  uint64_t lost = 0;                   // acknowledged grants missing
  uint64_t wrong_state = 0;            // stored state not allowed by the answers
  uint64_t never_requested = 0;        // stored grants no request explains
  uint64_t stored_unacknowledged = 0;  // created by a request whose answer was lost
  uint64_t missing_audit = 0;          // acknowledged changes without their allow entry
  std::vector<std::string> problems;
};

void CompareGrants(const GrantTraffic& traffic, const std::string& case_id,
                   const std::vector<sv::GrantRecord>& stored, Comparison& c) {
  std::map<std::string, const sv::GrantRecord*> by_id;
  for (const auto& g : stored) by_id[g.grant_id] = &g;
  for (const auto& [id, expected] : traffic.grants) {
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      ++c.lost;
      c.problems.push_back("lost: grant " + Hex(id) + " acknowledged as state " +
                           std::to_string(static_cast<int>(expected.acknowledged)));
      continue;
    }
    const sv::GrantRecord& g = *it->second;
    const bool right = expected.allowed.count(g.state) > 0 && g.case_id == case_id &&
                       g.requester_id == traffic.reviewer().id &&
                       g.break_glass == expected.break_glass &&
                       static_cast<int>(g.kind) == static_cast<int>(expected.kind) &&
                       (!expected.decided || g.approver_id == traffic.approver().id);
    if (!right) {
      ++c.wrong_state;
      c.problems.push_back("wrong state: grant " + Hex(id) + " stored as state " +
                           std::to_string(static_cast<int>(g.state)) + ", acknowledged as " +
                           std::to_string(static_cast<int>(expected.acknowledged)));
    }
  }
  // Grants the staff thread never learned of: each must be explained by a
  // RequestGrant or BreakGlass whose answer was lost, untouched since.
  uint64_t requests = traffic.unknown_requests, break_glass = traffic.unknown_break_glass;
  for (const auto& g : stored) {
    if (traffic.grants.count(g.grant_id) > 0) continue;
    const bool ours = g.case_id == case_id && g.requester_id == traffic.reviewer().id;
    if (ours && !g.break_glass && g.state == sv::GrantState::kPending && requests > 0) {
      --requests;
      ++c.stored_unacknowledged;
    } else if (ours && g.break_glass && g.state == sv::GrantState::kApproved && break_glass > 0) {
      --break_glass;
      ++c.stored_unacknowledged;
    } else {
      ++c.never_requested;
      c.problems.push_back("never requested: grant " + Hex(g.grant_id));
    }
  }
}

// Every acknowledged change has its allow entry: approve, reject and
// revoke name the grant as target; request and break-glass name the case
// and give "grant:<hex>" in the reason.
void CompareAudit(const GrantTraffic& traffic, const std::vector<sv::StoredAuditEntry>& log,
                  Comparison& c) {
  std::set<std::pair<std::string, std::string>> allowed;  // (action, grant hex)
  for (const auto& stored : log) {
    const sv::AuditEntry& e = stored.entry;
    if (e.decision != sv::Decision::kAllow) continue;
    if (e.target.rfind("grant:", 0) == 0) allowed.emplace(e.action, e.target.substr(6));
    const size_t at = e.reason.find("grant:");
    if (at != std::string::npos) allowed.emplace(e.action, e.reason.substr(at + 6, 32));
  }
  for (const AcknowledgedChange& change : traffic.acknowledged) {
    if (allowed.count({change.action, Hex(change.grant_id)}) == 0) {
      ++c.missing_audit;
      c.problems.push_back("no audit entry: " + change.action + " grant " + Hex(change.grant_id));
    }
  }
}

// How many of `exported` the store does not hold. The vault stores a
// checkpoint (synced) before appending it to the export file, so a kill
// between the two leaves a stored checkpoint unexported, never the reverse.
size_t ExportedButNotStored(const std::vector<sv::Checkpoint>& exported,
                            const std::vector<sv::Checkpoint>& stored) {
  std::set<std::string> lines;
  for (const auto& cp : stored) lines.insert(sv::FormatCheckpointLine(cp));
  size_t missing = 0;
  for (const auto& cp : exported) missing += lines.count(sv::FormatCheckpointLine(cp)) == 0;
  return missing;
}

std::string Counts(const std::vector<AcknowledgedChange>& changes) {
  std::map<std::string, int> n;
  for (const auto& change : changes) ++n[change.action];
  std::string out;
  for (const auto& [action, count] : n) {
    out += (out.empty() ? "" : " ") + action + "=" + std::to_string(count);
  }
  return out;
}

TEST_CASE(
    "kill -9 of the vault during grant changes loses no acknowledged change and the audit log "
    "verifies",
    "[vault][crash]") {
  const uint64_t crashes = testing::EnvNumber("LETTERBOX_VAULT_CRASHES", 10);
  const uint64_t seed = testing::EnvNumber("LETTERBOX_VAULT_CRASH_SEED", std::random_device()());
  std::printf("vault grant crash loop: seed=%llu (LETTERBOX_VAULT_CRASH_SEED) crashes=%llu\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(crashes));
  std::fflush(stdout);
  const auto started = Clock::now();

  TempDir tmp;
  const VaultPublicKeys keys = CreateVaultKeys(tmp.Sub("vault-keys"));
  ChildProcess server(
      LETTERBOX_SERVER_BIN,
      {"--listen", "127.0.0.1:0", "--data-dir", tmp.Sub("server-data"), "--metrics-listen", "off",
       "--jurisdictions", "JP,US", "--vault-intake-public-key", keys.intake_hex,
       "--vault-relay-public-key", keys.relay_hex},
      tmp.Sub("server.log"));
  const int server_port = server.WaitListening();
  if (server_port == 0) FAIL("letterbox-server did not start:\n" << server.Stderr());
  const auto server_channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_port),
                                                  grpc::InsecureChannelCredentials());

  // Staff: the admin enrolled offline, a reviewer and an approver enrolled
  // by the admin; the reported case as the reviewer's queue shows it.
  VaultProcess vault(tmp, server_port);
  Staff admin = BootstrapAdmin(vault.data_dir());
  vault.Start();
  std::shared_ptr<grpc::Channel> staff_channel = StaffChannel(vault.endpoint().port);
  REQUIRE(staff_channel != nullptr);
  auto stub = v1::VaultService::NewStub(staff_channel);
  REQUIRE(LoginStaff(*stub, admin).ok());
  Staff reviewer = Enrol(*stub, admin, v1::STAFF_ROLE_REVIEWER);
  Staff approver = Enrol(*stub, admin, v1::STAFF_ROLE_APPROVER);
  REQUIRE(LoginStaff(*stub, reviewer).ok());
  ReportOneMessage(server_channel, keys.intake_hex);
  std::string case_id;
  REQUIRE(testing::WaitFor(
      [&] {
        v1::ListQueueResponse queue;
        if (!stub->ListQueue(StaffContext(&reviewer).get(), v1::ListQueueRequest(), &queue).ok() ||
            queue.cases_size() == 0) {
          return false;
        }
        case_id = queue.cases(0).case_id();
        return true;
      },
      30s, 50ms));
  stub.reset();
  staff_channel.reset();

  GrantTraffic traffic(vault, std::move(admin), std::move(reviewer), std::move(approver), case_id,
                       seed + 1);
  std::atomic<bool> stop{false};
  std::thread staff_thread([&] { traffic.Run(stop); });
  // A failed REQUIRE below must not leave the thread running.
  struct JoinOnExit {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~JoinOnExit() {
      stop.store(true);
      if (thread.joinable()) thread.join();
    }
  } join_on_exit{stop, staff_thread};

  std::mt19937_64 schedule(seed);
  for (uint64_t k = 0; k < crashes; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + schedule() % 600));
    vault.Kill();
    vault.Start();
  }
  std::this_thread::sleep_for(300ms);  // changes on the last incarnation too
  stop.store(true);
  staff_thread.join();

  // The final store: after a clean stop, read-only.
  const std::optional<int> stopped = vault.Stop();
  if (stopped != std::optional<int>(0))
    FAIL("letterbox-vault did not stop cleanly:\n" << vault.log());
  auto stores = sv::RocksDbVaultStores::Open({.path = vault.data_dir(), .read_only = true});
  REQUIRE(stores.ok());
  auto stored_grants = (*stores)->ListGrants();
  auto log = (*stores)->ReadAudit(0, SIZE_MAX);
  auto raw = (*stores)->ReadRawAudit();
  auto stored_checkpoints = (*stores)->ListCheckpoints(0, SIZE_MAX);
  REQUIRE(stored_grants.ok());
  REQUIRE(log.ok());
  REQUIRE(raw.ok());
  REQUIRE(stored_checkpoints.ok());
  auto exported = sv::ReadCheckpointFile(vault.checkpoints());
  REQUIRE(exported.ok());

  Comparison c;
  CompareGrants(traffic, case_id, *stored_grants, c);
  CompareAudit(traffic, *log, c);
  const auto audit_key = crypto::Ed25519PublicKey::FromBytes(*crypto::FromHex(keys.audit_hex));
  REQUIRE(audit_key.ok());
  const sv::AuditVerification against_stored =
      sv::VerifyAuditLog(*raw, *stored_checkpoints, *audit_key);
  const RunResult verify = testing::RunToExit(
      LETTERBOX_ADMIN_BIN, {"audit", "verify", "--data", vault.data_dir(), "--checkpoints",
                            vault.checkpoints(), "--audit-public-key", keys.audit_hex});
  const std::string verify_line = verify.out.substr(0, verify.out.find('\n'));
  const size_t unstored_exports = ExportedButNotStored(*exported, *stored_checkpoints);

  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "vault grant crash loop [seed=%llu]: crashes=%llu acknowledged-changes=%zu (%s) lost=%llu "
      "wrong-state=%llu never-requested=%llu missing-audit=%llu | unknown-outcome=%llu "
      "stored-unacknowledged=%llu grants=%zu audit-entries=%zu checkpoints exported=%zu "
      "stored=%zu exported-not-stored=%zu | audit verify: %s | elapsed=%.1fs\n",
      static_cast<unsigned long long>(seed), static_cast<unsigned long long>(crashes),
      traffic.acknowledged.size(), Counts(traffic.acknowledged).c_str(),
      static_cast<unsigned long long>(c.lost), static_cast<unsigned long long>(c.wrong_state),
      static_cast<unsigned long long>(c.never_requested),
      static_cast<unsigned long long>(c.missing_audit),
      static_cast<unsigned long long>(traffic.unknown_outcomes),
      static_cast<unsigned long long>(c.stored_unacknowledged), stored_grants->size(), log->size(),
      exported->size(), stored_checkpoints->size(), unstored_exports, verify_line.c_str(), seconds);
  std::fflush(stdout);

  for (const std::string& p : c.problems) UNSCOPED_INFO(p);
  for (const std::string& u : traffic.unexpected) UNSCOPED_INFO("unexpected answer: " << u);
  CHECK(traffic.unexpected.empty());
  CHECK(traffic.acknowledged.size() > crashes);  // changes really ran between the kills
  CHECK(c.lost == 0);
  CHECK(c.wrong_state == 0);
  CHECK(c.never_requested == 0);
  CHECK(c.missing_audit == 0);
  INFO(verify.out << verify.err);
  CHECK(verify.code == 0);
  CHECK(verify.out.rfind("OK: ", 0) == 0);
  INFO(against_stored.problem);
  CHECK(against_stored.ok);
  CHECK(exported->size() > crashes);  // checkpoints were exported between the kills
  CHECK(unstored_exports == 0);
}

}  // namespace
}  // namespace letterbox
