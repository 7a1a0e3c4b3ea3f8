// File: letterbox/storage/stores.h
//
// The storage seams of the messaging server. The server talks only to these
// interfaces; RocksDbStores (rocksdb_store.h) implements them on one RocksDB
// instance with a column family per data kind, and MemoryStores
// (memory_store.h) is the in-memory fake that tests use. Both pass the same
// contract tests (tests/storage/).
//
// Every method is thread-safe. Every method that changes more than one key
// applies all of its changes in one atomic write or none of them. A method
// that returns an error has changed nothing. Errors:
//   NOT_FOUND            the named record does not exist
//   ALREADY_EXISTS       a create would overwrite an existing record
//   RESOURCE_EXHAUSTED   a cap passed in `limits` would be exceeded
//   FAILED_PRECONDITION  the operation contradicts current state, or the
//                        store was opened read-only and the method writes
//   UNAVAILABLE          a concurrent identical request is in flight; retry
//   INVALID_ARGUMENT     the arguments contradict the method's contract (see Store)
//   INTERNAL             the storage engine failed (a generic message; the caller logs it)
//   DATA_LOSS            a stored record failed to decode (codec.h); never its bytes
//
//   MemoryStores stores;                       // or RocksDbStores::Open(...)
//   LB_RETURN_IF_ERROR(stores.accounts().CreateAccount(account, device));
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/storage/types.h"

namespace letterbox::storage {

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Creates `account` with `first_device` (whose id the store sets to 1) and,
  // if present, its discovery-handle index entry. ALREADY_EXISTS if the
  // account id or the discovery handle is taken.
  [[nodiscard]] virtual absl::Status CreateAccount(const AccountRecord& account,
                                                   const DeviceRecord& first_device) = 0;

  // NOT_FOUND if there is no such account.
  [[nodiscard]] virtual absl::StatusOr<AccountRecord> GetAccount(const AccountId& id) = 0;

  // The account registered with `handle`; NOT_FOUND if none.
  [[nodiscard]] virtual absl::StatusOr<AccountId> FindByDiscoveryHandle(
      const DiscoveryHandle& handle) = 0;

  // Adds a device (its `id` field is ignored) and returns the id the store
  // assigned. NOT_FOUND if the account does not exist; RESOURCE_EXHAUSTED if
  // the account already has `max_devices` devices.
  [[nodiscard]] virtual absl::StatusOr<DeviceId> AddDevice(const AccountId& account,
                                                           const DeviceRecord& device,
                                                           uint32_t max_devices) = 0;

  // Removes a device together with its prekeys, its mailbox and its
  // sessions, atomically. NOT_FOUND if absent; FAILED_PRECONDITION if it is
  // the account's last device.
  [[nodiscard]] virtual absl::Status RemoveDevice(const DeviceAddress& device) = 0;

  // NOT_FOUND if there is no such device.
  [[nodiscard]] virtual absl::StatusOr<DeviceRecord> GetDevice(const DeviceAddress& device) = 0;

  // The account's devices in id order; NOT_FOUND if there is no such account.
  [[nodiscard]] virtual absl::StatusOr<std::vector<DeviceRecord>> ListDevices(
      const AccountId& account) = 0;
};

class PrekeyStore {
 public:
  virtual ~PrekeyStore() = default;

  // Stores (or replaces) the device's signed prekey. NOT_FOUND if the device
  // does not exist.
  [[nodiscard]] virtual absl::Status SetSignedPrekey(const DeviceAddress& device,
                                                     const SignedPrekey& prekey) = 0;

  // Adds one-time prekeys to the device's pool; a key id already in the pool
  // is replaced. RESOURCE_EXHAUSTED if the pool would hold more than
  // `max_pool`; NOT_FOUND if the device does not exist.
  [[nodiscard]] virtual absl::Status AddOneTimePrekeys(const DeviceAddress& device,
                                                       const std::vector<OneTimePrekey>& prekeys,
                                                       uint32_t max_pool) = 0;

  // Hands out the signed prekey and removes and returns one one-time prekey
  // (the lowest key id), if any. Each one-time prekey is returned to exactly
  // one caller, whatever the concurrency. NOT_FOUND if the device does not
  // exist or has no signed prekey.
  [[nodiscard]] virtual absl::StatusOr<ClaimedPrekeys> Claim(const DeviceAddress& device) = 0;

  // How many one-time prekeys remain in the device's pool. NOT_FOUND if the
  // device does not exist.
  [[nodiscard]] virtual absl::StatusOr<uint32_t> CountOneTimePrekeys(
      const DeviceAddress& device) = 0;
};

