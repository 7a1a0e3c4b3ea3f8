// letterbox-admin: the vault's staff tool. One subcommand per staff action;
// docs/vault-operations.md has every command with examples.
//
//   letterbox-admin keygen --key ~/.letterbox/alice.key
//   letterbox-admin login --vault 127.0.0.1:7450 --source 127.0.0.2 --staff-id <hex>
//       --key ~/.letterbox/alice.key
//   letterbox-admin request-grant --case <hex> --justification "harassment report"
//   letterbox-admin open --case <hex>
//
// Online commands use the session file written by `login` (mode 0600) and
// connect from the source address given at login unless --source overrides
// it. Every refusal prints the gRPC status code and the vault's reason.
//
// Exit codes:
//   0 success                 4 permission denied (PERMISSION_DENIED)
//   1 unexpected error        5 request refused (INVALID_ARGUMENT, NOT_FOUND,
//   2 usage error               ALREADY_EXISTS, FAILED_PRECONDITION,
//   3 not logged in or          RESOURCE_EXHAUSTED, OUT_OF_RANGE)
//     session expired         6 vault unreachable (UNAVAILABLE, DEADLINE_EXCEEDED)
//     (UNAUTHENTICATED)       7 audit verification failed
//                             8 local file or data directory error
#include <grpcpp/client_context.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/init.h"
#include "letterbox/server/cli.h"
#include "letterbox/storage/vault/audit_log.h"
#include "letterbox/v1/vault.grpc.pb.h"
#include "letterbox/vault/admin_channel.h"
#include "letterbox/vault/admin_inspect.h"
#include "letterbox/vault/admin_offline.h"
#include "letterbox/vault/admin_session.h"

namespace letterbox::vault {
namespace {

namespace v1 = letterbox::v1;
namespace cli = server::cli;

constexpr char kProgram[] = "letterbox-admin";

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitUnauthenticated = 3,
  kExitDenied = 4,
  kExitRefused = 5,
  kExitUnavailable = 6,
  kExitVerifyFailed = 7,
  kExitLocal = 8,
};

int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kUnauthenticated:
      return kExitUnauthenticated;
    case absl::StatusCode::kPermissionDenied:
      return kExitDenied;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kOutOfRange:
      return kExitRefused;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
      return kExitUnavailable;
    default:
      return kExitError;
  }
}

// A failure of the vault (or the channel): "<command>: CODE: reason".
int FailRemote(absl::string_view command, const grpc::Status& status) {
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::cerr << kProgram << ": " << command << ": " << absl::StatusCodeToString(code) << ": "
            << status.error_message();
  if (code == absl::StatusCode::kUnauthenticated) std::cerr << " (log in again)";
  std::cerr << "\n";
  return ExitCodeFor(code);
}

// A failure on this machine (key file, session file, data directory).
int FailLocal(absl::string_view command, const absl::Status& status) {
  std::cerr << kProgram << ": " << command << ": " << status.message() << "\n";
  if (absl::IsInvalidArgument(status)) return kExitUsage;
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) return kExitUnavailable;
  return kExitLocal;
}

int FailUsage(absl::string_view command, absl::string_view message) {
  std::cerr << kProgram << ": " << command << ": " << message << " (see " << kProgram << " "
            << command << " --help)\n";
  return kExitUsage;
}

// --- Formatting. ---

std::string Hex(absl::string_view bytes) {
  return crypto::ToHex(crypto::AsBytes(std::string_view(bytes.data(), bytes.size())));
}

std::string Time(int64_t micros) {
  if (micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMicros(micros), absl::UTCTimeZone());
}

// An enum value name without its prefix: "GRANT_STATE_PENDING" -> "PENDING".
std::string EnumName(const std::string& full, absl::string_view prefix) {
  if (full.empty()) return "UNKNOWN";
  return absl::StartsWith(full, prefix) ? full.substr(prefix.size()) : full;
}

