// storage_growth: how the storage cost of a Send, a Fetch and an Ack grows
// with the number of stored messages and of accounts (performance target
// "cost growth"), through RocksDbStores' MailboxStore / AccountStore /
// SessionStore API on one machine-local RocksDB (docs/performance.md,
// scripts/bench section 6).
//
//   storage_growth --dir /tmp/sg --messages 10000,100000,1000000
//                  --accounts 1000,10000,100000 --batch 5000 --reps 3 --json out.json
//
// Messages curve: one store is prefilled (Store calls from 2 threads) with
// envelopes spread over 1,000 background recipient devices up to each step.
// At each step and repetition, `batch` Sends are stored to batch/100 fresh
// measurement devices (100 each, interleaved), then each of those devices
// Fetches its 100 and Acks them; the figure is wall-clock µs per message
// of each phase, as the timing thread's CPU time (CLOCK_THREAD_CPUTIME_ID, so
// time spent waiting for a core on a loaded machine is not counted;
// RocksDB's background flush and compaction threads are not in it either)
// and as wall-clock time.
// Accounts curve: a second store is prefilled with accounts (one device and
// one session each). Each measured Send does what the server's Send does in
// storage: the sender's session lookup, the recipient's GetDevice, Store,
// for a random existing recipient; Fetch and Ack are preceded by the
// session lookup as on the server.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "letterbox/crypto/init.h"
#include "letterbox/crypto/random.h"
#include "letterbox/storage/rocksdb_store.h"

namespace {

namespace st = letterbox::storage;
namespace crypto = letterbox::crypto;

constexpr uint32_t kPerDevice = 100;
constexpr uint32_t kBackgroundDevices = 1000;

const st::MailboxLimits kNoLimits{.max_envelopes = 1u << 30, .max_bytes = 1ull << 50};

std::vector<uint64_t> ParseList(const std::string& s) {
  std::vector<uint64_t> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(static_cast<uint64_t>(std::stod(item)));
  }
  return out;
}

template <typename T>
T RandomFixed() {
  T t;
  crypto::SystemRandom::Instance().Fill(t.mutable_view());
  return t;
}

st::DeviceAddress RandomAddress() { return {RandomFixed<st::AccountId>(), 1}; }

// A Send's envelope as the server builds it (fixed fields random, ciphertext
// of `payload` bytes).
st::Envelope MakeEnvelope(const st::DeviceAddress& sender, const st::DeviceAddress& recipient,
                          const crypto::Bytes& ciphertext, int64_t now) {
  st::Envelope e;
  e.message_id = RandomFixed<st::MessageId>();
  e.sender = sender;
  e.recipient = recipient;
  e.server_timestamp_micros = now;
  e.franking_commitment = RandomFixed<crypto::Commitment>();
  e.franking_tag = RandomFixed<crypto::FrankingTag>();
  e.ciphertext = ciphertext;
  return e;
}

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Check(const absl::Status& s, const char* what) {
  if (s.ok()) return true;
  std::fprintf(stderr, "storage_growth: %s: %s\n", what, std::string(s.message()).c_str());
  return false;
}

// Thread-CPU µs per message of each phase, and the wall-clock µs (which
// on a loaded machine includes waiting for a core).
struct PhaseCost {
  double send_us = 0;
  double fetch_us = 0;
  double ack_us = 0;
  double send_wall_us = 0;
  double fetch_wall_us = 0;
  double ack_wall_us = 0;
};

// One measured repetition against `stores`. `pick_recipient(i)` chooses the
// recipient of message i among `recipients` (fresh or existing devices);
// `lookup` (if set) is called before each operation with the acting device
// to model the server's session + device lookups.
struct Measurer {
  st::RocksDbStores& stores;
  uint32_t batch;
  uint32_t payload;

