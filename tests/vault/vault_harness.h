// File: tests/vault/vault_harness.h
//
// A vault under test: a FakeClock, a store (in memory or RocksDB in a temp
// directory), a franking "server" whose key the fake verifier holds, a real
// gRPC server on 127.0.0.1:0, and staff clients that connect FROM a chosen
// loopback source address (127.0.0.2 = the JP office, 127.0.0.3 = the KR
// office). The source address is real: the client socket is bound to it
// before connect() and handed to gRPC (CreateInsecureChannelFromFd), so the
// vault reads it from CallbackServerContext::peer() like any other peer.
//
//   VaultHarness h;
//   StaffClient admin = h.Admin();
//   StaffClient alice = h.Enrol(admin, v1::STAFF_ROLE_REVIEWER, "JP", kJpOffice);
//   std::string case_id = h.IngestValidCase("JP");
#pragma once

#include <arpa/inet.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "letterbox/common/clock.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/storage/vault/memory_vault_store.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"
#include "letterbox/storage/vault/vault_records.h"
#include "letterbox/v1/report_content.pb.h"
#include "letterbox/v1/vault.grpc.pb.h"
#include "letterbox/vault/vault.h"

namespace letterbox::vault::testing {

namespace v1 = letterbox::v1;
namespace sv = storage::vault;
using crypto::AsBytes;
using crypto::ByteWriter;

inline constexpr const char* kJpOffice = "127.0.0.2";
inline constexpr const char* kKrOffice = "127.0.0.3";
inline constexpr const char* kNowhere = "127.0.0.9";

inline std::string Hex(std::string_view s) { return crypto::ToHex(AsBytes(s)); }

inline std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  crypto::SystemRandom::Instance().Fill(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  return s;
}

// How the fake messaging server encodes an address inside the franking tag.
inline crypto::Bytes AddressBytes(const v1::DeviceAddress& a) {
  ByteWriter w;
  w.Bytes(AsBytes(a.account_id())).U32(a.device_id());
  return std::move(w).Take();
}

inline v1::DeviceAddress Address(const std::string& account, uint32_t device = 1) {
  v1::DeviceAddress a;
  a.set_account_id(account);
  a.set_device_id(device);
  return a;
}

// Stands in for RelayService.VerifyFranking: holds K_frank like the server.
class FakeFrankingServer final : public FrankingVerifier {
 public:
  FakeFrankingServer()
      : key_(crypto::RandomSecret<crypto::FrankingServerKey>(crypto::SystemRandom::Instance())) {}

  crypto::FrankingTag Tag(const v1::ReportedMessage& m) const {
    auto commitment = crypto::Commitment::FromString(m.franking_commitment()).value();
    const crypto::Bytes sender = AddressBytes(m.sender());
    const crypto::Bytes recipient = AddressBytes(m.recipient());
    return crypto::ComputeFrankingTag(key_, {commitment, sender, recipient,
                                             m.server_timestamp_micros(), AsBytes(m.message_id())});
  }

  absl::StatusOr<std::vector<bool>> Verify(const std::vector<v1::FrankingClaim>& claims) override {
    ++calls;
    if (fail_next) {
      fail_next = false;
      return absl::UnavailableError("messaging server unreachable");
    }
    std::vector<bool> out;
    for (const auto& c : claims) {
      auto commitment = crypto::Commitment::FromString(c.franking_commitment());
      auto tag = crypto::FrankingTag::FromString(c.franking_tag());
      if (!commitment.ok() || !tag.ok()) {
        out.push_back(false);
        continue;
      }
      const crypto::Bytes sender = AddressBytes(c.sender());
      const crypto::Bytes recipient = AddressBytes(c.recipient());
      out.push_back(
          crypto::VerifyFrankingTag(key_,
                                    {*commitment, sender, recipient, c.server_timestamp_micros(),
                                     AsBytes(c.message_id())},
                                    *tag)
              .ok());
    }
    return out;
  }

  int calls = 0;
  bool fail_next = false;

 private:
  crypto::FrankingServerKey key_;
};

// A report as a device would build it, before sealing.
struct ReportBuilder {
  v1::ReportContent content;
  const FakeFrankingServer* server = nullptr;

  ReportBuilder(const FakeFrankingServer& s, const v1::DeviceAddress& reporter) : server(&s) {
    content.set_version(1);
    *content.mutable_reporter() = reporter;
    content.set_category(v1::REPORT_CATEGORY_HARASSMENT);
  }