// Text for a terminal: control characters escaped, everything else as is.
std::string Printable(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrCat("\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string GrantLine(const v1::Grant& g) {
  return absl::StrCat("grant_id=", Hex(g.grant_id()), " case_id=", Hex(g.case_id()),
                      " kind=", EnumName(v1::GrantKind_Name(g.kind()), "GRANT_KIND_"),
                      " state=", EnumName(v1::GrantState_Name(g.state()), "GRANT_STATE_"),
                      " requester=", Hex(g.requester_id()),
                      " approver=", g.approver_id().empty() ? "-" : Hex(g.approver_id()),
                      " break_glass=", g.break_glass() ? "true" : "false",
                      " created=", Time(g.created_micros()), " expires=", Time(g.expires_micros()));
}

std::string CaseLine(const v1::CaseSummary& c) {
  std::vector<std::string> senders;
  for (const std::string& s : c.sender_pseudonyms()) senders.push_back(Hex(s.substr(0, 8)));
  return absl::StrCat(
      "case_id=", Hex(c.case_id()), " jurisdiction=", c.jurisdiction(),
      " category=", EnumName(v1::ReportCategory_Name(c.category()), "REPORT_CATEGORY_"),
      " status=", EnumName(v1::CaseStatus_Name(c.status()), "CASE_STATUS_"),
      " received=", Time(c.received_micros()), " expires=", Time(c.expires_micros()),
      " messages=", c.message_count(), " reporter=", Hex(c.reporter_pseudonym().substr(0, 8)),
      " senders=", senders.empty() ? "-" : absl::StrJoin(senders, ","));
}

std::string StaffLine(const v1::StaffMember& s) {
  return absl::StrCat(
      "staff_id=", Hex(s.staff_id()),
      " role=", absl::AsciiStrToLower(EnumName(v1::StaffRole_Name(s.role()), "STAFF_ROLE_")),
      " jurisdiction=", s.jurisdiction(), " enabled=", s.enabled() ? "true" : "false",
      " public_key=", Hex(s.public_key()));
}

std::string AuditLine(const v1::AuditEntry& e) {
  return absl::StrCat(
      e.seq(), " ", Time(e.time_micros()), " actor=", e.actor(), " role=", e.role(),
      " peer=", e.peer().empty() ? "-" : e.peer(), " action=", e.action(), " target=", e.target(),
      " decision=", EnumName(v1::AuditDecision_Name(e.decision()), "AUDIT_DECISION_"),
      " severity=", EnumName(v1::AuditSeverity_Name(e.severity()), "AUDIT_SEVERITY_"), " reason=\"",
      Printable(e.reason()), "\"");
}

storage::vault::Checkpoint FromProto(const v1::Checkpoint& c) {
  storage::vault::Checkpoint out;
  out.log_size = c.log_size();
  if (auto h = crypto::Sha256Digest::FromString(c.head_hash()); h.ok()) out.head_hash = *h;
  out.time_micros = c.time_micros();
  out.signature = c.signature();
  return out;
}

// --- Parsing helpers. ---

absl::StatusOr<std::string> ParseId(absl::string_view hex, absl::string_view what) {
  auto bytes = crypto::FromHex(std::string_view(hex.data(), hex.size()));
  if (!bytes.ok() || bytes->size() != 16) {
    return absl::InvalidArgumentError(absl::StrCat("--", what, ": expected 32 hex characters"));
  }
  return crypto::ToString(*bytes);
}

absl::StatusOr<crypto::Ed25519PublicKey> ParsePublicKey(absl::string_view hex,
                                                        absl::string_view what) {
  auto bytes = crypto::FromHex(std::string_view(hex.data(), hex.size()));
  if (!bytes.ok() || bytes->size() != crypto::kEd25519PublicKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("--", what, ": expected 64 hex characters"));
  }
  return *crypto::Ed25519PublicKey::FromBytes(*bytes);
}

absl::StatusOr<v1::StaffRole> ParseRole(absl::string_view text) {
  if (text == "reviewer") return v1::STAFF_ROLE_REVIEWER;
  if (text == "approver") return v1::STAFF_ROLE_APPROVER;
  if (text == "auditor") return v1::STAFF_ROLE_AUDITOR;
  if (text == "admin") return v1::STAFF_ROLE_ADMIN;
  return absl::InvalidArgumentError("--role: reviewer, approver, auditor or admin");
}

// --- Command plumbing. ---

// Options every online command takes.
struct Connection {
  std::string vault;   // default: the session's
  std::string source;  // default: the session's
  std::string session_path = DefaultSessionPath();
  absl::Duration timeout = absl::Seconds(10);

  void AddTo(cli::OptionSet& o, bool with_vault) {
    if (with_vault) {
      o.AddString("vault", &vault, "the vault's staff API, host:port (default: the session's)");
    }
    o.AddString("source", &source,
                "local IP address to connect from, e.g. 127.0.0.2 (default: the session's)");
    o.AddString("session", &session_path, "session file written by login (mode 0600)");
    o.AddDuration("timeout", &timeout, "deadline of each call");
  }
};

