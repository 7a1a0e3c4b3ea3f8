// File: letterbox/server/process.h
//
// Start-up steps every Letterbox daemon (letterbox-server, letterbox-vault)
// takes the same way:
//
//   int main(int argc, char** argv) {
//     if (!DisableCoreDumps().ok()) return 1;        // before any secret exists
//     LB_RETURN_IF_ERROR(PrepareDataDir(data_dir));
//     ...start serving...
//     LB_RETURN_IF_ERROR(WritePortFile(port_file, port));
//   }
#pragma once

#include <string>

#include "absl/status/status.h"

namespace letterbox::server {

// Secrets must not reach a core file (threat model P9): sets RLIMIT_CORE to 0
// and marks the process non-dumpable, so it is neither ptrace-able nor
// readable through /proc by other processes of the same user. INTERNAL if
// either call fails.
[[nodiscard]] absl::Status DisableCoreDumps();

// Makes sure `path` is a writable directory: creates it with mode 0700 if it
// is missing (its parent must exist). FAILED_PRECONDITION with the reason
// otherwise.
[[nodiscard]] absl::Status PrepareDataDir(const std::string& path);

// Writes `port` and a newline to `path` through a temporary file and a
// rename, so a reader polling for the file never sees a partial number.
// FAILED_PRECONDITION if it cannot be written.
[[nodiscard]] absl::Status WritePortFile(const std::string& path, int port);

}  // namespace letterbox::server
