// File: bench/bench_util.h
//
// Small helpers shared by the bench/ programs: a monotonic stopwatch, this
// process's CPU time, "--name value" flag parsing, and writing the result
// JSON. Benchmarks print their figures and write JSON; they are never tests.
//
//   bench::Flags flags(argc, argv);
//   const double seconds = flags.Double("seconds", 2.0);
//   nlohmann::json out;  out["put_per_s"] = rate;
//   return bench::WriteJson(flags.String("json", ""), out) ? 0 : 1;
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <string>

#include "nlohmann/json.hpp"

namespace bench {

// Seconds since an arbitrary fixed point (steady clock).
inline double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The calling thread's CPU seconds (CLOCK_THREAD_CPUTIME_ID): unlike a wall
// clock, it does not count the time the thread waited for a core, which on
// a shared, loaded machine is most of the wall time.
inline double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// This process's user + system CPU seconds (all threads).
inline double ProcessCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// "--name value" pairs and bare "--name" switches. Unknown names are kept;
// a malformed number ends the process with exit code 2 and a message.
class Flags {
 public:
  Flags(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg.rfind("--", 0) != 0) continue;
      arg = arg.substr(2);
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) {
        values_[arg] = argv[++i];
      } else {
        values_[arg] = "";
      }
    }
  }
  [[nodiscard]] bool Has(const std::string& name) const { return values_.count(name) > 0; }
  [[nodiscard]] std::string String(const std::string& name, const std::string& def) const {
    auto it = values_.find(name);
    return it == values_.end() ? def : it->second;
  }
  [[nodiscard]] double Double(const std::string& name, double def) const {
    auto it = values_.find(name);
    if (it == values_.end()) return def;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0') {
      std::cerr << "--" << name << ": not a number\n";
      std::exit(2);
    }
    return v;
  }
  [[nodiscard]] int64_t Int(const std::string& name, int64_t def) const {
    return static_cast<int64_t>(Double(name, static_cast<double>(def)));
  }

 private:
  std::map<std::string, std::string> values_;
};

// Writes `doc` to `path` (pretty-printed); nothing when `path` is empty.
// False (with a message on stderr) if the file cannot be written.
inline bool WriteJson(const std::string& path, const nlohmann::json& doc) {
  if (path.empty()) return true;
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    return false;
  }
  return true;
}

}  // namespace bench