// A logged-in connection to the vault.
class VaultClient {
 public:
  static absl::StatusOr<std::unique_ptr<VaultClient>> Open(const Connection& c) {
    LB_ASSIGN_OR_RETURN(StaffSession session, ReadSessionFile(c.session_path));
    const std::string vault = c.vault.empty() ? session.vault_address : c.vault;
    const std::string source = c.source.empty() ? session.source : c.source;
    LB_ASSIGN_OR_RETURN(auto channel, OpenAdminChannel({.target = vault, .source = source}));
    return std::unique_ptr<VaultClient>(
        new VaultClient(std::move(session), std::move(channel), c.timeout));
  }

  v1::VaultService::Stub& stub() { return *stub_; }
  const StaffSession& session() const { return session_; }

  // Runs `call` with the deadline and the session token.
  grpc::Status Call(const std::function<grpc::Status(grpc::ClientContext*)>& call) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
    std::string authorization = session_.Authorization();
    context.AddMetadata("authorization", authorization);
    crypto::SecureZero({reinterpret_cast<uint8_t*>(authorization.data()), authorization.size()});
    return call(&context);
  }

 private:
  VaultClient(StaffSession session, std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
      : session_(std::move(session)),
        channel_(std::move(channel)),
        stub_(v1::VaultService::NewStub(channel_)),
        timeout_(timeout) {}

  StaffSession session_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::VaultService::Stub> stub_;
  absl::Duration timeout_;
};

// Parses `args` (args[0] is the command name) into `o`. Returns an exit code
// when the command should end now (help or a usage error), else nullopt.
std::optional<int> ParseArgs(cli::OptionSet& o, absl::string_view command,
                             const std::vector<const char*>& args) {
  auto outcome = o.Parse(static_cast<int>(args.size()), args.data());
  if (!outcome.ok()) return FailUsage(command, outcome.status().message());
  if (*outcome == cli::Outcome::kHelp) {
    std::cout << o.Usage();
    return kExitOk;
  }
  return std::nullopt;
}

using Args = std::vector<const char*>;

// --- Offline commands. ---

int Keygen(const Args& args) {
  cli::OptionSet o("letterbox-admin keygen", "Creates a staff Ed25519 key file (mode 0600).");
  std::string key_path;
  o.AddString("key", &key_path, "the new key file, <dir>/<name>.key (required)");
  if (auto done = ParseArgs(o, "keygen", args)) return *done;
  if (key_path.empty()) return FailUsage("keygen", "--key is required");
  auto info = GenerateStaffKey(key_path);
  if (!info.ok()) return FailLocal("keygen", info.status());
  std::cout << "public_key=" << info->public_key.hex() << " key_id=" << info->key_id
            << " file=" << key_path << "\n";
  return kExitOk;
}

int Bootstrap(const Args& args) {
  cli::OptionSet o("letterbox-admin bootstrap",
                   "Enrols the first admin on a STOPPED vault's data directory.");
  std::string data_dir, public_key_hex, key_path, jurisdiction;
  o.AddString("data", &data_dir, "the vault's data directory (required)");
  o.AddString("public-key", &public_key_hex, "the admin's Ed25519 public key, hex");
  o.AddString("key", &key_path, "or: the admin's key file (its public half is used)");
  o.AddString("jurisdiction", &jurisdiction, "the admin's jurisdiction (required)");
  if (auto done = ParseArgs(o, "bootstrap", args)) return *done;
  if (data_dir.empty() || jurisdiction.empty()) {
    return FailUsage("bootstrap", "--data and --jurisdiction are required");
  }
  crypto::Ed25519PublicKey admin_key;
  if (!public_key_hex.empty()) {
    auto k = ParsePublicKey(public_key_hex, "public-key");
    if (!k.ok()) return FailUsage("bootstrap", k.status().message());
    admin_key = *k;
  } else if (!key_path.empty()) {
    auto k = LoadStaffKey(key_path);
    if (!k.ok()) return FailLocal("bootstrap", k.status());
    admin_key = k->public_key;
  } else {
    return FailUsage("bootstrap", "give --public-key or --key");
  }
  auto staff_id = BootstrapFirstAdmin(data_dir, admin_key, jurisdiction);
  if (!staff_id.ok()) {
    std::cerr << kProgram << ": bootstrap: " << absl::StatusCodeToString(staff_id.status().code())
              << ": " << staff_id.status().message() << "\n";
    const bool refused =
        absl::IsFailedPrecondition(staff_id.status()) || absl::IsInvalidArgument(staff_id.status());
    return refused ? kExitRefused : kExitLocal;
  }
  std::cout << "staff_id=" << Hex(*staff_id) << " role=admin jurisdiction=" << jurisdiction << "\n";
  return kExitOk;
}

