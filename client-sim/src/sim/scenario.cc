#include "sim/scenario.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "letterbox/client/device.h"
#include "letterbox/client/report.h"
#include "letterbox/client/types.h"

namespace letterbox::sim {

namespace {

namespace po = boost::program_options;
using client::AccountId;
using client::Device;
using client::DeviceAddress;
using client::MessageId;
using client::ReceivedMessage;

struct Options {
  std::string server = "127.0.0.1:7443";
  int users = 200;
  int messages_per_user = 10;
  double report_fraction = 0.05;
  uint64_t seed = 1;
  std::string plaintexts_file;
  std::string profiles_file;
  double offline_fraction = 0.2;
  std::string jurisdiction = "JP";
  int threads = 8;
  int deadline_ms = 10'000;
  int settle_seconds = 60;
  std::string json_file;
};

// What one sent message should produce on one device.
struct DeliveryKey {
  DeviceAddress recipient;
  DeviceAddress sender;
  MessageId message_id;

  friend bool operator==(const DeliveryKey&, const DeliveryKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const DeliveryKey& k) {
    return H::combine(std::move(h), k.recipient, k.sender, k.message_id);
  }
};

struct Delivered {
  int count = 0;
  std::string first_body;
};

// Everything the run expects and observes. Thread-safe.
class Ledger {
 public:
  void Expect(const DeliveryKey& key, const std::string& body, bool online) {
    absl::MutexLock lock(&mu_);
    expected_[key] = body;
    if (online) online_keys_.insert(key);
  }
  // A send that failed: its copies, if any arrive, are neither lost nor unexpected.
  void Forget(const DeliveryKey& key) {
    absl::MutexLock lock(&mu_);
    expected_.erase(key);
    online_keys_.erase(key);
    tolerated_.insert(key);
  }
  void OnMessage(const DeliveryKey& key, std::string body) {
    absl::MutexLock lock(&mu_);
    Delivered& d = delivered_[key];
    if (d.count++ == 0) d.first_body = std::move(body);
    if (online_keys_.contains(key) && d.count == 1) ++online_delivered_;
  }
  void OnError(const std::string& what) {
    absl::MutexLock lock(&mu_);
    if (errors_.size() < 10) errors_.push_back(what);
    ++error_count_;
  }
  void OnSuppressedDuplicate() { suppressed_.fetch_add(1); }

  // (expected online deliveries, delivered so far).
  std::pair<size_t, size_t> OnlineProgress() {
    absl::MutexLock lock(&mu_);
    return {online_keys_.size(), online_delivered_};
  }
  size_t DeliveredCount() {
    absl::MutexLock lock(&mu_);
    return delivered_.size();
  }

  struct Verdict {
    uint64_t expected = 0, delivered = 0, lost = 0, duplicated = 0, corrupted = 0,
             unexpected_deliveries = 0, receive_errors = 0;
    std::vector<std::string> sample_errors;
  };
  Verdict Verify() {
    absl::MutexLock lock(&mu_);
    Verdict v;
    v.expected = expected_.size();
    for (const auto& [key, body] : expected_) {
      auto it = delivered_.find(key);
      if (it == delivered_.end()) {
        ++v.lost;
        continue;
      }
      ++v.delivered;
      if (it->second.count > 1) ++v.duplicated;
      if (it->second.first_body != body) ++v.corrupted;
    }
    for (const auto& [key, d] : delivered_) {
      if (!expected_.contains(key) && !tolerated_.contains(key)) ++v.unexpected_deliveries;
    }
    v.receive_errors = error_count_;
    v.sample_errors = errors_;
    return v;
  }
  uint64_t suppressed() const { return suppressed_.load(); }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<DeliveryKey, std::string> expected_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<DeliveryKey> online_keys_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<DeliveryKey> tolerated_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<DeliveryKey, Delivered> delivered_ ABSL_GUARDED_BY(mu_);
  size_t online_delivered_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
  uint64_t error_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> suppressed_{0};
};

struct SimDevice {
  std::unique_ptr<Device> device;
  bool offline = false;
  absl::Mutex keep_mu;
  std::vector<ReceivedMessage> to_report ABSL_GUARDED_BY(keep_mu);
};

struct User {
  std::vector<std::unique_ptr<SimDevice>> devices;
  AccountId account;
  std::vector<size_t> conversations;
};

// Counters shown in the progress line and the summary.
struct Counters {
  std::atomic<uint64_t> registered{0}, devices{0}, sent{0}, send_errors{0}, reports{0},
      report_errors{0}, mismatch_retries{0}, throttled_retries{0};
};

// Runs fn(i) for i in [0, n) on `threads` threads.
void ParallelFor(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) {
    pool.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
    });
  }
  for (auto& th : pool) th.join();
}

