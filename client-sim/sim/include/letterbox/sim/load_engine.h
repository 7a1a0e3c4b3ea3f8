// File: letterbox/sim/load_engine.h
//
// The engine behind `letterbox-sim load` and `ceiling`: registered devices
// spread over several channels (one TCP connection each), issuing unary RPCs
// through the gRPC callback API either closed-loop (a fixed number in
// flight; each completion starts the next) or open-loop (a fixed arrival
// rate; latency from the intended start, see open_loop.h). A subset of
// devices Subscribe and Ack, which gives end-to-end delivery latency: the
// send's start time travels in the message id's first 8 bytes and the
// subscriber subtracts it from its receive time on the same monotonic clock.
// Warm-up operations run but are left out of every figure.
//
// With CryptoMode::kReal every device owns a client::DeviceCrypto (behind a
// per-device lock) whose identity it registers and whose signed and one-time
// prekeys it publishes; the first send from a device to a peer claims the
// peer's bundle from the server (sends to that peer wait for the claim), and
// every send is sealed (X3DH, then the Double Ratchet) on the thread that
// issues it. SetUp normally makes those first contacts itself, so runs
// measure established sessions. Every envelope the engine receives
// (Subscribe, fetch ops, the drainer) is opened on the thread that received
// it and its body checked (load_crypto.h); a delivery counts for the
// end-to-end figures only once verified, and its latency includes the
// decryption.
//
//   EngineConfig config;  config.server = "127.0.0.1:7443";
//   LB_ASSIGN_OR_RETURN(auto engine, LoadEngine::Create(config));
//   LB_RETURN_IF_ERROR(engine->SetUp());                  // devices, subscriptions
//   LB_ASSIGN_OR_RETURN(RunResult ceiling, engine->Run(Workload::kNoop));
//   LB_ASSIGN_OR_RETURN(RunResult load, engine->Run(Workload::kMix));
//   LB_ASSIGN_OR_RETURN(StreamResult stream, engine->RunNoopStream());
//
// A LoadEngine is driven from one thread (its methods are not reentrant); it
// starts and joins its own helper threads and waits for every call it
// started before a method returns or it is destroyed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "letterbox/sim/histogram.h"
#include "letterbox/sim/workload.h"

namespace letterbox::sim {

struct EngineConfig {
  std::string server;
  int channels = 4;
  int devices = 64;
  // Devices that Subscribe (and Ack) for end-to-end latency; -1: devices / 4
  // (at least 1).
  int subscribers = -1;
  // Closed loop: `inflight` calls outstanding. Open loop (rate > 0): `rate`
  // arrivals per second, at most `max_outstanding` calls outstanding (later
  // arrivals wait, still timed from their intended start).
  int inflight = 64;
  double rate = 0;
  uint32_t max_outstanding = 100'000;
  // The measured window: `duration`, or until `messages` counted operations
  // have started when messages > 0. Preceded by `warmup`.
  absl::Duration duration = absl::Seconds(10);
  uint64_t messages = 0;
  absl::Duration warmup = absl::Seconds(2);
  OpMix mix;
  uint32_t payload = 256;
  // Deadline of every call the engine makes.
  absl::Duration deadline = absl::Seconds(10);
  // Fetch + Ack the mailboxes of devices that do not subscribe, in the
  // background, so long runs do not fill them (max_mailbox_envelopes).
  bool drain = true;
  // The server's process id, for its CPU time (/proc/PID/stat); 0: unknown.
  int server_pid = 0;
  std::string jurisdiction = "JP";
  // One-line progress every second on stdout.
  bool progress = true;
  // What sends carry (workload.h). kAuto is resolved by Create; config()
  // reports kReal or kSynthetic. With kReal, calls in flight are bounded by
  // crypto::kRatchetMaxSkip, so messages still on their way can never put a
  // later one more than the ratchet's skip bound ahead: a closed loop with
  // more in flight is refused, an open loop's max_outstanding is clamped.
  CryptoMode crypto = CryptoMode::kAuto;
  // kReal: start every session at set-up (SetUp) rather than on first
  // contact during the runs.
  bool start_sessions = true;
};

enum class Workload { kMix, kNoop };

// The measured figures of one operation kind (or of all together).
struct OpFigures {
  uint64_t issued = 0;  // counted operations started
  uint64_t ok = 0;
  uint64_t errors = 0;
  std::map<std::string, uint64_t> errors_by_code;  // "RESOURCE_EXHAUSTED" -> n
  LatencyHistogram latency;                        // microseconds, OK and failed
};

// One second of the run, warm-up included.
struct SecondSample {
  int second = 0;     // since the run started
  std::string phase;  // "warmup", "measure" or "drain"
  uint64_t issued = 0;
  uint64_t completed = 0;
  uint64_t ok = 0;
  uint64_t errors = 0;
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  uint64_t e2e_delivered = 0;
  double e2e_p99_us = 0;
};

// The end-to-end crypto of one run (kReal), counted over the whole run,
// warm-up and the wait for late deliveries included: these are correctness
// counts, not rates. All zero with kSynthetic except `mode`.
struct CryptoFigures {
  CryptoMode mode = CryptoMode::kSynthetic;
  uint64_t sealed = 0;           // sends sealed
  uint64_t prekey_messages = 0;  // of those, PREKEY messages (carrying the X3DH header)
  uint64_t sealed_bytes = 0;     // ciphertext bytes of the sealed sends
  uint64_t seal_failures = 0;    // Seal refused (the send counts as failed)
  uint64_t bundle_claims = 0;    // ClaimBundle calls made to start sessions
  uint64_t claim_failures = 0;   // of those, failed (their waiting sends fail too)
  uint64_t opened = 0;           // envelopes opened and verified
  uint64_t decrypt_failures = 0;
  std::map<std::string, uint64_t> decrypt_failures_by_code;  // "INVALID_ARGUMENT" -> n
  uint64_t corrupted = 0;     // opened, but not the body that was sent
  uint64_t duplicates = 0;    // opened before (ALREADY_EXISTS), not counted as failures
  uint64_t out_of_order = 0;  // verified after a later send of the same sender to this recipient