int AuditVerify(const Args& args) {
  cli::OptionSet o("letterbox-admin audit verify",
                   "Verifies the audit log of a vault data directory (opened read-only) against "
                   "exported checkpoints.");
  std::string data_dir, checkpoints, key_hex;
  o.AddString("data", &data_dir, "the vault's data directory (required)");
  o.AddString("checkpoints", &checkpoints, "the checkpoint export file (required)");
  o.AddString("audit-public-key", &key_hex, "the pinned audit public key, hex (required)");
  if (auto done = ParseArgs(o, "audit verify", args)) return *done;
  if (data_dir.empty() || checkpoints.empty() || key_hex.empty()) {
    return FailUsage("audit verify", "--data, --checkpoints and --audit-public-key are required");
  }
  auto key = ParsePublicKey(key_hex, "audit-public-key");
  if (!key.ok()) return FailUsage("audit verify", key.status().message());
  auto result = VerifyAuditOffline(data_dir, checkpoints, *key);
  if (!result.ok()) return FailLocal("audit verify", result.status());
  if (result->ok) {
    std::cout << "OK: " << result->entries_checked << " entries, " << result->checkpoints_checked
              << " checkpoints, head " << result->head.hash.hex() << " (size " << result->head.size
              << ")\n";
    return kExitOk;
  }
  std::cout << "FAILED: ";
  if (result->first_bad_index.has_value()) {
    std::cout << "first bad entry at index " << *result->first_bad_index << " (seq "
              << *result->first_bad_index + 1 << "): ";
  }
  std::cout << result->problem << "\n";
  return kExitVerifyFailed;
}

int Inspect(const Args& args) {
  cli::OptionSet o("letterbox-admin inspect",
                   "Shows what a RocksDB data directory (server or vault) holds, read-only.");
  InspectOptions options;
  uint32_t samples = 3;
  o.AddString("data", &options.data_dir, "the data directory (required)");
  o.AddUint32("samples", &samples, "sample records per column family");
  if (auto done = ParseArgs(o, "inspect", args)) return *done;
  if (options.data_dir.empty()) return FailUsage("inspect", "--data is required");
  options.samples = samples;
  if (absl::Status s = InspectDataDir(options, std::cout); !s.ok()) {
    return FailLocal("inspect", s);
  }
  return kExitOk;
}

// --- Online commands. ---

int Login(const Args& args) {
  cli::OptionSet o("letterbox-admin login",
                   "Logs in with a staff key (challenge-response) and saves the session.");
  Connection c;
  std::string staff_hex, key_path;
  c.AddTo(o, /*with_vault=*/true);
  o.AddString("staff-id", &staff_hex, "your staff id, hex (required)");
  o.AddString("key", &key_path, "your staff key file (required)");
  if (auto done = ParseArgs(o, "login", args)) return *done;
  if (c.vault.empty() || staff_hex.empty() || key_path.empty()) {
    return FailUsage("login", "--vault, --staff-id and --key are required");
  }
  auto staff_id = ParseId(staff_hex, "staff-id");
  if (!staff_id.ok()) return FailUsage("login", staff_id.status().message());
  auto key = LoadStaffKey(key_path);
  if (!key.ok()) return FailLocal("login", key.status());
  auto channel = OpenAdminChannel({.target = c.vault, .source = c.source});
  if (!channel.ok()) return FailLocal("login", channel.status());
  auto session = LoginStaff(*channel, *staff_id, *key, c.timeout);
  if (!session.ok()) {
    return FailRemote("login", grpc::Status(static_cast<grpc::StatusCode>(session.status().code()),
                                            std::string(session.status().message())));
  }
  session->vault_address = c.vault;
  session->source = c.source;
  if (absl::Status s = WriteSessionFile(c.session_path, *session); !s.ok()) {
    return FailLocal("login", s);
  }
  std::cout << "logged in staff_id=" << staff_hex << " role=" << session->role
            << " jurisdiction=" << session->jurisdiction
            << " expires=" << Time(session->expires_micros) << " session=" << c.session_path
            << "\n";
  return kExitOk;
}

