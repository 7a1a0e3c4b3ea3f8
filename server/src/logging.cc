#include "letterbox/server/logging.h"

#include <fcntl.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

namespace letterbox::server {
namespace {

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

void AppendValue(std::string& out, std::string_view v) {
  if (!NeedsQuotes(v)) {
    out.append(v);
    return;
  }
  out.push_back('"');
  for (unsigned char c : v) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < ' ' || c == 0x7f) {
      char buf[5];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out.append(buf);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

void AddLoggingOptions(cli::OptionSet& options, LogOptions* out) {
  options.Add("log-level", "LEVEL", "debug, info, warn, error or off", out->level,
              [out](std::string_view text) {
                if (text != "debug" && text != "info" && text != "warn" && text != "error" &&
                    text != "off") {
                  return absl::InvalidArgumentError("not one of debug, info, warn, error, off: '" +
                                                    std::string(text) + "'");
                }
                out->level = std::string(text);
                return absl::OkStatus();
              });
  options.AddString("log-file", &out->file, "also append log lines to this file (mode 0600)");
}

absl::Status InitLogging(const LogOptions& options) {
  spdlog::level::level_enum level;
  if (options.level == "debug") {
    level = spdlog::level::debug;
  } else if (options.level == "info") {
    level = spdlog::level::info;
  } else if (options.level == "warn") {
    level = spdlog::level::warn;
  } else if (options.level == "error") {
    level = spdlog::level::err;
  } else if (options.level == "off") {
    level = spdlog::level::off;
  } else {
    return absl::InvalidArgumentError("--log-level: unknown level '" + options.level + "'");
  }
  try {
    std::vector<spdlog::sink_ptr> sinks;
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
    if (!options.file.empty()) {
      // Create it 0600 first: spdlog would create it with the umask's mode.
      int fd = ::open(options.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd < 0) {
        return absl::InternalError("cannot open log file " + options.file + ": " +
                                   std::strerror(errno));
      }
      ::close(fd);
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
    }
    auto logger = std::make_shared<spdlog::logger>("letterbox", sinks.begin(), sinks.end());
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ level=%l %v", spdlog::pattern_time_type::utc);
    logger->set_level(level);
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(std::move(logger));
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("cannot set up logging: ") + e.what());
  }
  return absl::OkStatus();
}

std::string FormatEvent(std::string_view event, std::initializer_list<LogField> fields) {
  std::string line = "event=";
  AppendValue(line, event);
  for (const LogField& f : fields) {
    line.push_back(' ');
    line.append(f.key);
    line.push_back('=');
    AppendValue(line, f.value);
  }
  return line;
}

void LogEvent(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  try {
    spdlog::log(ToSpd(level), "{}", FormatEvent(event, fields));
  } catch (const std::exception&) {
    // Logging must never take the process down.
  }
}

}  // namespace letterbox::server
