// The real letterbox-server binary, started as a child process on
// 127.0.0.1 port 0 with a temporary data directory: it serves health and
// metrics, drains and exits 0 on SIGTERM, restarts on the same data, speaks
// TLS when given a certificate, refuses bad setups with one clear line, and
// runs with core dumps disabled.
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/process_harness.h"

namespace letterbox {
namespace {

using namespace std::chrono_literals;
using testing::ReadFile;
using testing::TempDir;

// A letterbox-server child process (testing::ChildProcess) with the ports of
// its "listening on" and "metrics on" lines. Killed (SIGKILL) at scope exit if
// it is still running.
class ServerProcess {
 public:
  ServerProcess(const std::vector<std::string>& args, const std::string& stderr_path)
      : child_(LETTERBOX_SERVER_BIN, args, stderr_path) {}

  // Reads stdout until the "listening on" line (and, if `metrics`, the
  // "metrics on" line) arrived. False if the process exits or time runs out.
  bool WaitListening(bool metrics = true, std::chrono::milliseconds timeout = 30s) {
    grpc_port_ = child_.WaitListening(timeout);
    if (grpc_port_ == 0) return false;
    if (!metrics) return true;
    metrics_port_ = child_.WaitForPort("metrics on ", timeout);
    return metrics_port_ > 0;
  }

  // Everything the process wrote to stdout until it closed it.
  std::string ReadAllStdout(std::chrono::milliseconds timeout = 10s) {
    return child_.ReadAllStdout(timeout);
  }
  // The exit code (128 + signal if killed by one), or nullopt on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout = 20s) {
    return child_.WaitExit(timeout);
  }
  void Signal(int sig) { REQUIRE(child_.Signal(sig)); }
  [[nodiscard]] pid_t pid() const { return child_.pid(); }
  [[nodiscard]] int grpc_port() const { return grpc_port_; }
  [[nodiscard]] int metrics_port() const { return metrics_port_; }
  [[nodiscard]] std::string Stderr() const { return child_.Stderr(); }

 private:
  testing::ChildProcess child_;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
};

std::vector<std::string> BaseArgs(const TempDir& tmp) {
  return {"--listen",
          "127.0.0.1:0",
          "--data-dir",
          tmp.Sub("data"),
          "--metrics-listen",
          "127.0.0.1:0",
          "--limit-shutdown-grace",
          "2s"};
}

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

grpc::Status HealthCheck(const std::string& target,
                         const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                         grpc::health::v1::HealthCheckResponse* response,
                         const std::string& tls_name = "") {
  grpc::ChannelArguments args;
  if (!tls_name.empty()) args.SetSslTargetNameOverride(tls_name);
  auto channel = grpc::CreateCustomChannel(target, credentials, args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::health::v1::HealthCheckRequest request;
  return stub->Check(&context, request, response);
}

bool IsServing(int port) {
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = HealthCheck("127.0.0.1:" + std::to_string(port),
                                    grpc::InsecureChannelCredentials(), &response);
  return status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
}

// GET `path` over plain HTTP/1.0 from 127.0.0.1:`port`; the whole response.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string response;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return response;
}

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// The value after "key=" in the first log line that has it.
std::string LogField(const std::string& log, const std::string& key) {
  const size_t at = log.find(" " + key + "=");
  if (at == std::string::npos) return "";
  const size_t start = at + key.size() + 2;
  return log.substr(start, log.find_first_of(" \n", start) - start);
}

int CountLines(const std::string& text, const std::string& needle) {
  int count = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.find(needle) != std::string::npos) ++count;
  }
  return count;
}

TEST_CASE("the server reports its port - serves health - and exits 0 on SIGTERM within the grace") {
  TempDir tmp;
  ServerProcess server(With(BaseArgs(tmp), {"--port-file", tmp.Sub("port")}), tmp.Sub("stderr"));
  REQUIRE(server.WaitListening());
  INFO(server.Stderr());
  CHECK(server.grpc_port() > 0);
  CHECK(std::stoi(ReadFile(tmp.Sub("port"))) == server.grpc_port());
  CHECK(IsServing(server.grpc_port()));

  const auto start = std::chrono::steady_clock::now();
  server.Signal(SIGTERM);
  const auto code = server.WaitExit(10s);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(elapsed < 2s + 1s);
  CHECK(server.Stderr().find("event=stopped signal=SIGTERM") != std::string::npos);
}

