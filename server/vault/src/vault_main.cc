// letterbox-vault: the report vault binary. Loads (or creates) its keys,
// opens its own data directory, serves VaultService to staff, pulls sealed
// reports from the messaging server over RelayService, signs audit
// checkpoints and crypto-shreds expired cases on timers, and stops cleanly on
// SIGTERM or SIGINT. docs/vault-operations.md describes flags, keys, files
// and signals.
//
// Stdout carries exactly these machine-readable lines:
//   listening on <host>:<port>                      once serving
//   intake-public-key <hex> / relay-public-key <hex> / audit-public-key <hex>
//                                                   with --print-public-keys
//   rotated <name> key_id=<id> [public_key=<hex>]   with --rotate
// Everything else goes to the log (stderr, optionally --log-file).
//
// Exit codes: 0 clean stop (or --help, --print-public-keys, --rotate done);
// 1 a runtime failure (keys, data dir, listener); 2 bad flags or config.
#include <grpcpp/grpcpp.h>
#include <grpcpp/resource_quota.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/clock.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/aead.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/server/cli.h"
#include "letterbox/server/key_files.h"
#include "letterbox/server/logging.h"
#include "letterbox/server/process.h"
#include "letterbox/storage/vault/rocksdb_vault_store.h"
#include "letterbox/vault/relay_client.h"
#include "letterbox/vault/vault.h"

namespace letterbox::vault {
namespace {

using server::KeyDirectory;
using server::LogEvent;
using server::LogLevel;
using server::PrepareDataDir;
using server::WritePortFile;

constexpr char kProgram[] = "letterbox-vault";

// Key file names in --keys-dir (server/key_files.h adds ".key").
constexpr char kIntakeKeyName[] = "intake";
constexpr char kKekName[] = "kek";
constexpr char kAuditKeyName[] = "audit-signing";
constexpr char kPseudonymKeyName[] = "pseudonym";
constexpr char kRelayKeyName[] = "relay";

// Exit codes.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct VaultCommandLine {
  VaultConfig config;
  server::LogOptions log;
  std::string data_dir;
  std::string keys_dir;
  std::string server_address;  // the messaging server; empty: no intake
  std::string networks;        // "JP=127.0.0.2/32,10.1.0.0/16;US=127.0.0.3/32"
  std::string port_file;
  std::string rotate;
  bool print_public_keys = false;
  bool sync_every_commit = false;
  uint32_t max_receive_message_bytes = 1 << 20;
  uint32_t max_concurrent_streams = 64;
  uint64_t resource_quota_bytes = 256ull << 20;
  absl::Duration relay_timeout = absl::Seconds(10);
  absl::Duration relay_idle_interval = absl::Milliseconds(500);
  uint32_t relay_pull_batch = 32;
  absl::Duration shutdown_grace = absl::Seconds(5);
};

// "JP=127.0.0.2/32,10.1.0.0/16;US=127.0.0.3/32" -> {JP: [...], US: [...]}.
// The CIDRs themselves are validated by Vault::Open.
absl::StatusOr<std::map<std::string, std::vector<std::string>>> ParseNetworks(
    const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  for (absl::string_view item : absl::StrSplit(text, ';', absl::SkipWhitespace())) {
    item = absl::StripAsciiWhitespace(item);
    std::vector<absl::string_view> parts = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || absl::StripAsciiWhitespace(parts[0]).empty()) {
      return absl::InvalidArgumentError("--networks: expected JURISDICTION=CIDR[,CIDR...], got \"" +
                                        std::string(item) + "\"");
    }
    const std::string jurisdiction(absl::StripAsciiWhitespace(parts[0]));
    if (out.contains(jurisdiction)) {
      return absl::InvalidArgumentError("--networks: " + jurisdiction + " given twice");
    }
    std::vector<std::string>& cidrs = out[jurisdiction];
    for (absl::string_view cidr : absl::StrSplit(parts[1], ',', absl::SkipWhitespace())) {
      cidrs.emplace_back(absl::StripAsciiWhitespace(cidr));
    }
    if (cidrs.empty()) {
      return absl::InvalidArgumentError("--networks: " + jurisdiction + " has no network");
    }
  }
  return out;
}

