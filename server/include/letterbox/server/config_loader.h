// File: letterbox/server/config_loader.h
//
// Builds the messaging server's ServerConfig from its command line and an
// optional TOML file (--config FILE; a flag overrides the file), validates
// it, and fills in derived defaults. Every field of ServerConfig and of
// Limits has a flag; limits are --limit-<name> with '_' written as '-'
// (--limit-max-ciphertext-bytes) and `[limit] max_ciphertext_bytes = ...`
// in the file. docs/running.md lists them with an example file.
//
//   LB_ASSIGN_OR_RETURN(ServerCommandLine cmd, ParseServerCommandLine(argc, argv));
//   if (cmd.help) { std::cout << cmd.usage; return 0; }
//   Start(cmd.config, ...);
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/server/cli.h"
#include "letterbox/server/config.h"
#include "letterbox/server/logging.h"

namespace letterbox::server {

// Everything letterbox-server takes from its command line: the server's
// config plus process settings that are not the server's business.
struct ServerCommandLine {
  ServerConfig config;
  LogOptions log;
  std::string port_file;  // if set, the bound gRPC port is written here
  bool help = false;      // --help was given; nothing else is filled in
  std::string usage;      // the --help text
};

// Declares every ServerConfig and Limits option in `options`, bound to
// `config` (which must outlive the parse). Exposed so that tools that embed a
// messaging server (the simulator) take the same flags.
void AddServerConfigOptions(cli::OptionSet& options, ServerConfig* config);

// Parses argv (flags, then --config FILE underneath) and validates the
// result. INVALID_ARGUMENT naming the option for any bad value, including:
// missing --data-dir, a listen or metrics address that is not host:port,
// --tls-cert without --tls-key (or the reverse), a durability that is not
// process|fsync, a vault key that is not 64 hex characters, an empty or
// malformed jurisdiction list, a zero count limit or rate, a receive limit
// below the ciphertext limit. If keys_dir is not given it becomes
// <parent of data_dir>/keys.
[[nodiscard]] absl::StatusOr<ServerCommandLine> ParseServerCommandLine(int argc,
                                                                       const char* const* argv);

// ParseServerCommandLine for callers that want only the config. If --help is
// given, prints the usage to stdout and returns CANCELLED("--help").
[[nodiscard]] absl::StatusOr<ServerConfig> LoadServerConfig(int argc, char** argv);

// The checks ParseServerCommandLine applies, for configs built in code.
// INVALID_ARGUMENT naming the option of the first bad field.
[[nodiscard]] absl::Status ValidateServerConfig(const ServerConfig& config);

}  // namespace letterbox::server