TEST_CASE("the metrics endpoint answers over HTTP with letterbox metrics") {
  TempDir tmp;
  ServerProcess server(BaseArgs(tmp), tmp.Sub("stderr"));
  REQUIRE(server.WaitListening());
  INFO(server.Stderr());
  REQUIRE(IsServing(server.grpc_port()));
  const std::string response = HttpGet(server.metrics_port(), "/metrics");
  INFO(response);
  CHECK(response.rfind("HTTP/1.", 0) == 0);
  CHECK(response.find(" 200 ") != std::string::npos);
  CHECK(response.find("letterbox_grpc_requests_total{") != std::string::npos);
  CHECK(response.find("method=\"/grpc.health.v1.Health/Check\"") != std::string::npos);
  CHECK(response.find("code=\"OK\"") != std::string::npos);
  CHECK(response.find("letterbox_grpc_request_duration_seconds_bucket{") != std::string::npos);
  CHECK(response.find("letterbox_storage_estimated_keys") != std::string::npos);
  CHECK(response.find("letterbox_build_info{") != std::string::npos);
  server.Signal(SIGTERM);
  CHECK(server.WaitExit() == 0);
}

TEST_CASE("key files are created 0600 in a 0700 keys directory beside the data directory") {
  TempDir tmp;
  ServerProcess server(BaseArgs(tmp), tmp.Sub("stderr"));
  REQUIRE(server.WaitListening());
  CHECK(ModeOf(tmp.Sub("keys")) == 0700);
  CHECK(ModeOf(tmp.Sub("keys/franking.key")) == 0600);
  CHECK(ModeOf(tmp.Sub("keys/discovery-pepper.key")) == 0600);
  server.Signal(SIGTERM);
  CHECK(server.WaitExit() == 0);
}

TEST_CASE("a second start on the same data directory works and keeps the same keys") {
  TempDir tmp;
  std::string first_key_id;
  {
    ServerProcess first(BaseArgs(tmp), tmp.Sub("stderr1"));
    REQUIRE(first.WaitListening());
    REQUIRE(IsServing(first.grpc_port()));
    first.Signal(SIGINT);
    REQUIRE(first.WaitExit() == 0);
    first_key_id = LogField(first.Stderr(), "franking_key_id");
  }
  REQUIRE(first_key_id.size() == 16);
  ServerProcess second(BaseArgs(tmp), tmp.Sub("stderr2"));
  REQUIRE(second.WaitListening());
  INFO(second.Stderr());
  CHECK(IsServing(second.grpc_port()));
  CHECK(LogField(second.Stderr(), "franking_key_id") == first_key_id);
  second.Signal(SIGTERM);
  CHECK(second.WaitExit() == 0);
}

TEST_CASE("core dumps are disabled in the running server") {
  TempDir tmp;
  ServerProcess server(BaseArgs(tmp), tmp.Sub("stderr"));
  REQUIRE(server.WaitListening());
  const std::string limits = ReadFile("/proc/" + std::to_string(server.pid()) + "/limits");
  std::istringstream in(limits);
  std::string core_line;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max core file size", 0) == 0) core_line = line;
  }
  INFO(core_line);
  std::istringstream fields(core_line.substr(std::string("Max core file size").size()));
  std::string soft;
  std::string hard;
  fields >> soft >> hard;
  CHECK(soft == "0");
  CHECK(hard == "0");
  server.Signal(SIGTERM);
  CHECK(server.WaitExit() == 0);
}

