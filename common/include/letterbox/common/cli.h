// File: letterbox/common/cli.h
//
// One way for every Letterbox binary to take its settings: GNU-style flags
// (Boost.Program_options underneath) plus an optional TOML file given with
// --config FILE, where a flag on the command line overrides the same setting
// in the file. Each option is declared once, bound to the variable it fills,
// and parsed by one function whatever its source, so a bad value gets the
// same INVALID_ARGUMENT naming the option from the command line or the file.
//
// TOML keys map to flags by joining table names and key with '-' and writing
// '_' as '-': `[limit] max_fetch_page = 50` and `limit-max-fetch-page = 50`
// both set --limit-max-fetch-page. A key that names no option is an error.
// Arrays become comma-separated lists; durations are strings ("30s", "24h").
//
// Shared by every binary (server, vault, admin, simulator); its header needs
// only abseil, Boost and toml++ stay inside cli.cc.
//
//   cli::OptionSet options("letterbox-vault", "The report vault.");
//   std::string data_dir;
//   absl::Duration ttl = absl::Hours(1);
//   options.AddString("data-dir", &data_dir, "RocksDB directory (required)");
//   options.AddDuration("grant-ttl", &ttl, "how long an approved grant lasts");
//   options.EnableConfigFile();
//   LB_ASSIGN_OR_RETURN(cli::Outcome outcome, options.Parse(argc, argv));
//   if (outcome == cli::Outcome::kHelp) { std::cout << options.Usage(); return 0; }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace letterbox::cli {

// Turns an option's text into its value and stores it. Returns
// INVALID_ARGUMENT with a short reason (OptionSet adds the option's name).
using Parser = std::function<absl::Status(std::string_view text)>;

// What Parse found: run the program, or --help was given.
enum class Outcome { kRun, kHelp };

// A set of options for one binary. Not thread-safe; use from main().
class OptionSet {
 public:
  OptionSet(std::string program, std::string summary);
  ~OptionSet();
  OptionSet(const OptionSet&) = delete;
  OptionSet& operator=(const OptionSet&) = delete;

  // Declares --`name` VALUE. `value_name` and `default_text` are shown in the
  // usage. `parse` runs at most once per Parse, with the command-line value if
  // there is one, else the file's. Names are [a-z0-9-]+ and unique.
  void Add(std::string name, std::string value_name, std::string help, std::string default_text,
           Parser parse);

  // Typed forms: the destination's current value is the default, shown in
  // the usage. Destinations must outlive Parse.
  void AddString(std::string name, std::string* out, std::string help);
  void AddUint32(std::string name, uint32_t* out, std::string help);
  void AddUint64(std::string name, uint64_t* out, std::string help);
  void AddInt(std::string name, int* out, std::string help);
  void AddDouble(std::string name, double* out, std::string help);
  // Durations in absl syntax: "300ms", "30s", "1h30m". Must be > 0 and finite.
  void AddDuration(std::string name, absl::Duration* out, std::string help);
  // A comma-separated list (TOML: an array of strings); empty items dropped.
  void AddStringList(std::string name, std::vector<std::string>* out, std::string help);
  // --`name` without a value sets *out to `value_when_given` (TOML: a
  // boolean, true meaning "given").
  void AddSwitch(std::string name, bool* out, bool value_when_given, std::string help);

  // Adds --config FILE: a TOML file of the same settings.
  void EnableConfigFile();

  // In the config file, top-level table [`table`] stands for the flag prefix
  // `flag_prefix`: AliasTable("limits", "limit") makes `[limits] max_x = 1`
  // set --limit-max-x.
  void AliasTable(std::string table, std::string flag_prefix);

  // Parses argv[1..argc). Returns kHelp (and applies nothing) if --help or -h
  // is given. INVALID_ARGUMENT naming the option for an unknown option, a
  // missing or repeated value, a positional argument, a bad value, an
  // unreadable or malformed config file or an unknown key in it. On error
  // some destinations may already hold new values.
  [[nodiscard]] absl::StatusOr<Outcome> Parse(int argc, const char* const* argv);

  // True if the last Parse saw --`name` on the command line or in the file.
  [[nodiscard]] bool WasSet(std::string_view name) const;

  // "Usage: <program> [options]", the summary and every option with its
  // help and default.
  [[nodiscard]] std::string Usage() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The value parsers behind the typed forms, for custom options. Each returns
// INVALID_ARGUMENT with a short reason that quotes the text.
[[nodiscard]] absl::StatusOr<uint64_t> ParseUint(std::string_view text, uint64_t max);
[[nodiscard]] absl::StatusOr<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max);
[[nodiscard]] absl::StatusOr<double> ParseDouble(std::string_view text);  // finite only
[[nodiscard]] absl::StatusOr<absl::Duration> ParsePositiveDuration(std::string_view text);
[[nodiscard]] absl::StatusOr<bool> ParseBool(std::string_view text);  // true/false/1/0/yes/no
[[nodiscard]] std::vector<std::string> SplitList(std::string_view text);

// "host:port" or "[v6]:port" with port 0..65535. Returns the host part
// (without brackets) and the port.
struct HostPort {
  std::string host;
  int port = 0;
};
[[nodiscard]] absl::StatusOr<HostPort> ParseHostPort(std::string_view text);

// True for 127.0.0.0/8, ::1 and "localhost".
[[nodiscard]] bool IsLoopbackHost(std::string_view host);

}  // namespace letterbox::cli
