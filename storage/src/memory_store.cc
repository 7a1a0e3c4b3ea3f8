#include "letterbox/storage/memory_store.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/status.h"
#include "send_validation.h"

namespace letterbox::storage {

// Every store of the fake, over ordered maps guarded by one mutex. Each
// method runs entirely under the mutex, so every method is atomic and a
// concurrent identical Store is simply serialised (it never returns
// UNAVAILABLE, which the contract allows).
struct MemoryStores::Impl final : AccountStore,
                                  PrekeyStore,
                                  MailboxStore,
                                  SessionStore,
                                  OutboxStore {
  using ReceiptKey = std::pair<DeviceAddress, MessageId>;

  absl::Mutex mu;
  absl::flat_hash_map<AccountId, AccountRecord> accounts ABSL_GUARDED_BY(mu);
  std::map<DeviceAddress, DeviceRecord> devices ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<DiscoveryHandle, AccountId> discovery ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<DeviceAddress, SignedPrekey> signed_prekeys ABSL_GUARDED_BY(mu);
  std::map<DeviceAddress, std::map<uint32_t, OneTimePrekey>> one_time_prekeys ABSL_GUARDED_BY(mu);
  std::map<DeviceAddress, std::map<EnvelopeId, Envelope>> mailboxes ABSL_GUARDED_BY(mu);
  std::map<ReceiptKey, SendReceipt> receipts ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<TokenHash, SessionRecord> sessions ABSL_GUARDED_BY(mu);
  std::map<ReportId, OutboxReport> outbox ABSL_GUARDED_BY(mu);
  EnvelopeId next_envelope_id ABSL_GUARDED_BY(mu) = 1;

  // The devices of `account`, as a range of `devices`.
  auto DeviceRange(const AccountId& account) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return std::make_pair(devices.lower_bound(DeviceAddress{account, 0}),
                          devices.upper_bound(DeviceAddress{account, UINT32_MAX}));
  }

  // --- AccountStore ---

  absl::Status CreateAccount(const AccountRecord& account,
                             const DeviceRecord& first_device) override {
    absl::MutexLock lock(&mu);
    if (accounts.contains(account.id)) return absl::AlreadyExistsError("account exists");
    if (account.discovery_handle && discovery.contains(*account.discovery_handle)) {
      return absl::AlreadyExistsError("discovery handle taken");
    }
    AccountRecord stored = account;
    stored.next_device_id = 2;
    DeviceRecord device = first_device;
    device.id = 1;
    accounts[account.id] = stored;
    devices[DeviceAddress{account.id, 1}] = device;
    if (account.discovery_handle) discovery[*account.discovery_handle] = account.id;
    return absl::OkStatus();
  }

  absl::StatusOr<AccountRecord> GetAccount(const AccountId& id) override {
    absl::MutexLock lock(&mu);
    auto it = accounts.find(id);
    if (it == accounts.end()) return absl::NotFoundError("no such account");
    return it->second;
  }

  absl::StatusOr<AccountId> FindByDiscoveryHandle(const DiscoveryHandle& handle) override {
    absl::MutexLock lock(&mu);
    auto it = discovery.find(handle);
    if (it == discovery.end()) return absl::NotFoundError("no such discovery handle");
    return it->second;
  }

  absl::StatusOr<DeviceId> AddDevice(const AccountId& account, const DeviceRecord& device,
                                     uint32_t max_devices) override {
    absl::MutexLock lock(&mu);
    auto it = accounts.find(account);
    if (it == accounts.end()) return absl::NotFoundError("no such account");
    auto [begin, end] = DeviceRange(account);
    if (static_cast<uint64_t>(std::distance(begin, end)) >= max_devices) {
      return absl::ResourceExhaustedError("too many devices");
    }
    DeviceId id = it->second.next_device_id;
    if (id == UINT32_MAX) return absl::ResourceExhaustedError("device ids exhausted");
    it->second.next_device_id = id + 1;
    DeviceRecord stored = device;
    stored.id = id;
    devices[DeviceAddress{account, id}] = stored;
    return id;
  }

  absl::Status RemoveDevice(const DeviceAddress& device) override {
    absl::MutexLock lock(&mu);
    if (!devices.contains(device)) return absl::NotFoundError("no such device");
    auto [begin, end] = DeviceRange(device.account);
    if (std::distance(begin, end) <= 1) {
      return absl::FailedPreconditionError("cannot remove the last device");
    }
    devices.erase(device);
    signed_prekeys.erase(device);
    one_time_prekeys.erase(device);
    mailboxes.erase(device);
    absl::erase_if(sessions, [&](const auto& entry) { return entry.second.device == device; });
    return absl::OkStatus();
  }

