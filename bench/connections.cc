// connections: server memory per idle subscribed device (the "connections"
// target of docs/performance.md, scripts/bench section 7).
//
//   connections --server 127.0.0.1:PORT --server-pid PID --devices 2000
//               --per-connection 1 --json out.json
//
// 1. Registers `devices` devices over 4 set-up channels (4 threads) and
//    sends each one envelope, so its Subscribe stream has something to
//    deliver at once.
// 2. Reads the server's VmRSS (/proc/PID/status) once it is stable.
// 3. Opens one Subscribe per device on fresh channels, `per-connection`
//    devices per channel (1 = one TCP connection per device, as real
//    devices connect), and waits until every stream has delivered its
//    envelope: that proves each stream is live in the server.
// 4. Reads VmRSS again once stable and reports (after - before) / devices.
// The streams stay idle during the second reading. The process then exits
// without tearing the streams down one by one (the server sees the
// connections close).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "letterbox/crypto/init.h"
#include "letterbox/crypto/random.h"
#include "letterbox/sim/raw_client.h"

namespace {

namespace sim = letterbox::sim;
namespace v1 = letterbox::v1;

// VmRSS of `pid` in KiB; nullopt if unreadable.
std::optional<long> RssKiB(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return std::nullopt;
}

// Samples RSS every 250 ms until two consecutive samples differ by less than
// 0.5 % (or 20 samples); returns the last.
std::optional<long> StableRss(int pid) {
  std::optional<long> last = RssKiB(pid);
  for (int i = 0; i < 20 && last; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::optional<long> now = RssKiB(pid);
    if (!now) return std::nullopt;
    const bool stable = std::abs(*now - *last) * 200 < *last;
    last = now;
    if (stable && i >= 3) break;
  }
  return last;
}

std::string RandomString(size_t n) {
  std::string s(n, '\0');
  letterbox::crypto::SystemRandom::Instance().Fill(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  return s;
}

struct Subscription {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientAsyncReader<v1::Envelope>> reader;
  v1::Envelope first;
  grpc::Status status;  // filled by Finish when the stream ended early
};

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv);
  if (flags.Has("help") || !flags.Has("server") || !flags.Has("server-pid")) {
    std::puts(
        "connections --server HOST:PORT --server-pid PID [--devices 2000]\n"
        "            [--per-connection 1] [--timeout 120] [--json FILE]");
    return flags.Has("help") ? 0 : 2;
  }
  if (!letterbox::crypto::Initialize().ok()) return 1;
  const std::string server = flags.String("server", "");
  const int pid = static_cast<int>(flags.Int("server-pid", 0));
  const int devices = static_cast<int>(std::max<int64_t>(1, flags.Int("devices", 2000)));
  const int per_connection =
      static_cast<int>(std::clamp<int64_t>(flags.Int("per-connection", 1), 1, 256));
  const double timeout = flags.Double("timeout", 120);
  const double t_start = bench::NowSeconds();