// Retries `fn` while the server throttles (RESOURCE_EXHAUSTED) or is briefly
// unavailable, with capped exponential backoff, for at most `budget`.
template <typename Fn>
auto WithBackoff(Fn&& fn, Counters& counters, absl::Duration budget = absl::Seconds(120)) {
  const absl::Time give_up = absl::Now() + budget;
  absl::Duration wait = absl::Milliseconds(50);
  while (true) {
    auto result = fn();
    const absl::StatusCode code = result.status().code();
    const bool retry =
        code == absl::StatusCode::kResourceExhausted || code == absl::StatusCode::kUnavailable;
    if (!retry || absl::Now() + wait > give_up) return result;
    counters.throttled_retries.fetch_add(1);
    absl::SleepFor(wait);
    wait = std::min(wait * 2, absl::Seconds(2));
  }
}

absl::StatusOr<std::vector<std::string>> ReadLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

bool IsE164(const std::string& s) {
  if (s.size() < 9 || s.size() > 16 || s[0] != '+') return false;
  return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string Str(const crypto::SecretBytes& b) {
  return {reinterpret_cast<const char*>(b.Expose().data()), b.size()};
}

// The progress line: \r-updated on a terminal, a plain line every few
// seconds otherwise.
class Progress {
 public:
  explicit Progress(std::function<std::string()> line)
      : line_(std::move(line)), tty_(isatty(STDOUT_FILENO) != 0) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Progress() { Stop(); }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
      stop_ = true;
    }
    thread_.join();
    if (tty_) std::cout << "\r" << line_() << "\n" << std::flush;
  }
  void Phase(const std::string& name) {
    if (tty_) std::cout << "\n";
    std::cout << "phase: " << name << "\n" << std::flush;
  }

 private:
  void Run() {
    const absl::Duration every = tty_ ? absl::Milliseconds(250) : absl::Seconds(5);
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stop_), every);
        if (stop_) return;
      }
      if (tty_) {
        std::cout << "\r" << line_() << "\x1b[K" << std::flush;
      } else {
        std::cout << line_() << "\n" << std::flush;
      }
    }
  }

  std::function<std::string()> line_;
  const bool tty_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

