// letterbox-server: the messaging server binary. Loads config and keys,
// opens the data directory, serves gRPC until SIGTERM or SIGINT, then drains
// and flushes. docs/running.md describes its flags, files and signals.
//
// Stdout carries exactly these machine-readable lines, once serving:
//   listening on <host>:<port>
//   metrics on <host>:<port>            (unless --metrics-listen off)
// Everything else goes to the log (stderr, optionally --log-file).
#include <fcntl.h>
#include <grpcpp/security/server_credentials.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "letterbox/common/clock.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/server/cli.h"
#include "letterbox/server/config_loader.h"
#include "letterbox/server/key_files.h"
#include "letterbox/server/logging.h"
#include "letterbox/server/messaging_server.h"
#include "letterbox/server/metrics.h"
#include "letterbox/server/process.h"
#include "letterbox/storage/rocksdb_store.h"

namespace letterbox::server {
namespace {

constexpr char kProgram[] = "letterbox-server";
constexpr absl::Duration kStorageSamplePeriod = absl::Seconds(10);

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::FailedPreconditionError("cannot read " + std::string(what) + " " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad())
    return absl::FailedPreconditionError("cannot read " + std::string(what) + " " + path);
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeCredentials(
    const ServerConfig& config) {
  if (config.tls_cert_file.empty()) return std::shared_ptr<grpc::ServerCredentials>();
  LB_ASSIGN_OR_RETURN(std::string cert, ReadWholeFile(config.tls_cert_file, "TLS certificate"));
  LB_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(config.tls_key_file, "TLS private key"));
  if (cert.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    return absl::FailedPreconditionError("--tls-cert " + config.tls_cert_file +
                                         " holds no PEM certificate");
  }
  if (key.find("PRIVATE KEY-----") == std::string::npos) {
    crypto::SecureZero({reinterpret_cast<uint8_t*>(key.data()), key.size()});
    return absl::FailedPreconditionError("--tls-key " + config.tls_key_file +
                                         " holds no PEM private key");
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({key, cert});
  crypto::SecureZero({reinterpret_cast<uint8_t*>(key.data()), key.size()});
  auto credentials = grpc::SslServerCredentials(ssl);
  auto& pair = ssl.pem_key_cert_pairs.front();
  crypto::SecureZero(
      {reinterpret_cast<uint8_t*>(pair.private_key.data()), pair.private_key.size()});
  if (credentials == nullptr) return absl::FailedPreconditionError("cannot build TLS credentials");
  return credentials;
}

std::string JoinHostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

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

// Serves until one of `signals` arrives; returns how the run ended.
absl::Status Run(const ServerCommandLine& cmd, const sigset_t& signals) {
  const ServerConfig& config = cmd.config;
  LB_ASSIGN_OR_RETURN(cli::HostPort listen, cli::ParseHostPort(config.listen_address));

  LB_RETURN_IF_ERROR(PrepareDataDir(config.data_dir));
  LB_ASSIGN_OR_RETURN(KeyDirectory keys_dir, KeyDirectory::Open(config.keys_dir));
  LB_ASSIGN_OR_RETURN(auto franking, keys_dir.LoadOrCreate<crypto::FrankingServerKey>("franking"));
  LB_ASSIGN_OR_RETURN(auto pepper, keys_dir.LoadOrCreate<crypto::MacKey>("discovery-pepper"));
  LogEvent(LogLevel::kInfo, "keys_loaded",
           {{"keys_dir", keys_dir.path()},
            {"franking_key_id", franking.id},
            {"discovery_pepper_id", pepper.id}});

  storage::RocksDbOptions db_options;
  db_options.path = config.data_dir;
  db_options.durability = config.durability;
  auto opened = storage::RocksDbStores::Open(db_options);
  if (!opened.ok()) {
    return absl::Status(opened.status().code(), "cannot open data dir " + config.data_dir + ": " +
                                                    std::string(opened.status().message()));
  }
  std::unique_ptr<storage::RocksDbStores> stores = std::move(*opened);
  LogEvent(
      LogLevel::kInfo, "storage_opened",
      {{"data_dir", config.data_dir},
       {"durability", config.durability == storage::Durability::kFsync ? "fsync" : "process"}});
  if (const auto& recovery = stores->recovery(); recovery.wal_tail_dropped) {
    // Recovery kept a consistent prefix of the WAL and dropped a damaged or
    // torn tail: say so, so that an operator can tell a crash from a fault.
    LogEvent(LogLevel::kWarn, "wal_tail_dropped", {{"detail", recovery.detail}});
  }

  MessagingServer::Options options;
  options.listen_address = config.listen_address;
  LB_ASSIGN_OR_RETURN(options.credentials, MakeCredentials(config));
  const bool tls = options.credentials != nullptr;
  if (!tls) {
    options.credentials = grpc::InsecureServerCredentials();
    if (!cli::IsLoopbackHost(listen.host)) {
      LogEvent(LogLevel::kWarn, "insecure_listener",
               {{"address", config.listen_address},
                {"advice", "plaintext gRPC off loopback: give --tls-cert and --tls-key"}});
    }
  }

  // Declared before the server so that it outlives the server's interceptors.
  ServerMetrics metrics;
  std::string metrics_address;
  if (!config.metrics_address.empty()) {
    LB_ASSIGN_OR_RETURN(cli::HostPort mhp, cli::ParseHostPort(config.metrics_address));
    LB_RETURN_IF_ERROR(metrics.Serve(config.metrics_address));
    metrics_address = JoinHostPort(mhp.host, metrics.port());
    if (!cli::IsLoopbackHost(mhp.host)) {
      LogEvent(LogLevel::kWarn, "metrics_not_loopback", {{"address", metrics_address}});
    }
    options.extra_interceptors.push_back(metrics.NewInterceptorFactory());
    storage::RocksDbStores* db = stores.get();
    metrics.StartStorageSampler([db](const std::string& p) { return db->SumIntProperty(p); },
                                kStorageSamplePeriod);
  }

  ServerKeys server_keys{std::move(franking.key), std::move(pepper.key)};
  LB_ASSIGN_OR_RETURN(std::unique_ptr<MessagingServer> server,
                      MessagingServer::Start(config, *stores, SystemClock::Instance(),
                                             std::move(server_keys), std::move(options)));
  const std::string bound = JoinHostPort(listen.host, server->port());
  if (!cmd.port_file.empty()) LB_RETURN_IF_ERROR(WritePortFile(cmd.port_file, server->port()));
  LogEvent(LogLevel::kInfo, "listening",
           {{"address", bound},
            {"port", server->port()},
            {"tls", tls},
            {"metrics", metrics_address.empty() ? "off" : metrics_address},
            {"diagnostics", config.enable_diagnostics}});
  std::cout << "listening on " << bound << "\n";
  if (!metrics_address.empty()) std::cout << "metrics on " << metrics_address << "\n";
  std::cout << std::flush;

  int sig = 0;
  while (::sigwait(&signals, &sig) != 0) {
  }
  LogEvent(
      LogLevel::kInfo, "shutting_down",
      {{"signal", SignalName(sig)}, {"grace", absl::FormatDuration(config.limits.shutdown_grace)}});
  // A second signal during the drain ends the process at once.
  std::thread([signals] {
    int again = 0;
    if (::sigwait(&signals, &again) == 0) {
      static constexpr char kMessage[] = "letterbox-server: second signal, exiting now\n";
      (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
      ::_exit(1);
    }
  }).detach();

  server->Shutdown(config.limits.shutdown_grace);
  server->Wait();
  server.reset();
  metrics.StopStorageSampler();
  if (absl::Status flushed = stores->Flush(); !flushed.ok()) {
    return absl::Status(flushed.code(),
                        "flush at shutdown failed: " + std::string(flushed.message()));
  }
  stores.reset();
  LogEvent(LogLevel::kInfo, "stopped", {{"signal", SignalName(sig)}});
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  absl::StatusOr<sigset_t> signals = PrepareDaemon();
  if (!signals.ok()) {
    std::cerr << kProgram << ": " << signals.status().message() << std::endl;
    return 1;
  }
  // abseil's mutex deadlock detection is a debugging aid that costs ~3% of a
  // Send in production (docs/performance.md); tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  auto cmd = ParseServerCommandLine(argc, argv);
  if (!cmd.ok()) {
    std::cerr << kProgram << ": " << cmd.status().message() << " (see --help)" << std::endl;
    return 2;
  }
  if (cmd->help) {
    std::cout << cmd->usage << std::flush;
    return 0;
  }
  if (absl::Status s = InitLogging(cmd->log); !s.ok()) {
    std::cerr << kProgram << ": " << s.message() << std::endl;
    return 2;
  }
  absl::Status status = Run(*cmd, *signals);
  if (!status.ok()) {
    LogEvent(LogLevel::kError, "fatal",
             {{"code", absl::StatusCodeToString(status.code())},
              {"error", std::string(status.message())}});
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace letterbox::server

int main(int argc, char** argv) { return letterbox::server::Main(argc, argv); }
