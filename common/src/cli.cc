#include "letterbox/common/cli.h"

#include <toml++/toml.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <sstream>

#include "letterbox/common/status.h"

namespace letterbox::cli {
namespace po = boost::program_options;
namespace {

template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

struct Option {
  std::string name;
  std::string value_name;  // empty for a switch
  std::string help;
  std::string default_text;
  Parser parse;
};

// A value found in the config file, with the key it came from.
struct FileValue {
  std::string key;
  std::string text;
};

std::string FormatDouble(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string DurationText(absl::Duration d) { return absl::FormatDuration(d); }

absl::StatusOr<std::string> ScalarText(const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return std::to_string(i->get());
  if (const auto* f = node.as_floating_point()) return FormatDouble(f->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  return absl::InvalidArgumentError("unsupported value type (use a string, number or boolean)");
}

std::string FlagName(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

// Collects every leaf of `table` under its flag name ("a.b_c" -> "a-b-c").
absl::Status Flatten(const toml::table& table, const std::string& flag_prefix,
                     const std::string& key_prefix,
                     const std::map<std::string, std::string>& aliases,
                     std::map<std::string, FileValue>& out) {
  for (const auto& [raw_key, node] : table) {
    const std::string key(raw_key.str());
    const std::string dotted = key_prefix.empty() ? key : key_prefix + "." + key;
    std::string flag = flag_prefix.empty() ? FlagName(key) : flag_prefix + "-" + FlagName(key);
    if (auto alias = aliases.find(key);
        key_prefix.empty() && node.is_table() && alias != aliases.end()) {
      flag = alias->second;
    }
    if (const auto* sub = node.as_table()) {
      LB_RETURN_IF_ERROR(Flatten(*sub, flag, dotted, {}, out));
      continue;
    }
    std::string text;
    if (const auto* array = node.as_array()) {
      for (const auto& element : *array) {
        auto item = ScalarText(element);
        if (!item.ok()) {
          return absl::InvalidArgumentError(Cat("key '", dotted, "': ", item.status().message()));
        }
        if (!text.empty()) text += ",";
        text += *item;
      }
    } else {
      auto scalar = ScalarText(node);
      if (!scalar.ok()) {
        return absl::InvalidArgumentError(Cat("key '", dotted, "': ", scalar.status().message()));
      }
      text = *scalar;
    }
    if (!out.emplace(flag, FileValue{dotted, std::move(text)}).second) {
      return absl::InvalidArgumentError(Cat("key '", dotted, "' sets --", flag, " twice"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, FileValue>> ReadConfigFile(
    const std::string& path, const std::map<std::string, std::string>& aliases) {
  std::map<std::string, FileValue> values;
  try {
    toml::table table = toml::parse_file(path);
    LB_RETURN_IF_ERROR(Flatten(table, "", "", aliases, values));
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    return absl::InvalidArgumentError(
        Cat("config file ", path, ":", begin.line, ":", begin.column, ": ", e.description()));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(Cat("config file ", path, ": ", e.what()));
  }
  return values;
}

}  // namespace

struct OptionSet::Impl {
  std::string program;
  std::string summary;
  std::vector<Option> options;
  bool config_file = false;
  std::map<std::string, std::string> aliases;  // TOML table -> flag prefix
  std::vector<std::string> set;                // options seen by the last Parse
};

OptionSet::OptionSet(std::string program, std::string summary) : impl_(std::make_unique<Impl>()) {
  impl_->program = std::move(program);
  impl_->summary = std::move(summary);
}

OptionSet::~OptionSet() = default;

void OptionSet::Add(std::string name, std::string value_name, std::string help,
                    std::string default_text, Parser parse) {
  impl_->options.push_back(Option{std::move(name), std::move(value_name), std::move(help),
                                  std::move(default_text), std::move(parse)});
}

void OptionSet::AddString(std::string name, std::string* out, std::string help) {
  Add(std::move(name), "TEXT", std::move(help), *out, [out](std::string_view text) {
    *out = std::string(text);
    return absl::OkStatus();
  });
}

void OptionSet::AddUint32(std::string name, uint32_t* out, std::string help) {
  Add(std::move(name), "N", std::move(help), std::to_string(*out), [out](std::string_view text) {
    LB_ASSIGN_OR_RETURN(uint64_t v, ParseUint(text, UINT32_MAX));
    *out = static_cast<uint32_t>(v);
    return absl::OkStatus();
  });
}

void OptionSet::AddUint64(std::string name, uint64_t* out, std::string help) {
  Add(std::move(name), "N", std::move(help), std::to_string(*out), [out](std::string_view text) {
    LB_ASSIGN_OR_RETURN(*out, ParseUint(text, UINT64_MAX));
    return absl::OkStatus();
  });
}

void OptionSet::AddInt(std::string name, int* out, std::string help) {
  Add(std::move(name), "N", std::move(help), std::to_string(*out), [out](std::string_view text) {
    LB_ASSIGN_OR_RETURN(int64_t v, ParseInt(text, INT32_MIN, INT32_MAX));
    *out = static_cast<int>(v);
    return absl::OkStatus();
  });
}

void OptionSet::AddDouble(std::string name, double* out, std::string help) {
  Add(std::move(name), "X", std::move(help), FormatDouble(*out), [out](std::string_view text) {
    LB_ASSIGN_OR_RETURN(*out, ParseDouble(text));
    return absl::OkStatus();
  });
}

void OptionSet::AddDuration(std::string name, absl::Duration* out, std::string help) {
  Add(std::move(name), "DURATION", std::move(help), DurationText(*out),
      [out](std::string_view text) {
        LB_ASSIGN_OR_RETURN(*out, ParsePositiveDuration(text));
        return absl::OkStatus();
      });
}

void OptionSet::AddStringList(std::string name, std::vector<std::string>* out, std::string help) {
  std::string default_text;
  for (const auto& item : *out) default_text += (default_text.empty() ? "" : ",") + item;
  Add(std::move(name), "A,B,...", std::move(help), default_text, [out](std::string_view text) {
    *out = SplitList(text);
    return absl::OkStatus();
  });
}

void OptionSet::AddSwitch(std::string name, bool* out, bool value_when_given, std::string help) {
  Add(std::move(name), "", std::move(help), "", [out, value_when_given](std::string_view text) {
    LB_ASSIGN_OR_RETURN(bool given, ParseBool(text));
    if (given) *out = value_when_given;
    return absl::OkStatus();
  });
}

void OptionSet::EnableConfigFile() { impl_->config_file = true; }

void OptionSet::AliasTable(std::string table, std::string flag_prefix) {
  impl_->aliases[std::move(table)] = std::move(flag_prefix);
}

bool OptionSet::WasSet(std::string_view name) const {
  return std::find(impl_->set.begin(), impl_->set.end(), name) != impl_->set.end();
}

namespace {

po::options_description Describe(const std::vector<Option>& options, bool config_file) {
  po::options_description desc("Options", 100, 50);
  desc.add_options()("help,h", "print this help and exit");
  if (config_file) {
    desc.add_options()("config", po::value<std::string>()->value_name("FILE"),
                       "TOML file of these settings; flags override it");
  }
  for (const Option& o : options) {
    std::string help = o.help;
    if (!o.default_text.empty()) help += " (default: " + o.default_text + ")";
    if (o.value_name.empty()) {
      desc.add_options()(o.name.c_str(), help.c_str());
    } else {
      desc.add_options()(o.name.c_str(), po::value<std::string>()->value_name(o.value_name),
                         help.c_str());
    }
  }
  return desc;
}

}  // namespace

absl::StatusOr<Outcome> OptionSet::Parse(int argc, const char* const* argv) {
  impl_->set.clear();
  po::variables_map vm;
  try {
    po::options_description desc = Describe(impl_->options, impl_->config_file);
    const int style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    const po::positional_options_description no_positional;
    po::store(po::command_line_parser(argc, argv)
                  .options(desc)
                  .positional(no_positional)
                  .style(style)
                  .run(),
              vm);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
  if (vm.count("help") != 0) return Outcome::kHelp;

  std::map<std::string, FileValue> file;
  std::string config_path;
  if (impl_->config_file && vm.count("config") != 0) {
    config_path = vm["config"].as<std::string>();
    LB_ASSIGN_OR_RETURN(file, ReadConfigFile(config_path, impl_->aliases));
    for (const auto& [key, value] : file) {
      const std::string& flag = key;  // clang 14 cannot capture a structured binding
      const bool known = std::any_of(impl_->options.begin(), impl_->options.end(),
                                     [&](const Option& o) { return o.name == flag; });
      if (!known) {
        return absl::InvalidArgumentError(Cat("config file ", config_path, ": unknown key '",
                                              value.key, "' (there is no option --", flag, ")"));
      }
    }
  }

  for (const Option& o : impl_->options) {
    std::string text;
    std::string source;
    if (vm.count(o.name) != 0) {
      text = o.value_name.empty() ? "true" : vm[o.name].as<std::string>();
      source = "--" + o.name;
    } else if (auto it = file.find(o.name); it != file.end()) {
      text = it->second.text;
      source = Cat("config file ", config_path, ": key '", it->second.key, "' (--", o.name, ")");
    } else {
      continue;
    }
    absl::Status status = o.parse(text);
    if (!status.ok()) {
      return absl::InvalidArgumentError(Cat(source, ": ", status.message()));
    }
    impl_->set.push_back(o.name);
  }
  return Outcome::kRun;
}

std::string OptionSet::Usage() const {
  std::ostringstream out;
  out << "Usage: " << impl_->program << " [options]\n\n" << impl_->summary << "\n\n";
  out << Describe(impl_->options, impl_->config_file);
  return out.str();
}

absl::StatusOr<uint64_t> ParseUint(std::string_view text, uint64_t max) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return absl::InvalidArgumentError(Cat("not an unsigned integer: '", text, "'"));
  }
  if (v > max) return absl::InvalidArgumentError(Cat("'", text, "' is above the maximum ", max));
  return v;
}

absl::StatusOr<int64_t> ParseInt(std::string_view text, int64_t min, int64_t max) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return absl::InvalidArgumentError(Cat("not an integer: '", text, "'"));
  }
  if (v < min || v > max) {
    return absl::InvalidArgumentError(Cat("'", text, "' is outside ", min, "..", max));
  }
  return v;
}

absl::StatusOr<double> ParseDouble(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(v)) {
    return absl::InvalidArgumentError(Cat("not a finite number: '", text, "'"));
  }
  return v;
}

absl::StatusOr<absl::Duration> ParsePositiveDuration(std::string_view text) {
  absl::Duration d;
  if (!absl::ParseDuration(std::string(text), &d)) {
    return absl::InvalidArgumentError(
        Cat("not a duration: '", text, "' (write e.g. 500ms, 30s, 5m, 24h)"));
  }
  if (d <= absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(Cat("duration must be positive and finite: '", text, "'"));
  }
  return d;
}

absl::StatusOr<bool> ParseBool(std::string_view text) {
  if (text == "true" || text == "1" || text == "yes") return true;
  if (text == "false" || text == "0" || text == "no") return false;
  return absl::InvalidArgumentError(Cat("not a boolean: '", text, "' (true or false)"));
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.emplace_back(item);
    start = comma + 1;
  }
  return items;
}

absl::StatusOr<HostPort> ParseHostPort(std::string_view text) {
  HostPort out;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError(Cat("not [ipv6]:port: '", text, "'"));
    }
    out.host = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      return absl::InvalidArgumentError(Cat("not host:port: '", text, "'"));
    }
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  if (out.host.empty()) return absl::InvalidArgumentError(Cat("no host in '", text, "'"));
  auto p = ParseUint(port, 65535);
  if (!p.ok()) return absl::InvalidArgumentError(Cat("bad port in '", text, "'"));
  out.port = static_cast<int>(*p);
  return out;
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

}  // namespace letterbox::cli