TEST_CASE("with a certificate and key the server speaks TLS and refuses plaintext") {
  TempDir tmp;
  const std::string cert = tmp.Sub("cert.pem");
  const std::string key = tmp.Sub("key.pem");
  const std::string openssl =
      "openssl req -x509 -newkey ed25519 -nodes -days 1 -subj /CN=localhost"
      " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  REQUIRE(std::system(openssl.c_str()) == 0);
  ::chmod(key.c_str(), 0600);

  ServerProcess server(With(BaseArgs(tmp), {"--tls-cert", cert, "--tls-key", key}),
                       tmp.Sub("stderr"));
  REQUIRE(server.WaitListening());
  INFO(server.Stderr());
  CHECK(LogField(server.Stderr(), "tls") == "true");
  const std::string target = "127.0.0.1:" + std::to_string(server.grpc_port());

  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(cert);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status tls_status =
      HealthCheck(target, grpc::SslCredentials(ssl), &response, /*tls_name=*/"localhost");
  INFO(tls_status.error_message());
  CHECK(tls_status.ok());
  CHECK(response.status() == grpc::health::v1::HealthCheckResponse::SERVING);

  grpc::health::v1::HealthCheckResponse plain_response;
  CHECK_FALSE(HealthCheck(target, grpc::InsecureChannelCredentials(), &plain_response).ok());

  server.Signal(SIGTERM);
  CHECK(server.WaitExit() == 0);
}

TEST_CASE("a data directory under a missing parent gives one clear line and a non-zero exit") {
  TempDir tmp;
  const std::string data = tmp.Sub("missing/parent/data");
  ServerProcess server({"--listen", "127.0.0.1:0", "--data-dir", data}, tmp.Sub("stderr"));
  const auto code = server.WaitExit();
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  const std::string err = server.Stderr();
  INFO(err);
  CHECK(CountLines(err, "level=error") == 1);
  CHECK(err.find("data dir " + data) != std::string::npos);
}

TEST_CASE("a data directory that is a file gives a clear error and a non-zero exit") {
  TempDir tmp;
  testing::WriteFile(tmp.Sub("data"), "not a directory");
  ServerProcess server({"--listen", "127.0.0.1:0", "--data-dir", tmp.Sub("data")},
                       tmp.Sub("stderr"));
  const auto code = server.WaitExit();
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  CHECK(server.Stderr().find("is not a directory") != std::string::npos);
}

TEST_CASE("a corrupt data directory gives a clear error and a non-zero exit") {
  TempDir tmp;
  {
    ServerProcess first(BaseArgs(tmp), tmp.Sub("stderr1"));
    REQUIRE(first.WaitListening());
    first.Signal(SIGTERM);
    REQUIRE(first.WaitExit() == 0);
  }
  testing::WriteFile(tmp.Sub("data/CURRENT"), "MANIFEST-999999\n");
  ServerProcess second(BaseArgs(tmp), tmp.Sub("stderr2"));
  const auto code = second.WaitExit();
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  const std::string err = second.Stderr();
  INFO(err);
  CHECK(CountLines(err, "level=error") == 1);
  CHECK(err.find("cannot open data dir") != std::string::npos);
}

TEST_CASE("a key file readable by others stops the server with a clear error") {
  TempDir tmp;
  {
    ServerProcess first(BaseArgs(tmp), tmp.Sub("stderr1"));
    REQUIRE(first.WaitListening());
    first.Signal(SIGTERM);
    REQUIRE(first.WaitExit() == 0);
  }
  REQUIRE(::chmod(tmp.Sub("keys/franking.key").c_str(), 0644) == 0);
  ServerProcess second(BaseArgs(tmp), tmp.Sub("stderr2"));
  const auto code = second.WaitExit();
  REQUIRE(code.has_value());
  CHECK(*code != 0);
  CHECK(second.Stderr().find("franking.key") != std::string::npos);
  CHECK(second.Stderr().find("0644") != std::string::npos);
}

TEST_CASE("a bad flag value exits 2 naming the option") {
  TempDir tmp;
  ServerProcess server(With(BaseArgs(tmp), {"--limit-max-fetch-page", "lots"}), tmp.Sub("stderr"));
  CHECK(server.WaitExit() == 2);
  const std::string err = server.Stderr();
  CHECK(err.find("--limit-max-fetch-page") != std::string::npos);
  CHECK(CountLines(err, "letterbox-server:") == 1);
}

TEST_CASE("the help option prints the usage and exits 0") {
  TempDir tmp;
  ServerProcess server({"--help"}, tmp.Sub("stderr"));
  const std::string out = server.ReadAllStdout();
  CHECK(server.WaitExit() == 0);
  CHECK(out.find("Usage: letterbox-server") != std::string::npos);
  CHECK(out.find("--durability") != std::string::npos);
}

}  // namespace
}  // namespace letterbox
