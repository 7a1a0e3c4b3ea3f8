// stream_send: stored messages per second through MessageService.SendStream
// (one long-lived stream per sending device), the "streamed sends" target of
// docs/performance.md (scripts/bench section 3).
//
//   stream_send --server 127.0.0.1:PORT --server-pid PID --devices 8 --channels 4
//               --window 256 --warmup 1 --seconds 4 --json out.json
//
// Registers `devices` devices (RawClient, the simulator's raw setup), then
// each device opens one SendStream on channel (index mod channels) and
// pipelines Sends to the other devices with at most `window` unanswered; a
// reader thread per stream counts the answers (code 0 = stored). The server
// handles one request of a stream at a time, so several streams are needed
// to use both cores. Needs a server started with a high
// --limit-sends-per-sender and --limit-max-mailbox-envelopes (scripts/bench
// does this); nothing drains the mailboxes.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "letterbox/crypto/init.h"
#include "letterbox/crypto/random.h"
#include "letterbox/sim/load_engine.h"
#include "letterbox/sim/raw_client.h"

namespace {

namespace sim = letterbox::sim;
namespace v1 = letterbox::v1;

std::string RandomString(size_t n) {
  std::string s(n, '\0');
  letterbox::crypto::SystemRandom::Instance().Fill(
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
  return s;
}

// A 16-byte message id unique per (stream, index).
std::string MessageId(uint32_t stream, uint64_t index, uint64_t salt) {
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i) id[i] = static_cast<char>((salt >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) id[8 + i] = static_cast<char>((stream >> (8 * i)) & 0xff);
  for (int i = 0; i < 4; ++i) id[12 + i] = static_cast<char>((index >> (8 * i)) & 0xff);
  return id;
}

struct StreamCounters {
  std::atomic<uint64_t> sent{0};
  std::atomic<uint64_t> answered{0};
  std::atomic<uint64_t> stored{0};
  std::atomic<uint64_t> errors{0};
  std::mutex mu;
  std::condition_variable cv;
};

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv);
  if (flags.Has("help") || !flags.Has("server")) {
    std::puts(
        "stream_send --server HOST:PORT [--server-pid PID] [--devices 8] [--channels 4]\n"
        "            [--window 256] [--payload 256] [--warmup 1] [--seconds 4] [--json FILE]");
    return flags.Has("help") ? 0 : 2;
  }
  if (!letterbox::crypto::Initialize().ok()) return 1;
  const std::string server = flags.String("server", "");
  const int server_pid = static_cast<int>(flags.Int("server-pid", 0));
  const int devices = static_cast<int>(std::max<int64_t>(2, flags.Int("devices", 8)));
  const int channel_count = static_cast<int>(std::max<int64_t>(1, flags.Int("channels", 4)));
  const uint64_t window = static_cast<uint64_t>(std::max<int64_t>(1, flags.Int("window", 256)));
  const size_t payload = static_cast<size_t>(flags.Int("payload", 256));
  const double warmup = flags.Double("warmup", 1.0);
  const double seconds = flags.Double("seconds", 4.0);

  auto channels = sim::MakeChannels(server, channel_count);
  std::vector<sim::SimDevice> registered;
  for (int d = 0; d < devices; ++d) {
    sim::RawClient client(channels[d % channel_count]);
    auto device = client.CreateDevice(
        sim::SetupOptions{.one_time_prekeys = 0, .upload_signed_prekey = false});
    if (!device.ok()) {
      std::fprintf(stderr, "stream_send: set-up: %s\n",
                   std::string(device.status().message()).c_str());
      return 1;
    }
    registered.push_back(std::move(*device));
  }

