// letterbox-sim load and ceiling: option parsing and the order of runs.
#include <boost/program_options.hpp>
#include <exception>
#include <iostream>
#include <string>

#include "absl/synchronization/mutex.h"
#include "letterbox/sim/load_engine.h"
#include "letterbox/sim/modes.h"
#include "letterbox/sim/report.h"
#include "letterbox/sim/workload.h"

namespace letterbox::sim {
namespace {

namespace po = boost::program_options;

struct LoadOptions {
  EngineConfig config;
  bool with_ceiling = false;
  std::string out;
};

// Parses the options shared by load and ceiling. nullopt-like: returns 0
// after printing help, 2 on bad options, -1 to go on.
int ParseLoadOptions(int argc, char** argv, bool ceiling_mode, LoadOptions* options) {
  std::string inflight, rate, duration = "10s", messages, warmup = "2s",
                              mix = "send=80,fetch=10,claim=5,report=5", deadline = "10s", crypto;
  EngineConfig& c = options->config;
  po::options_description desc(ceiling_mode ? "letterbox-sim ceiling options"
                                            : "letterbox-sim load options");
  // clang-format off
  desc.add_options()
      ("help,h", "this text")
      ("server", po::value(&c.server), "server address host:port (required)")
      ("channels", po::value(&c.channels)->default_value(4), "gRPC channels (one connection each)")
      ("inflight", po::value(&inflight), "closed loop: calls in flight (default 64)")
      ("rate", po::value(&rate), "open loop: arrivals per second, e.g. 20000/s (latency from the intended start)")
      ("duration", po::value(&duration)->default_value("10s"), "measured window, e.g. 10s")
      ("messages", po::value(&messages), "measure this many operations instead of a duration")
      ("warmup", po::value(&warmup)->default_value("2s"), "warm-up before the window (excluded from figures)")
      ("payload", po::value(&c.payload)->default_value(256), "no-op payload / synthetic ciphertext bytes; with --crypto real the filler after a 16-byte header in each sealed body")
      ("deadline", po::value(&deadline)->default_value("10s"), "deadline of every call")
      ("out", po::value(&options->out), "directory for <mode>.json and <mode>.csv")
      ("server-pid", po::value(&c.server_pid)->default_value(0), "server process id, for its CPU per op")
      ("quiet", "no per-second progress lines");
  if (!ceiling_mode) {
    desc.add_options()
        ("devices", po::value(&c.devices)->default_value(64), "registered devices (senders and recipients)")
        ("subscribers", po::value(&c.subscribers)->default_value(-1), "devices that Subscribe for end-to-end latency (-1: devices/4)")
        ("mix", po::value(&mix)->default_value(mix), "operation weights: send, fetch, claim, report")
        ("crypto", po::value(&crypto), "what sends carry: real (X3DH + Double Ratchet per message, every received envelope opened and checked) or synthetic (random ciphertext, real franking commitment); default real when the mix sends and --subscribers > 0, else synthetic")
        ("with-ceiling", po::bool_switch(&options->with_ceiling), "measure the transport ceiling first, in the same run")
        ("no-drain", "do not Fetch+Ack unsubscribed mailboxes in the background")
        ("lazy-sessions", "--crypto real: start sessions on first contact during the run (ClaimBundle + X3DH inside the measured operations) instead of at set-up")
        ("max-outstanding", po::value(&c.max_outstanding)->default_value(100000), "open loop: cap on calls outstanding")
        ("jurisdiction", po::value(&c.jurisdiction)->default_value("JP"), "jurisdiction of the registered accounts");
  }
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "letterbox-sim: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help") > 0) {
    std::cout << desc;
    return 0;
  }
  auto fail = [&](const std::string& why) {
    std::cerr << "letterbox-sim: " << why << "\n";
    return 2;
  };
  if (c.server.empty()) return fail("--server is required");
  if (!inflight.empty() && !rate.empty()) return fail("give --inflight or --rate, not both");
  if (!messages.empty() && !vm["duration"].defaulted()) {
    return fail("give --duration or --messages, not both");
  }
  c.inflight = 64;
  if (!inflight.empty()) {
    try {
      c.inflight = std::stoi(inflight);
    } catch (const std::exception&) {
      return fail("--inflight: not an integer");
    }
  }
  if (!rate.empty()) {
    absl::StatusOr<double> r = ParseRate(rate);
    if (!r.ok()) return fail("--rate: " + std::string(r.status().message()));
    c.rate = *r;
  }
  absl::StatusOr<absl::Duration> d = ParseDuration(duration);
  if (!d.ok()) return fail("--duration: " + std::string(d.status().message()));
  c.duration = *d;
  absl::StatusOr<absl::Duration> w = ParseDuration(warmup);
  if (warmup == "0" || warmup == "0s") {
    c.warmup = absl::ZeroDuration();
  } else if (!w.ok()) {
    return fail("--warmup: " + std::string(w.status().message()));
  } else {
    c.warmup = *w;
  }
  absl::StatusOr<absl::Duration> dl = ParseDuration(deadline);
  if (!dl.ok()) return fail("--deadline: " + std::string(dl.status().message()));
  c.deadline = *dl;
  if (!messages.empty()) {
    try {
      c.messages = std::stoull(messages);
    } catch (const std::exception&) {
      return fail("--messages: not an integer");
    }
    if (c.messages == 0) return fail("--messages must be at least 1");
  }
  if (ceiling_mode) {
    c.crypto = CryptoMode::kSynthetic;  // no sends: nothing to seal
  } else {
    absl::StatusOr<OpMix> m = ParseMix(mix);
    if (!m.ok()) return fail(std::string(m.status().message()));
    c.mix = *m;
    c.drain = vm.count("no-drain") == 0;
    c.start_sessions = vm.count("lazy-sessions") == 0;
    if (!crypto.empty()) {
      absl::StatusOr<CryptoMode> mode = ParseCryptoMode(crypto);
      if (!mode.ok()) return fail(std::string(mode.status().message()));
      c.crypto = *mode;
    }
  }
  c.progress = vm.count("quiet") == 0;
  return -1;
}