struct MailboxLimits {
  uint32_t max_envelopes = 10'000;    // per recipient device
  uint64_t max_bytes = 256ull << 20;  // ciphertext bytes per recipient device
};

struct MailboxStats {
  uint64_t envelopes = 0;
  uint64_t bytes = 0;
};

struct FetchResult {
  std::vector<Envelope> envelopes;  // in arrival order
  bool more = false;                // true if envelopes past the last one remain
};

struct StoreResult {
  SendReceipt receipt;
  bool duplicate = false;  // true: a stored receipt for the same key was returned
};

class MailboxStore {
 public:
  virtual ~MailboxStore() = default;

  // Stores one Send: every envelope in `envelopes` (ids are assigned here,
  // strictly increasing) plus the idempotency receipt for (sender, message
  // id), in one atomic write. If a receipt for (sender, message_id) already
  // exists and has not expired, returns it with duplicate=true and writes
  // nothing. RESOURCE_EXHAUSTED if any recipient mailbox would exceed
  // `limits` (nothing is written then). UNAVAILABLE if the same (sender,
  // message id) is being stored concurrently. All envelopes must share the
  // same sender, message id and timestamp, and there must be at least one
  // (INVALID_ARGUMENT otherwise). Ids are never reused, even after a restart.
  [[nodiscard]] virtual absl::StatusOr<StoreResult> Store(std::vector<Envelope> envelopes,
                                                          const MailboxLimits& limits) = 0;

  // Up to `limit` envelopes of `device`'s mailbox with id > `after`, in
  // arrival order, skipping envelopes older than `not_before_micros`
  // (expired). An envelope is never returned while a Store of a lower id for
  // the same device is still being written, so a reader that pages with
  // `after` = the last id it saw never skips one that lands late; `more` is
  // then true even if the page is short or empty. A record that fails to
  // decode is never returned (Ack or Expire removes it).
  [[nodiscard]] virtual absl::StatusOr<FetchResult> Fetch(const DeviceAddress& device,
                                                          EnvelopeId after, uint32_t limit,
                                                          int64_t not_before_micros) = 0;

  // Deletes the listed envelopes from `device`'s mailbox. Ids that are not
  // there (already acknowledged, or never existed) are ignored, so Ack is
  // idempotent. Returns how many were deleted.
  [[nodiscard]] virtual absl::StatusOr<uint32_t> Ack(const DeviceAddress& device,
                                                     const std::vector<EnvelopeId>& ids) = 0;

  [[nodiscard]] virtual absl::StatusOr<MailboxStats> Stats(const DeviceAddress& device) = 0;

  // Deletes envelopes and idempotency receipts older than
  // `not_before_micros`. Returns how many records were removed.
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Expire(int64_t not_before_micros) = 0;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Stores a session under the hash of its token. ALREADY_EXISTS on collision.
  [[nodiscard]] virtual absl::Status PutSession(const TokenHash& hash,
                                                const SessionRecord& session) = 0;
  // NOT_FOUND if unknown. Expiry is the caller's check.
  [[nodiscard]] virtual absl::StatusOr<SessionRecord> GetSession(const TokenHash& hash) = 0;
  // Idempotent.
  [[nodiscard]] virtual absl::Status DeleteSession(const TokenHash& hash) = 0;
  // Deletes sessions that expired before `now_micros`; returns how many.
  [[nodiscard]] virtual absl::StatusOr<uint64_t> ExpireSessions(int64_t now_micros) = 0;
};

class OutboxStore {
 public:
  virtual ~OutboxStore() = default;
  // ALREADY_EXISTS if the id is taken.
  [[nodiscard]] virtual absl::Status PutReport(const OutboxReport& report) = 0;
  // Up to `limit` reports with id > `after` (all if `after` is empty), in id order.
  [[nodiscard]] virtual absl::StatusOr<std::vector<OutboxReport>> ListReports(
      const std::optional<ReportId>& after, uint32_t limit) = 0;
  // Deletes delivered reports; unknown ids are ignored (idempotent).
  [[nodiscard]] virtual absl::Status DeleteReports(const std::vector<ReportId>& ids) = 0;
  [[nodiscard]] virtual absl::StatusOr<uint64_t> CountReports() = 0;
};

// The set of stores the messaging server runs on.
class Stores {
 public:
  virtual ~Stores() = default;
  virtual AccountStore& accounts() = 0;
  virtual PrekeyStore& prekeys() = 0;
  virtual MailboxStore& mailboxes() = 0;
  virtual SessionStore& sessions() = 0;
  virtual OutboxStore& outbox() = 0;
};

}  // namespace letterbox::storage
