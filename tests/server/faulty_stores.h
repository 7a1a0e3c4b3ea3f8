// File: tests/server/faulty_stores.h
//
// A Stores for server tests that delegates to MemoryStores and fails the
// methods it is told to with INTERNAL, the way RocksDbStores reports an
// engine failure. Test-only.
//
//   FaultyStores stores;
//   TestServer t(TestServer::DefaultConfig(), &stores);
//   stores.Fail("mailboxes.Store");   // every Store now fails, writing nothing
//   ...
//   stores.ClearFaults();
//
// Method names are "<store>.<Method>" with <store> one of accounts, prekeys,
// mailboxes, sessions, outbox (e.g. "sessions.GetSession"). A failed call
// does not reach MemoryStores, so it changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/storage/memory_store.h"
#include "letterbox/storage/stores.h"

namespace letterbox::server::testing {

// The error every injected fault returns: what RocksDbStores returns for an
// engine failure.
inline absl::Status InjectedStorageFault() { return absl::InternalError("storage engine error"); }

class FaultyStores final : public storage::Stores {
 public:
  FaultyStores()
      : accounts_(*this), prekeys_(*this), mailboxes_(*this), sessions_(*this), outbox_(*this) {}

  // Every later call of `method` fails until ClearFaults(). Thread-safe.
  void Fail(const std::string& method) {
    absl::MutexLock lock(&mu_);
    failing_.insert(method);
  }
  // Every call succeeds again (as far as MemoryStores lets it). Thread-safe.
  void ClearFaults() {
    absl::MutexLock lock(&mu_);
    failing_.clear();
  }
  // How many calls of `method` were failed so far. Thread-safe.
  [[nodiscard]] uint64_t Failures(const std::string& method) const {
    absl::MutexLock lock(&mu_);
    auto it = failures_.find(method);
    return it == failures_.end() ? 0 : it->second;
  }

  storage::AccountStore& accounts() override { return accounts_; }
  storage::PrekeyStore& prekeys() override { return prekeys_; }
  storage::MailboxStore& mailboxes() override { return mailboxes_; }
  storage::SessionStore& sessions() override { return sessions_; }
  storage::OutboxStore& outbox() override { return outbox_; }

  // The underlying fake, to inspect what was written.
  storage::MemoryStores& inner() { return inner_; }

 private:
  // True (and counted) if `method` is set to fail.
  bool ShouldFail(const char* method) {
    absl::MutexLock lock(&mu_);
    if (!failing_.contains(method)) return false;
    ++failures_[method];
    return true;
  }

  class Accounts final : public storage::AccountStore {
   public:
    explicit Accounts(FaultyStores& s) : s_(s) {}
    absl::Status CreateAccount(const storage::AccountRecord& a,
                               const storage::DeviceRecord& d) override {
      if (s_.ShouldFail("accounts.CreateAccount")) return InjectedStorageFault();
      return s_.inner_.accounts().CreateAccount(a, d);
    }
    absl::StatusOr<storage::AccountRecord> GetAccount(const storage::AccountId& id) override {
      if (s_.ShouldFail("accounts.GetAccount")) return InjectedStorageFault();
      return s_.inner_.accounts().GetAccount(id);
    }
    absl::StatusOr<storage::AccountId> FindByDiscoveryHandle(
        const storage::DiscoveryHandle& h) override {
      if (s_.ShouldFail("accounts.FindByDiscoveryHandle")) return InjectedStorageFault();
      return s_.inner_.accounts().FindByDiscoveryHandle(h);
    }
    absl::StatusOr<storage::DeviceId> AddDevice(const storage::AccountId& a,
                                                const storage::DeviceRecord& d,
                                                uint32_t max_devices) override {
      if (s_.ShouldFail("accounts.AddDevice")) return InjectedStorageFault();
      return s_.inner_.accounts().AddDevice(a, d, max_devices);
    }
    absl::Status RemoveDevice(const storage::DeviceAddress& d) override {
      if (s_.ShouldFail("accounts.RemoveDevice")) return InjectedStorageFault();
      return s_.inner_.accounts().RemoveDevice(d);
    }
    absl::StatusOr<storage::DeviceRecord> GetDevice(const storage::DeviceAddress& d) override {
      if (s_.ShouldFail("accounts.GetDevice")) return InjectedStorageFault();
      return s_.inner_.accounts().GetDevice(d);
    }
    absl::StatusOr<std::vector<storage::DeviceRecord>> ListDevices(
        const storage::AccountId& a) override {
      if (s_.ShouldFail("accounts.ListDevices")) return InjectedStorageFault();
      return s_.inner_.accounts().ListDevices(a);
    }

   private:
    FaultyStores& s_;
  };

