#include "letterbox/sim/load_engine.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/client/device_crypto.h"
#include "letterbox/crypto/double_ratchet.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/sealed_box.h"
#include "letterbox/sim/load_crypto.h"
#include "letterbox/sim/open_loop.h"
#include "letterbox/sim/raw_client.h"
#include "text.h"

namespace letterbox::sim {
namespace {

constexpr int kStatusCodes = 17;
constexpr uint32_t kPoolSize = 64;
constexpr uint32_t kFetchLimit = 100;
constexpr size_t kAckBatch = 64;
// Acks of fewer than kAckBatch envelopes wait at most this long.
constexpr std::chrono::milliseconds kAckFlushInterval(100);
constexpr uint32_t kNoopStreamCount = 1'000'000;
constexpr std::string_view kCommitContext = "letterbox.sim.load";
// One-time prekeys each device publishes at set-up (one upload call).
constexpr uint32_t kOneTimePrekeys = 100;

// Nanoseconds on the steady clock since the first call: the one clock of
// every send start, intended time and receive time in this process.
int64_t NowNs() {
  static const auto epoch = std::chrono::steady_clock::now();
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              epoch)
      .count();
}

void SleepUntilNs(int64_t target_ns) {
  const int64_t now = NowNs();
  if (target_ns > now) std::this_thread::sleep_for(std::chrono::nanoseconds(target_ns - now));
}

int64_t ToNs(absl::Duration d) { return absl::ToInt64Nanoseconds(d); }

uint64_t GetU64(std::string_view in, size_t offset) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(in[offset + i]);
  return v;
}

std::string RandomString(size_t n) {
  std::string out(n, '\0');
  crypto::SystemRandom::Instance().Fill(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(out.data()), out.size()));
  return out;
}