// Shared shape of the online commands: parse, open the client, run.
int Online(const Args& args, absl::string_view command, absl::string_view summary,
           const std::function<void(cli::OptionSet&)>& declare,
           const std::function<absl::Status()>& validate,
           const std::function<int(VaultClient&)>& run) {
  cli::OptionSet o(absl::StrCat(kProgram, " ", command), std::string(summary));
  Connection c;
  c.AddTo(o, /*with_vault=*/true);
  declare(o);
  if (auto done = ParseArgs(o, command, args)) return *done;
  if (absl::Status s = validate(); !s.ok()) return FailUsage(command, s.message());
  auto client = VaultClient::Open(c);
  if (absl::IsNotFound(client.status())) {  // no session file
    std::cerr << kProgram << ": " << command << ": " << client.status().message() << "\n";
    return kExitUnauthenticated;
  }
  if (!client.ok()) return FailLocal(command, client.status());
  return run(**client);
}

absl::Status NoValidation() { return absl::OkStatus(); }

int Enrol(const Args& args) {
  std::string public_key_hex, role_text, jurisdiction;
  v1::EnrolStaffRequest request;
  return Online(
      args, "enrol", "Admin: enrols a staff member.",
      [&](cli::OptionSet& o) {
        o.AddString("public-key", &public_key_hex, "their Ed25519 public key, hex (required)");
        o.AddString("role", &role_text, "reviewer, approver, auditor or admin (required)");
        o.AddString("jurisdiction", &jurisdiction, "their jurisdiction, e.g. JP (required)");
      },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(auto key, ParsePublicKey(public_key_hex, "public-key"));
        LB_ASSIGN_OR_RETURN(auto role, ParseRole(role_text));
        if (jurisdiction.empty()) return absl::InvalidArgumentError("--jurisdiction is required");
        request.set_public_key(key.str());
        request.set_role(role);
        request.set_jurisdiction(jurisdiction);
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::EnrolStaffResponse response;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().EnrolStaff(ctx, request, &response);
        });
        if (!s.ok()) return FailRemote("enrol", s);
        std::cout << StaffLine(response.staff()) << "\n";
        return static_cast<int>(kExitOk);
      });
}

int Disable(const Args& args) {
  std::string staff_hex;
  v1::DisableStaffRequest request;
  std::string reason;
  return Online(
      args, "disable", "Admin: disables a staff member at once.",
      [&](cli::OptionSet& o) {
        o.AddString("staff", &staff_hex, "the staff id, hex (required)");
        o.AddString("reason", &reason, "for the audit log");
      },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(std::string id, ParseId(staff_hex, "staff"));
        request.set_staff_id(id);
        request.set_reason(reason);
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::DisableStaffResponse response;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().DisableStaff(ctx, request, &response);
        });
        if (!s.ok()) return FailRemote("disable", s);
        std::cout << StaffLine(response.staff()) << "\n";
        return static_cast<int>(kExitOk);
      });
}

int Queue(const Args& args) {
  uint32_t page_size = 50;
  bool all = false;
  return Online(
      args, "queue", "Reviewer/approver: the pseudonymous case queue of your jurisdiction.",
      [&](cli::OptionSet& o) {
        o.AddUint32("page-size", &page_size, "cases per call (1..100)");
        o.AddSwitch("all", &all, true, "follow pages to the end");
      },
      NoValidation,
      [&](VaultClient& client) {
        v1::ListQueueRequest request;
        request.set_page_size(page_size);
        size_t shown = 0;
        while (true) {
          v1::ListQueueResponse response;
          grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
            return client.stub().ListQueue(ctx, request, &response);
          });
          if (!s.ok()) return FailRemote("queue", s);
          for (const v1::CaseSummary& c : response.cases()) std::cout << CaseLine(c) << "\n";
          shown += response.cases_size();
          if (!all || response.next_page_token().empty()) {
            if (!response.next_page_token().empty()) std::cout << "(more: use --all)\n";
            break;
          }
          request.set_page_token(response.next_page_token());
        }
        std::cout << shown << " case(s)\n";
        return static_cast<int>(kExitOk);
      });
}

int Grants(const Args& args) {
  bool pending = false;
  uint32_t limit = 50;
  return Online(
      args, "grants", "Approver: your jurisdiction's grants; reviewer: your own.",
      [&](cli::OptionSet& o) {
        o.AddSwitch("pending", &pending, true, "only pending grants");
        o.AddUint32("limit", &limit, "at most this many (1..100)");
      },
      NoValidation,
      [&](VaultClient& client) {
        v1::ListGrantsRequest request;
        request.set_pending_only(pending);
        request.set_limit(limit);
        v1::ListGrantsResponse response;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().ListGrants(ctx, request, &response);
        });
        if (!s.ok()) return FailRemote("grants", s);
        for (const v1::Grant& g : response.grants()) std::cout << GrantLine(g) << "\n";
        return static_cast<int>(kExitOk);
      });
}

