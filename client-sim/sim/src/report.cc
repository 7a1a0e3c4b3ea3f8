#include "letterbox/sim/report.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_format.h"
#include "text.h"

namespace letterbox::sim {
namespace {

using nlohmann::json;

json LatencyJson(const LatencyHistogram& h) {
  return json{{"count", h.count()},        {"p50", h.Quantile(0.5)},
              {"p90", h.Quantile(0.9)},    {"p99", h.Quantile(0.99)},
              {"p999", h.Quantile(0.999)}, {"max", h.max()},
              {"mean", h.mean()},          {"min", h.min()}};
}

json FiguresJson(const OpFigures& f, double window) {
  json codes = json::object();
  for (const auto& [code, n] : f.errors_by_code) codes[code] = n;
  return json{{"issued", f.issued},
              {"ok", f.ok},
              {"errors", f.errors},
              {"offered_per_s", window > 0 ? f.issued / window : 0},
              {"achieved_per_s", window > 0 ? f.ok / window : 0},
              {"latency_us", LatencyJson(f.latency)},
              {"errors_by_code", codes}};
}

json Optional(const std::optional<double>& v) { return v.has_value() ? json(*v) : json(nullptr); }

json CryptoJson(const CryptoFigures& f) {
  json codes = json::object();
  for (const auto& [code, n] : f.decrypt_failures_by_code) codes[code] = n;
  return json{{"mode", std::string(CryptoModeName(f.mode))},
              {"sealed", f.sealed},
              {"prekey_messages", f.prekey_messages},
              {"mean_ciphertext_bytes", f.mean_ciphertext_bytes()},
              {"seal_failures", f.seal_failures},
              {"bundle_claims", f.bundle_claims},
              {"claim_failures", f.claim_failures},
              {"opened", f.opened},
              {"decrypt_failures", f.decrypt_failures},
              {"decrypt_failures_by_code", codes},
              {"corrupted", f.corrupted},
              {"duplicates", f.duplicates},
              {"out_of_order", f.out_of_order}};
}

json SessionSetUpJson(const SessionSetUp& p) {
  return json{
      {"sends", p.sends},       {"errors", p.errors},   {"to_subscribers", p.to_subscribers},
      {"received", p.received}, {"seconds", p.seconds}, {"crypto", CryptoJson(p.crypto)}};
}

json RunJson(const RunResult& r) {
  json ops = json::object();
  for (size_t k = 0; k < kOpKinds; ++k) {
    if (r.ops[k].issued == 0) continue;
    ops[std::string(OpName(static_cast<OpKind>(k)))] = FiguresJson(r.ops[k], r.window_seconds);
  }
  json total = FiguresJson(r.total, r.window_seconds);
  total["offered_per_s"] = r.offered_rate;
  return json{
      {"workload", r.label},
      {"loop", r.open_loop ? "open" : "closed"},
      {"window_seconds", r.window_seconds},
      {"total", total},
      {"ops", ops},
      {"e2e",
       {{"delivered", r.e2e_delivered},
        {"delivered_per_s", r.window_seconds > 0 ? r.e2e_delivered / r.window_seconds : 0},
        {"latency_us", LatencyJson(r.e2e)}}},
      {"cpu",
       {{"client_seconds", r.client_cpu_seconds},
        {"server_seconds", Optional(r.server_cpu_seconds)},
        {"client_us_per_op", r.client_us_per_op()},
        {"server_us_per_op", Optional(r.server_us_per_op())}}},
      {"background",
       {{"drain_rpcs", r.drain_rpcs}, {"ack_rpcs", r.ack_rpcs}, {"ack_errors", r.ack_errors}}},
      {"crypto", CryptoJson(r.crypto)}};
}

json StreamJson(const StreamResult& s) {
  return json{{"streams", s.streams},
              {"payload_bytes", s.payload},
              {"window_seconds", s.window_seconds},
              {"messages", s.messages},
              {"messages_per_s", s.rate()},
              {"stream_errors", s.errors},
              {"cpu",
               {{"client_seconds", s.client_cpu_seconds},
                {"server_seconds", Optional(s.server_cpu_seconds)},
                {"client_us_per_message", s.client_us_per_message()},
                {"server_us_per_message", Optional(s.server_us_per_message())}}}};
}

std::string Ms(double micros) { return absl::StrFormat("%8.3f", micros / 1e3); }

void PrintRun(std::ostream& out, std::string_view title, const RunResult& r) {
  out << "\n"
      << title << " (" << (r.open_loop ? "open" : "closed") << " loop, "
      << absl::StrFormat("%.1f", r.window_seconds) << " s measured)\n";
  out << absl::StrFormat("%-8s %10s %10s %10s %9s %7s %8s %8s %8s %8s %8s\n", "op", "issued",
                         "offered/s", "achieved/s", "ok", "errors", "p50 ms", "p90 ms", "p99 ms",
                         "p99.9 ms", "max ms");
  auto row = [&](std::string_view name, const OpFigures& f, double offered) {
    out << absl::StrFormat("%-8s %10llu %10.0f %10.0f %9llu %7llu %s %s %s %s %s\n", name,
                           static_cast<unsigned long long>(f.issued), offered,
                           r.window_seconds > 0 ? f.ok / r.window_seconds : 0,
                           static_cast<unsigned long long>(f.ok),
                           static_cast<unsigned long long>(f.errors), Ms(f.latency.Quantile(0.5)),
                           Ms(f.latency.Quantile(0.9)), Ms(f.latency.Quantile(0.99)),
                           Ms(f.latency.Quantile(0.999)), Ms(f.latency.max()));
  };
  int kinds = 0;
  for (size_t k = 0; k < kOpKinds; ++k) {
    const OpFigures& f = r.ops[k];
    if (f.issued == 0) continue;
    ++kinds;
    row(OpName(static_cast<OpKind>(k)), f, r.window_seconds > 0 ? f.issued / r.window_seconds : 0);
  }
  if (kinds > 1) row("total", r.total, r.offered_rate);
  if (r.e2e.count() > 0) {
    out << absl::StrFormat("%-8s %10s %10s %10.0f %9llu %7s %s %s %s %s %s\n", "e2e", "", "",
                           r.window_seconds > 0 ? r.e2e_delivered / r.window_seconds : 0,
                           static_cast<unsigned long long>(r.e2e_delivered), "",
                           Ms(r.e2e.Quantile(0.5)), Ms(r.e2e.Quantile(0.9)),
                           Ms(r.e2e.Quantile(0.99)), Ms(r.e2e.Quantile(0.999)), Ms(r.e2e.max()));
  }
  if (!r.total.errors_by_code.empty()) {
    out << "errors by status:";
    for (size_t k = 0; k < kOpKinds; ++k) {
      for (const auto& [code, n] : r.ops[k].errors_by_code) {
        out << " " << OpName(static_cast<OpKind>(k)) << "/" << code << "=" << n;
      }
    }
    out << "\n";
  }
  out << absl::StrFormat("CPU per op: client %.1f us", r.client_us_per_op());
  if (auto s = r.server_us_per_op(); s.has_value()) {
    out << absl::StrFormat(", server %.1f us", *s);
  } else {
    out << ", server n/a (give --server-pid)";
  }
  if (r.drain_rpcs > 0 || r.ack_rpcs > 0) {
    out << absl::StrFormat("  [background: %llu ack RPCs, %llu drain RPCs]",
                           static_cast<unsigned long long>(r.ack_rpcs),
                           static_cast<unsigned long long>(r.drain_rpcs));
  }
  out << "\n";
  if (r.label != "mix") return;
  const CryptoFigures& f = r.crypto;
  if (f.mode != CryptoMode::kReal) {
    out << "crypto: synthetic (random ciphertext, real franking commitment over unrelated "
           "plaintext; nothing sealed or opened: e2e figures are an upper bound)\n";
    return;
  }
  out << absl::StrFormat(
      "crypto: real (X3DH + Double Ratchet per message): %llu sealed (%llu PREKEY, mean "
      "ciphertext %.0f B), %llu bundle claims; %llu opened and verified, decrypt_failures %llu, "
      "corrupted %llu, duplicates %llu, out of order %llu",
      static_cast<unsigned long long>(f.sealed), static_cast<unsigned long long>(f.prekey_messages),
      f.mean_ciphertext_bytes(), static_cast<unsigned long long>(f.bundle_claims),
      static_cast<unsigned long long>(f.opened),
      static_cast<unsigned long long>(f.decrypt_failures),
      static_cast<unsigned long long>(f.corrupted), static_cast<unsigned long long>(f.duplicates),
      static_cast<unsigned long long>(f.out_of_order));
  if (f.seal_failures > 0 || f.claim_failures > 0) {
    out << absl::StrFormat("; seal failures %llu, claim failures %llu",
                           static_cast<unsigned long long>(f.seal_failures),
                           static_cast<unsigned long long>(f.claim_failures));
  }
  for (const auto& [code, n] : f.decrypt_failures_by_code) {
    out << " " << code << "=" << n;
  }
  out << "\n";
}

void PrintStream(std::ostream& out, const StreamResult& s) {
  out << absl::StrFormat(
      "\nceiling: NoopStream, %d streams, %u B messages: %.0f msg/s; CPU per message: client "
      "%.1f us",
      s.streams, s.payload, s.rate(), s.client_us_per_message());
  if (auto v = s.server_us_per_message(); v.has_value()) {
    out << absl::StrFormat(", server %.1f us", *v);
  }
  out << "\n";
}

}  // namespace

std::optional<double> LoadReport::RatioToCeiling() const {
  if (!load.has_value() || !noop.has_value() || noop->achieved_rate() <= 0) return std::nullopt;
  return load->achieved_rate() / noop->achieved_rate();
}

void PrintReport(std::ostream& out, const LoadReport& report) {
  const EngineConfig& c = report.config;
  out << "\n== letterbox-sim " << report.mode << " against " << c.server << ": " << c.channels
      << " channels, ";
  if (c.rate > 0) {
    out << absl::StrFormat("open loop %.0f/s", c.rate);
  } else {
    out << c.inflight << " in flight";
  }
  out << ", payload " << c.payload << " B";
  if (report.load.has_value()) {
    out << ", crypto " << CryptoModeName(c.crypto) << ", " << c.devices << " devices ("
        << c.subscribers << " subscribed), mix " << c.mix.ToString();
  }
  out << "\n";
  out << absl::StrFormat(
      "latency histogram: log bins %g us..%g s, quantiles within %.2f%% of exact\n",
      LatencyHistogram::kMinMicros, LatencyHistogram::kMaxMicros / 1e6,
      LatencyHistogram::RelativeErrorBound() * 100);
  if (report.noop.has_value()) PrintRun(out, "ceiling: unary Noop", *report.noop);
  if (report.stream.has_value()) PrintStream(out, *report.stream);
  if (report.session_setup.has_value()) {
    const SessionSetUp& p = *report.session_setup;
    out << absl::StrFormat(
        "\nsessions started at set-up (not measured): %llu sends, one per ordered pair of "
        "devices, in %.1f s: %llu bundle claims, %llu PREKEY; %llu of %llu to subscribers "
        "opened (decrypt_failures %llu, corrupted %llu); %llu errors\n",
        static_cast<unsigned long long>(p.sends), p.seconds,
        static_cast<unsigned long long>(p.crypto.bundle_claims),
        static_cast<unsigned long long>(p.crypto.prekey_messages),
        static_cast<unsigned long long>(p.received),
        static_cast<unsigned long long>(p.to_subscribers),
        static_cast<unsigned long long>(p.crypto.decrypt_failures),
        static_cast<unsigned long long>(p.crypto.corrupted),
        static_cast<unsigned long long>(p.errors));
  }
  if (report.load.has_value()) PrintRun(out, "load", *report.load);
  if (auto ratio = report.RatioToCeiling(); ratio.has_value()) {
    out << absl::StrFormat(
        "\nratio achieved/ceiling: %.3f (%.0f/s of %.0f/s unary Noop, same run, same client)\n",
        *ratio, report.load->achieved_rate(), report.noop->achieved_rate());
  }
  out.flush();
}

std::string ReportJson(const LoadReport& report) {
  const EngineConfig& c = report.config;
  json config{{"server", c.server},
              {"channels", c.channels},
              {"devices", c.devices},
              {"subscribers", c.subscribers},
              {"loop", c.rate > 0 ? "open" : "closed"},
              {"inflight", c.rate > 0 ? json(nullptr) : json(c.inflight)},
              {"rate_per_s", c.rate > 0 ? json(c.rate) : json(nullptr)},
              {"duration_seconds",
               c.messages > 0 ? json(nullptr) : json(absl::ToDoubleSeconds(c.duration))},
              {"messages", c.messages > 0 ? json(c.messages) : json(nullptr)},
              {"warmup_seconds", absl::ToDoubleSeconds(c.warmup)},
              {"mix", c.mix.ToString()},
              {"payload_bytes", c.payload},
              {"deadline_seconds", absl::ToDoubleSeconds(c.deadline)},
              {"drain", c.drain},
              {"crypto", std::string(CryptoModeName(c.crypto))},
              {"server_pid", c.server_pid > 0 ? json(c.server_pid) : json(nullptr)}};
  json doc{{"mode", report.mode},
           {"config", config},
           {"histogram",
            {{"min_us", LatencyHistogram::kMinMicros},
             {"max_us", LatencyHistogram::kMaxMicros},
             {"bins", LatencyHistogram::kBins},
             {"relative_error_bound", LatencyHistogram::RelativeErrorBound()}}}};
  doc["load"] = report.load.has_value() ? RunJson(*report.load) : json(nullptr);
  doc["session_setup"] =
      report.session_setup.has_value() ? SessionSetUpJson(*report.session_setup) : json(nullptr);
  json ceiling = json::object();
  ceiling["noop"] = report.noop.has_value() ? RunJson(*report.noop) : json(nullptr);
  ceiling["noop_stream"] = report.stream.has_value() ? StreamJson(*report.stream) : json(nullptr);
  doc["ceiling"] = ceiling;
  doc["ratio_to_ceiling"] = Optional(report.RatioToCeiling());
  return doc.dump(2) + "\n";
}

std::string ReportCsv(const LoadReport& report) {
  std::ostringstream out;
  out << "run,second,phase,issued,completed,ok,errors,p50_us,p99_us,max_us,e2e_delivered,"
         "e2e_p99_us\n";
  auto rows = [&](std::string_view run, const RunResult& r) {
    for (const SecondSample& s : r.series) {
      out << run << "," << s.second << "," << s.phase << "," << s.issued << "," << s.completed
          << "," << s.ok << "," << s.errors << "," << absl::StrFormat("%.1f", s.p50_us) << ","
          << absl::StrFormat("%.1f", s.p99_us) << "," << absl::StrFormat("%.1f", s.max_us) << ","
          << s.e2e_delivered << "," << absl::StrFormat("%.1f", s.e2e_p99_us) << "\n";
    }
  };
  if (report.noop.has_value()) rows("noop", *report.noop);
  if (report.load.has_value()) rows("load", *report.load);
  return out.str();
}

absl::Status WriteReportFiles(const std::string& dir, const LoadReport& report) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::FailedPreconditionError("cannot create --out " + dir + ": " + ec.message());
  const std::pair<std::string, std::string> files[] = {
      {Cat(dir, "/", report.mode, ".json"), ReportJson(report)},
      {Cat(dir, "/", report.mode, ".csv"), ReportCsv(report)}};
  for (const auto& [path, contents] : files) {
    std::ofstream out(path, std::ios::trunc);
    out << contents;
    out.flush();
    if (!out) return absl::FailedPreconditionError("cannot write " + path);
  }
  return absl::OkStatus();
}

}  // namespace letterbox::sim