template <typename T>
void AtomicMax(std::atomic<T>& target, T value) {
  T seen = target.load(std::memory_order_relaxed);
  while (seen < value && !target.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

struct KindCounters {
  std::atomic<uint64_t> issued{0};
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> errors{0};
  std::array<std::atomic<uint64_t>, kStatusCodes> codes{};
  ConcurrentLatency latency;
};

// Everything one Run shares with the callbacks of its calls. Owned by the
// engine for the engine's whole life, so a late callback never sees a freed
// run.
struct RunState {
  Workload workload = Workload::kMix;
  bool open_loop = false;
  int64_t start_ns = 0;
  int64_t measure_start_ns = 0;
  std::atomic<int64_t> measure_end_ns{std::numeric_limits<int64_t>::max()};
  bool messages_mode = false;
  uint64_t messages_limit = 0;

  std::atomic<uint64_t> counted_started{0};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> inflight{0};
  std::atomic<int64_t> last_counted_done_ns{0};

  std::array<KindCounters, kOpKinds> kinds;
  std::atomic<uint64_t> all_issued{0};
  std::atomic<uint64_t> all_completed{0};
  std::atomic<uint64_t> all_ok{0};
  std::atomic<uint64_t> all_errors{0};
  ConcurrentLatency all_latency;
  ConcurrentLatency e2e;
  std::atomic<uint64_t> e2e_counted{0};

  bool InWindow(int64_t t) const {
    return t >= measure_start_ns && t < measure_end_ns.load(std::memory_order_relaxed);
  }
};

struct Op {
  RunState* run = nullptr;
  OpKind kind = OpKind::kSend;
  uint64_t index = 0;
  int64_t intended_ns = 0;
  bool counted = false;
};

template <typename Request, typename Response>
struct UnaryCall {
  Op op;
  grpc::ClientContext context;
  Request request;
  Response response;
};

// A simulated device's end-to-end state (CryptoMode::kReal). Seal runs on
// the thread issuing a send, Open on the thread receiving an envelope; both
// under `mu`, which is never held across a gRPC call.
struct RealDevice {
  explicit RealDevice(crypto::Random& random) : crypto(random) {}

  // Set by SetUp before any call can read it; read-only afterwards.
  client::DeviceAddress address;
  absl::Mutex mu;
  client::DeviceCrypto crypto ABSL_GUARDED_BY(mu);
  // Sends waiting for the bundle being claimed for a peer (device index):
  // the first send to a peer without a session claims, later ones queue.
  absl::flat_hash_map<int, std::vector<Op>> awaiting_bundle ABSL_GUARDED_BY(mu);
  // Per sender (device index): one past the highest op index verified.
  absl::flat_hash_map<int, uint64_t> next_index_from ABSL_GUARDED_BY(mu);
};

// Engine-wide counts behind CryptoFigures; a run reports the difference.
struct CryptoCounters {
  std::atomic<uint64_t> sealed{0};
  std::atomic<uint64_t> prekey_messages{0};
  std::atomic<uint64_t> sealed_bytes{0};
  std::atomic<uint64_t> seal_failures{0};
  std::atomic<uint64_t> bundle_claims{0};
  std::atomic<uint64_t> claim_failures{0};
  std::atomic<uint64_t> opened{0};
  std::atomic<uint64_t> decrypt_failures{0};
  std::array<std::atomic<uint64_t>, kStatusCodes> decrypt_codes{};
  std::atomic<uint64_t> corrupted{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> out_of_order{0};
};

// `now` minus `before` (counts since `before` was taken).
CryptoFigures CryptoSince(CryptoFigures now, const CryptoFigures& before) {
  CryptoFigures& f = now;
  f.sealed -= before.sealed;
  f.prekey_messages -= before.prekey_messages;
  f.sealed_bytes -= before.sealed_bytes;
  f.seal_failures -= before.seal_failures;
  f.bundle_claims -= before.bundle_claims;
  f.claim_failures -= before.claim_failures;
  f.opened -= before.opened;
  f.decrypt_failures -= before.decrypt_failures;
  for (const auto& [code, n] : before.decrypt_failures_by_code) {
    f.decrypt_failures_by_code[code] -= n;
    if (f.decrypt_failures_by_code[code] == 0) f.decrypt_failures_by_code.erase(code);
  }
  f.corrupted -= before.corrupted;
  f.duplicates -= before.duplicates;
  f.out_of_order -= before.out_of_order;
  return now;
}

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

crypto::IdentityKeyPair CloneIdentity(const crypto::IdentityKeyPair& id) {
  return crypto::IdentityKeyPair{
      .signing = {.public_key = id.signing.public_key, .secret_key = id.signing.secret_key.Clone()},
      .dh = {.public_key = id.dh.public_key, .secret_key = id.dh.secret_key.Clone()},
      .dh_signature = id.dh_signature};
}

}  // namespace

namespace {
class Subscriber;
}  // namespace

struct LoadEngine::Impl {
  EngineConfig config;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<RawClient>> clients;  // one per channel
  std::vector<SimDevice> devices;
  std::vector<int> subscribed;  // device indices
  std::vector<int> fetchers;    // device indices used by fetch ops and the drainer
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  bool set_up = false;

  std::vector<std::string> ciphertexts;  // kSynthetic
  std::vector<std::string> commitments;  // kSynthetic
  // kReal: one per device, in device order; empty with kSynthetic.
  std::vector<std::unique_ptr<RealDevice>> real;
  std::unique_ptr<LoadBodies> bodies;
  // Account id (16 bytes) -> device index; written by SetUp only.
  absl::flat_hash_map<std::string, int> device_by_account;
  CryptoCounters crypto_counts;
  std::optional<SessionSetUp> session_setup;
  std::vector<std::string> sealed_reports;
  std::string noop_payload;
  uint64_t id_salt = 0;

  std::atomic<uint64_t> next_index{0};
  std::vector<std::unique_ptr<RunState>> runs;
  std::atomic<RunState*> current{nullptr};

  std::atomic<int64_t> outstanding_acks{0};
  std::atomic<uint64_t> ack_rpcs{0};
  std::atomic<uint64_t> ack_errors{0};
  std::atomic<uint64_t> drain_rpcs{0};
  std::atomic<bool> ack_flusher_stop{false};
  std::thread ack_flusher;

  RawClient& ClientFor(int device) {
    return *clients[static_cast<size_t>(device) % clients.size()];
  }
  int DeviceCount() const { return static_cast<int>(devices.size()); }
  int SenderFor(uint64_t index) const { return static_cast<int>(index % devices.size()); }
  // A device other than `sender` (when there are two or more), cycling
  // through all of them as the index grows.
  int PeerFor(int sender, uint64_t index) const {
    const uint64_t n = devices.size();
    if (n < 2) return sender;
    return static_cast<int>((static_cast<uint64_t>(sender) + 1 + (index / n) % (n - 1)) % n);
  }

  void Issue(RunState* run, uint64_t index, int64_t intended_ns, bool counted);
  void IssueClosed(RunState* run);
  void Finish(const Op& op, const grpc::Status& status);
  void StartSend(const Op& op);
  void StartRealSend(const Op& op);
  void ClaimSession(int sender, int recipient);
  void OnSessionClaim(int sender, int recipient, absl::StatusOr<crypto::PrekeyBundle> bundle);
  void SendSealed(const Op& op, int sender, int recipient, const client::MessageId& id,
                  absl::StatusOr<client::SealedMessage> sealed);
  // Opens and checks an envelope `device` received (kReal); true if verified.
  bool OpenEnvelope(int device, const v1::Envelope& envelope);
  [[nodiscard]] CryptoFigures CryptoSnapshot() const;
  [[nodiscard]] absl::Status StartSessions();
  void StartFetch(const Op& op);
  void StartClaim(const Op& op);
  void StartReport(const Op& op);
  void StartNoop(const Op& op);
  // Sets `call`'s deadline and, for a device (>= 0), its session.
  template <typename Call>
  void Prepare(Call* call, int device) {
    SetDeadline(call->context, config.deadline);
    if (device >= 0) devices[static_cast<size_t>(device)].session.Attach(call->context);
  }
  // The completion of an op's last call: records it and deletes the call.
  template <typename Call>
  std::function<void(grpc::Status)> FinishAndDelete(Call* call) {
    return [this, call](grpc::Status status) {
      Finish(call->op, status);
      delete call;
    };
  }
  void RecordDelivery(std::string_view message_id, int64_t received_ns);
  void SendAck(int device, std::vector<uint64_t> ids);
  void FlushAcks();
  void DrainOnce(const std::atomic<bool>& stop);
  void StopSubscribers();
};

namespace {

// A subscribed device: records each envelope's delivery latency and batches
// its envelope ids for Ack. Deletes nothing itself; the engine owns it and
// waits for OnDone before destroying it.
class Subscriber final : public grpc::ClientReadReactor<v1::Envelope> {
 public:
  Subscriber(LoadEngine::Impl* engine, int device) : engine_(engine), device_(device) {}

  void Start() {
    engine_->devices[static_cast<size_t>(device_)].session.Attach(context_);
    // Long-lived, but bounded like every call the simulator makes.
    SetDeadline(context_, absl::Hours(6));
    engine_->ClientFor(device_).messages().async()->Subscribe(&context_, &request_, this);
    StartRead(&envelope_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (engine_->real.empty() || engine_->OpenEnvelope(device_, envelope_)) {
      engine_->RecordDelivery(envelope_.message_id(), NowNs());
    }
    std::vector<uint64_t> batch;
    {
      absl::MutexLock lock(&mu_);
      pending_.push_back(envelope_.envelope_id());
      if (pending_.size() >= kAckBatch) batch.swap(pending_);
    }
    if (!batch.empty()) engine_->SendAck(device_, std::move(batch));
    StartRead(&envelope_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
    status_ = status;
  }

  std::vector<uint64_t> TakePending() {
    std::vector<uint64_t> out;
    absl::MutexLock lock(&mu_);
    out.swap(pending_);
    return out;
  }

  void Cancel() { context_.TryCancel(); }

  // True once OnDone ran (within `timeout`).
  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }

  int device() const { return device_; }

 private:
  LoadEngine::Impl* const engine_;
  const int device_;
  grpc::ClientContext context_;
  v1::SubscribeRequest request_;
  v1::Envelope envelope_;
  absl::Mutex mu_;
  std::vector<uint64_t> pending_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// One NoopStream call counting the messages it receives.
class NoopStreamReader final : public grpc::ClientReadReactor<v1::NoopResponse> {
 public:
  NoopStreamReader(v1::DiagnosticsService::Stub& stub, uint32_t payload, absl::Duration deadline,
                   std::atomic<uint64_t>* counter)
      : counter_(counter) {
    request_.set_count(kNoopStreamCount);
    request_.set_payload_bytes(payload);
    SetDeadline(context_, deadline);
    stub.async()->NoopStream(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    counter_->fetch_add(1, std::memory_order_relaxed);
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
    status_ = status;
  }

  void Cancel() { context_.TryCancel(); }

  // nullopt while running; the final status once done.
  std::optional<grpc::Status> Done() {
    absl::MutexLock lock(&mu_);
    if (!done_) return std::nullopt;
    return status_;
  }

  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }

 private:
  std::atomic<uint64_t>* const counter_;
  grpc::ClientContext context_;
  v1::NoopStreamRequest request_;
  v1::NoopResponse response_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

void LoadEngine::Impl::Issue(RunState* run, uint64_t index, int64_t intended_ns, bool counted) {
  Op op;
  op.run = run;
  op.kind = run->workload == Workload::kNoop ? OpKind::kNoop : config.mix.Pick(index);
  op.index = index;
  op.intended_ns = intended_ns;
  op.counted = counted;
  run->inflight.fetch_add(1, std::memory_order_relaxed);
  run->all_issued.fetch_add(1, std::memory_order_relaxed);
  if (counted) run->kinds[static_cast<size_t>(op.kind)].issued.fetch_add(1);
  switch (op.kind) {
    case OpKind::kSend:
      StartSend(op);
      break;
    case OpKind::kFetch:
      StartFetch(op);
      break;
    case OpKind::kClaim:
      StartClaim(op);
      break;
    case OpKind::kReport:
      StartReport(op);
      break;
    case OpKind::kNoop:
      StartNoop(op);
      break;
  }
}

void LoadEngine::Impl::IssueClosed(RunState* run) {
  if (run->stop.load(std::memory_order_relaxed)) return;
  const int64_t now = NowNs();
  bool counted = false;
  if (now >= run->measure_start_ns) {
    if (run->messages_mode) {
      const uint64_t k = run->counted_started.fetch_add(1);
      if (k >= run->messages_limit) {
        run->stop = true;
        return;
      }
      if (k + 1 == run->messages_limit) run->measure_end_ns = now + 1;
      counted = true;
    } else if (now < run->measure_end_ns.load(std::memory_order_relaxed)) {
      counted = true;
    } else {
      run->stop = true;
      return;
    }
  }
  Issue(run, next_index.fetch_add(1, std::memory_order_relaxed), now, counted);
}

void LoadEngine::Impl::Finish(const Op& op, const grpc::Status& status) {
  RunState* run = op.run;
  const int64_t done = NowNs();
  const double micros = static_cast<double>(done - op.intended_ns) / 1e3;
  KindCounters& kind = run->kinds[static_cast<size_t>(op.kind)];
  kind.latency.Record(micros, op.counted);
  run->all_latency.Record(micros, op.counted);
  run->all_completed.fetch_add(1, std::memory_order_relaxed);
  (status.ok() ? run->all_ok : run->all_errors).fetch_add(1, std::memory_order_relaxed);
  if (op.counted) {
    (status.ok() ? kind.ok : kind.errors).fetch_add(1, std::memory_order_relaxed);
    const int code = static_cast<int>(status.error_code());
    if (!status.ok() && code >= 0 && code < kStatusCodes) kind.codes[code].fetch_add(1);
    AtomicMax(run->last_counted_done_ns, done);
  }
  // Start the next call before this one stops counting as in flight, so the
  // controller never sees zero while a closed loop is still going.
  if (!run->open_loop) IssueClosed(run);
  run->inflight.fetch_sub(1, std::memory_order_acq_rel);
}

void LoadEngine::Impl::StartSend(const Op& op) {
  if (!real.empty()) {
    StartRealSend(op);
    return;
  }
  auto* call = new UnaryCall<v1::SendRequest, v1::SendResponse>;
  call->op = op;
  const int sender = SenderFor(op.index);
  const int recipient = PeerFor(sender, op.index);
  call->request.set_message_id(LoadMessageId(op.intended_ns, op.index, id_salt).str());
  *call->request.mutable_recipient() = devices[static_cast<size_t>(recipient)].Address();
  call->request.set_ciphertext(ciphertexts[op.index % ciphertexts.size()]);
  call->request.set_franking_commitment(commitments[op.index % commitments.size()]);
  Prepare(call, sender);
  ClientFor(sender).messages().async()->Send(&call->context, &call->request, &call->response,
                                             FinishAndDelete(call));
}

void LoadEngine::Impl::StartRealSend(const Op& op) {
  const int sender = SenderFor(op.index);
  const int recipient = PeerFor(sender, op.index);
  RealDevice& device = *real[static_cast<size_t>(sender)];
  const client::DeviceAddress& peer = real[static_cast<size_t>(recipient)]->address;
  const client::MessageId id = LoadMessageId(op.intended_ns, op.index, id_salt);
  absl::StatusOr<client::SealedMessage> sealed;
  bool claim = false;
  {
    absl::MutexLock lock(&device.mu);
    if (!device.crypto.HasSession(peer)) {
      std::vector<Op>& waiting = device.awaiting_bundle[recipient];
      waiting.push_back(op);
      if (waiting.size() > 1) return;  // the first one's claim is on its way
      claim = true;
    } else {
      sealed = SealLoadMessage(
          device.crypto, *bodies, peer,
          {op.index, static_cast<uint32_t>(sender), static_cast<uint32_t>(recipient)}, id, nullptr);
    }
  }
  if (claim) {
    ClaimSession(sender, recipient);
    return;
  }
  SendSealed(op, sender, recipient, id, std::move(sealed));
}

void LoadEngine::Impl::ClaimSession(int sender, int recipient) {
  crypto_counts.bundle_claims.fetch_add(1, std::memory_order_relaxed);
  auto* call = new UnaryCall<v1::ClaimBundleRequest, v1::ClaimBundleResponse>;
  *call->request.mutable_target() = devices[static_cast<size_t>(recipient)].Address();
  Prepare(call, sender);
  ClientFor(sender).keys().async()->ClaimBundle(
      &call->context, &call->request, &call->response,
      [this, call, sender, recipient](grpc::Status status) {
        absl::StatusOr<crypto::PrekeyBundle> bundle =
            status.ok() ? BundleFromProto(call->response)
                        : absl::StatusOr<crypto::PrekeyBundle>(ToAbsl(status));
        delete call;
        OnSessionClaim(sender, recipient, std::move(bundle));
      });
}

void LoadEngine::Impl::OnSessionClaim(int sender, int recipient,
                                      absl::StatusOr<crypto::PrekeyBundle> bundle) {
  if (!bundle.ok()) crypto_counts.claim_failures.fetch_add(1, std::memory_order_relaxed);
  RealDevice& device = *real[static_cast<size_t>(sender)];
  const client::DeviceAddress& peer = real[static_cast<size_t>(recipient)]->address;
  std::vector<Op> waiting;
  std::vector<client::MessageId> ids;
  std::vector<absl::StatusOr<client::SealedMessage>> sealed;
  {
    absl::MutexLock lock(&device.mu);
    auto node = device.awaiting_bundle.extract(recipient);
    if (!node.empty()) waiting = std::move(node.mapped());
    if (bundle.ok()) {
      // The first Seal starts the session from the bundle (unless a PREKEY
      // message from the peer started one meanwhile); the rest use it.
      for (const Op& op : waiting) {
        ids.push_back(LoadMessageId(op.intended_ns, op.index, id_salt));
        sealed.push_back(SealLoadMessage(
            device.crypto, *bodies, peer,
            {op.index, static_cast<uint32_t>(sender), static_cast<uint32_t>(recipient)}, ids.back(),
            &*bundle));
      }
    }
  }
  for (size_t i = 0; i < waiting.size(); ++i) {
    if (bundle.ok()) {
      SendSealed(waiting[i], sender, recipient, ids[i], std::move(sealed[i]));
    } else {
      Finish(waiting[i], ToGrpc(bundle.status()));
    }
  }
}

void LoadEngine::Impl::SendSealed(const Op& op, int sender, int recipient,
                                  const client::MessageId& id,
                                  absl::StatusOr<client::SealedMessage> sealed) {
  if (!sealed.ok()) {
    crypto_counts.seal_failures.fetch_add(1, std::memory_order_relaxed);
    Finish(op, ToGrpc(sealed.status()));
    return;
  }
  crypto_counts.sealed.fetch_add(1, std::memory_order_relaxed);
  crypto_counts.sealed_bytes.fetch_add(sealed->ciphertext.size(), std::memory_order_relaxed);
  if (sealed->prekey) crypto_counts.prekey_messages.fetch_add(1, std::memory_order_relaxed);
  auto* call = new UnaryCall<v1::SendRequest, v1::SendResponse>;
  call->op = op;
  call->request.set_message_id(id.data(), id.size());
  *call->request.mutable_recipient() = devices[static_cast<size_t>(recipient)].Address();
  call->request.set_ciphertext(sealed->ciphertext.data(), sealed->ciphertext.size());
  call->request.set_franking_commitment(sealed->commitment.data(), sealed->commitment.size());
  Prepare(call, sender);
  ClientFor(sender).messages().async()->Send(&call->context, &call->request, &call->response,
                                             FinishAndDelete(call));
}

bool LoadEngine::Impl::OpenEnvelope(int device, const v1::Envelope& envelope) {
  ReceiveVerdict verdict;
  auto sender = device_by_account.find(envelope.sender().account_id());
  if (sender == device_by_account.end() ||
      real[static_cast<size_t>(sender->second)]->address.device_id !=
          envelope.sender().device_id()) {
    verdict.outcome = ReceiveOutcome::kDecryptFailed;
    verdict.code = absl::StatusCode::kNotFound;  // not one of this engine's devices
  } else {
    RealDevice& recipient = *real[static_cast<size_t>(device)];
    const int from = sender->second;
    absl::MutexLock lock(&recipient.mu);
    verdict = OpenLoadMessage(recipient.crypto, *bodies, real[static_cast<size_t>(from)]->address,
                              {static_cast<uint32_t>(from), static_cast<uint32_t>(device), id_salt},
                              envelope);
    if (verdict.outcome == ReceiveOutcome::kVerified) {
      uint64_t& next = recipient.next_index_from[from];
      if (verdict.index + 1 < next) {
        crypto_counts.out_of_order.fetch_add(1, std::memory_order_relaxed);
      } else {
        next = verdict.index + 1;
      }
    }
  }
  switch (verdict.outcome) {
    case ReceiveOutcome::kVerified:
      crypto_counts.opened.fetch_add(1, std::memory_order_relaxed);
      return true;
    case ReceiveOutcome::kDuplicate:
      crypto_counts.duplicates.fetch_add(1, std::memory_order_relaxed);
      return false;
    case ReceiveOutcome::kCorrupted:
      crypto_counts.corrupted.fetch_add(1, std::memory_order_relaxed);
      return false;
    case ReceiveOutcome::kDecryptFailed:
      break;
  }
  crypto_counts.decrypt_failures.fetch_add(1, std::memory_order_relaxed);
  const int code = static_cast<int>(verdict.code);
  if (code >= 0 && code < kStatusCodes) {
    crypto_counts.decrypt_codes[static_cast<size_t>(code)].fetch_add(1, std::memory_order_relaxed);
  }
  return false;
}

CryptoFigures LoadEngine::Impl::CryptoSnapshot() const {
  const CryptoCounters& c = crypto_counts;
  CryptoFigures f;
  f.mode = config.crypto;
  f.sealed = c.sealed.load();
  f.prekey_messages = c.prekey_messages.load();
  f.sealed_bytes = c.sealed_bytes.load();
  f.seal_failures = c.seal_failures.load();
  f.bundle_claims = c.bundle_claims.load();
  f.claim_failures = c.claim_failures.load();
  f.opened = c.opened.load();
  f.decrypt_failures = c.decrypt_failures.load();
  for (int code = 0; code < kStatusCodes; ++code) {
    if (const uint64_t n = c.decrypt_codes[static_cast<size_t>(code)].load(); n > 0) {
      f.decrypt_failures_by_code[CodeName(static_cast<grpc::StatusCode>(code))] = n;
    }
  }
  f.corrupted = c.corrupted.load();
  f.duplicates = c.duplicates.load();
  f.out_of_order = c.out_of_order.load();
  return f;
}

absl::Status LoadEngine::Impl::StartSessions() {
  const uint64_t sends = static_cast<uint64_t>(DeviceCount()) * (devices.size() - 1);
  const int64_t started = NowNs();
  const CryptoFigures before = CryptoSnapshot();
  // An uncounted run of sends only, driven here (open_loop: Finish starts
  // nothing), so the run machinery's counters and in-flight tracking apply.
  runs.push_back(std::make_unique<RunState>());
  RunState* run = runs.back().get();
  run->workload = Workload::kMix;
  run->open_loop = true;
  run->start_ns = started;
  run->measure_start_ns = std::numeric_limits<int64_t>::max();
  const int64_t window = std::min<int64_t>(config.inflight, crypto::kRatchetMaxSkip);
  SessionSetUp result;
  result.sends = sends;
  for (uint64_t issued = 0; issued < sends;) {
    if (run->inflight.load(std::memory_order_relaxed) >= window) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    Op op;
    op.run = run;
    op.kind = OpKind::kSend;
    op.index = next_index.fetch_add(1, std::memory_order_relaxed);
    op.intended_ns = NowNs();
    op.counted = false;
    const int recipient = PeerFor(SenderFor(op.index), op.index);
    if (recipient < config.subscribers) ++result.to_subscribers;
    run->inflight.fetch_add(1, std::memory_order_relaxed);
    run->all_issued.fetch_add(1, std::memory_order_relaxed);
    StartSend(op);
    ++issued;
  }
  const int64_t give_up = NowNs() + ToNs(config.deadline + absl::Seconds(5));
  while (run->inflight.load() > 0 && NowNs() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (run->inflight.load() > 0) {
    return absl::DeadlineExceededError(
        "session set-up: sends still in flight after their deadline");
  }
  result.errors = run->all_errors.load();
  // The subscribed recipients open theirs (X3DH as responder) as they arrive.
  auto received = [&] {
    const CryptoFigures now = CryptoSince(CryptoSnapshot(), before);
    return now.opened + now.decrypt_failures + now.corrupted + now.duplicates;
  };
  const uint64_t expected = result.to_subscribers;
  const int64_t wait_until = NowNs() + ToNs(absl::Seconds(30));
  while (received() < expected && NowNs() < wait_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.received = received();
  result.crypto = CryptoSince(CryptoSnapshot(), before);
  result.seconds = static_cast<double>(NowNs() - started) / 1e9;
  session_setup = std::move(result);
  if (session_setup->errors == sends) {
    return absl::UnavailableError(Cat("session set-up: all ", sends, " sends failed (",
                                      session_setup->crypto.claim_failures, " claim failures, ",
                                      session_setup->crypto.seal_failures, " seal failures)"));
  }
  return absl::OkStatus();
}

void LoadEngine::Impl::StartFetch(const Op& op) {
  auto* call = new UnaryCall<v1::FetchRequest, v1::FetchResponse>;
  call->op = op;
  const int device = fetchers[op.index % fetchers.size()];
  call->request.set_limit(kFetchLimit);
  Prepare(call, device);
  ClientFor(device).messages().async()->Fetch(
      &call->context, &call->request, &call->response, [this, call, device](grpc::Status status) {
        if (!status.ok() || call->response.envelopes_size() == 0) {
          Finish(call->op, status);
          delete call;
          return;
        }
        // The fetch operation is Fetch (opening what it returned) then Ack.
        auto* ack = new UnaryCall<v1::AckRequest, v1::AckResponse>;
        ack->op = call->op;
        for (const v1::Envelope& e : call->response.envelopes()) {
          if (!real.empty()) (void)OpenEnvelope(device, e);
          ack->request.add_envelope_ids(e.envelope_id());
        }
        delete call;
        Prepare(ack, device);
        ClientFor(device).messages().async()->Ack(&ack->context, &ack->request, &ack->response,
                                                  FinishAndDelete(ack));
      });
}

void LoadEngine::Impl::StartClaim(const Op& op) {
  auto* call = new UnaryCall<v1::ClaimBundleRequest, v1::ClaimBundleResponse>;
  call->op = op;
  const int claimant = SenderFor(op.index);
  const int target = PeerFor(claimant, op.index);
  *call->request.mutable_target() = devices[static_cast<size_t>(target)].Address();
  Prepare(call, claimant);
  ClientFor(claimant).keys().async()->ClaimBundle(&call->context, &call->request, &call->response,
                                                  FinishAndDelete(call));
}

void LoadEngine::Impl::StartReport(const Op& op) {
  auto* call = new UnaryCall<v1::SubmitReportRequest, v1::SubmitReportResponse>;
  call->op = op;
  const int reporter = SenderFor(op.index);
  call->request.set_jurisdiction(devices[static_cast<size_t>(reporter)].jurisdiction);
  call->request.set_sealed_report(sealed_reports[op.index % sealed_reports.size()]);
  Prepare(call, reporter);
  ClientFor(reporter).reports().async()->SubmitReport(&call->context, &call->request,
                                                      &call->response, FinishAndDelete(call));
}

void LoadEngine::Impl::StartNoop(const Op& op) {
  auto* call = new UnaryCall<v1::NoopRequest, v1::NoopResponse>;
  call->op = op;
  call->request.set_payload(noop_payload);
  Prepare(call, /*device=*/-1);
  clients[op.index % clients.size()]->diagnostics().async()->Noop(
      &call->context, &call->request, &call->response, FinishAndDelete(call));
}

void LoadEngine::Impl::RecordDelivery(std::string_view message_id, int64_t received_ns) {
  RunState* run = current.load(std::memory_order_acquire);
  if (run == nullptr || message_id.size() != 16) return;
  const int64_t sent_ns = static_cast<int64_t>(GetU64(message_id, 0));
  if (sent_ns < run->start_ns || sent_ns > received_ns) return;  // another run's message
  const bool counted = run->InWindow(sent_ns);
  run->e2e.Record(static_cast<double>(received_ns - sent_ns) / 1e3, counted);
  if (counted) run->e2e_counted.fetch_add(1, std::memory_order_relaxed);
}

void LoadEngine::Impl::SendAck(int device, std::vector<uint64_t> ids) {
  auto* call = new UnaryCall<v1::AckRequest, v1::AckResponse>;
  for (uint64_t id : ids) call->request.add_envelope_ids(id);
  Prepare(call, device);
  outstanding_acks.fetch_add(1);
  ClientFor(device).messages().async()->Ack(&call->context, &call->request, &call->response,
                                            [this, call](grpc::Status status) {
                                              (status.ok() ? ack_rpcs : ack_errors).fetch_add(1);
                                              delete call;
                                              outstanding_acks.fetch_sub(1);
                                            });
}

void LoadEngine::Impl::FlushAcks() {
  for (auto& s : subscribers) {
    std::vector<uint64_t> ids = s->TakePending();
    if (!ids.empty()) SendAck(s->device(), std::move(ids));
  }
}

void LoadEngine::Impl::DrainOnce(const std::atomic<bool>& stop) {
  for (int device : fetchers) {
    if (stop.load()) return;
    if (std::find(subscribed.begin(), subscribed.end(), device) != subscribed.end()) continue;
    for (int page = 0; page < 20 && !stop.load(); ++page) {
      RawClient& client = ClientFor(device);
      const SimDevice& d = devices[static_cast<size_t>(device)];
      grpc::ClientContext context;
      SetDeadline(context, config.deadline);
      d.session.Attach(context);
      v1::FetchRequest request;
      request.set_limit(kFetchLimit);
      v1::FetchResponse response;
      drain_rpcs.fetch_add(1);
      if (!client.messages().Fetch(&context, request, &response).ok()) break;
      if (response.envelopes_size() == 0) break;
      grpc::ClientContext ack_context;
      SetDeadline(ack_context, config.deadline);
      d.session.Attach(ack_context);
      v1::AckRequest ack;
      for (const v1::Envelope& e : response.envelopes()) {
        if (!real.empty()) (void)OpenEnvelope(device, e);
        ack.add_envelope_ids(e.envelope_id());
      }
      v1::AckResponse ack_response;
      drain_rpcs.fetch_add(1);
      if (!client.messages().Ack(&ack_context, ack, &ack_response).ok()) break;
      if (!response.more()) break;
    }
  }
}

void LoadEngine::Impl::StopSubscribers() {
  if (ack_flusher.joinable()) {
    ack_flusher_stop = true;
    ack_flusher.join();
  }
  for (auto& s : subscribers) s->Cancel();
  for (auto& s : subscribers) {
    if (!s->WaitDone(config.deadline + absl::Seconds(5))) {
      std::cerr << "letterbox-sim: a subscription did not end; leaking it\n";
      (void)s.release();
    }
  }
  subscribers.clear();
  const int64_t give_up = NowNs() + ToNs(config.deadline + absl::Seconds(5));
  while (outstanding_acks.load() > 0 && NowNs() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

double RunResult::client_us_per_op() const {
  const uint64_t n = total.ok + total.errors;
  return n == 0 ? 0 : client_cpu_seconds * 1e6 / static_cast<double>(n);
}

std::optional<double> RunResult::server_us_per_op() const {
  const uint64_t n = total.ok + total.errors;
  if (!server_cpu_seconds.has_value() || n == 0) return std::nullopt;
  return *server_cpu_seconds * 1e6 / static_cast<double>(n);
}

double StreamResult::client_us_per_message() const {
  return messages == 0 ? 0 : client_cpu_seconds * 1e6 / static_cast<double>(messages);
}

std::optional<double> StreamResult::server_us_per_message() const {
  if (!server_cpu_seconds.has_value() || messages == 0) return std::nullopt;
  return *server_cpu_seconds * 1e6 / static_cast<double>(messages);
}

double ProcessCpuSeconds() {
  struct rusage usage {};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

std::optional<double> PidCpuSeconds(int pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  // Fields after the command name (which may hold spaces) start at field 3;
  // utime and stime are fields 14 and 15.
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(paren + 1));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
  }
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

namespace {

struct CpuMark {
  double client = 0;
  std::optional<double> server;
};

CpuMark MarkCpu(int server_pid) { return CpuMark{ProcessCpuSeconds(), PidCpuSeconds(server_pid)}; }

std::string FormatMillis(double micros) { return absl::StrFormat("%.2f ms", micros / 1e3); }

}  // namespace

LoadEngine::LoadEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LoadEngine::~LoadEngine() { impl_->StopSubscribers(); }

const EngineConfig& LoadEngine::config() const { return impl_->config; }

absl::StatusOr<std::unique_ptr<LoadEngine>> LoadEngine::Create(EngineConfig config) {
  if (config.server.empty()) return absl::InvalidArgumentError("--server is required");
  if (config.channels < 1 || config.channels > 256) {
    return absl::InvalidArgumentError("--channels must be 1..256");
  }
  if (config.devices < 1 || config.devices > 10000) {
    return absl::InvalidArgumentError("--devices must be 1..10000");
  }
  if (config.rate <= 0 && (config.inflight < 1 || config.inflight > 100000)) {
    return absl::InvalidArgumentError("--inflight must be 1..100000");
  }
  if (config.payload < 1 || config.payload > 64 * 1024) {
    return absl::InvalidArgumentError("--payload must be 1..65536 bytes");
  }
  if (config.subscribers < 0) config.subscribers = std::max(1, config.devices / 4);
  config.subscribers = std::min(config.subscribers, config.devices);
  if (config.crypto == CryptoMode::kAuto) {
    config.crypto = config.subscribers > 0 && config.mix.weight(OpKind::kSend) > 0
                        ? CryptoMode::kReal
                        : CryptoMode::kSynthetic;
  }
  if (config.crypto == CryptoMode::kReal) {
    if (config.devices < 2) {
      return absl::InvalidArgumentError("--crypto real needs --devices 2 or more");
    }
    // Every message still on its way may put a later one of the same chain
    // that much further ahead; the ratchet refuses more than kRatchetMaxSkip.
    if (config.rate <= 0 && config.inflight > static_cast<int>(crypto::kRatchetMaxSkip)) {
      return absl::InvalidArgumentError(
          Cat("--inflight must be at most ", crypto::kRatchetMaxSkip,
              " with --crypto real (the Double Ratchet's skip bound)"));
    }
    config.max_outstanding = std::min(config.max_outstanding, crypto::kRatchetMaxSkip);
  }
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  const EngineConfig& c = impl->config;
  impl->channels = MakeChannels(c.server, c.channels);
  for (const auto& channel : impl->channels) {
    impl->clients.push_back(std::make_unique<RawClient>(channel));
  }
  impl->noop_payload = RandomString(c.payload);
  if (c.crypto == CryptoMode::kReal) {
    impl->bodies = std::make_unique<LoadBodies>(c.payload, crypto::SystemRandom::Instance());
  }
  std::string salt = RandomString(8);
  impl->id_salt = GetU64(salt, 0);
  return std::unique_ptr<LoadEngine>(new LoadEngine(std::move(impl)));
}

absl::Status LoadEngine::SetUp() {
  Impl& e = *impl_;
  const EngineConfig& c = e.config;
  if (e.set_up) return absl::OkStatus();
  SetupOptions setup;
  setup.jurisdiction = c.jurisdiction;
  setup.deadline = c.deadline;
  const int64_t started = NowNs();
  const bool real = c.crypto == CryptoMode::kReal;
  crypto::Random& rng = crypto::SystemRandom::Instance();
  // Registration is throttled per address, so it is sequential and retried.
  for (int i = 0; i < c.devices; ++i) {
    absl::StatusOr<SimDevice> device;
    if (!real) {
      device = e.ClientFor(i).CreateDevice(setup);
    } else {
      // The device registers its DeviceCrypto's identity and publishes that
      // object's signed prekey and one-time prekeys, as letterbox_client's
      // Device does; their secrets never leave the DeviceCrypto.
      auto owned = std::make_unique<RealDevice>(rng);
      RealDevice& r = *owned;
      client::SignedPrekeyPublic spk;
      std::vector<crypto::OneTimePrekeyPublic> one_time;
      crypto::IdentityKeyPair identity;
      {
        absl::MutexLock lock(&r.mu);
        spk = r.crypto.RotateSignedPrekey();
        one_time = r.crypto.GenerateOneTimePrekeys(kOneTimePrekeys);
        identity = CloneIdentity(r.crypto.identity());
      }
      SetupOptions keyless = setup;
      keyless.one_time_prekeys = 0;
      keyless.upload_signed_prekey = false;
      device = e.ClientFor(i).CreateDevice(keyless, std::move(identity));
      if (device.ok()) {
        absl::Status uploaded = e.ClientFor(i).UploadPublishedKeys(
            *device, spk.id, spk.public_key, spk.signature, one_time, c.deadline);
        absl::StatusOr<client::AccountId> account =
            client::AccountId::FromString(device->account_id);
        if (!uploaded.ok()) {
          device = uploaded;
        } else if (!account.ok()) {
          device = account.status();
        } else {
          r.address = client::DeviceAddress{*account, device->device_id};
          e.device_by_account[device->account_id] = i;
          e.real.push_back(std::move(owned));
        }
      }
    }
    if (!device.ok()) {
      return absl::Status(device.status().code(),
                          Cat("setting up device ", i + 1, ": ", device.status().message()));
    }
    e.devices.push_back(*std::move(device));
  }
  for (int i = 0; i < c.subscribers; ++i) e.subscribed.push_back(i);
  for (int i = c.subscribers; i < c.devices; ++i) e.fetchers.push_back(i);
  if (e.fetchers.empty()) e.fetchers = e.subscribed;

  for (uint32_t i = 0; i < kPoolSize && !real; ++i) {
    const std::string plaintext = RandomString(c.payload);
    const crypto::FrankingKey key = crypto::NewFrankingKey(rng);
    e.commitments.push_back(
        crypto::Commit(key, crypto::AsBytes(plaintext), crypto::AsBytes(kCommitContext)).str());
    e.ciphertexts.push_back(RandomString(c.payload));
  }
  if (c.mix.weight(OpKind::kReport) > 0) {
    grpc::ClientContext context;
    SetDeadline(context, c.deadline);
    e.devices[0].session.Attach(context);
    v1::GetVaultKeyResponse vault;
    const grpc::Status got =
        e.ClientFor(0).reports().GetVaultKey(&context, v1::GetVaultKeyRequest(), &vault);
    std::optional<crypto::X25519PublicKey> key;
    if (got.ok()) {
      auto parsed = crypto::X25519PublicKey::FromString(vault.intake_public_key());
      if (parsed.ok()) key = *parsed;
    } else {
      std::cerr << "letterbox-sim: GetVaultKey: " << CodeName(got.error_code()) << " "
                << got.error_message() << "; reports are random bytes of a sealed box's size\n";
    }
    for (uint32_t i = 0; i < kPoolSize; ++i) {
      const std::string body = RandomString(c.payload);
      std::string sealed = RandomString(c.payload + crypto::kSealedBoxOverhead);
      if (key.has_value()) {
        auto s = crypto::SealedBoxSeal(*key, crypto::AsBytes(body));
        if (s.ok()) sealed = crypto::ToString(*s);
      }
      e.sealed_reports.push_back(std::move(sealed));
    }
  } else {
    e.sealed_reports.push_back(RandomString(c.payload + crypto::kSealedBoxOverhead));
  }

  for (int device : e.subscribed) {
    e.subscribers.push_back(std::make_unique<Subscriber>(&e, device));
    e.subscribers.back()->Start();
  }
  e.ack_flusher_stop = false;
  e.ack_flusher = std::thread([&e] {
    while (!e.ack_flusher_stop.load()) {
      std::this_thread::sleep_for(kAckFlushInterval);
      e.FlushAcks();
    }
    e.FlushAcks();
  });
  if (c.progress) {
    std::cout << absl::StrFormat("set up %d devices (%d subscribed) in %.1f s\n", c.devices,
                                 c.subscribers, static_cast<double>(NowNs() - started) / 1e9)
              << std::flush;
  }
  const uint64_t pairs = static_cast<uint64_t>(c.devices) * static_cast<uint64_t>(c.devices - 1);
  if (real && c.start_sessions && pairs <= kMaxSessionSetUpSends) {
    if (absl::Status s = e.StartSessions(); !s.ok()) return s;
    if (c.progress) {
      const SessionSetUp& p = *e.session_setup;
      std::cout << absl::StrFormat(
                       "started sessions: %llu sends (one per ordered pair; %llu bundle claims, "
                       "%llu PREKEY) in %.1f s, %llu of %llu to subscribers opened, %llu errors\n",
                       static_cast<unsigned long long>(p.sends),
                       static_cast<unsigned long long>(p.crypto.bundle_claims),
                       static_cast<unsigned long long>(p.crypto.prekey_messages), p.seconds,
                       static_cast<unsigned long long>(p.received),
                       static_cast<unsigned long long>(p.to_subscribers),
                       static_cast<unsigned long long>(p.errors))
                << std::flush;
    }
  }
  e.set_up = true;
  return absl::OkStatus();
}

const std::optional<SessionSetUp>& LoadEngine::session_setup() const {
  return impl_->session_setup;
}

absl::StatusOr<RunResult> LoadEngine::Run(Workload workload) {
  Impl& e = *impl_;
  const EngineConfig& c = e.config;
  if (workload == Workload::kMix && !e.set_up) {
    return absl::FailedPreconditionError("Run(kMix) needs SetUp() first");
  }
  e.runs.push_back(std::make_unique<RunState>());
  RunState* run = e.runs.back().get();
  run->workload = workload;
  run->open_loop = c.rate > 0;
  run->messages_mode = c.messages > 0;
  run->messages_limit = c.messages;
  run->start_ns = NowNs();
  run->measure_start_ns = run->start_ns + ToNs(c.warmup);
  if (!run->messages_mode) run->measure_end_ns = run->measure_start_ns + ToNs(c.duration);
  e.current.store(run, std::memory_order_release);
  const uint64_t drain_before = e.drain_rpcs.load();
  const uint64_t acks_before = e.ack_rpcs.load();
  const uint64_t ack_errors_before = e.ack_errors.load();
  const CryptoFigures crypto_before = e.CryptoSnapshot();
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  const std::string label = workload == Workload::kNoop ? "noop" : "mix";

  // Progress: one sample per second of the run.
  std::atomic<bool> progress_stop{false};
  std::vector<SecondSample> series;
  std::thread progress([&] {
    int second = 0;
    uint64_t last_issued = 0, last_completed = 0, last_ok = 0, last_errors = 0;
    while (!progress_stop.load()) {
      const int64_t tick = run->start_ns + static_cast<int64_t>(second + 1) * 1'000'000'000;
      while (!progress_stop.load() && NowNs() < tick) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (progress_stop.load()) break;
      ++second;
      SecondSample s;
      s.second = second;
      if (tick <= run->measure_start_ns) {
        s.phase = "warmup";
      } else if (tick - 1'000'000'000 < run->measure_end_ns.load()) {
        s.phase = "measure";
      } else {
        s.phase = "drain";
      }
      const uint64_t issued = run->all_issued.load(), completed = run->all_completed.load();
      const uint64_t ok = run->all_ok.load(), errors = run->all_errors.load();
      s.issued = issued - last_issued;
      s.completed = completed - last_completed;
      s.ok = ok - last_ok;
      s.errors = errors - last_errors;
      last_issued = issued;
      last_completed = completed;
      last_ok = ok;
      last_errors = errors;
      const LatencyHistogram lat = run->all_latency.TakeInterval();
      s.p50_us = lat.Quantile(0.5);
      s.p99_us = lat.Quantile(0.99);
      s.max_us = lat.max();
      const LatencyHistogram e2e = run->e2e.TakeInterval();
      s.e2e_delivered = e2e.count();
      s.e2e_p99_us = e2e.Quantile(0.99);
      if (c.progress) {
        std::string line =
            absl::StrFormat("[%3ds] %-7s %s %9.0f/s  errors %-6llu p99 %s", second, s.phase, label,
                            static_cast<double>(s.ok), static_cast<unsigned long long>(s.errors),
                            FormatMillis(s.p99_us));
        if (s.e2e_delivered > 0) {
          absl::StrAppend(
              &line, absl::StrFormat("  e2e %7.0f/s p99 %s", static_cast<double>(s.e2e_delivered),
                                     FormatMillis(s.e2e_p99_us)));
        }
        line += Cat("  inflight ", run->inflight.load());
        if (tty) {
          std::cout << "\r\033[K" << line << std::flush;
        } else {
          std::cout << line << "\n" << std::flush;
        }
      }
      series.push_back(std::move(s));
    }
  });

  std::atomic<bool> drain_stop{false};
  std::thread drainer;
  if (workload == Workload::kMix && c.drain && e.fetchers != e.subscribed) {
    drainer = std::thread([&] {
      while (!drain_stop.load()) {
        e.DrainOnce(drain_stop);
        for (int i = 0; i < 10 && !drain_stop.load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      }
    });
  }

  CpuMark cpu_start, cpu_end;
  bool cpu_started = false, cpu_ended = false;
  if (!run->open_loop) {
    for (int i = 0; i < c.inflight; ++i) e.IssueClosed(run);
    SleepUntilNs(run->measure_start_ns);
    cpu_start = MarkCpu(c.server_pid);
    cpu_started = true;
    if (run->messages_mode) {
      while (!run->stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      SleepUntilNs(run->measure_end_ns.load());
      cpu_end = MarkCpu(c.server_pid);
      cpu_ended = true;
      run->stop = true;
    }
  } else {
    const OpenLoopSchedule schedule(c.rate, run->start_ns);
    uint64_t next = 0;
    bool done = false;
    while (!done) {
      const int64_t now = NowNs();
      if (!cpu_started && now >= run->measure_start_ns) {
        cpu_start = MarkCpu(c.server_pid);
        cpu_started = true;
      }
      const uint64_t due = schedule.DueBy(now);
      while (next < due && run->inflight.load(std::memory_order_relaxed) <
                               static_cast<int64_t>(c.max_outstanding)) {
        const int64_t intended = schedule.IntendedTime(next);
        bool counted = false;
        if (intended >= run->measure_start_ns) {
          if (run->messages_mode) {
            const uint64_t k = run->counted_started.fetch_add(1);
            if (k >= run->messages_limit) {
              done = true;
              break;
            }
            if (k + 1 == run->messages_limit) run->measure_end_ns = intended + 1;
            counted = true;
          } else if (intended < run->measure_end_ns.load()) {
            counted = true;
          } else {
            done = true;
            break;
          }
        }
        e.Issue(run, e.next_index.fetch_add(1, std::memory_order_relaxed), intended, counted);
        ++next;
      }
      if (done) break;
      if (!run->messages_mode && now >= run->measure_end_ns.load() && next >= due) break;
      if (next < due) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));  // at max_outstanding
      } else {
        SleepUntilNs(std::min(schedule.IntendedTime(next), now + 1'000'000));
      }
    }
    run->stop = true;
    if (!run->messages_mode) {
      SleepUntilNs(run->measure_end_ns.load());
      cpu_end = MarkCpu(c.server_pid);
      cpu_ended = true;
    }
  }
  if (!cpu_started) cpu_start = MarkCpu(c.server_pid);

  // Wait for the calls in flight (each has a deadline).
  const int64_t give_up = NowNs() + ToNs(c.deadline + absl::Seconds(5));
  while (run->inflight.load() > 0 && NowNs() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!cpu_ended) cpu_end = MarkCpu(c.server_pid);
  if (run->inflight.load() > 0) {
    progress_stop = true;
    progress.join();
    drain_stop = true;
    if (drainer.joinable()) drainer.join();
    return absl::DeadlineExceededError("calls still in flight after their deadline");
  }
  // Deliveries of the last sends are still on their way to the subscribers.
  if (workload == Workload::kMix && !e.subscribers.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  progress_stop = true;
  progress.join();
  drain_stop = true;
  if (drainer.joinable()) drainer.join();
  if (c.progress && tty) std::cout << "\n";

  RunResult result;
  result.label = label;
  result.open_loop = run->open_loop;
  result.series = std::move(series);
  if (run->messages_mode) {
    const int64_t end = std::max(run->last_counted_done_ns.load(), run->measure_start_ns + 1);
    result.window_seconds = static_cast<double>(end - run->measure_start_ns) / 1e9;
  } else {
    result.window_seconds = absl::ToDoubleSeconds(c.duration);
  }
  for (size_t k = 0; k < kOpKinds; ++k) {
    const KindCounters& counters = run->kinds[k];
    OpFigures& f = result.ops[k];
    f.issued = counters.issued.load();
    f.ok = counters.ok.load();
    f.errors = counters.errors.load();
    for (int code = 0; code < kStatusCodes; ++code) {
      if (const uint64_t n = counters.codes[code].load(); n > 0) {
        const std::string name(CodeName(static_cast<grpc::StatusCode>(code)));
        f.errors_by_code[name] += n;
        result.total.errors_by_code[name] += n;
      }
    }
    f.latency = counters.latency.Total();
    result.total.issued += f.issued;
    result.total.ok += f.ok;
    result.total.errors += f.errors;
  }
  result.total.latency = run->all_latency.Total();
  result.offered_rate =
      run->open_loop ? c.rate : static_cast<double>(result.total.issued) / result.window_seconds;
  result.e2e = run->e2e.Total();
  result.e2e_delivered = run->e2e_counted.load();
  result.client_cpu_seconds = cpu_end.client - cpu_start.client;
  if (cpu_start.server.has_value() && cpu_end.server.has_value()) {
    result.server_cpu_seconds = *cpu_end.server - *cpu_start.server;
  }
  result.drain_rpcs = e.drain_rpcs.load() - drain_before;
  result.ack_rpcs = e.ack_rpcs.load() - acks_before;
  result.ack_errors = e.ack_errors.load() - ack_errors_before;
  result.crypto = CryptoSince(e.CryptoSnapshot(), crypto_before);
  e.current.store(nullptr, std::memory_order_release);
  if (result.total.ok == 0) {
    std::string why = "no call succeeded";
    for (const auto& [code, n] : result.total.errors_by_code) {
      why += Cat("; ", code, " x", n);
    }
    return absl::UnavailableError(why);
  }
  return result;
}

absl::StatusOr<StreamResult> LoadEngine::RunNoopStream() {
  Impl& e = *impl_;
  const EngineConfig& c = e.config;
  const absl::Duration window = c.messages > 0 ? absl::Seconds(5) : c.duration;
  const int64_t start = NowNs();
  const int64_t measure_start = start + ToNs(c.warmup);
  const int64_t measure_end = measure_start + ToNs(window);
  const absl::Duration deadline = c.warmup + window + c.deadline;
  std::atomic<uint64_t> received{0};
  uint64_t errors = 0;
  std::vector<std::unique_ptr<NoopStreamReader>> readers;
  for (auto& client : e.clients) {
    readers.push_back(
        std::make_unique<NoopStreamReader>(client->diagnostics(), c.payload, deadline, &received));
  }
  CpuMark cpu_start, cpu_end;
  uint64_t count_start = 0, count_end = 0;
  bool started = false;
  const bool tty = ::isatty(STDOUT_FILENO) != 0;
  int second = 0;
  uint64_t last = 0;
  std::string failure;
  for (;;) {
    const int64_t now = NowNs();
    if (!started && now >= measure_start) {
      count_start = received.load();
      cpu_start = MarkCpu(c.server_pid);
      started = true;
    }
    if (now >= measure_end) {
      count_end = received.load();
      cpu_end = MarkCpu(c.server_pid);
      break;
    }
    const int64_t tick = start + static_cast<int64_t>(second + 1) * 1'000'000'000;
    if (c.progress && now >= tick) {
      ++second;
      const uint64_t r = received.load();
      const std::string line = absl::StrFormat("[%3ds] %-7s noop-stream %9.0f msg/s", second,
                                               tick <= measure_start ? "warmup" : "measure",
                                               static_cast<double>(r - last));
      last = r;
      if (tty) {
        std::cout << "\r\033[K" << line << std::flush;
      } else {
        std::cout << line << "\n" << std::flush;
      }
    }
    // A stream that ended (all its messages sent) is replaced; one that
    // failed is counted and, unless every stream failed, replaced too.
    for (auto& reader : readers) {
      std::optional<grpc::Status> done = reader->Done();
      if (!done.has_value()) continue;
      if (!done->ok()) {
        ++errors;
        failure = Cat(CodeName(done->error_code()), " ", done->error_message());
        if (errors > 16) break;
      }
      const size_t i = static_cast<size_t>(&reader - readers.data());
      reader = std::make_unique<NoopStreamReader>(e.clients[i]->diagnostics(), c.payload, deadline,
                                                  &received);
    }
    if (errors > 16) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (auto& reader : readers) reader->Cancel();
  for (auto& reader : readers) {
    if (!reader->WaitDone(c.deadline + absl::Seconds(5))) (void)reader.release();
  }
  if (c.progress && tty) std::cout << "\n";
  if (errors > 16 || count_end <= count_start) {
    return absl::UnavailableError("NoopStream delivered nothing" +
                                  (failure.empty() ? std::string() : ": " + failure));
  }
  StreamResult result;
  result.streams = static_cast<int>(readers.size());
  result.payload = c.payload;
  result.window_seconds = absl::ToDoubleSeconds(window);
  result.messages = count_end - count_start;
  result.errors = errors;
  result.client_cpu_seconds = cpu_end.client - cpu_start.client;
  if (cpu_start.server.has_value() && cpu_end.server.has_value()) {
    result.server_cpu_seconds = *cpu_end.server - *cpu_start.server;
  }
  return result;
}

}  // namespace letterbox::sim