int Run(const Options& opt) {
  const absl::Time start = absl::Now();
  std::mt19937_64 rng(opt.seed);

  std::vector<std::string> plaintexts, names, phones, emails;
  if (!opt.plaintexts_file.empty()) {
    auto lines = ReadLines(opt.plaintexts_file);
    if (!lines.ok()) {
      std::cerr << "letterbox-sim: " << lines.status().message() << "\n";
      return 2;
    }
    plaintexts = *std::move(lines);
  }
  if (!opt.profiles_file.empty()) {
    auto lines = ReadLines(opt.profiles_file);
    if (!lines.ok()) {
      std::cerr << "letterbox-sim: " << lines.status().message() << "\n";
      return 2;
    }
    for (std::string& l : *lines) {
      if (IsE164(l)) {
        phones.push_back(std::move(l));
      } else if (l.find('@') != std::string::npos) {
        emails.push_back(std::move(l));
      } else {
        names.push_back(std::move(l));
      }
    }
  }

  client::DeviceOptions device_options;
  device_options.rpc_deadline = absl::Milliseconds(opt.deadline_ms);

  // Enough connections that no HTTP/2 connection carries more than ~100
  // Subscribe streams (the server allows 256 per connection).
  const int channel_count = std::max(4, opt.users * 3 / 100 + 1);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < channel_count; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("letterbox.sim.channel", i);  // distinct args: a connection each
    channels.push_back(
        grpc::CreateCustomChannel(opt.server, grpc::InsecureChannelCredentials(), args));
  }

  Ledger ledger;
  Counters counters;
  std::vector<User> users(static_cast<size_t>(opt.users));
  std::vector<int> device_counts;
  for (int i = 0; i < opt.users; ++i) device_counts.push_back(1 + static_cast<int>(rng() % 3));

  Progress progress([&] {
    auto [expected_online, delivered_online] = ledger.OnlineProgress();
    return "users " + std::to_string(counters.registered.load()) + "/" + std::to_string(opt.users) +
           "  devices " + std::to_string(counters.devices.load()) + "  sent " +
           std::to_string(counters.sent.load()) + "  delivered " +
           std::to_string(ledger.DeliveredCount()) + " (online " +
           std::to_string(delivered_online) + "/" + std::to_string(expected_online) + ")" +
           "  reports " + std::to_string(counters.reports.load());
  });

  // --- Registration and linking.
  progress.Phase("register " + std::to_string(opt.users) + " users");
  std::atomic<bool> setup_failed{false};
  absl::Mutex first_error_mu;
  std::string first_error;
  auto fail = [&](const std::string& what, const absl::Status& s) {
    setup_failed = true;
    absl::MutexLock lock(&first_error_mu);
    if (first_error.empty()) first_error = what + ": " + s.ToString();
  };
  absl::Mutex phone_mu;
  absl::flat_hash_set<std::string> phones_used;
  ParallelFor(users.size(), opt.threads, [&](size_t u) {
    if (setup_failed) return;
    client::Registration reg;
    reg.jurisdiction = opt.jurisdiction;
    reg.profile.display_name =
        names.empty() ? "user " + std::to_string(u) : names[u % names.size()];
    if (!emails.empty()) reg.profile.email = emails[u % emails.size()];
    if (!phones.empty()) {
      reg.profile.phone_number = phones[u % phones.size()];
      absl::MutexLock lock(&phone_mu);
      if (phones_used.insert(reg.profile.phone_number).second) {
        reg.phone_number = reg.profile.phone_number;
      }
    }
    auto channel = channels[u % channels.size()];
    auto first =
        WithBackoff([&] { return Device::Register(channel, reg, device_options); }, counters);
    if (absl::IsAlreadyExists(first.status()) && !reg.phone_number.empty()) {
      reg.phone_number.clear();  // the number is registered already (an earlier run)
      first = WithBackoff([&] { return Device::Register(channel, reg, device_options); }, counters);
    }
    if (!first.ok()) return fail("register user " + std::to_string(u), first.status());
    User& user = users[u];
    user.account = (*first)->address().account;
    auto primary = std::make_unique<SimDevice>();
    primary->device = *std::move(first);
    user.devices.push_back(std::move(primary));
    counters.devices.fetch_add(1);
    for (int d = 1; d < device_counts[u]; ++d) {
      auto linked = WithBackoff([&] { return user.devices[0]->device->LinkNewDevice(); }, counters);
      if (!linked.ok()) return fail("link device for user " + std::to_string(u), linked.status());
      auto sim_device = std::make_unique<SimDevice>();
      sim_device->device = *std::move(linked);
      user.devices.push_back(std::move(sim_device));
      counters.devices.fetch_add(1);
    }
    counters.registered.fetch_add(1);
  });
  if (setup_failed) {
    progress.Stop();
    std::cerr << "letterbox-sim: setup failed: " << first_error << "\n";
    return 1;
  }

  // --- Offline devices, receive callbacks, subscriptions.
  size_t offline_devices = 0;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  for (User& user : users) {
    bool any_online = false;
    for (auto& d : user.devices) {
      d->offline = unit(rng) < opt.offline_fraction;
      any_online = any_online || !d->offline;
    }
    if (!any_online) user.devices[0]->offline = false;  // someone has to send
    for (auto& d : user.devices) offline_devices += d->offline ? 1 : 0;
  }
  const auto report_threshold = static_cast<uint32_t>(opt.report_fraction * 65536.0);
  for (User& user : users) {
    for (auto& d : user.devices) {
      SimDevice* sd = d.get();
      const DeviceAddress me = sd->device->address();
      sd->device->SetCallbacks(client::ReceiveCallbacks{
          .on_message =
              [&ledger, sd, me, report_threshold](ReceivedMessage m) {
                ledger.OnMessage({me, m.sender, m.message_id}, Str(m.body));
                // The wire id is a hash, so its first bytes pick a uniform sample.
                const uint32_t pick =
                    (uint32_t{m.message_id.data()[0]} << 8) | m.message_id.data()[1];
                if (pick < report_threshold) {
                  absl::MutexLock lock(&sd->keep_mu);
                  sd->to_report.push_back(std::move(m));
                }
              },
          .on_duplicate =
              [&ledger](const client::EnvelopeInfo&) { ledger.OnSuppressedDuplicate(); },
          .on_error =
              [&ledger, me](const client::EnvelopeInfo& info, const absl::Status& s) {
                ledger.OnError("device " + me.DebugString() + " envelope from " +
                               info.sender.DebugString() + ": " + s.ToString());
              }});
    }
  }
  progress.Phase("subscribe online devices");
  for (User& user : users) {
    for (auto& d : user.devices) {
      if (d->offline) continue;
      if (absl::Status s = d->device->Subscribe(); !s.ok()) {
        progress.Stop();
        std::cerr << "letterbox-sim: subscribe failed: " << s << "\n";
        return 1;
      }
    }
  }

  // --- Conversations: a few 1:1 partners each, and groups of 3-5.
  std::vector<std::vector<size_t>> conversations;
  if (opt.users >= 2) {
    std::set<std::pair<size_t, size_t>> pairs;
    for (size_t u = 0; u < users.size(); ++u) {
      for (int k = 0; k < 2; ++k) {
        size_t v = rng() % users.size();
        if (v == u) v = (v + 1) % users.size();
        pairs.insert({std::min(u, v), std::max(u, v)});
      }
    }
    for (const auto& [a, b] : pairs) conversations.push_back({a, b});
    if (opt.users >= 3) {
      const size_t groups = std::max<size_t>(1, users.size() / 4);
      for (size_t g = 0; g < groups; ++g) {
        const size_t size = std::min<size_t>(users.size(), 3 + rng() % 3);
        std::vector<size_t> members;
        while (members.size() < size) {
          const size_t m = rng() % users.size();
          if (std::find(members.begin(), members.end(), m) == members.end()) members.push_back(m);
        }
        conversations.push_back(std::move(members));
      }
    }
  }
  for (size_t c = 0; c < conversations.size(); ++c) {
    for (size_t m : conversations[c]) users[m].conversations.push_back(c);
  }

  // --- Messaging: round r, every user sends its r-th message.
  progress.Phase("exchange messages (" + std::to_string(conversations.size()) + " conversations)");
  std::vector<uint64_t> user_seeds;
  for (size_t u = 0; u < users.size(); ++u) user_seeds.push_back(rng());
  std::vector<std::mt19937_64> user_rngs(user_seeds.begin(), user_seeds.end());
  std::atomic<uint64_t> expected_total{0};
  for (int round = 0; round < opt.messages_per_user; ++round) {
    ParallelFor(users.size(), opt.threads, [&](size_t u) {
      User& user = users[u];
      if (user.conversations.empty()) return;
      std::mt19937_64& urng = user_rngs[u];
      const auto& members = conversations[user.conversations[urng() % user.conversations.size()]];
      std::vector<SimDevice*> online;
      for (auto& d : user.devices) {
        if (!d->offline) online.push_back(d.get());
      }
      Device& sender = *online[urng() % online.size()]->device;
      const std::string body =
          (plaintexts.empty() ? "message" : plaintexts[urng() % plaintexts.size()]) + " #" +
          std::to_string(u) + "." + std::to_string(round);
      MessageId logical;
      for (size_t i = 0; i < logical.size(); ++i) logical.data()[i] = static_cast<uint8_t>(urng());

      std::vector<AccountId> recipients;
      std::vector<std::pair<DeliveryKey, bool>> keys;
      for (size_t m : members) {
        if (m == u) continue;
        recipients.push_back(users[m].account);
        const MessageId wire = Device::WireMessageId(logical, users[m].account);
        for (auto& d : users[m].devices) {
          keys.push_back({{d->device->address(), sender.address(), wire}, !d->offline});
        }
      }
      for (auto& d : user.devices) {
        if (d->device.get() == &sender) continue;
        const DeviceAddress a = d->device->address();
        keys.push_back(
            {{a, sender.address(), Device::WireMessageId(logical, a.account, a.device_id)},
             !d->offline});
      }
      for (const auto& [key, online_key] : keys) ledger.Expect(key, body, online_key);
      auto receipt = WithBackoff(
          [&] { return sender.Send(recipients, crypto::AsBytes(body), logical); }, counters);
      if (!receipt.ok()) {
        for (const auto& [key, unused] : keys) ledger.Forget(key);
        counters.send_errors.fetch_add(1);
        ledger.OnError("send from " + sender.address().DebugString() + ": " +
                       receipt.status().ToString());
        return;
      }
      size_t stored = 0;
      for (const auto& d : receipt->deliveries) stored += d.device_ids.size();
      if (stored != keys.size()) {
        ledger.OnError("send from " + sender.address().DebugString() + " reached " +
                       std::to_string(stored) + " devices, expected " +
                       std::to_string(keys.size()));
      }
      counters.mismatch_retries.fetch_add(static_cast<uint64_t>(receipt->device_mismatch_retries));
      counters.sent.fetch_add(1);
      expected_total.fetch_add(keys.size());
    });
  }

  // --- Let subscribed devices drain.
  progress.Phase("wait for online deliveries");
  {
    const absl::Duration idle_limit = absl::Seconds(opt.settle_seconds);
    size_t last = 0;
    absl::Time last_change = absl::Now();
    while (true) {
      auto [want, got] = ledger.OnlineProgress();
      if (got >= want) break;
      if (got != last) {
        last = got;
        last_change = absl::Now();
      } else if (absl::Now() - last_change > idle_limit) {
        break;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }
  uint64_t stream_errors = 0;
  for (User& user : users) {
    for (auto& d : user.devices) {
      if (d->offline) continue;
      if (absl::Status s = d->device->StopSubscription(); !s.ok()) {
        ++stream_errors;
        ledger.OnError("subscription of " + d->device->address().DebugString() + ": " +
                       s.ToString());
      }
    }
  }

  // --- Offline devices come online and catch up by Fetch.
  progress.Phase("offline devices catch up (" + std::to_string(offline_devices) + ")");
  std::vector<SimDevice*> all_devices;
  for (User& user : users) {
    for (auto& d : user.devices) all_devices.push_back(d.get());
  }
  ParallelFor(all_devices.size(), opt.threads, [&](size_t i) {
    SimDevice* d = all_devices[i];
    if (!d->offline) return;
    auto n = WithBackoff([&] { return d->device->FetchAll(); }, counters);
    if (!n.ok())
      ledger.OnError("fetch on " + d->device->address().DebugString() + ": " +
                     n.status().ToString());
  });

  // --- Every mailbox must now be empty: everything was acknowledged.
  std::atomic<uint64_t> left_unacked{0};
  ParallelFor(all_devices.size(), opt.threads, [&](size_t i) {
    auto n = all_devices[i]->device->FetchAll();
    if (!n.ok()) {
      ledger.OnError("final fetch: " + n.status().ToString());
    } else {
      left_unacked.fetch_add(*n);
    }
  });

  // --- Reports.
  progress.Phase("report a sample of received messages");
  std::string reports_note;
  auto vault_key =
      users.empty()
          ? absl::StatusOr<crypto::X25519PublicKey>(absl::FailedPreconditionError("no users"))
          : users[0].devices[0]->device->GetVaultKey();
  size_t report_candidates = 0;
  for (SimDevice* d : all_devices) {
    absl::MutexLock lock(&d->keep_mu);
    report_candidates += d->to_report.size();
  }
  if (!vault_key.ok()) {
    reports_note = "reports skipped: GetVaultKey failed (" + vault_key.status().ToString() + ")";
  } else {
    const v1::ReportCategory categories[] = {
        v1::REPORT_CATEGORY_SPAM, v1::REPORT_CATEGORY_HARASSMENT, v1::REPORT_CATEGORY_FRAUD,
        v1::REPORT_CATEGORY_ILLEGAL_CONTENT, v1::REPORT_CATEGORY_OTHER};
    ParallelFor(all_devices.size(), opt.threads, [&](size_t i) {
      SimDevice* d = all_devices[i];
      std::vector<ReceivedMessage> kept;
      {
        absl::MutexLock lock(&d->keep_mu);
        kept.swap(d->to_report);
      }
      for (size_t at = 0; at < kept.size(); at += client::kMaxReportedMessages) {
        std::vector<const ReceivedMessage*> batch;
        for (size_t k = at; k < std::min(kept.size(), at + client::kMaxReportedMessages); ++k) {
          batch.push_back(&kept[k]);
        }
        auto id = WithBackoff(
            [&] {
              return d->device->SubmitReport(categories[(i + at) % 5], batch, "simulated report");
            },
            counters);
        if (id.ok()) {
          counters.reports.fetch_add(1);
        } else {
          counters.report_errors.fetch_add(1);
          ledger.OnError("report from " + d->device->address().DebugString() + ": " +
                         id.status().ToString());
        }
      }
    });
  }
  progress.Stop();

  // --- Verdict.
  const Ledger::Verdict v = ledger.Verify();
  uint64_t duplicates_suppressed = 0, acked = 0, prekeys_uploaded = 0, resubscribes = 0;
  for (SimDevice* d : all_devices) {
    const Device::Stats s = d->device->stats();
    acked += s.acked;
    prekeys_uploaded += s.one_time_prekeys_uploaded;
    resubscribes += s.resubscribes;
  }
  duplicates_suppressed = ledger.suppressed();
  const uint64_t unexpected_errors = v.receive_errors + v.unexpected_deliveries + left_unacked;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  std::cout << "scenario: " << opt.users << " users, " << all_devices.size() << " devices ("
            << offline_devices << " offline), " << conversations.size() << " conversations, "
            << seconds << " s\n";
  std::cout << "sent " << counters.sent.load() << " / expected deliveries " << v.expected
            << " / delivered " << v.delivered << " / lost " << v.lost << " / duplicated "
            << v.duplicated << " / corrupted " << v.corrupted << " / unexpected errors "
            << unexpected_errors << " / reports submitted " << counters.reports.load() << "\n";
  std::cout << "details: send errors " << counters.send_errors.load() << ", receive errors "
            << v.receive_errors << ", unexpected deliveries " << v.unexpected_deliveries
            << ", left unacknowledged " << left_unacked.load()
            << ", duplicates suppressed by the client " << duplicates_suppressed
            << ", device-mismatch retries " << counters.mismatch_retries.load()
            << ", throttled retries " << counters.throttled_retries.load() << ", acked " << acked
            << ", one-time prekeys uploaded " << prekeys_uploaded << ", resubscribes "
            << resubscribes << ", report candidates " << report_candidates << "\n";
  if (!reports_note.empty()) std::cout << reports_note << "\n";
  for (const std::string& e : v.sample_errors) std::cout << "error: " << e << "\n";

  const bool ok = v.lost == 0 && v.duplicated == 0 && v.corrupted == 0 && unexpected_errors == 0 &&
                  counters.send_errors.load() == 0 && counters.report_errors.load() == 0 &&
                  expected_total.load() == v.expected;
  std::cout << (ok ? "scenario: PASS" : "scenario: FAIL") << "\n" << std::flush;

  if (!opt.json_file.empty()) {
    nlohmann::json j = {
        {"mode", "scenario"},
        {"pass", ok},
        {"users", opt.users},
        {"devices", all_devices.size()},
        {"offline_devices", offline_devices},
        {"conversations", conversations.size()},
        {"seed", opt.seed},
        {"seconds", seconds},
        {"sent", counters.sent.load()},
        {"expected_deliveries", v.expected},
        {"delivered", v.delivered},
        {"lost", v.lost},
        {"duplicated", v.duplicated},
        {"corrupted", v.corrupted},
        {"unexpected_errors", unexpected_errors},
        {"send_errors", counters.send_errors.load()},
        {"receive_errors", v.receive_errors},
        {"unexpected_deliveries", v.unexpected_deliveries},
        {"left_unacknowledged", left_unacked.load()},
        {"duplicates_suppressed", duplicates_suppressed},
        {"device_mismatch_retries", counters.mismatch_retries.load()},
        {"throttled_retries", counters.throttled_retries.load()},
        {"reports_submitted", counters.reports.load()},
        {"report_errors", counters.report_errors.load()},
        {"reports_note", reports_note},
    };
    std::ofstream out(opt.json_file);
    out << j.dump(2) << "\n";
    if (!out) {
      std::cerr << "letterbox-sim: cannot write " << opt.json_file << "\n";
      return 1;
    }
  }
  return ok ? 0 : 1;
}

}  // namespace