  // 1. Devices and one stored envelope each.
  constexpr int kSetupThreads = 4;
  auto setup_channels = sim::MakeChannels(server, kSetupThreads);
  std::vector<std::optional<sim::SimDevice>> registered(devices);
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kSetupThreads; ++t) {
    threads.emplace_back([&, t] {
      sim::RawClient client(setup_channels[t]);
      for (int i = next.fetch_add(1); i < devices && !failed; i = next.fetch_add(1)) {
        auto device = client.CreateDevice(
            sim::SetupOptions{.one_time_prekeys = 0, .upload_signed_prekey = false});
        if (!device.ok()) {
          std::fprintf(stderr, "connections: set-up: %s\n",
                       std::string(device.status().message()).c_str());
          failed = true;
          return;
        }
        registered[i] = std::move(*device);
      }
    });
  }
  for (auto& t : threads) t.join();
  threads.clear();
  if (failed) return 1;
  {
    sim::RawClient client(setup_channels[0]);
    const std::string ciphertext = RandomString(256);
    const std::string commitment = RandomString(32);
    for (int i = 0; i < devices; ++i) {
      v1::SendRequest request;
      request.set_message_id(RandomString(16));
      *request.mutable_recipient() = registered[i]->Address();
      request.set_ciphertext(ciphertext);
      request.set_franking_commitment(commitment);
      v1::SendResponse response;
      grpc::ClientContext context;
      registered[(i + 1) % devices]->session.Attach(context);
      sim::SetDeadline(context, absl::Seconds(10));
      grpc::Status s = client.messages().Send(&context, request, &response);
      if (!s.ok()) {
        std::fprintf(stderr, "connections: send: %s\n", s.error_message().c_str());
        return 1;
      }
    }
  }
  const double setup_s = bench::NowSeconds() - t_start;

  // 2. Baseline.
  const std::optional<long> before = StableRss(pid);
  if (!before) {
    std::fprintf(stderr, "connections: cannot read /proc/%d/status\n", pid);
    return 1;
  }

  // 3. Subscribe everyone.
  const int channel_count = (devices + per_connection - 1) / per_connection;
  const double t_sub = bench::NowSeconds();
  auto channels = sim::MakeChannels(server, channel_count);
  std::vector<std::unique_ptr<v1::MessageService::Stub>> stubs;
  for (const auto& c : channels) stubs.push_back(v1::MessageService::NewStub(c));
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Subscription>> subs(devices);
  // Tags: 3*i = StartCall done, 3*i+1 = first Read done, 3*i+2 = Finish
  // of a stream that ended before delivering (its status is tallied).
  for (int i = 0; i < devices; ++i) {
    subs[i] = std::make_unique<Subscription>();
    registered[i]->session.Attach(subs[i]->context);
    sim::SetDeadline(subs[i]->context, absl::Hours(1));
    v1::SubscribeRequest request;
    subs[i]->reader =
        stubs[i / per_connection]->PrepareAsyncSubscribe(&subs[i]->context, request, &cq);
    subs[i]->reader->StartCall(reinterpret_cast<void*>(static_cast<intptr_t>(3 * i)));
    subs[i]->reader->Read(&subs[i]->first,
                          reinterpret_cast<void*>(static_cast<intptr_t>(3 * i + 1)));
  }
  int delivered = 0;
  int failures = 0;
  int finished = 0;
  std::map<std::string, int> failure_codes;
  std::string first_failure;
  while ((delivered + failures < devices || finished < failures) &&
         bench::NowSeconds() - t_sub < timeout) {
    void* tag = nullptr;
    bool ok = false;
    const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(1);
    if (cq.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) continue;
    const intptr_t t = reinterpret_cast<intptr_t>(tag);
    const int i = static_cast<int>(t / 3);
    if (t % 3 == 1) {
      if (ok) {
        ++delivered;
      } else {
        ++failures;
        subs[i]->reader->Finish(&subs[i]->status,
                                reinterpret_cast<void*>(static_cast<intptr_t>(3 * i + 2)));
      }
    } else if (t % 3 == 2) {
      ++finished;
      ++failure_codes[std::string(sim::CodeName(subs[i]->status.error_code()))];
      if (first_failure.empty()) first_failure = subs[i]->status.error_message();
    }
  }
  const double subscribe_s = bench::NowSeconds() - t_sub;

  // 4. After.
  const std::optional<long> after = StableRss(pid);
  if (!after) return 1;
  const double per_sub_kib =
      delivered > 0 ? static_cast<double>(*after - *before) / delivered : 0.0;
  nlohmann::json out;
  out["devices"] = devices;
  out["subscribed"] = delivered;
  out["failed"] = failures;
  out["failed_by_code"] = failure_codes;
  out["first_failure"] = first_failure;
  out["per_connection"] = per_connection;
  out["connections"] = channel_count;
  out["rss_before_kib"] = *before;
  out["rss_after_kib"] = *after;
  out["rss_per_subscriber_kib"] = per_sub_kib;
  out["setup_seconds"] = setup_s;
  out["subscribe_seconds"] = subscribe_s;
  std::printf(
      "%d/%d subscribed (%d per connection, %d connections) in %.1f s; server RSS %ld -> "
      "%ld KiB: %.1f KiB per idle subscriber\n",
      delivered, devices, per_connection, channel_count, subscribe_s, *before, *after, per_sub_kib);
  for (const auto& [code, n] : failure_codes) {
    std::printf("  ended before delivering: %s x %d (first: %s)\n", code.c_str(), n,
                first_failure.c_str());
  }
  std::fflush(stdout);
  const bool ok = bench::WriteJson(flags.String("json", ""), out) && delivered == devices;
  // Thousands of live streams: leave them to the kernel instead of
  // cancelling and draining each (the server sees its connections close).
  std::_Exit(ok ? 0 : 1);
}