int Finish(const LoadReport& report, const std::string& out) {
  PrintReport(std::cout, report);
  if (!out.empty()) {
    if (absl::Status s = WriteReportFiles(out, report); !s.ok()) {
      std::cerr << "letterbox-sim: " << s.message() << "\n";
      return 1;
    }
    std::cout << "wrote " << out << "/" << report.mode << ".json and " << report.mode << ".csv\n";
  }
  return 0;
}

// Runs the unary and streaming ceilings into `report`. False (after
// printing why) if the unary ceiling failed.
bool RunCeilings(LoadEngine& engine, LoadReport& report) {
  if (engine.config().progress) std::cout << "ceiling: unary Noop\n" << std::flush;
  absl::StatusOr<RunResult> noop = engine.Run(Workload::kNoop);
  if (!noop.ok()) {
    std::cerr << "letterbox-sim: ceiling (Noop) failed: " << noop.status() << "\n";
    return false;
  }
  report.noop = *std::move(noop);
  if (engine.config().progress) std::cout << "ceiling: NoopStream\n" << std::flush;
  absl::StatusOr<StreamResult> stream = engine.RunNoopStream();
  if (!stream.ok()) {
    std::cerr << "letterbox-sim: ceiling (NoopStream) failed: " << stream.status() << "\n";
  } else {
    report.stream = *std::move(stream);
  }
  return true;
}

// abseil's mutex deadlock detection is a debugging aid that would tax every
// per-device lock of the measuring client (the server turns it off too).
void StopDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace

int RunLoad(int argc, char** argv) {
  StopDeadlockDetection();
  LoadOptions options;
  if (int rc = ParseLoadOptions(argc, argv, /*ceiling_mode=*/false, &options); rc >= 0) return rc;
  absl::StatusOr<std::unique_ptr<LoadEngine>> engine = LoadEngine::Create(options.config);
  if (!engine.ok()) {
    std::cerr << "letterbox-sim: " << engine.status().message() << "\n";
    return 2;
  }
  LoadReport report;
  report.mode = "load";
  report.config = (*engine)->config();
  if (options.with_ceiling && !RunCeilings(**engine, report)) return 1;
  if (absl::Status s = (*engine)->SetUp(); !s.ok()) {
    std::cerr << "letterbox-sim: setup failed: " << s << "\n";
    return 1;
  }
  if (options.config.progress) std::cout << "load: " << options.config.mix.ToString() << "\n";
  absl::StatusOr<RunResult> load = (*engine)->Run(Workload::kMix);
  if (!load.ok()) {
    std::cerr << "letterbox-sim: load run failed: " << load.status() << "\n";
    return 1;
  }
  report.load = *std::move(load);
  report.config = (*engine)->config();
  report.session_setup = (*engine)->session_setup();
  return Finish(report, options.out);
}

int RunCeiling(int argc, char** argv) {
  StopDeadlockDetection();
  LoadOptions options;
  if (int rc = ParseLoadOptions(argc, argv, /*ceiling_mode=*/true, &options); rc >= 0) return rc;
  absl::StatusOr<std::unique_ptr<LoadEngine>> engine = LoadEngine::Create(options.config);
  if (!engine.ok()) {
    std::cerr << "letterbox-sim: " << engine.status().message() << "\n";
    return 2;
  }
  LoadReport report;
  report.mode = "ceiling";
  report.config = (*engine)->config();
  if (!RunCeilings(**engine, report)) return 1;
  return Finish(report, options.out);
}

}  // namespace letterbox::sim
