// File: fuzz/counting_stores.h
//
// A storage::Stores decorator that counts effective writes: every call that
// changed (or may have changed) stored state and returned OK adds one to
// writes(). It is the fuzz targets' cheap store digest: a request that was
// rejected must leave writes() where it was, because the handlers promise
// "on error storage is unchanged". Calls that return OK but change nothing
// by their contract (Ack of no envelope, Expire of nothing, a duplicate
// Store, a Claim that returns no one-time prekey) are not counted.
//
//   storage::MemoryStores memory;
//   CountingStores stores(memory);
//   const uint64_t before = stores.writes();
//   ... call a handler on `stores` ...
//   if (!status.ok()) FUZZ_CHECK(stores.writes() == before, "rejected request wrote");
//
// Not thread-safe (fuzz targets are single-threaded).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "letterbox/storage/stores.h"

namespace letterbox::fuzz {

class CountingStores final : public storage::Stores {
 public:
  explicit CountingStores(storage::Stores& inner)
      : accounts_(inner.accounts(), writes_),
        prekeys_(inner.prekeys(), writes_),
        mailboxes_(inner.mailboxes(), writes_),
        sessions_(inner.sessions(), writes_),
        outbox_(inner.outbox(), writes_) {}

  storage::AccountStore& accounts() override { return accounts_; }
  storage::PrekeyStore& prekeys() override { return prekeys_; }
  storage::MailboxStore& mailboxes() override { return mailboxes_; }
  storage::SessionStore& sessions() override { return sessions_; }
  storage::OutboxStore& outbox() override { return outbox_; }

  // Effective writes so far.
  [[nodiscard]] uint64_t writes() const { return writes_; }

 private:
  using Status = absl::Status;
  template <typename T>
  using StatusOr = absl::StatusOr<T>;

  class Accounts final : public storage::AccountStore {
   public:
    Accounts(storage::AccountStore& inner, uint64_t& writes) : inner_(inner), writes_(writes) {}
    Status CreateAccount(const storage::AccountRecord& account,
                         const storage::DeviceRecord& first_device) override {
      return Count(inner_.CreateAccount(account, first_device));
    }
    StatusOr<storage::AccountRecord> GetAccount(const storage::AccountId& id) override {
      return inner_.GetAccount(id);
    }
    StatusOr<storage::AccountId> FindByDiscoveryHandle(
        const storage::DiscoveryHandle& handle) override {
      return inner_.FindByDiscoveryHandle(handle);
    }
    StatusOr<storage::DeviceId> AddDevice(const storage::AccountId& account,
                                          const storage::DeviceRecord& device,
                                          uint32_t max_devices) override {
      auto out = inner_.AddDevice(account, device, max_devices);
      if (out.ok()) ++writes_;
      return out;
    }
    Status RemoveDevice(const storage::DeviceAddress& device) override {
      return Count(inner_.RemoveDevice(device));
    }
    StatusOr<storage::DeviceRecord> GetDevice(const storage::DeviceAddress& device) override {
      return inner_.GetDevice(device);
    }
    StatusOr<std::vector<storage::DeviceRecord>> ListDevices(
        const storage::AccountId& account) override {
      return inner_.ListDevices(account);
    }

   private:
    Status Count(Status s) {
      if (s.ok()) ++writes_;
      return s;
    }
    storage::AccountStore& inner_;
    uint64_t& writes_;
  };

  class Prekeys final : public storage::PrekeyStore {
   public:
    Prekeys(storage::PrekeyStore& inner, uint64_t& writes) : inner_(inner), writes_(writes) {}
    Status SetSignedPrekey(const storage::DeviceAddress& device,
                           const storage::SignedPrekey& prekey) override {
      Status s = inner_.SetSignedPrekey(device, prekey);
      if (s.ok()) ++writes_;
      return s;
    }
    Status AddOneTimePrekeys(const storage::DeviceAddress& device,
                             const std::vector<storage::OneTimePrekey>& prekeys,
                             uint32_t max_pool) override {
      Status s = inner_.AddOneTimePrekeys(device, prekeys, max_pool);
      if (s.ok() && !prekeys.empty()) ++writes_;
      return s;
    }
    StatusOr<storage::ClaimedPrekeys> Claim(const storage::DeviceAddress& device) override {
      auto out = inner_.Claim(device);
      if (out.ok() && out->one_time_prekey.has_value()) ++writes_;
      return out;
    }
    StatusOr<uint32_t> CountOneTimePrekeys(const storage::DeviceAddress& device) override {
      return inner_.CountOneTimePrekeys(device);
    }