// "PER_SECOND:BURST" (the messaging server's rate syntax), per_second > 0,
// burst >= 1.
absl::Status ParseRate(std::string_view text, server::Rate* out) {
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError("not a rate: '" + std::string(text) +
                                      "' (write PER_SECOND:BURST, e.g. 0.003:10)");
  }
  LB_ASSIGN_OR_RETURN(double per_second, server::cli::ParseDouble(text.substr(0, colon)));
  LB_ASSIGN_OR_RETURN(double burst, server::cli::ParseDouble(text.substr(colon + 1)));
  if (per_second <= 0 || burst < 1) {
    return absl::InvalidArgumentError("rate '" + std::string(text) +
                                      "' must have PER_SECOND > 0 and BURST >= 1");
  }
  *out = server::Rate{per_second, burst};
  return absl::OkStatus();
}

absl::StatusOr<VaultCommandLine> ParseCommandLine(int argc, const char* const* argv, bool* help,
                                                  std::string* usage) {
  VaultCommandLine cmd;
  VaultConfig& c = cmd.config;
  server::cli::OptionSet o(kProgram,
                           "The Letterbox report vault: sealed-report intake over the relay, "
                           "the staff API, the audit log.");
  o.AddString("listen", &c.listen_address, "staff API address, host:port (port 0: any free port)");
  o.AddString("data-dir", &cmd.data_dir, "the vault's RocksDB directory (required)");
  o.AddString("keys-dir", &cmd.keys_dir,
              "key files, created 0600 on first start (default: <parent of data-dir>/vault-keys)");
  o.AddString("server", &cmd.server_address,
              "the messaging server's address for the relay (empty: no intake)");
  o.AddString("networks", &cmd.networks,
              "allowed staff networks per jurisdiction: \"JP=127.0.0.2/32,10.1.0.0/16;US=...\"");
  o.AddString("checkpoint-export", &c.checkpoint_export_path,
              "file that signed audit checkpoints are appended to (outside --data-dir)");
  o.AddDuration("grant-ttl", &c.grant_ttl, "how long an approved grant is live");
  o.AddDuration("break-glass-ttl", &c.break_glass_ttl, "how long a break-glass grant is live");
  o.AddDuration("case-retention", &c.case_retention,
                "time after intake when a case is crypto-shredded");
  o.AddDuration("checkpoint-interval", &c.checkpoint_interval,
                "how often an audit checkpoint is signed");
  o.AddDuration("expiry-interval", &c.expiry_interval, "how often expired cases are shredded");
  o.AddDuration("session-ttl", &c.session_ttl, "staff session lifetime");
  o.AddDuration("challenge-ttl", &c.challenge_ttl, "staff login challenge lifetime");
  server::Rate* open_rate = &c.opens_per_reviewer;
  o.Add("open-rate", "PER_SECOND:BURST",
        "case opens per reviewer (exceeding it suspends the reviewer)",
        absl::StrCat(open_rate->per_second, ":", open_rate->burst),
        [open_rate](std::string_view text) { return ParseRate(text, open_rate); });
  o.AddSwitch("sync-every-commit", &cmd.sync_every_commit, true,
              "fsync every store commit (survives power loss, slower)");
  o.AddUint32("max-receive-message-bytes", &cmd.max_receive_message_bytes,
              "largest staff request accepted");
  o.AddUint32("max-concurrent-streams", &cmd.max_concurrent_streams,
              "HTTP/2 streams per staff connection");
  o.AddUint64("resource-quota-bytes", &cmd.resource_quota_bytes, "gRPC memory quota");
  o.AddDuration("relay-timeout", &cmd.relay_timeout, "deadline of each relay RPC");
  o.AddDuration("relay-idle-interval", &cmd.relay_idle_interval,
                "wait between pulls when the server's outbox is empty");
  o.AddUint32("relay-pull-batch", &cmd.relay_pull_batch, "reports per PullReports (1..500)");
  o.AddDuration("shutdown-grace", &cmd.shutdown_grace, "time given to staff calls at shutdown");
  o.AddString("port-file", &cmd.port_file, "write the bound staff API port to this file");
  o.AddSwitch("print-public-keys", &cmd.print_public_keys, true,
              "print the intake, relay and audit public keys (creating keys if needed), exit");
  o.AddString("rotate", &cmd.rotate,
              "rotate one key (intake, kek, audit-signing, pseudonym or relay) and exit; the old "
              "key is kept");
  server::AddLoggingOptions(o, &cmd.log);
  o.EnableConfigFile();

  LB_ASSIGN_OR_RETURN(server::cli::Outcome outcome, o.Parse(argc, argv));
  *usage = o.Usage();
  *help = outcome == server::cli::Outcome::kHelp;
  if (*help) return cmd;

  if (cmd.data_dir.empty() && !cmd.print_public_keys && cmd.rotate.empty()) {
    return absl::InvalidArgumentError("--data-dir is required");
  }
  if (cmd.keys_dir.empty()) {
    if (cmd.data_dir.empty()) return absl::InvalidArgumentError("--keys-dir is required");
    std::string parent = std::string(absl::StripSuffix(cmd.data_dir, "/"));
    const size_t slash = parent.rfind('/');
    parent = slash == std::string::npos ? "." : (slash == 0 ? "/" : parent.substr(0, slash));
    cmd.keys_dir = parent + "/vault-keys";
  }
  LB_ASSIGN_OR_RETURN(c.jurisdiction_networks, ParseNetworks(cmd.networks));
  LB_RETURN_IF_ERROR(server::cli::ParseHostPort(c.listen_address).status());
  if (!cmd.server_address.empty()) {
    LB_RETURN_IF_ERROR(server::cli::ParseHostPort(cmd.server_address).status());
  }
  if (cmd.relay_pull_batch == 0 || cmd.relay_pull_batch > 500) {
    return absl::InvalidArgumentError("--relay-pull-batch: must be 1..500");
  }
  if (cmd.max_receive_message_bytes == 0 || cmd.max_concurrent_streams == 0 ||
      cmd.resource_quota_bytes == 0 || cmd.max_receive_message_bytes > INT_MAX) {
    return absl::InvalidArgumentError("transport limits must be positive");
  }
  return cmd;
}