  absl::StatusOr<DeviceRecord> GetDevice(const DeviceAddress& device) override {
    absl::MutexLock lock(&mu);
    auto it = devices.find(device);
    if (it == devices.end()) return absl::NotFoundError("no such device");
    return it->second;
  }

  absl::StatusOr<std::vector<DeviceRecord>> ListDevices(const AccountId& account) override {
    absl::MutexLock lock(&mu);
    if (!accounts.contains(account)) return absl::NotFoundError("no such account");
    std::vector<DeviceRecord> out;
    auto [begin, end] = DeviceRange(account);
    for (auto it = begin; it != end; ++it) out.push_back(it->second);
    return out;
  }

  // --- PrekeyStore ---

  absl::Status SetSignedPrekey(const DeviceAddress& device, const SignedPrekey& prekey) override {
    absl::MutexLock lock(&mu);
    if (!devices.contains(device)) return absl::NotFoundError("no such device");
    signed_prekeys[device] = prekey;
    return absl::OkStatus();
  }

  absl::Status AddOneTimePrekeys(const DeviceAddress& device,
                                 const std::vector<OneTimePrekey>& prekeys,
                                 uint32_t max_pool) override {
    absl::MutexLock lock(&mu);
    if (!devices.contains(device)) return absl::NotFoundError("no such device");
    std::map<uint32_t, OneTimePrekey> pool = one_time_prekeys[device];
    for (const OneTimePrekey& p : prekeys) pool[p.key_id] = p;
    if (pool.size() > max_pool) {
      return absl::ResourceExhaustedError("one-time prekey pool would exceed its cap");
    }
    one_time_prekeys[device] = std::move(pool);
    return absl::OkStatus();
  }

  absl::StatusOr<ClaimedPrekeys> Claim(const DeviceAddress& device) override {
    absl::MutexLock lock(&mu);
    auto spk = signed_prekeys.find(device);
    if (spk == signed_prekeys.end()) return absl::NotFoundError("no signed prekey for device");
    ClaimedPrekeys out{spk->second, std::nullopt};
    auto pool = one_time_prekeys.find(device);
    if (pool != one_time_prekeys.end() && !pool->second.empty()) {
      out.one_time_prekey = pool->second.begin()->second;
      pool->second.erase(pool->second.begin());
    }
    return out;
  }

  absl::StatusOr<uint32_t> CountOneTimePrekeys(const DeviceAddress& device) override {
    absl::MutexLock lock(&mu);
    if (!devices.contains(device)) return absl::NotFoundError("no such device");
    auto pool = one_time_prekeys.find(device);
    return pool == one_time_prekeys.end() ? 0u : static_cast<uint32_t>(pool->second.size());
  }

  // --- MailboxStore ---

  absl::StatusOr<StoreResult> Store(std::vector<Envelope> envelopes,
                                    const MailboxLimits& limits) override {
    LB_RETURN_IF_ERROR(internal::ValidateSend(envelopes));
    absl::MutexLock lock(&mu);
    ReceiptKey key{envelopes.front().sender, envelopes.front().message_id};
    if (auto it = receipts.find(key); it != receipts.end()) {
      return StoreResult{it->second, /*duplicate=*/true};
    }
    std::map<DeviceAddress, MailboxStats> added;
    for (const Envelope& e : envelopes) {
      added[e.recipient].envelopes += 1;
      added[e.recipient].bytes += e.ciphertext.size();
    }
    for (const auto& [recipient, add] : added) {
      MailboxStats now = StatsLocked(recipient);
      if (now.envelopes + add.envelopes > limits.max_envelopes ||
          now.bytes + add.bytes > limits.max_bytes) {
        return absl::ResourceExhaustedError("recipient mailbox is full");
      }
    }
    for (Envelope& e : envelopes) e.id = next_envelope_id++;
    SendReceipt receipt = internal::MakeReceipt(envelopes);
    for (Envelope& e : envelopes) {
      EnvelopeId id = e.id;
      mailboxes[e.recipient][id] = std::move(e);
    }
    receipts[key] = receipt;
    return StoreResult{std::move(receipt), /*duplicate=*/false};
  }