  class Prekeys final : public storage::PrekeyStore {
   public:
    explicit Prekeys(FaultyStores& s) : s_(s) {}
    absl::Status SetSignedPrekey(const storage::DeviceAddress& d,
                                 const storage::SignedPrekey& p) override {
      if (s_.ShouldFail("prekeys.SetSignedPrekey")) return InjectedStorageFault();
      return s_.inner_.prekeys().SetSignedPrekey(d, p);
    }
    absl::Status AddOneTimePrekeys(const storage::DeviceAddress& d,
                                   const std::vector<storage::OneTimePrekey>& p,
                                   uint32_t max_pool) override {
      if (s_.ShouldFail("prekeys.AddOneTimePrekeys")) return InjectedStorageFault();
      return s_.inner_.prekeys().AddOneTimePrekeys(d, p, max_pool);
    }
    absl::StatusOr<storage::ClaimedPrekeys> Claim(const storage::DeviceAddress& d) override {
      if (s_.ShouldFail("prekeys.Claim")) return InjectedStorageFault();
      return s_.inner_.prekeys().Claim(d);
    }
    absl::StatusOr<uint32_t> CountOneTimePrekeys(const storage::DeviceAddress& d) override {
      if (s_.ShouldFail("prekeys.CountOneTimePrekeys")) return InjectedStorageFault();
      return s_.inner_.prekeys().CountOneTimePrekeys(d);
    }

   private:
    FaultyStores& s_;
  };

  class Mailboxes final : public storage::MailboxStore {
   public:
    explicit Mailboxes(FaultyStores& s) : s_(s) {}
    absl::StatusOr<storage::StoreResult> Store(std::vector<storage::Envelope> envelopes,
                                               const storage::MailboxLimits& limits) override {
      if (s_.ShouldFail("mailboxes.Store")) return InjectedStorageFault();
      return s_.inner_.mailboxes().Store(std::move(envelopes), limits);
    }
    absl::StatusOr<storage::FetchResult> Fetch(const storage::DeviceAddress& d,
                                               storage::EnvelopeId after, uint32_t limit,
                                               int64_t not_before_micros) override {
      if (s_.ShouldFail("mailboxes.Fetch")) return InjectedStorageFault();
      return s_.inner_.mailboxes().Fetch(d, after, limit, not_before_micros);
    }
    absl::StatusOr<uint32_t> Ack(const storage::DeviceAddress& d,
                                 const std::vector<storage::EnvelopeId>& ids) override {
      if (s_.ShouldFail("mailboxes.Ack")) return InjectedStorageFault();
      return s_.inner_.mailboxes().Ack(d, ids);
    }
    absl::StatusOr<storage::MailboxStats> Stats(const storage::DeviceAddress& d) override {
      if (s_.ShouldFail("mailboxes.Stats")) return InjectedStorageFault();
      return s_.inner_.mailboxes().Stats(d);
    }
    absl::StatusOr<uint64_t> Expire(int64_t not_before_micros) override {
      if (s_.ShouldFail("mailboxes.Expire")) return InjectedStorageFault();
      return s_.inner_.mailboxes().Expire(not_before_micros);
    }

   private:
    FaultyStores& s_;
  };

  class Sessions final : public storage::SessionStore {
   public:
    explicit Sessions(FaultyStores& s) : s_(s) {}
    absl::Status PutSession(const storage::TokenHash& h, const storage::SessionRecord& r) override {
      if (s_.ShouldFail("sessions.PutSession")) return InjectedStorageFault();
      return s_.inner_.sessions().PutSession(h, r);
    }
    absl::StatusOr<storage::SessionRecord> GetSession(const storage::TokenHash& h) override {
      if (s_.ShouldFail("sessions.GetSession")) return InjectedStorageFault();
      return s_.inner_.sessions().GetSession(h);
    }
    absl::Status DeleteSession(const storage::TokenHash& h) override {
      if (s_.ShouldFail("sessions.DeleteSession")) return InjectedStorageFault();
      return s_.inner_.sessions().DeleteSession(h);
    }
    absl::StatusOr<uint64_t> ExpireSessions(int64_t now_micros) override {
      if (s_.ShouldFail("sessions.ExpireSessions")) return InjectedStorageFault();
      return s_.inner_.sessions().ExpireSessions(now_micros);
    }

   private:
    FaultyStores& s_;
  };

  class Outbox final : public storage::OutboxStore {
   public:
    explicit Outbox(FaultyStores& s) : s_(s) {}
    absl::Status PutReport(const storage::OutboxReport& r) override {
      if (s_.ShouldFail("outbox.PutReport")) return InjectedStorageFault();
      return s_.inner_.outbox().PutReport(r);
    }
    absl::StatusOr<std::vector<storage::OutboxReport>> ListReports(
        const std::optional<storage::ReportId>& after, uint32_t limit) override {
      if (s_.ShouldFail("outbox.ListReports")) return InjectedStorageFault();
      return s_.inner_.outbox().ListReports(after, limit);
    }
    absl::Status DeleteReports(const std::vector<storage::ReportId>& ids) override {
      if (s_.ShouldFail("outbox.DeleteReports")) return InjectedStorageFault();
      return s_.inner_.outbox().DeleteReports(ids);
    }
    absl::StatusOr<uint64_t> CountReports() override {
      if (s_.ShouldFail("outbox.CountReports")) return InjectedStorageFault();
      return s_.inner_.outbox().CountReports();
    }

   private:
    FaultyStores& s_;
  };

  storage::MemoryStores inner_;
  Accounts accounts_;
  Prekeys prekeys_;
  Mailboxes mailboxes_;
  Sessions sessions_;
  Outbox outbox_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> failing_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint64_t> failures_ ABSL_GUARDED_BY(mu_);
};

}  // namespace letterbox::server::testing