int RunScenario(int argc, char** argv) {
  Options opt;
  po::options_description desc("letterbox-sim scenario [options]");
  desc.add_options()("help,h", "show this help")(
      "server", po::value(&opt.server)->default_value(opt.server), "server address host:port")(
      "users", po::value(&opt.users)->default_value(opt.users), "number of users")(
      "messages-per-user", po::value(&opt.messages_per_user)->default_value(opt.messages_per_user),
      "messages each user sends")(
      "report-fraction", po::value(&opt.report_fraction)->default_value(opt.report_fraction),
      "fraction of received messages reported (0..1)")(
      "seed", po::value(&opt.seed)->default_value(opt.seed), "seed of every random choice")(
      "plaintexts", po::value(&opt.plaintexts_file), "file whose lines are message bodies")(
      "profiles", po::value(&opt.profiles_file),
      "file whose lines are profile fields (names, E.164 phone numbers, e-mails)")(
      "offline-fraction", po::value(&opt.offline_fraction)->default_value(opt.offline_fraction),
      "fraction of devices that stay offline, then catch up by Fetch")(
      "jurisdiction", po::value(&opt.jurisdiction)->default_value(opt.jurisdiction),
      "jurisdiction of every account")(
      "threads", po::value(&opt.threads)->default_value(opt.threads), "client worker threads")(
      "deadline-ms", po::value(&opt.deadline_ms)->default_value(opt.deadline_ms),
      "deadline of every unary RPC")(
      "settle-seconds", po::value(&opt.settle_seconds)->default_value(opt.settle_seconds),
      "give up waiting for deliveries after this long without progress")(
      "json", po::value(&opt.json_file), "write the summary as JSON to this file");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "letterbox-sim scenario: " << e.what() << "\n" << desc;
    return 2;
  }
  if (vm.count("help") != 0) {
    std::cout << desc;
    return 0;
  }
  if (opt.users < 1 || opt.messages_per_user < 0 || opt.report_fraction < 0 ||
      opt.report_fraction > 1 || opt.offline_fraction < 0 || opt.offline_fraction > 1 ||
      opt.threads < 1 || opt.deadline_ms < 1 || opt.settle_seconds < 1) {
    std::cerr << "letterbox-sim scenario: option out of range\n" << desc;
    return 2;
  }
  return Run(opt);
}

}  // namespace letterbox::sim