  template <typename Lookup>
  std::optional<PhaseCost> Run(const std::vector<st::DeviceAddress>& recipients,
                               const st::DeviceAddress& sender, Lookup&& lookup) {
    const crypto::Bytes ciphertext(payload, 0x5a);
    const int64_t now = NowMicros();
    PhaseCost cost;
    double t0 = bench::NowSeconds();
    double c0 = bench::ThreadCpuSeconds();
    for (uint32_t i = 0; i < batch; ++i) {
      const st::DeviceAddress& to = recipients[i % recipients.size()];
      if (!lookup(sender, &to)) return std::nullopt;
      auto r = stores.mailboxes().Store({MakeEnvelope(sender, to, ciphertext, now)}, kNoLimits);
      if (!Check(r.status(), "Store")) return std::nullopt;
    }
    cost.send_us = (bench::ThreadCpuSeconds() - c0) * 1e6 / batch;
    cost.send_wall_us = (bench::NowSeconds() - t0) * 1e6 / batch;

    std::vector<std::vector<st::EnvelopeId>> ids(recipients.size());
    uint64_t fetched = 0;
    t0 = bench::NowSeconds();
    c0 = bench::ThreadCpuSeconds();
    for (size_t d = 0; d < recipients.size(); ++d) {
      if (!lookup(recipients[d], nullptr)) return std::nullopt;
      auto page = stores.mailboxes().Fetch(recipients[d], 0, kPerDevice, now - 3600'000'000LL);
      if (!Check(page.status(), "Fetch")) return std::nullopt;
      for (const st::Envelope& e : page->envelopes) ids[d].push_back(e.id);
      fetched += page->envelopes.size();
    }
    cost.fetch_us = (bench::ThreadCpuSeconds() - c0) * 1e6 / std::max<uint64_t>(fetched, 1);
    cost.fetch_wall_us = (bench::NowSeconds() - t0) * 1e6 / std::max<uint64_t>(fetched, 1);

    uint64_t acked = 0;
    t0 = bench::NowSeconds();
    c0 = bench::ThreadCpuSeconds();
    for (size_t d = 0; d < recipients.size(); ++d) {
      if (!lookup(recipients[d], nullptr)) return std::nullopt;
      auto n = stores.mailboxes().Ack(recipients[d], ids[d]);
      if (!Check(n.status(), "Ack")) return std::nullopt;
      acked += *n;
    }
    cost.ack_us = (bench::ThreadCpuSeconds() - c0) * 1e6 / std::max<uint64_t>(acked, 1);
    cost.ack_wall_us = (bench::NowSeconds() - t0) * 1e6 / std::max<uint64_t>(acked, 1);
    if (fetched != batch || acked != batch) {
      std::fprintf(stderr, "storage_growth: fetched %llu, acked %llu of %u\n",
                   static_cast<unsigned long long>(fetched), static_cast<unsigned long long>(acked),
                   batch);
      return std::nullopt;
    }
    return cost;
  }
};

nlohmann::json CostJson(const PhaseCost& c) {
  return {{"send_us", c.send_us},
          {"fetch_us", c.fetch_us},
          {"ack_us", c.ack_us},
          {"send_wall_us", c.send_wall_us},
          {"fetch_wall_us", c.fetch_wall_us},
          {"ack_wall_us", c.ack_wall_us}};
}

std::unique_ptr<st::RocksDbStores> OpenFresh(const std::string& path) {
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  auto stores = st::RocksDbStores::Open({.path = path});
  if (!stores.ok()) {
    std::fprintf(stderr, "storage_growth: open %s: %s\n", path.c_str(),
                 std::string(stores.status().message()).c_str());
    return nullptr;
  }
  return std::move(*stores);
}