int RequestGrant(const Args& args) {
  std::string case_hex, justification, kind = "open";
  v1::RequestGrantRequest request;
  return Online(
      args, "request-grant", "Reviewer: asks an approver for access to one case.",
      [&](cli::OptionSet& o) {
        o.AddString("case", &case_hex, "the case id, hex (required)");
        o.AddString("justification", &justification, "why access is needed (required)");
        o.AddString("kind", &kind, "open (read the messages) or reveal (real account ids)");
      },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(std::string id, ParseId(case_hex, "case"));
        request.set_case_id(id);
        request.set_justification(justification);
        if (kind == "open") {
          request.set_kind(v1::GRANT_KIND_OPEN);
        } else if (kind == "reveal") {
          request.set_kind(v1::GRANT_KIND_REVEAL_IDENTITY);
        } else {
          return absl::InvalidArgumentError("--kind: open or reveal");
        }
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::Grant grant;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().RequestGrant(ctx, request, &grant);
        });
        if (!s.ok()) return FailRemote("request-grant", s);
        std::cout << GrantLine(grant) << "\n";
        return static_cast<int>(kExitOk);
      });
}

// approve, reject, revoke: one grant id and, for the last two, a reason.
int DecideGrant(const Args& args, absl::string_view command) {
  std::string grant_hex, reason, grant_id;
  return Online(
      args, command,
      command == "approve"  ? "Approver: approves another reviewer's pending grant."
      : command == "reject" ? "Approver: rejects a pending grant."
                            : "Requester, approver or admin: revokes a grant at once.",
      [&](cli::OptionSet& o) {
        o.AddString("grant", &grant_hex, "the grant id, hex (required)");
        if (command != "approve") o.AddString("reason", &reason, "for the audit log");
      },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(grant_id, ParseId(grant_hex, "grant"));
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::Grant grant;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          if (command == "approve") {
            v1::ApproveGrantRequest r;
            r.set_grant_id(grant_id);
            return client.stub().ApproveGrant(ctx, r, &grant);
          }
          if (command == "reject") {
            v1::RejectGrantRequest r;
            r.set_grant_id(grant_id);
            r.set_reason(reason);
            return client.stub().RejectGrant(ctx, r, &grant);
          }
          v1::RevokeGrantRequest r;
          r.set_grant_id(grant_id);
          r.set_reason(reason);
          return client.stub().RevokeGrant(ctx, r, &grant);
        });
        if (!s.ok()) return FailRemote(command, s);
        std::cout << GrantLine(grant) << "\n";
        return static_cast<int>(kExitOk);
      });
}

int BreakGlass(const Args& args) {
  std::string case_hex, justification;
  v1::BreakGlassRequest request;
  return Online(
      args, "break-glass",
      "Reviewer: emergency OPEN access without an approver (short-lived, alerted to auditors).",
      [&](cli::OptionSet& o) {
        o.AddString("case", &case_hex, "the case id, hex (required)");
        o.AddString("justification", &justification, "why (required)");
      },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(std::string id, ParseId(case_hex, "case"));
        request.set_case_id(id);
        request.set_justification(justification);
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::Grant grant;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().BreakGlass(ctx, request, &grant);
        });
        if (!s.ok()) return FailRemote("break-glass", s);
        std::cout << GrantLine(grant) << "\n";
        return static_cast<int>(kExitOk);
      });
}

int OpenCase(const Args& args) {
  std::string case_hex;
  v1::OpenCaseRequest request;
  return Online(
      args, "open", "Reviewer with a live grant: shows the reported messages.",
      [&](cli::OptionSet& o) { o.AddString("case", &case_hex, "the case id, hex (required)"); },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(std::string id, ParseId(case_hex, "case"));
        request.set_case_id(id);
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::OpenCaseResponse response;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().OpenCase(ctx, request, &response);
        });
        if (!s.ok()) return FailRemote("open", s);
        std::cout << CaseLine(response.summary()) << "\n"
                  << "grant_id=" << Hex(response.grant_id()) << "\n";
        int i = 0;
        for (const v1::OpenedMessage& m : response.messages()) {
          std::cout << "message " << ++i << "/" << response.messages_size()
                    << " message_id=" << Hex(m.message_id())
                    << " sender=" << Hex(m.sender_pseudonym().substr(0, 8)) << "/"
                    << m.sender_device_id() << " time=" << Time(m.server_timestamp_micros())
                    << " commitment=" << (m.commitment_verified() ? "verified" : "NOT VERIFIED")
                    << " tag=" << (m.tag_verified() ? "verified" : "NOT VERIFIED") << "\n"
                    << "  text: " << Printable(m.plaintext()) << "\n";
        }
        if (!response.comment().empty()) {
          std::cout << "comment: " << Printable(response.comment()) << "\n";
        }
        std::cout << "franking: " << response.franking_verdict() << "\n";
        return static_cast<int>(kExitOk);
      });
}

