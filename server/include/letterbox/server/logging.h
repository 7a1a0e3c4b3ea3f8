// File: letterbox/server/logging.h
//
// Structured logging for the Letterbox binaries, on spdlog: one line per
// event, a UTC timestamp, the level, and key=value fields, to stderr and
// optionally to a file (created mode 0600):
//
//   2024-05-01T09:12:03.123456Z level=info event=listening address=127.0.0.1:7443 tls=false
//
// THE RULE: never log ciphertext, session tokens or their hashes, key
// material, profile blobs, phone numbers, e-mail addresses, sealed reports or
// any plaintext. Account, device, message and envelope ids (random values) in
// hex, key ids, sizes, counts, durations, status codes and method names are
// fine. A field whose value could carry user data does not belong in a log
// line; log its size instead. (Property P1/P9; docs/operations.md.)
//
//   LogOptions log_options;
//   AddLoggingOptions(options, &log_options);        // --log-level, --log-file
//   ... parse ...
//   LB_RETURN_IF_ERROR(InitLogging(log_options));
//   LogEvent(LogLevel::kInfo, "key_loaded", {{"name", "franking"}, {"key_id", id}});
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "letterbox/server/cli.h"

namespace letterbox::server {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct LogOptions {
  std::string level = "info";  // debug, info, warn, error, off
  std::string file;            // empty: stderr only
};

// Declares --log-level and --log-file in `options`, filling `out`.
void AddLoggingOptions(cli::OptionSet& options, LogOptions* out);

// Makes the process-wide default spdlog logger write the format above to
// stderr and, if options.file is set, appended to that file. INVALID_ARGUMENT
// for an unknown level; INTERNAL if the file cannot be opened. Call once from
// main() before other threads log; safe to call again (replaces the sinks).
[[nodiscard]] absl::Status InitLogging(const LogOptions& options);

// One key=value field. Values with spaces, quotes, '=' or control characters
// are double-quoted with \" and \\ escaped and control characters as \xNN.
struct LogField {
  LogField(std::string_view key, std::string_view value) : key(key), value(value) {}
  LogField(std::string_view key, const char* value) : key(key), value(value) {}
  LogField(std::string_view key, const std::string& value) : key(key), value(value) {}
  LogField(std::string_view key, int64_t value) : key(key), value(std::to_string(value)) {}
  LogField(std::string_view key, uint64_t value) : key(key), value(std::to_string(value)) {}
  LogField(std::string_view key, int value) : key(key), value(std::to_string(value)) {}
  LogField(std::string_view key, unsigned value) : key(key), value(std::to_string(value)) {}
  LogField(std::string_view key, bool value) : key(key), value(value ? "true" : "false") {}
  std::string_view key;
  std::string value;
};

// "event=<event> k1=v1 k2=v2" with values quoted as above.
[[nodiscard]] std::string FormatEvent(std::string_view event,
                                      std::initializer_list<LogField> fields);

// Logs FormatEvent(event, fields) at `level` on the default logger.
// Thread-safe.
void LogEvent(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace letterbox::server