  // Adds a genuinely sent and franked message from `sender` to the reporter.
  v1::ReportedMessage& Add(const v1::DeviceAddress& sender, const std::string& plaintext,
                           int64_t ts = 1'700'000'000'000'000) {
    v1::ReportedMessage& m = *content.add_messages();
    m.set_message_id(RandomBytes(16));
    *m.mutable_sender() = sender;
    *m.mutable_recipient() = content.reporter();
    m.set_server_timestamp_micros(ts);
    auto k_f = crypto::NewFrankingKey(crypto::SystemRandom::Instance());
    ByteWriter context;
    context.Label("letterbox.franking.context.v1").Bytes(AsBytes(m.message_id()));
    m.set_franking_commitment(crypto::Commit(k_f, AsBytes(plaintext), context.view()).str());
    m.set_franking_key(crypto::ToString(k_f.Expose()));
    m.set_plaintext(plaintext);
    m.set_franking_tag(server->Tag(m).str());
    return m;
  }

  std::string Seal(const crypto::X25519PublicKey& intake) const {
    return crypto::ToString(
        crypto::SealedBoxSeal(intake, AsBytes(content.SerializeAsString())).value());
  }
};

// One staff member's connection from a chosen source address.
struct StaffClient {
  std::string staff_id;
  crypto::Ed25519KeyPair key;
  std::string source;
  std::unique_ptr<v1::VaultService::Stub> stub;
  std::string token_hex;

  // A context carrying the bearer token, with a deadline.
  std::unique_ptr<grpc::ClientContext> Ctx() const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token_hex.empty()) ctx->AddMetadata("authorization", "Bearer " + token_hex);
    return ctx;
  }
};

class VaultHarness {
 public:
  struct Options {
    bool rocksdb = false;
    server::Rate opens{1.0 / 360, 10};
  };

  VaultHarness() : VaultHarness(Options{}) {}
  explicit VaultHarness(Options options) {
    auto& rng = crypto::SystemRandom::Instance();
    dir_ = std::filesystem::temp_directory_path() / ("lb-vault-" + Hex(RandomBytes(6)));
    std::filesystem::create_directories(dir_);
    data_dir_ = dir_ / "data";
    export_path_ = (dir_ / "checkpoints.log").string();
    if (options.rocksdb) {
      rocks_ = sv::RocksDbVaultStores::Open({.path = data_dir_.string()}).value();
      stores_ = rocks_.get();
    } else {
      memory_ = std::make_unique<sv::MemoryVaultStores>();
      stores_ = memory_.get();
    }
    config_.jurisdiction_networks = {{"JP", {"127.0.0.2/32"}}, {"KR", {"127.0.0.3/32"}}};
    config_.opens_per_reviewer = options.opens;
    config_.checkpoint_export_path = export_path_;
    VaultKeys keys{.intake = crypto::X25519KeyPair::Generate(rng),
                   .intake_key_id = "intake-1",
                   .kek = crypto::RandomSecret<crypto::AeadKey>(rng),
                   .kek_id = "kek-1",
                   .previous_keks = {},
                   .audit_signing = crypto::Ed25519KeyPair::Generate(rng),
                   .pseudonym_key = crypto::RandomSecret<crypto::MacKey>(rng)};
    kek_ = keys.kek.Clone();
    intake_public_ = keys.intake.public_key;
    audit_public_ = keys.audit_signing.public_key;
    admin_key_ = crypto::Ed25519KeyPair::Generate(rng);
    admin_id_ = BootstrapAdmin(*stores_, clock, admin_key_.public_key, "JP").value();
    vault_ = Vault::Open(config_, *stores_, clock, std::move(keys), franking).value();
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(vault_->service());
    server_ = builder.BuildAndStart();
    REQUIRE(server_ != nullptr);
  }