int Reveal(const Args& args) {
  std::string case_hex;
  v1::RevealIdentityRequest request;
  return Online(
      args, "reveal", "Reviewer with a live REVEAL grant: the real account ids of a case.",
      [&](cli::OptionSet& o) { o.AddString("case", &case_hex, "the case id, hex (required)"); },
      [&]() -> absl::Status {
        LB_ASSIGN_OR_RETURN(std::string id, ParseId(case_hex, "case"));
        request.set_case_id(id);
        return absl::OkStatus();
      },
      [&](VaultClient& client) {
        v1::RevealIdentityResponse response;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().RevealIdentity(ctx, request, &response);
        });
        if (!s.ok()) return FailRemote("reveal", s);
        std::cout << "case_id=" << Hex(response.case_id())
                  << " grant_id=" << Hex(response.grant_id()) << "\n"
                  << "reporter=" << Hex(response.reporter().account_id()) << "/"
                  << response.reporter().device_id() << "\n";
        for (const v1::RevealedSender& r : response.senders()) {
          std::cout << "message_id=" << Hex(r.message_id())
                    << " sender=" << Hex(r.sender().account_id()) << "/" << r.sender().device_id()
                    << "\n";
        }
        return static_cast<int>(kExitOk);
      });
}

int AuditTail(const Args& args) {
  uint64_t after = 0;
  uint32_t limit = 100;
  bool alerts_only = false, from_start = false;
  return Online(
      args, "audit tail", "Auditor: the audit log's latest entries (or from --after).",
      [&](cli::OptionSet& o) {
        o.AddUint64("after", &after, "entries after this seq (implies reading forward)");
        o.AddUint32("limit", &limit, "at most this many (1..1000)");
        o.AddSwitch("alerts-only", &alerts_only, true, "only HIGH-severity entries");
        o.AddSwitch("from-start", &from_start, true, "read forward from --after (default 0)");
      },
      NoValidation,
      [&](VaultClient& client) {
        v1::AuditTailRequest request;
        request.set_after_seq(after);
        request.set_limit(limit);
        request.set_alerts_only(alerts_only);
        request.set_tail(after == 0 && !from_start);
        v1::AuditTailResponse response;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().AuditTail(ctx, request, &response);
        });
        if (!s.ok()) return FailRemote("audit tail", s);
        for (const v1::AuditEntry& e : response.entries()) std::cout << AuditLine(e) << "\n";
        std::cout << "log_size=" << response.log_size() << " head=" << Hex(response.head_hash())
                  << "\n";
        return static_cast<int>(kExitOk);
      });
}

int AuditCheckpoint(const Args& args) {
  return Online(
      args, "audit checkpoint", "Auditor or admin: signs a checkpoint of the log now.",
      [](cli::OptionSet&) {}, NoValidation,
      [&](VaultClient& client) {
        v1::Checkpoint checkpoint;
        grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
          return client.stub().SignCheckpoint(ctx, v1::SignCheckpointRequest(), &checkpoint);
        });
        if (!s.ok()) return FailRemote("audit checkpoint", s);
        std::cout << storage::vault::FormatCheckpointLine(FromProto(checkpoint));
        return static_cast<int>(kExitOk);
      });
}