// Stores envelopes until `stored` reaches `target`, from 2 threads, spread
// over the background devices.
bool PrefillMessages(st::RocksDbStores& stores, const std::vector<st::DeviceAddress>& background,
                     uint64_t& stored, uint64_t target, uint32_t payload) {
  const crypto::Bytes ciphertext(payload, 0x33);
  std::atomic<uint64_t> next{stored};
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      const st::DeviceAddress sender = RandomAddress();
      const int64_t now = NowMicros();
      for (uint64_t i = next.fetch_add(1); i < target && !failed; i = next.fetch_add(1)) {
        auto r = stores.mailboxes().Store(
            {MakeEnvelope(sender, background[i % background.size()], ciphertext, now)}, kNoLimits);
        if (!r.ok()) {
          Check(r.status(), "prefill Store");
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  stored = target;
  return !failed;
}

struct Account {
  st::DeviceAddress device;
  st::TokenHash session;
};

bool PrefillAccounts(st::RocksDbStores& stores, std::vector<Account>& accounts, uint64_t target) {
  std::atomic<bool> failed{false};
  const size_t start = accounts.size();
  accounts.resize(target);
  std::atomic<uint64_t> next{start};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = next.fetch_add(1); i < target && !failed; i = next.fetch_add(1)) {
        st::AccountRecord account;
        account.id = RandomFixed<st::AccountId>();
        account.jurisdiction = "JP";
        account.created_micros = NowMicros();
        st::DeviceRecord device;
        device.identity_signing_key = RandomFixed<crypto::Ed25519PublicKey>();
        device.identity_dh_key = RandomFixed<crypto::X25519PublicKey>();
        device.identity_dh_signature = RandomFixed<crypto::Ed25519Signature>();
        device.created_micros = account.created_micros;
        Account a{.device = {account.id, 1}, .session = RandomFixed<st::TokenHash>()};
        absl::Status s = stores.accounts().CreateAccount(account, device);
        if (s.ok()) {
          s = stores.sessions().PutSession(
              a.session, {.device = a.device, .expires_micros = NowMicros() + 86'400'000'000LL});
        }
        if (!Check(s, "prefill account")) failed = true;
        accounts[i] = a;
      }
    });
  }
  for (auto& t : threads) t.join();
  return !failed;
}