// The canonical absolute form of `path`'s directory part joined with its
// last component (the file itself need not exist).
absl::StatusOr<std::string> AbsoluteFilePath(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  char resolved[PATH_MAX];
  if (::realpath(dir.c_str(), resolved) == nullptr) {
    return absl::InvalidArgumentError("directory of " + path + ": " + std::strerror(errno));
  }
  return std::string(resolved) + "/" + base;
}

// The checkpoint export must survive the loss or rewrite of the data
// directory, so it may not live inside it.
absl::Status CheckExportOutsideDataDir(const std::string& export_path,
                                       const std::string& data_dir) {
  if (export_path.empty()) return absl::OkStatus();
  LB_ASSIGN_OR_RETURN(std::string export_abs, AbsoluteFilePath(export_path));
  char data_abs[PATH_MAX];
  if (::realpath(data_dir.c_str(), data_abs) == nullptr) return absl::OkStatus();
  const std::string prefix = std::string(data_abs) + "/";
  if (absl::StartsWith(export_abs, prefix)) {
    return absl::InvalidArgumentError("--checkpoint-export must be outside --data-dir (" +
                                      export_abs + " is inside " + data_abs + ")");
  }
  return absl::OkStatus();
}

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

// All the vault's keys, loaded or created.
struct LoadedVaultKeys {
  VaultKeys vault;
  crypto::Ed25519KeyPair relay;
  std::string relay_key_id;
  std::string audit_key_id;
  std::string pseudonym_key_id;
};