  const std::string ciphertext = RandomString(payload);
  const std::string commitment = RandomString(32);
  const uint64_t salt = static_cast<uint64_t>(bench::NowSeconds() * 1e6);
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<StreamCounters>> counters;
  std::vector<std::thread> threads;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReaderWriter<v1::SendRequest, v1::SendStreamResponse>>>
      streams;
  std::vector<std::unique_ptr<v1::MessageService::Stub>> stubs;
  for (int d = 0; d < devices; ++d) {
    stubs.push_back(v1::MessageService::NewStub(channels[d % channel_count]));
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    registered[d].session.Attach(*contexts.back());
    streams.push_back(stubs.back()->SendStream(contexts.back().get()));
    counters.push_back(std::make_unique<StreamCounters>());
  }
  for (int d = 0; d < devices; ++d) {
    StreamCounters& c = *counters[d];
    auto* stream = streams[d].get();
    // Writer: keeps at most `window` requests unanswered.
    threads.emplace_back([&, d, stream] {
      v1::SendRequest request;
      request.set_ciphertext(ciphertext);
      request.set_franking_commitment(commitment);
      uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        {
          std::unique_lock<std::mutex> lock(c.mu);
          c.cv.wait(lock,
                    [&] { return stop.load() || c.sent.load() - c.answered.load() < window; });
        }
        if (stop.load()) break;
        const sim::SimDevice& to = registered[(d + 1 + i % (devices - 1)) % devices];
        *request.mutable_recipient() = to.Address();
        request.set_message_id(MessageId(static_cast<uint32_t>(d), i++, salt));
        if (!stream->Write(request)) break;
        c.sent.fetch_add(1);
      }
      stream->WritesDone();
    });
    // Reader: counts answers.
    threads.emplace_back([&c, stream] {
      v1::SendStreamResponse response;
      while (stream->Read(&response)) {
        if (response.code() == 0) {
          c.stored.fetch_add(1, std::memory_order_relaxed);
        } else {
          c.errors.fetch_add(1, std::memory_order_relaxed);
        }
        c.answered.fetch_add(1);
        c.cv.notify_one();
      }
      c.cv.notify_one();
    });
  }
  auto totals = [&] {
    uint64_t stored = 0, errors = 0;
    for (auto& c : counters) {
      stored += c->stored.load();
      errors += c->errors.load();
    }
    return std::pair(stored, errors);
  };
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  const auto [stored0, errors0] = totals();
  const double cpu0 = bench::ProcessCpuSeconds();
  const auto server_cpu0 = server_pid ? sim::PidCpuSeconds(server_pid) : std::nullopt;
  const double t0 = bench::NowSeconds();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const auto [stored1, errors1] = totals();
  const double window_s = bench::NowSeconds() - t0;
  const double cpu = bench::ProcessCpuSeconds() - cpu0;
  const auto server_cpu1 = server_pid ? sim::PidCpuSeconds(server_pid) : std::nullopt;
  stop = true;
  for (auto& c : counters) c->cv.notify_all();
  for (size_t i = 0; i < threads.size(); i += 2) threads[i].join();  // writers
  for (size_t d = 0; d < streams.size(); ++d) {
    threads[2 * d + 1].join();
    streams[d]->Finish().ok();
  }

  const uint64_t stored = stored1 - stored0;
  const uint64_t errors = errors1 - errors0;
  nlohmann::json out;
  out["streams"] = devices;
  out["channels"] = channel_count;
  out["window"] = window;
  out["payload_bytes"] = payload;
  out["window_seconds"] = window_s;
  out["stored"] = stored;
  out["errors"] = errors;
  out["stored_per_s"] = stored / window_s;
  out["client_us_per_message"] = stored ? cpu * 1e6 / stored : 0.0;
  if (server_cpu0 && server_cpu1 && stored) {
    out["server_us_per_message"] = (*server_cpu1 - *server_cpu0) * 1e6 / stored;
  } else {
    out["server_us_per_message"] = nullptr;
  }
  std::printf(
      "SendStream: %d streams over %d channels, window %llu: %.0f stored msg/s (%llu "
      "errors); CPU per message: client %.1f us, server %s us\n",
      devices, channel_count, static_cast<unsigned long long>(window), stored / window_s,
      static_cast<unsigned long long>(errors), stored ? cpu * 1e6 / stored : 0.0,
      out["server_us_per_message"].is_null()
          ? "?"
          : std::to_string(out["server_us_per_message"].get<double>()).c_str());
  if (stored == 0) {
    std::fprintf(stderr, "stream_send: nothing stored\n");
    return 1;
  }
  return bench::WriteJson(flags.String("json", ""), out) ? 0 : 1;
}