// Median of each phase over `reps`.
PhaseCost Median(std::vector<PhaseCost> v) {
  auto med = [&](auto field) {
    std::vector<double> x;
    for (const auto& c : v) x.push_back(c.*field);
    std::sort(x.begin(), x.end());
    return x[x.size() / 2];
  };
  return {med(&PhaseCost::send_us),       med(&PhaseCost::fetch_us),
          med(&PhaseCost::ack_us),        med(&PhaseCost::send_wall_us),
          med(&PhaseCost::fetch_wall_us), med(&PhaseCost::ack_wall_us)};
}

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv);
  if (flags.Has("help")) {
    std::puts(
        "storage_growth --dir DIR [--messages 1e4,1e5,1e6] [--accounts 1e3,1e4,1e5]\n"
        "               [--batch 5000] [--reps 3] [--payload 256] [--json FILE]");
    return 0;
  }
  if (!letterbox::crypto::Initialize().ok()) return 1;
  const std::string dir = flags.String("dir", "/tmp/letterbox-storage-growth");
  const auto message_steps = ParseList(flags.String("messages", "1e4,1e5,1e6"));
  const auto account_steps = ParseList(flags.String("accounts", "1e3,1e4,1e5"));
  const uint32_t batch =
      std::max<uint32_t>(kPerDevice, static_cast<uint32_t>(flags.Int("batch", 5000)));
  const int reps = static_cast<int>(std::max<int64_t>(1, flags.Int("reps", 3)));
  const uint32_t payload = static_cast<uint32_t>(flags.Int("payload", 256));
  const uint32_t devices_per_rep = batch / kPerDevice;
  const uint32_t measured = devices_per_rep * kPerDevice;

  nlohmann::json out;
  out["batch"] = measured;
  out["reps"] = reps;
  out["payload_bytes"] = payload;

  // --- messages curve ---
  {
    auto stores = OpenFresh(dir + "/messages");
    if (!stores) return 1;
    std::vector<st::DeviceAddress> background;
    for (uint32_t i = 0; i < kBackgroundDevices; ++i) background.push_back(RandomAddress());
    uint64_t stored = 0;
    nlohmann::json curve = nlohmann::json::array();
    std::printf("messages curve (batch %u, %d reps, thread-CPU µs per message, median)\n", measured,
                reps);
    std::printf("%12s %10s %10s %10s %10s\n", "stored", "send", "fetch", "ack", "prefill_s");
    for (uint64_t step : message_steps) {
      const double p0 = bench::NowSeconds();
      if (!PrefillMessages(*stores, background, stored, step, payload)) return 1;
      const double prefill_s = bench::NowSeconds() - p0;
      Measurer m{*stores, measured, payload};
      std::vector<PhaseCost> runs;
      nlohmann::json reps_json = nlohmann::json::array();
      for (int r = 0; r < reps; ++r) {
        std::vector<st::DeviceAddress> fresh;
        for (uint32_t d = 0; d < devices_per_rep; ++d) fresh.push_back(RandomAddress());
        auto cost = m.Run(fresh, RandomAddress(),
                          [](const st::DeviceAddress&, const st::DeviceAddress*) { return true; });
        if (!cost) return 1;
        runs.push_back(*cost);
        reps_json.push_back(CostJson(*cost));
      }
      const PhaseCost med = Median(runs);
      std::printf("%12llu %10.2f %10.2f %10.2f %10.1f\n", static_cast<unsigned long long>(step),
                  med.send_us, med.fetch_us, med.ack_us, prefill_s);
      std::fflush(stdout);
      curve.push_back({{"stored_messages", step},
                       {"prefill_seconds", prefill_s},
                       {"median", CostJson(med)},
                       {"runs", reps_json}});
    }
    out["messages"] = curve;
  }
  std::filesystem::remove_all(dir + "/messages");

  // --- accounts curve ---
  {
    auto stores = OpenFresh(dir + "/accounts");
    if (!stores) return 1;
    std::vector<Account> accounts;
    nlohmann::json curve = nlohmann::json::array();
    std::mt19937_64 rng(42);
    std::printf(
        "accounts curve (batch %u, %d reps, thread-CPU µs per message incl. session + device "
        "lookups, median)\n",
        measured, reps);
    std::printf("%12s %10s %10s %10s %10s\n", "accounts", "send", "fetch", "ack", "prefill_s");
    for (uint64_t step : account_steps) {
      const double p0 = bench::NowSeconds();
      if (!PrefillAccounts(*stores, accounts, step)) return 1;
      const double prefill_s = bench::NowSeconds() - p0;
      Measurer m{*stores, measured, payload};
      std::vector<PhaseCost> runs;
      nlohmann::json reps_json = nlohmann::json::array();
      for (int r = 0; r < reps; ++r) {
        std::vector<st::DeviceAddress> recipients;
        const Account& sender = accounts[rng() % accounts.size()];
        while (recipients.size() < devices_per_rep) {
          const Account& a = accounts[rng() % accounts.size()];
          if (a.device == sender.device ||
              std::find(recipients.begin(), recipients.end(), a.device) != recipients.end()) {
            continue;
          }
          recipients.push_back(a.device);
        }
        // Session lookup of the actor (the sender's token for sends; for
        // Fetch/Ack the recipient's own token, looked up by its hash) and,
        // for sends, the recipient device lookup.
        auto lookup = [&](const st::DeviceAddress& actor, const st::DeviceAddress* to) {
          const st::TokenHash& token =
              actor == sender.device ? sender.session : accounts[rng() % accounts.size()].session;
          if (!Check(stores->sessions().GetSession(token).status(), "GetSession")) return false;
          if (to != nullptr) return Check(stores->accounts().GetDevice(*to).status(), "GetDevice");
          return true;
        };
        auto cost = m.Run(recipients, sender.device, lookup);
        if (!cost) return 1;
        runs.push_back(*cost);
        reps_json.push_back(CostJson(*cost));
      }
      const PhaseCost med = Median(runs);
      std::printf("%12llu %10.2f %10.2f %10.2f %10.1f\n", static_cast<unsigned long long>(step),
                  med.send_us, med.fetch_us, med.ack_us, prefill_s);
      std::fflush(stdout);
      curve.push_back({{"accounts", step},
                       {"prefill_seconds", prefill_s},
                       {"median", CostJson(med)},
                       {"runs", reps_json}});
    }
    out["accounts"] = curve;
  }
  std::filesystem::remove_all(dir);
  return bench::WriteJson(flags.String("json", ""), out) ? 0 : 1;
}
