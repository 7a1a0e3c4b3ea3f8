// letterbox-server's configuration: flags, a TOML file under them, and
// validation that names the offending option.
#include "letterbox/server/config_loader.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "support/process_harness.h"

namespace letterbox::server {
namespace {

using testing::TempDir;
using testing::WriteFile;

absl::StatusOr<ServerCommandLine> Parse(std::vector<std::string> args) {
  std::vector<const char*> argv{"letterbox-server"};
  for (const auto& a : args) argv.push_back(a.c_str());
  return ParseServerCommandLine(static_cast<int>(argv.size()), argv.data());
}

// The message of a failed parse; fails the test if the parse succeeded.
std::string ErrorOf(const absl::StatusOr<ServerCommandLine>& result) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST_CASE("only --data-dir is required - the rest has safe defaults") {
  auto cmd = Parse({"--data-dir", "/srv/letterbox/data"});
  REQUIRE(cmd.ok());
  CHECK(cmd->config.data_dir == "/srv/letterbox/data");
  CHECK(cmd->config.keys_dir == "/srv/letterbox/keys");
  CHECK(cmd->config.listen_address == "127.0.0.1:7443");
  CHECK(cmd->config.durability == storage::Durability::kProcess);
  CHECK(cmd->config.limits.max_fetch_page == Limits{}.max_fetch_page);
  CHECK(cmd->config.enable_diagnostics);
}

TEST_CASE("missing --data-dir is rejected naming the option") {
  CHECK(ErrorOf(Parse({})).find("--data-dir") != std::string::npos);
}

TEST_CASE("every setting has a flag") {
  auto cmd = Parse({"--data-dir=/d", "--keys-dir=/k", "--listen=127.0.0.2:0", "--durability=fsync",
                    "--jurisdictions=JP,EU", "--tls-cert=/c.pem", "--tls-key=/k.pem",
                    "--metrics-listen=off", "--no-diagnostics", "--port-file=/p",
                    "--vault-intake-public-key=" + std::string(64, 'a'), "--limit-max-fetch-page=7",
                    "--limit-session-ttl=2h", "--limit-sends-per-sender=0.5:3",
                    "--limit-max-mailbox-bytes=1099511627776", "--log-level=debug"});
  REQUIRE(cmd.ok());
  const ServerConfig& c = cmd->config;
  CHECK(c.keys_dir == "/k");
  CHECK(c.listen_address == "127.0.0.2:0");
  CHECK(c.durability == storage::Durability::kFsync);
  CHECK(c.jurisdictions == std::vector<std::string>{"JP", "EU"});
  CHECK(c.tls_cert_file == "/c.pem");
  CHECK(c.metrics_address.empty());
  CHECK_FALSE(c.enable_diagnostics);
  CHECK(cmd->port_file == "/p");
  CHECK(c.vault_intake_public_key_hex == std::string(64, 'a'));
  CHECK(c.limits.max_fetch_page == 7);
  CHECK(c.limits.session_ttl == absl::Hours(2));
  CHECK(c.limits.sends_per_sender.per_second == 0.5);
  CHECK(c.limits.sends_per_sender.burst == 3);
  CHECK(c.limits.max_mailbox_bytes == (1ull << 40));
  CHECK(cmd->log.level == "debug");
}

TEST_CASE("a TOML file sets the same options - with a [limits] table") {
  TempDir tmp;
  WriteFile(tmp.Sub("server.toml"), R"(
listen = "127.0.0.3:0"
data_dir = "/from/file/data"
durability = "fsync"
jurisdictions = ["JP", "KR"]
[limits]
max_fetch_page = 25
envelope_ttl = "48h"
claims_per_claimant_target = "2:20"
)");
  auto cmd = Parse({"--config", tmp.Sub("server.toml")});
  REQUIRE(cmd.ok());
  CHECK(cmd->config.listen_address == "127.0.0.3:0");
  CHECK(cmd->config.data_dir == "/from/file/data");
  CHECK(cmd->config.durability == storage::Durability::kFsync);
  CHECK(cmd->config.jurisdictions == std::vector<std::string>{"JP", "KR"});
  CHECK(cmd->config.limits.max_fetch_page == 25);
  CHECK(cmd->config.limits.envelope_ttl == absl::Hours(48));
  CHECK(cmd->config.limits.claims_per_claimant_target.burst == 20);
}

TEST_CASE("flags override the TOML file") {
  TempDir tmp;
  WriteFile(tmp.Sub("server.toml"), R"(
listen = "127.0.0.3:0"
data_dir = "/from/file"
[limit]
max_fetch_page = 25
max_ack_batch = 30
)");
  auto cmd = Parse({"--listen", "127.0.0.4:0", "--config", tmp.Sub("server.toml"),
                    "--limit-max-fetch-page", "9"});
  REQUIRE(cmd.ok());
  CHECK(cmd->config.listen_address == "127.0.0.4:0");
  CHECK(cmd->config.data_dir == "/from/file");
  CHECK(cmd->config.limits.max_fetch_page == 9);
  CHECK(cmd->config.limits.max_ack_batch == 30);
}

TEST_CASE("a bad number is rejected naming the option") {
  const std::string error = ErrorOf(Parse({"--data-dir=/d", "--limit-max-fetch-page=ten"}));
  CHECK(error.find("--limit-max-fetch-page") != std::string::npos);
  CHECK(error.find("ten") != std::string::npos);
}

TEST_CASE("out-of-range - zero and negative values are rejected naming the option") {
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--limit-max-fetch-page=4294967296"}))
            .find("--limit-max-fetch-page") != std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--limit-max-fetch-page=0"}))
            .find("--limit-max-fetch-page") != std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--limit-session-ttl=-5s"})).find("--limit-session-ttl") !=
        std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--limit-sends-per-sender=fast"}))
            .find("--limit-sends-per-sender") != std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--limit-max-ciphertext-bytes=4000000"}))
            .find("--limit-max-receive-message-bytes") != std::string::npos);
}

TEST_CASE("enumerations - addresses - keys and jurisdictions are checked") {
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--durability=sometimes"})).find("--durability") !=
        std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--listen=localhost"})).find("--listen") !=
        std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--tls-cert=/c.pem"})).find("--tls-key") !=
        std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--vault-relay-public-key=abcd"}))
            .find("--vault-relay-public-key") != std::string::npos);
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--jurisdictions=jp"})).find("--jurisdictions") !=
        std::string::npos);
}