  [[nodiscard]] double mean_ciphertext_bytes() const {
    return sealed == 0 ? 0 : static_cast<double>(sealed_bytes) / static_cast<double>(sealed);
  }
};

// The session set-up pass of SetUp (CryptoMode::kReal): one send per
// ordered pair of devices, before any run.
struct SessionSetUp {
  uint64_t sends = 0;   // D × (D − 1)
  uint64_t errors = 0;  // sends that failed (seal, claim or the Send itself)
  // Sends to subscribed devices, and how many of those had been opened
  // (verified or not) when the pass stopped waiting.
  uint64_t to_subscribers = 0;
  uint64_t received = 0;
  double seconds = 0;
  CryptoFigures crypto;  // counted over the pass
};

// The most sends the session set-up pass makes; with more ordered pairs of
// devices SetUp skips it and sessions start on first contact during runs.
inline constexpr uint64_t kMaxSessionSetUpSends = 20'000;

struct RunResult {
  std::string label;  // "mix" or "noop"
  bool open_loop = false;
  double offered_rate = 0;  // open loop: configured rate; closed: issued / window
  double window_seconds = 0;
  std::array<OpFigures, kOpKinds> ops;
  OpFigures total;
  uint64_t e2e_delivered = 0;
  LatencyHistogram e2e;
  double client_cpu_seconds = 0;
  std::optional<double> server_cpu_seconds;
  uint64_t drain_rpcs = 0;
  uint64_t ack_rpcs = 0;
  uint64_t ack_errors = 0;
  CryptoFigures crypto;
  std::vector<SecondSample> series;

  [[nodiscard]] double achieved_rate() const {
    return window_seconds > 0 ? total.ok / window_seconds : 0;
  }
  // CPU per counted operation in microseconds (0 when none completed).
  [[nodiscard]] double client_us_per_op() const;
  [[nodiscard]] std::optional<double> server_us_per_op() const;
};

struct StreamResult {
  int streams = 0;
  uint32_t payload = 0;
  double window_seconds = 0;
  uint64_t messages = 0;
  uint64_t errors = 0;
  double client_cpu_seconds = 0;
  std::optional<double> server_cpu_seconds;

  [[nodiscard]] double rate() const { return window_seconds > 0 ? messages / window_seconds : 0; }
  [[nodiscard]] double client_us_per_message() const;
  [[nodiscard]] std::optional<double> server_us_per_message() const;
};

class LoadEngine {
 public:
  // Validates `config` (INVALID_ARGUMENT naming the option), resolves
  // config.crypto and opens the channels. No call is made yet.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LoadEngine>> Create(EngineConfig config);
  ~LoadEngine();
  LoadEngine(const LoadEngine&) = delete;
  LoadEngine& operator=(const LoadEngine&) = delete;

  // Registers config.devices devices (each with a signed prekey and 100
  // one-time prekeys; with kReal, its DeviceCrypto's identity and prekeys),
  // fetches the vault key if the mix has reports, and starts the
  // subscriptions. Needed before Run(Workload::kMix) only. The first failing
  // step's status.
  //
  // With kReal, config.start_sessions and at most kMaxSessionSetUpSends
  // ordered pairs, it then
  // starts the sessions the runs will use: one send per ordered pair of
  // devices through the runs' own send path (ClaimBundle, X3DH, Seal),
  // config.inflight at a time, then waits up to 30 s for the subscribed
  // recipients to open theirs. The measured runs thus see the Double
  // Ratchet's steady state instead of first contacts (whose X3DH cost the
  // pass reports, session_setup()). UNAVAILABLE if every send of the pass
  // failed.
  [[nodiscard]] absl::Status SetUp();

  // The session set-up pass's figures; nullopt when it did not run.
  [[nodiscard]] const std::optional<SessionSetUp>& session_setup() const;

  // One warm-up plus measured window of `workload`. UNAVAILABLE if not one
  // call succeeded (server down); FAILED_PRECONDITION if kMix before SetUp.
  [[nodiscard]] absl::StatusOr<RunResult> Run(Workload workload);

  // The server-streaming ceiling: one NoopStream per channel, each streaming
  // config.payload-byte messages, for config.warmup + config.duration (or
  // 5 s when the run is message-bounded). UNAVAILABLE if no message arrived.
  [[nodiscard]] absl::StatusOr<StreamResult> RunNoopStream();

  [[nodiscard]] const EngineConfig& config() const;

  struct Impl;

 private:
  explicit LoadEngine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// This process's user + system CPU time in seconds (getrusage).
[[nodiscard]] double ProcessCpuSeconds();
// Process `pid`'s user + system CPU time in seconds from /proc/PID/stat;
// nullopt if it cannot be read.
[[nodiscard]] std::optional<double> PidCpuSeconds(int pid);

}  // namespace letterbox::sim