  absl::StatusOr<FetchResult> Fetch(const DeviceAddress& device, EnvelopeId after, uint32_t limit,
                                    int64_t not_before_micros) override {
    absl::MutexLock lock(&mu);
    FetchResult out;
    auto box = mailboxes.find(device);
    if (box == mailboxes.end()) return out;
    for (auto it = box->second.upper_bound(after); it != box->second.end(); ++it) {
      if (it->second.server_timestamp_micros < not_before_micros) continue;
      if (out.envelopes.size() >= limit) {
        out.more = true;
        break;
      }
      out.envelopes.push_back(it->second);
    }
    return out;
  }

  absl::StatusOr<uint32_t> Ack(const DeviceAddress& device,
                               const std::vector<EnvelopeId>& ids) override {
    absl::MutexLock lock(&mu);
    auto box = mailboxes.find(device);
    if (box == mailboxes.end()) return 0u;
    uint32_t deleted = 0;
    for (EnvelopeId id : ids) deleted += static_cast<uint32_t>(box->second.erase(id));
    return deleted;
  }

  absl::StatusOr<MailboxStats> Stats(const DeviceAddress& device) override {
    absl::MutexLock lock(&mu);
    return StatsLocked(device);
  }

  MailboxStats StatsLocked(const DeviceAddress& device) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    MailboxStats stats;
    auto box = mailboxes.find(device);
    if (box == mailboxes.end()) return stats;
    for (const auto& [id, e] : box->second) {
      stats.envelopes += 1;
      stats.bytes += e.ciphertext.size();
    }
    return stats;
  }

  absl::StatusOr<uint64_t> Expire(int64_t not_before_micros) override {
    absl::MutexLock lock(&mu);
    uint64_t removed = 0;
    for (auto& [device, box] : mailboxes) {
      removed += std::erase_if(box, [&](const auto& entry) {
        return entry.second.server_timestamp_micros < not_before_micros;
      });
    }
    removed += std::erase_if(receipts, [&](const auto& entry) {
      return entry.second.server_timestamp_micros < not_before_micros;
    });
    return removed;
  }

  // --- SessionStore ---

  absl::Status PutSession(const TokenHash& hash, const SessionRecord& session) override {
    absl::MutexLock lock(&mu);
    if (!sessions.try_emplace(hash, session).second) {
      return absl::AlreadyExistsError("session exists");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<SessionRecord> GetSession(const TokenHash& hash) override {
    absl::MutexLock lock(&mu);
    auto it = sessions.find(hash);
    if (it == sessions.end()) return absl::NotFoundError("no such session");
    return it->second;
  }

  absl::Status DeleteSession(const TokenHash& hash) override {
    absl::MutexLock lock(&mu);
    sessions.erase(hash);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> ExpireSessions(int64_t now_micros) override {
    absl::MutexLock lock(&mu);
    return static_cast<uint64_t>(absl::erase_if(
        sessions, [&](const auto& entry) { return entry.second.expires_micros < now_micros; }));
  }

  // --- OutboxStore ---

  absl::Status PutReport(const OutboxReport& report) override {
    absl::MutexLock lock(&mu);
    if (!outbox.try_emplace(report.id, report).second) {
      return absl::AlreadyExistsError("report exists");
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<OutboxReport>> ListReports(const std::optional<ReportId>& after,
                                                        uint32_t limit) override {
    absl::MutexLock lock(&mu);
    std::vector<OutboxReport> out;
    auto it = after ? outbox.upper_bound(*after) : outbox.begin();
    for (; it != outbox.end() && out.size() < limit; ++it) out.push_back(it->second);
    return out;
  }

  absl::Status DeleteReports(const std::vector<ReportId>& ids) override {
    absl::MutexLock lock(&mu);
    for (const ReportId& id : ids) outbox.erase(id);
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> CountReports() override {
    absl::MutexLock lock(&mu);
    return static_cast<uint64_t>(outbox.size());
  }
};

MemoryStores::MemoryStores() : impl_(std::make_unique<Impl>()) {}
MemoryStores::~MemoryStores() = default;

AccountStore& MemoryStores::accounts() { return *impl_; }
PrekeyStore& MemoryStores::prekeys() { return *impl_; }
MailboxStore& MemoryStores::mailboxes() { return *impl_; }
SessionStore& MemoryStores::sessions() { return *impl_; }
OutboxStore& MemoryStores::outbox() { return *impl_; }

}  // namespace letterbox::storage