absl::StatusOr<LoadedVaultKeys> LoadKeys(const KeyDirectory& keys) {
  LB_ASSIGN_OR_RETURN(auto intake, keys.LoadOrCreate<crypto::X25519SecretKey>(kIntakeKeyName));
  LB_ASSIGN_OR_RETURN(auto kek, keys.LoadOrCreate<crypto::AeadKey>(kKekName));
  // KEKs retired by --rotate kek stay loadable until every case key has been
  // re-wrapped under the current one (Vault::RewrapCaseKeys at start).
  LB_ASSIGN_OR_RETURN(auto kek_ring, keys.LoadRing<crypto::AeadKey>(kKekName));
  std::vector<std::pair<std::string, crypto::AeadKey>> previous_keks;
  for (auto& old : kek_ring.previous) previous_keks.emplace_back(old.id, std::move(old.key));
  LB_ASSIGN_OR_RETURN(auto audit, keys.LoadOrCreate<crypto::Ed25519SecretKey>(kAuditKeyName));
  LB_ASSIGN_OR_RETURN(auto pseudonym, keys.LoadOrCreate<crypto::MacKey>(kPseudonymKeyName));
  // Pseudonym keys retired by --rotate pseudonym: the start re-keys every
  // case under the current key (Vault::RekeyPseudonyms) and deletes the
  // de-duplication marks made under these.
  LB_ASSIGN_OR_RETURN(auto pseudonym_ring, keys.LoadRing<crypto::MacKey>(kPseudonymKeyName));
  std::vector<std::pair<std::string, crypto::MacKey>> previous_pseudonym_keys;
  for (auto& old : pseudonym_ring.previous) {
    previous_pseudonym_keys.emplace_back(old.id, std::move(old.key));
  }
  LB_ASSIGN_OR_RETURN(auto relay, keys.LoadOrCreate<crypto::Ed25519SecretKey>(kRelayKeyName));
  LoadedVaultKeys out{
      .vault = VaultKeys{.intake = crypto::X25519KeyPair::FromSecret(std::move(intake.key)),
                         .intake_key_id = intake.id,
                         .kek = std::move(kek.key),
                         .kek_id = kek.id,
                         .previous_keks = std::move(previous_keks),
                         .audit_signing = crypto::Ed25519KeyPair::FromSecret(std::move(audit.key)),
                         .pseudonym_key = std::move(pseudonym.key),
                         .pseudonym_key_id = pseudonym.id,
                         .previous_pseudonym_keys = std::move(previous_pseudonym_keys)},
      .relay = crypto::Ed25519KeyPair::FromSecret(std::move(relay.key)),
      .relay_key_id = relay.id,
      .audit_key_id = audit.id,
      .pseudonym_key_id = pseudonym.id};
  return out;
}

// --rotate NAME. The previous key stays in the keys directory. A rotated KEK
// or pseudonym key takes effect at the next start, which re-wraps every case
// key (RewrapCaseKeys) and re-keys every case's pseudonyms and
// de-duplication marks (RekeyPseudonyms) under the current keys before
// serving.
absl::Status Rotate(const KeyDirectory& keys, const std::string& name) {
  if (name == kIntakeKeyName) {
    LB_ASSIGN_OR_RETURN(auto k, keys.Rotate<crypto::X25519SecretKey>(name));
    std::cout << "rotated " << name << " key_id=" << k.id
              << " public_key=" << crypto::ToHex(k.public_key) << "\n";
  } else if (name == kAuditKeyName || name == kRelayKeyName) {
    LB_ASSIGN_OR_RETURN(auto k, keys.Rotate<crypto::Ed25519SecretKey>(name));
    std::cout << "rotated " << name << " key_id=" << k.id
              << " public_key=" << crypto::ToHex(k.public_key) << "\n";
  } else if (name == kKekName) {
    LB_ASSIGN_OR_RETURN(auto k, keys.Rotate<crypto::AeadKey>(name));
    std::cout << "rotated " << name << " key_id=" << k.id
              << " (case keys are re-wrapped at the next start)\n";
  } else if (name == kPseudonymKeyName) {
    LB_ASSIGN_OR_RETURN(auto k, keys.Rotate<crypto::MacKey>(name));
    std::cout << "rotated " << name << " key_id=" << k.id
              << " (pseudonyms are re-keyed at the next start)\n";
  } else {
    return absl::InvalidArgumentError("--rotate: unknown key \"" + name +
                                      "\" (intake, kek, audit-signing, pseudonym, relay)");
  }
  LogEvent(LogLevel::kInfo, "key_rotated", {{"name", name}, {"keys_dir", keys.path()}});
  std::cout << std::flush;
  return absl::OkStatus();
}

