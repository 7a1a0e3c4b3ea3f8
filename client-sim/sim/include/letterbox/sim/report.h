// File: letterbox/sim/report.h
//
// The load and ceiling modes' output: a summary table on a stream, the
// summary as JSON and the per-second series as CSV (docs/load-testing.md
// lists every field and column).
//
//   LoadReport report;
//   report.mode = "load";
//   report.config = engine->config();
//   report.load = load_result;  report.noop = ceiling;  report.stream = stream;
//   PrintReport(std::cout, report);
//   LB_RETURN_IF_ERROR(WriteReportFiles("/tmp/out", report));   // load.json, load.csv
//
// Pure formatting; thread-compatible.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "letterbox/sim/load_engine.h"

namespace letterbox::sim {

struct LoadReport {
  std::string mode;  // "load" or "ceiling"
  EngineConfig config;
  std::optional<RunResult> load;              // the mix (load mode)
  std::optional<RunResult> noop;              // unary ceiling
  std::optional<StreamResult> stream;         // streaming ceiling
  std::optional<SessionSetUp> session_setup;  // SetUp's session pass (--crypto real)

  // load achieved / noop achieved, when both ran.
  [[nodiscard]] std::optional<double> RatioToCeiling() const;
};

// The summary table(s), the errors by status code, CPU per operation and,
// when both ran, the ratio to the ceiling.
void PrintReport(std::ostream& out, const LoadReport& report);

// The summary as a JSON document (pretty-printed).
[[nodiscard]] std::string ReportJson(const LoadReport& report);

// The per-second series as CSV: a header line, then one line per second of
// each run in the report (the `run` column says which).
[[nodiscard]] std::string ReportCsv(const LoadReport& report);

// Writes <dir>/<mode>.json and <dir>/<mode>.csv, creating `dir` if needed.
// FAILED_PRECONDITION naming the file when a write fails.
[[nodiscard]] absl::Status WriteReportFiles(const std::string& dir, const LoadReport& report);

}  // namespace letterbox::sim