int AuditExport(const Args& args) {
  std::string out_path;
  uint64_t after_size = 0;
  return Online(
      args, "audit export",
      "Auditor or admin: writes the stored signed checkpoints in the export-file format.",
      [&](cli::OptionSet& o) {
        o.AddString("out", &out_path, "file to write (default: stdout)");
        o.AddUint64("after-size", &after_size, "only checkpoints of larger logs");
      },
      NoValidation,
      [&](VaultClient& client) {
        std::string text;
        size_t count = 0;
        while (true) {
          v1::ExportCheckpointsRequest request;
          request.set_after_size(after_size);
          request.set_limit(1000);
          v1::ExportCheckpointsResponse response;
          grpc::Status s = client.Call([&](grpc::ClientContext* ctx) {
            return client.stub().ExportCheckpoints(ctx, request, &response);
          });
          if (!s.ok()) return FailRemote("audit export", s);
          for (const v1::Checkpoint& c : response.checkpoints()) {
            text += storage::vault::FormatCheckpointLine(FromProto(c));
            after_size = std::max<uint64_t>(after_size, c.log_size());
            ++count;
          }
          if (response.checkpoints_size() < 1000) break;
        }
        if (out_path.empty()) {
          std::cout << text;
        } else {
          std::ofstream out(out_path, std::ios::trunc);
          out << text;
          out.flush();
          if (!out) {
            return FailLocal("audit export", absl::InternalError("cannot write " + out_path));
          }
          std::cerr << "wrote " << count << " checkpoint(s) to " << out_path << "\n";
        }
        return static_cast<int>(kExitOk);
      });
}

constexpr char kUsage[] =
    "Usage: letterbox-admin <command> [options]   (letterbox-admin <command> --help)\n"
    "\n"
    "On this machine:\n"
    "  keygen          create a staff key file (0600)\n"
    "  bootstrap       enrol the first admin on a stopped vault's data directory\n"
    "  audit verify    verify a vault's audit log against exported checkpoints (read-only)\n"
    "  inspect         show what a server or vault data directory holds (read-only)\n"
    "Against the vault (after login):\n"
    "  login           challenge-response login; saves the session (0600)\n"
    "  enrol, disable  admin: manage staff\n"
    "  queue, grants   the case queue; grants to decide or held\n"
    "  request-grant   reviewer: ask for access to a case\n"
    "  approve, reject approver: decide another reviewer's request\n"
    "  revoke          end a grant now\n"
    "  break-glass     reviewer: emergency access (alerted)\n"
    "  open, reveal    reviewer: read a case / its real account ids\n"
    "  audit tail      auditor: read the audit log\n"
    "  audit checkpoint, audit export   auditor/admin: sign / export checkpoints\n"
    "\n"
    "Exit codes: 0 ok, 1 error, 2 usage, 3 not logged in, 4 permission denied,\n"
    "5 request refused, 6 vault unreachable, 7 audit verification failed, 8 local file error.\n";

int Main(int argc, char** argv) {
  struct rlimit none {};
  (void)::setrlimit(RLIMIT_CORE, &none);
  (void)::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (!crypto::Initialize().ok()) {
    std::cerr << kProgram << ": cannot initialise libsodium\n";
    return kExitError;
  }
  if (argc < 2 || absl::string_view(argv[1]) == "--help" || absl::string_view(argv[1]) == "-h" ||
      absl::string_view(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? kExitUsage : kExitOk;
  }
  std::string command = argv[1];
  int first = 1;  // argv[first] becomes args[0] (the name Parse skips)
  if (command == "audit") {
    if (argc < 3) {
      std::cerr << kUsage;
      return kExitUsage;
    }
    command = std::string("audit ") + argv[2];
    first = 2;
  }
  Args args(argv + first, argv + argc);

  static const std::map<std::string, std::function<int(const Args&)>> kCommands = {
      {"keygen", Keygen},
      {"bootstrap", Bootstrap},
      {"inspect", Inspect},
      {"audit verify", AuditVerify},
      {"login", Login},
      {"enrol", Enrol},
      {"disable", Disable},
      {"queue", Queue},
      {"grants", Grants},
      {"request-grant", RequestGrant},
      {"approve", [](const Args& a) { return DecideGrant(a, "approve"); }},
      {"reject", [](const Args& a) { return DecideGrant(a, "reject"); }},
      {"revoke", [](const Args& a) { return DecideGrant(a, "revoke"); }},
      {"break-glass", BreakGlass},
      {"open", OpenCase},
      {"reveal", Reveal},
      {"audit tail", AuditTail},
      {"audit checkpoint", AuditCheckpoint},
      {"audit export", AuditExport},
  };
  auto it = kCommands.find(command);
  if (it == kCommands.end()) {
    std::cerr << kProgram << ": unknown command \"" << command << "\"\n\n" << kUsage;
    return kExitUsage;
  }
  return it->second(args);
}

}  // namespace
}  // namespace letterbox::vault

int main(int argc, char** argv) { return letterbox::vault::Main(argc, argv); }