// The periodic jobs: checkpoint signing and retention sweeps.
class Maintenance {
 public:
  Maintenance(Vault& vault, absl::Duration checkpoint_interval, absl::Duration expiry_interval)
      : vault_(vault),
        checkpoint_interval_(checkpoint_interval),
        expiry_interval_(expiry_interval),
        thread_([this] { Run(); }) {}
  ~Maintenance() { Stop(); }
  Maintenance(const Maintenance&) = delete;
  Maintenance& operator=(const Maintenance&) = delete;

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    absl::Time next_checkpoint = absl::Now() + checkpoint_interval_;
    absl::Time next_expiry = absl::Now();  // sweep once at start
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        const absl::Time next = std::min(next_checkpoint, next_expiry);
        mu_.AwaitWithDeadline(absl::Condition(&stopping_), next);
        if (stopping_) return;
      }
      const absl::Time now = absl::Now();
      if (now >= next_expiry) {
        absl::StatusOr<uint64_t> expired = vault_.ExpireCases();
        if (!expired.ok()) {
          LogEvent(LogLevel::kError, "expiry_failed",
                   {{"code", absl::StatusCodeToString(expired.status().code())},
                    {"error", std::string(expired.status().message())}});
        } else if (*expired > 0) {
          LogEvent(LogLevel::kInfo, "cases_expired", {{"count", *expired}});
        }
        next_expiry = now + expiry_interval_;
      }
      if (now >= next_checkpoint) {
        if (absl::Status s = vault_.SignCheckpoint(); !s.ok()) {
          LogEvent(
              LogLevel::kError, "checkpoint_failed",
              {{"code", absl::StatusCodeToString(s.code())}, {"error", std::string(s.message())}});
        }
        next_checkpoint = now + checkpoint_interval_;
      }
    }
  }

  Vault& vault_;
  const absl::Duration checkpoint_interval_;
  const absl::Duration expiry_interval_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// A FrankingVerifier for a vault run without --server: intake never runs, so
// it is never called; if it were, the report would wait for a relay.
class NoRelayVerifier final : public FrankingVerifier {
 public:
  absl::StatusOr<std::vector<bool>> Verify(
      const std::vector<letterbox::v1::FrankingClaim>& /*claims*/) override {
    return absl::UnavailableError("no messaging server configured (--server)");
  }
};

const char* SignalName(int sig) {
  switch (sig) {
    case SIGTERM:
      return "SIGTERM";
    case SIGINT:
      return "SIGINT";
    default:
      return "signal";
  }
}