  ~VaultHarness() {
    Stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Stops the server and closes the store, keeping the data directory.
  void Stop() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      server_.reset();
    }
    vault_.reset();
    rocks_.reset();
  }

  // A channel whose TCP socket is bound to `source` before it connects.
  std::unique_ptr<v1::VaultService::Stub> StubFrom(const std::string& source) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, source.c_str(), &local.sin_addr) == 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
    sockaddr_in remote{};
    remote.sin_family = AF_INET;
    remote.sin_port = htons(static_cast<uint16_t>(port_));
    REQUIRE(inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr) == 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) == 0);
    auto channel = grpc::CreateInsecureChannelFromFd("vault", fd);  // takes the fd
    return v1::VaultService::NewStub(channel);
  }

  // Logs `c` in (challenge, sign, login). Returns the Login status.
  grpc::Status Login(StaffClient& c) {
    v1::VaultGetChallengeRequest creq;
    creq.set_staff_id(c.staff_id);
    v1::VaultGetChallengeResponse cresp;
    auto ctx = c.Ctx();
    grpc::Status s = c.stub->GetChallenge(ctx.get(), creq, &cresp);
    if (!s.ok()) return s;
    ByteWriter w;
    w.Label("letterbox.vault-auth.v1").Bytes(AsBytes(cresp.nonce())).Bytes(AsBytes(c.staff_id));
    v1::VaultLoginRequest lreq;
    lreq.set_staff_id(c.staff_id);
    lreq.set_nonce(cresp.nonce());
    lreq.set_signature(crypto::Ed25519Sign(c.key.secret_key, w.view()).str());
    v1::VaultLoginResponse lresp;
    auto ctx2 = c.Ctx();
    s = c.stub->Login(ctx2.get(), lreq, &lresp);
    if (s.ok()) c.token_hex = Hex(lresp.session_token());
    return s;
  }

  StaffClient Admin(const std::string& source = kJpOffice) {
    StaffClient c{admin_id_, crypto::Ed25519KeyPair::FromSecret(admin_key_.secret_key.Clone()),
                  source, StubFrom(source), ""};
    REQUIRE(Login(c).ok());
    return c;
  }

  // Enrols a staff member through the admin RPC and logs them in from
  // `source` (if the login is refused, the client has no token).
  StaffClient Enrol(StaffClient& admin, v1::StaffRole role, const std::string& jurisdiction,
                    const std::string& source) {
    StaffClient c{"", crypto::Ed25519KeyPair::Generate(crypto::SystemRandom::Instance()), source,
                  StubFrom(source), ""};
    v1::EnrolStaffRequest req;
    req.set_public_key(c.key.public_key.str());
    req.set_role(role);
    req.set_jurisdiction(jurisdiction);
    v1::EnrolStaffResponse resp;
    auto ctx = admin.Ctx();
    grpc::Status s = admin.stub->EnrolStaff(ctx.get(), req, &resp);
    REQUIRE(s.ok());
    c.staff_id = resp.staff().staff_id();
    (void)Login(c);
    return c;
  }

  // The same person connecting from another address (a new connection,
  // logging in again from there; the login may be refused).
  StaffClient From(const StaffClient& c, const std::string& source) {
    StaffClient moved{c.staff_id, crypto::Ed25519KeyPair::FromSecret(c.key.secret_key.Clone()),
                      source, StubFrom(source), c.token_hex};
    return moved;
  }

  IntakeOutcome Ingest(const std::string& sealed, const v1::DeviceAddress& reporter,
                       const std::string& jurisdiction = "JP",
                       std::string relay_id = RandomBytes(16)) {
    IncomingReport r{relay_id, jurisdiction, reporter, clock.NowMicros(), sealed};
    return vault_->Ingest(r).value();
  }

  // A valid report from a fresh reporter in `jurisdiction`; returns the case id.
  std::string IngestValidCase(const std::string& jurisdiction = "JP",
                              const std::string& plaintext = "you will regret this") {
    auto reporter = Address(RandomBytes(16), 1);
    ReportBuilder b(franking, reporter);
    b.Add(Address(RandomBytes(16), 2), plaintext);
    IntakeOutcome o = Ingest(b.Seal(intake_public_), reporter, jurisdiction);
    REQUIRE(o.accepted);
    return o.case_id;
  }

  // The newest audit entry.
  sv::StoredAuditEntry LastAudit() {
    auto head = stores_->GetAuditHead().value();
    auto entries = stores_->ReadAudit(head.size - 1, 1).value();
    REQUIRE(entries.size() == 1);
    return entries[0];
  }

  std::vector<sv::StoredAuditEntry> AuditSince(uint64_t after) {
    return stores_->ReadAudit(after, 1'000'000).value();
  }

  uint64_t AuditSize() { return stores_->GetAuditHead().value().size; }

  // Writes a grant record directly (the matrix uses it to set up any state).
  std::string PutGrant(const std::string& requester, const std::string& case_id,
                       const std::string& jurisdiction, sv::GrantKind kind, sv::GrantState state,
                       int64_t expires_micros) {
    sv::GrantRecord g;
    g.grant_id = RandomBytes(16);
    g.case_id = case_id;
    g.jurisdiction = jurisdiction;
    g.kind = kind;
    g.state = state;
    g.requester_id = requester;
    g.approver_id = state == sv::GrantState::kPending ? "" : admin_id_;  // any other person
    g.justification = "matrix";
    g.created_micros = clock.NowMicros();
    g.expires_micros = expires_micros;
    sv::VaultBatch b;
    b.PutGrant(g);
    REQUIRE(stores_->Commit(std::move(b)).ok());
    return g.grant_id;
  }

  FakeClock clock;
  FakeFrankingServer franking;
  VaultConfig config_;
  sv::VaultStores* stores_ = nullptr;
  std::unique_ptr<sv::MemoryVaultStores> memory_;
  std::unique_ptr<sv::RocksDbVaultStores> rocks_;
  std::unique_ptr<Vault> vault_;
  crypto::AeadKey kek_;  // a copy of the KEK (id "kek-1"), for rotation tests
  crypto::X25519PublicKey intake_public_;
  crypto::Ed25519PublicKey audit_public_;
  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
  std::string export_path_;

 private:
  crypto::Ed25519KeyPair admin_key_;
  std::string admin_id_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace letterbox::vault::testing