   private:
    storage::PrekeyStore& inner_;
    uint64_t& writes_;
  };

  class Mailboxes final : public storage::MailboxStore {
   public:
    Mailboxes(storage::MailboxStore& inner, uint64_t& writes) : inner_(inner), writes_(writes) {}
    StatusOr<storage::StoreResult> Store(std::vector<storage::Envelope> envelopes,
                                         const storage::MailboxLimits& limits) override {
      auto out = inner_.Store(std::move(envelopes), limits);
      if (out.ok() && !out->duplicate) ++writes_;
      return out;
    }
    StatusOr<storage::FetchResult> Fetch(const storage::DeviceAddress& device,
                                         storage::EnvelopeId after, uint32_t limit,
                                         int64_t not_before_micros) override {
      return inner_.Fetch(device, after, limit, not_before_micros);
    }
    StatusOr<uint32_t> Ack(const storage::DeviceAddress& device,
                           const std::vector<storage::EnvelopeId>& ids) override {
      auto out = inner_.Ack(device, ids);
      if (out.ok() && *out > 0) ++writes_;
      return out;
    }
    StatusOr<storage::MailboxStats> Stats(const storage::DeviceAddress& device) override {
      return inner_.Stats(device);
    }
    StatusOr<uint64_t> Expire(int64_t not_before_micros) override {
      auto out = inner_.Expire(not_before_micros);
      if (out.ok() && *out > 0) ++writes_;
      return out;
    }

   private:
    storage::MailboxStore& inner_;
    uint64_t& writes_;
  };

  class Sessions final : public storage::SessionStore {
   public:
    Sessions(storage::SessionStore& inner, uint64_t& writes) : inner_(inner), writes_(writes) {}
    Status PutSession(const storage::TokenHash& hash,
                      const storage::SessionRecord& session) override {
      Status s = inner_.PutSession(hash, session);
      if (s.ok()) ++writes_;
      return s;
    }
    StatusOr<storage::SessionRecord> GetSession(const storage::TokenHash& hash) override {
      return inner_.GetSession(hash);
    }
    Status DeleteSession(const storage::TokenHash& hash) override {
      // Idempotent: counted only if there was a session to delete.
      const bool existed = inner_.GetSession(hash).ok();
      Status s = inner_.DeleteSession(hash);
      if (s.ok() && existed) ++writes_;
      return s;
    }
    StatusOr<uint64_t> ExpireSessions(int64_t now_micros) override {
      auto out = inner_.ExpireSessions(now_micros);
      if (out.ok() && *out > 0) ++writes_;
      return out;
    }

   private:
    storage::SessionStore& inner_;
    uint64_t& writes_;
  };

  class Outbox final : public storage::OutboxStore {
   public:
    Outbox(storage::OutboxStore& inner, uint64_t& writes) : inner_(inner), writes_(writes) {}
    Status PutReport(const storage::OutboxReport& report) override {
      Status s = inner_.PutReport(report);
      if (s.ok()) ++writes_;
      return s;
    }
    StatusOr<std::vector<storage::OutboxReport>> ListReports(
        const std::optional<storage::ReportId>& after, uint32_t limit) override {
      return inner_.ListReports(after, limit);
    }
    Status DeleteReports(const std::vector<storage::ReportId>& ids) override {
      // Idempotent: counted only if the count of stored reports went down.
      auto before = inner_.CountReports();
      Status s = inner_.DeleteReports(ids);
      auto after = inner_.CountReports();
      if (s.ok() && before.ok() && after.ok() && *after != *before) ++writes_;
      return s;
    }
    StatusOr<uint64_t> CountReports() override { return inner_.CountReports(); }

   private:
    storage::OutboxStore& inner_;
    uint64_t& writes_;
  };

  uint64_t writes_ = 0;
  Accounts accounts_;
  Prekeys prekeys_;
  Mailboxes mailboxes_;
  Sessions sessions_;
  Outbox outbox_;
};

}  // namespace letterbox::fuzz
