// File: letterbox/server/process.h
//
// Start-up steps every Letterbox daemon (letterbox-server, letterbox-vault)
// takes the same way:
//
//   int main(int argc, char** argv) {
//     absl::StatusOr<sigset_t> signals = PrepareDaemon();  // before any thread or secret
//     if (!signals.ok()) return 1;
//     LB_RETURN_IF_ERROR(PrepareDataDir(data_dir));
//     ...start serving...
//     LB_RETURN_IF_ERROR(WritePortFile(port_file, port));
//   }
#pragma once

#include <signal.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace letterbox::server {

// Secrets must not reach a core file (threat model P9): sets RLIMIT_CORE to 0
// and marks the process non-dumpable, so it is neither ptrace-able nor
// readable through /proc by other processes of the same user. INTERNAL if
// either call fails.
[[nodiscard]] absl::Status DisableCoreDumps();

// The first steps of a daemon's main(), before any thread starts or any
// secret exists: DisableCoreDumps, libsodium's initialisation, SIGTERM and
// SIGINT blocked (every later thread inherits the mask; the returned set is
// for sigwait in the main thread), SIGPIPE ignored. The error names the step
// that failed.
[[nodiscard]] absl::StatusOr<sigset_t> PrepareDaemon();

// Makes sure `path` is a writable directory: creates it with mode 0700 if it
// is missing (its parent must exist). FAILED_PRECONDITION with the reason
// otherwise.
[[nodiscard]] absl::Status PrepareDataDir(const std::string& path);

// Writes `port` and a newline to `path` through a temporary file and a
// rename, so a reader polling for the file never sees a partial number.
// FAILED_PRECONDITION if it cannot be written.
[[nodiscard]] absl::Status WritePortFile(const std::string& path, int port);

}  // namespace letterbox::server