TEST_CASE("a bad value in the TOML file names the file - the key and the option") {
  TempDir tmp;
  WriteFile(tmp.Sub("server.toml"), "data_dir = \"/d\"\n[limit]\nmax_fetch_page = -1\n");
  const std::string error = ErrorOf(Parse({"--config", tmp.Sub("server.toml")}));
  CHECK(error.find("server.toml") != std::string::npos);
  CHECK(error.find("limit.max_fetch_page") != std::string::npos);
  CHECK(error.find("--limit-max-fetch-page") != std::string::npos);
}

TEST_CASE("a [limit] table and flat limit-* keys work too") {
  TempDir tmp;
  WriteFile(tmp.Sub("server.toml"),
            "data-dir = \"/d\"\nlimit-max-ack-batch = 11\n[limit]\nmax_fetch_page = 12\n");
  auto cmd = Parse({"--config", tmp.Sub("server.toml")});
  REQUIRE(cmd.ok());
  CHECK(cmd->config.limits.max_ack_batch == 11);
  CHECK(cmd->config.limits.max_fetch_page == 12);
}

TEST_CASE("an unknown key in the TOML file is rejected") {
  TempDir tmp;
  WriteFile(tmp.Sub("server.toml"), "data_dir = \"/d\"\n[limit]\nmax_fetch_pages = 5\n");
  CHECK(ErrorOf(Parse({"--config", tmp.Sub("server.toml")})).find("max_fetch_pages") !=
        std::string::npos);
}

TEST_CASE("malformed TOML is rejected with its position") {
  TempDir tmp;
  WriteFile(tmp.Sub("server.toml"), "data_dir = \n");
  CHECK(ErrorOf(Parse({"--config", tmp.Sub("server.toml")})).find("server.toml:") !=
        std::string::npos);
}

TEST_CASE("a missing TOML file is rejected") {
  CHECK(ErrorOf(Parse({"--config", "/nonexistent/letterbox.toml"})).find("letterbox.toml") !=
        std::string::npos);
}

TEST_CASE("an unknown flag - a positional argument and a repeated flag are rejected") {
  CHECK(ErrorOf(Parse({"--data-dir=/d", "--frobnicate"})).find("frobnicate") != std::string::npos);
  ErrorOf(Parse({"--data-dir=/d", "extra"}));
  ErrorOf(Parse({"--data-dir=/d", "--data-dir=/e"}));
}

TEST_CASE("an abbreviated flag is not guessed") { ErrorOf(Parse({"--data=/d"})); }

TEST_CASE("the help option asks for the usage - which lists the limits") {
  auto cmd = Parse({"--help"});
  REQUIRE(cmd.ok());
  CHECK(cmd->help);
  CHECK(cmd->usage.find("--limit-max-ciphertext-bytes") != std::string::npos);
  CHECK(cmd->usage.find("--config") != std::string::npos);
}

}  // namespace
}  // namespace letterbox::server