absl::Status Run(const VaultCommandLine& cmd, const sigset_t& signals) {
  LB_ASSIGN_OR_RETURN(KeyDirectory keys_dir, KeyDirectory::Open(cmd.keys_dir));
  if (!cmd.rotate.empty()) return Rotate(keys_dir, cmd.rotate);
  LB_ASSIGN_OR_RETURN(LoadedVaultKeys keys, LoadKeys(keys_dir));
  const std::string pseudonym_key_id = keys.pseudonym_key_id;
  std::vector<std::string> previous_pseudonym_key_ids;
  for (const auto& [id, key] : keys.vault.previous_pseudonym_keys) {
    previous_pseudonym_key_ids.push_back(id);
  }
  LogEvent(LogLevel::kInfo, "keys_loaded",
           {{"keys_dir", keys_dir.path()},
            {"intake_key_id", keys.vault.intake_key_id},
            {"kek_id", keys.vault.kek_id},
            {"audit_key_id", keys.audit_key_id},
            {"pseudonym_key_id", keys.pseudonym_key_id},
            {"relay_key_id", keys.relay_key_id}});
  if (cmd.print_public_keys) {
    std::cout << "intake-public-key " << keys.vault.intake.public_key.hex() << "\n"
              << "relay-public-key " << keys.relay.public_key.hex() << "\n"
              << "audit-public-key " << keys.vault.audit_signing.public_key.hex() << "\n"
              << std::flush;
    return absl::OkStatus();
  }

  LB_ASSIGN_OR_RETURN(server::cli::HostPort listen,
                      server::cli::ParseHostPort(cmd.config.listen_address));
  LB_RETURN_IF_ERROR(PrepareDataDir(cmd.data_dir));
  LB_RETURN_IF_ERROR(CheckExportOutsideDataDir(cmd.config.checkpoint_export_path, cmd.data_dir));
  auto opened = storage::vault::RocksDbVaultStores::Open(
      {.path = cmd.data_dir, .sync_every_commit = cmd.sync_every_commit});
  if (!opened.ok()) {
    return absl::Status(opened.status().code(), "cannot open data dir " + cmd.data_dir + ": " +
                                                    std::string(opened.status().message()));
  }
  std::unique_ptr<storage::vault::RocksDbVaultStores> stores = std::move(*opened);
  LogEvent(LogLevel::kInfo, "storage_opened",
           {{"data_dir", cmd.data_dir}, {"sync_every_commit", cmd.sync_every_commit}});

  std::unique_ptr<RelayClient> relay;
  NoRelayVerifier no_relay;
  FrankingVerifier* verifier = &no_relay;
  if (!cmd.server_address.empty()) {
    relay =
        std::make_unique<RelayClient>(RelayClientOptions{.server_address = cmd.server_address,
                                                         .rpc_timeout = cmd.relay_timeout,
                                                         .idle_interval = cmd.relay_idle_interval,
                                                         .pull_batch = cmd.relay_pull_batch},
                                      std::move(keys.relay));
    verifier = relay.get();
  } else {
    LogEvent(LogLevel::kWarn, "intake_disabled", {{"reason", "no --server given"}});
  }

  LB_ASSIGN_OR_RETURN(
      std::unique_ptr<Vault> vault,
      Vault::Open(cmd.config, *stores, SystemClock::Instance(), std::move(keys.vault), *verifier));
  LB_ASSIGN_OR_RETURN(uint64_t exported, vault->ExportPendingCheckpoints());
  if (exported > 0) LogEvent(LogLevel::kInfo, "checkpoints_exported", {{"count", exported}});
  LB_ASSIGN_OR_RETURN(uint64_t rewrapped, vault->RewrapCaseKeys());
  if (rewrapped > 0) LogEvent(LogLevel::kInfo, "case_keys_rewrapped", {{"count", rewrapped}});
  LB_ASSIGN_OR_RETURN(uint64_t rekeyed, vault->RekeyPseudonyms());
  if (rekeyed > 0 || !previous_pseudonym_key_ids.empty()) {
    LogEvent(LogLevel::kInfo, "pseudonyms_rekeyed",
             {{"count", rekeyed}, {"pseudonym_key_id", pseudonym_key_id}});
  }
  for (const std::string& id : previous_pseudonym_key_ids) {
    LogEvent(LogLevel::kWarn, "previous_pseudonym_key_present",
             {{"key_id", id},
              {"advice", "re-keying finished: delete " + keys_dir.path() + "/" + kPseudonymKeyName +
                             "." + id + ".key"}});
  }

  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(cmd.config.listen_address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(vault->service());
  builder.SetMaxReceiveMessageSize(static_cast<int>(cmd.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             static_cast<int>(cmd.max_concurrent_streams));
  grpc::ResourceQuota quota("letterbox-vault");
  quota.Resize(cmd.resource_quota_bytes);
  builder.SetResourceQuota(quota);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError("cannot listen on " + cmd.config.listen_address);
  }
  const std::string bound = JoinHostPort(listen.host, port);
  if (!server::cli::IsLoopbackHost(listen.host)) {
    LogEvent(LogLevel::kWarn, "insecure_listener",
             {{"address", bound}, {"advice", "plaintext staff API off loopback"}});
  }
  if (!cmd.port_file.empty()) LB_RETURN_IF_ERROR(WritePortFile(cmd.port_file, port));
  LogEvent(LogLevel::kInfo, "listening",
           {{"address", bound},
            {"relay", cmd.server_address.empty() ? "off" : cmd.server_address},
            {"checkpoint_export", cmd.config.checkpoint_export_path}});
  std::cout << "listening on " << bound << "\n" << std::flush;

  if (relay != nullptr) relay->Start(*vault);
  auto maintenance = std::make_unique<Maintenance>(*vault, cmd.config.checkpoint_interval,
                                                   cmd.config.expiry_interval);

  int sig = 0;
  while (::sigwait(&signals, &sig) != 0) {
  }
  LogEvent(LogLevel::kInfo, "shutting_down", {{"signal", SignalName(sig)}});
  std::thread([signals] {
    int again = 0;
    if (::sigwait(&signals, &again) == 0) {
      static constexpr char kMessage[] = "letterbox-vault: second signal, exiting now\n";
      (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
      ::_exit(1);
    }
  }).detach();

  // Intake first (reports not yet acknowledged are redelivered next run),
  // then staff calls, then a final checkpoint covering everything logged.
  if (relay != nullptr) relay->Stop();
  maintenance->Stop();
  server->Shutdown(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(cmd.shutdown_grace));
  server->Wait();
  if (absl::Status s = vault->SignCheckpoint(); !s.ok()) {
    LogEvent(LogLevel::kError, "checkpoint_failed",
             {{"code", absl::StatusCodeToString(s.code())}, {"error", std::string(s.message())}});
  }
  maintenance.reset();
  server.reset();
  vault.reset();
  relay.reset();
  if (absl::Status flushed = stores->Flush(); !flushed.ok()) {
    return absl::Status(flushed.code(),
                        "flush at shutdown failed: " + std::string(flushed.message()));
  }
  stores.reset();
  LogEvent(LogLevel::kInfo, "stopped", {{"signal", SignalName(sig)}});
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  absl::StatusOr<sigset_t> signals = server::PrepareDaemon();
  if (!signals.ok()) {
    std::cerr << kProgram << ": " << signals.status().message() << std::endl;
    return kExitFailure;
  }

  bool help = false;
  std::string usage;
  auto cmd = ParseCommandLine(argc, argv, &help, &usage);
  if (!cmd.ok()) {
    std::cerr << kProgram << ": " << cmd.status().message() << " (see --help)" << std::endl;
    return kExitUsage;
  }
  if (help) {
    std::cout << usage << std::flush;
    return kExitOk;
  }
  if (absl::Status s = server::InitLogging(cmd->log); !s.ok()) {
    std::cerr << kProgram << ": " << s.message() << std::endl;
    return kExitUsage;
  }
  absl::Status status = Run(*cmd, *signals);
  if (!status.ok()) {
    LogEvent(LogLevel::kError, "fatal",
             {{"code", absl::StatusCodeToString(status.code())},
              {"error", std::string(status.message())}});
    std::cerr << kProgram << ": " << status.message() << std::endl;
    return absl::IsInvalidArgument(status) ? kExitUsage : kExitFailure;
  }
  return kExitOk;
}

}  // namespace
}  // namespace letterbox::vault

int main(int argc, char** argv) { return letterbox::vault::Main(argc, argv); }
