// File: letterbox/client/device.h
//
// A device as a real app would run it, against the messaging server over
// gRPC: registration (or linking to an existing account), challenge-response
// login, prekey upload and top-up, end-to-end sessions with every device of
// every peer, multi-device sending, receiving by Fetch or Subscribe with
// de-duplication and acknowledgement, and sealed reports.
//
//   auto channel = grpc::CreateChannel("127.0.0.1:7443", grpc::InsecureChannelCredentials());
//   LB_ASSIGN_OR_RETURN(std::unique_ptr<Device> alice,
//                       Device::Register(channel, {.jurisdiction = "JP"}, DeviceOptions{}));
//   alice->SetCallbacks({.on_message = [](ReceivedMessage m) { ... }});
//   LB_RETURN_IF_ERROR(alice->Subscribe());
//   std::vector<AccountId> to = {bob_account};
//   LB_ASSIGN_OR_RETURN(SendReceipt r, alice->Send(to, crypto::AsBytes("hello")));
//
// Errors. Every RPC has a deadline (DeviceOptions::rpc_deadline; the
// Subscribe stream DeviceOptions::stream_deadline, after which it
// re-subscribes). Every failure is an absl::Status converted from the
// grpc::Status by FromGrpcStatus; nothing throws or aborts. An RPC answered
// UNAUTHENTICATED (expired session) triggers one fresh login and one retry.
//
// Message ids. The server keeps one idempotency receipt per (sender, message
// id), so one id cannot be stored twice by the same sender. A logical message
// has one random 16-byte id; each destination account gets the id
// WireMessageId(logical, account), the same for all of that account's
// devices; each of the sender's own other devices (which get a copy through a
// unary Send, since SendToAccount must list every device of an account,
// including the sender) gets WireMessageId(logical, own account, device).
// Retrying Send with the same logical id is safe: stored copies answer as
// duplicates and nothing is stored twice.
//
// Thread safety: every public method may be called from any thread. Crypto
// state is under one mutex, never held across an RPC. Callbacks run on the
// thread that processed the envelope (the Subscribe reader, or the caller of
// FetchAll) without any lock held; they must not call StopSubscription.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "letterbox/client/device_crypto.h"
#include "letterbox/client/profile.h"
#include "letterbox/client/received_message.h"
#include "letterbox/client/types.h"
#include "letterbox/crypto/random.h"
#include "letterbox/v1/accounts.grpc.pb.h"
#include "letterbox/v1/auth.grpc.pb.h"
#include "letterbox/v1/keys.grpc.pb.h"
#include "letterbox/v1/messages.grpc.pb.h"
#include "letterbox/v1/report_content.pb.h"
#include "letterbox/v1/reports.grpc.pb.h"

namespace letterbox::client {

struct DeviceOptions {
  // Deadline of every unary RPC.
  absl::Duration rpc_deadline = absl::Seconds(10);
  // Deadline of one Subscribe stream; the reader re-subscribes after it.
  absl::Duration stream_deadline = absl::Hours(1);
  // The one-time prekey pool is topped up to this size (at most 100, the
  // server's per-upload limit) ...
  uint32_t one_time_prekey_target = 100;
  // ... whenever the server says it is low, or this device has fewer unused
  // one-time prekey secrets than this.
  uint32_t one_time_prekey_low_water = 20;
  // Acks are sent in batches of this many (and at least every ack_interval
  // while subscribed, and at the end of every Fetch page).
  uint32_t ack_batch = 64;
  absl::Duration ack_interval = absl::Milliseconds(50);
  // How many (sender, message id) pairs are remembered for de-duplication.
  size_t dedup_capacity = 1 << 17;
  // How long a cached device list is used before ListDevices is asked again.
  absl::Duration device_list_ttl = absl::Seconds(60);
  // Must be thread-safe and outlive the device; nullptr: SystemRandom.
  crypto::Random* random = nullptr;
};

// What registration sends.
struct Registration {
  // One of the server's jurisdictions ("JP").
  std::string jurisdiction;
  // Encrypted with a fresh profile key before it leaves the device.
  Profile profile;
  // Optional E.164 number for discovery; the server hashes and discards it.
  std::string phone_number;
};

// Where one logical message went.
struct SendReceipt {
  MessageId logical_id;
  struct Delivery {
    AccountId account;
    MessageId message_id;  // the wire id used for these devices
    std::vector<uint32_t> device_ids;
    int64_t server_timestamp_micros = 0;
    bool duplicate = false;  // the server had stored it before (a retry)
  };
  // One per recipient account (with all its devices), then one per own
  // other device.
  std::vector<Delivery> deliveries;
  // How many SendToAccount calls were repeated after a device mismatch.
  int device_mismatch_retries = 0;
};

// Identifies an envelope that did not become a ReceivedMessage.
struct EnvelopeInfo {
  DeviceAddress sender;
  MessageId message_id;
  uint64_t envelope_id = 0;
};

// How received envelopes are handed to the application. Any may be empty.
struct ReceiveCallbacks {
  // A decrypted, verified, first-seen message.
  std::function<void(ReceivedMessage)> on_message;
  // An envelope whose (sender, message id) was already delivered (dropped).
  std::function<void(const EnvelopeInfo&)> on_duplicate;
  // An envelope that could not be parsed, decrypted or verified (dropped).
  std::function<void(const EnvelopeInfo&, const absl::Status&)> on_error;
};

class Device {
 public:
  // Creates an account with this device as device 1: fresh identity keys,
  // an encrypted profile, then login, a signed prekey and a full one-time
  // prekey pool. Errors: those of RegisterAccount, Login and the key uploads
  // (RESOURCE_EXHAUSTED when the server throttles registrations).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Device>> Register(
      std::shared_ptr<grpc::Channel> channel, const Registration& registration,
      DeviceOptions options);

  // Links a new device to this device's account (AddDevice, authorised by
  // this device), logs it in and uploads its keys. The new device shares the
  // profile key (a real app would pass it over a provisioning channel).
  // Errors: RESOURCE_EXHAUSTED (max devices), and those of Login/uploads.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Device>> LinkNewDevice();

  // Stops the subscription, if any.
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  [[nodiscard]] const DeviceAddress& address() const { return address_; }
  [[nodiscard]] const std::string& jurisdiction() const { return jurisdiction_; }

  // Challenge-response login; replaces the session token. Errors:
  // UNAUTHENTICATED, RESOURCE_EXHAUSTED (throttled), transport errors.
  [[nodiscard]] absl::Status Login();
  // Makes and uploads a new signed prekey (the previous ones stay usable for
  // messages already in flight).
  [[nodiscard]] absl::Status RotateSignedPrekey();
  // Asks the server how many one-time prekeys it holds and uploads new ones
  // up to one_time_prekey_target. Returns how many were uploaded.
  [[nodiscard]] absl::StatusOr<uint32_t> TopUpOneTimePrekeys();
  // The device ids of `account`, from the server (the cache is refreshed).
  [[nodiscard]] absl::StatusOr<std::vector<uint32_t>> ListDevices(const AccountId& account);

  // Sends `body` to every device of every account in `recipients` and to
  // this account's other devices, under a fresh logical id. Starts sessions
  // (ClaimBundle) where none exist. A device mismatch is resolved from the
  // status details (or ListDevices) and retried once per account. Errors:
  // INVALID_ARGUMENT (no recipients, body over kMaxBodyBytes, this account
  // among the recipients), the first RPC error otherwise (copies to earlier
  // accounts may already be stored: retry with the same logical id).
  [[nodiscard]] absl::StatusOr<SendReceipt> Send(std::span<const AccountId> recipients,
                                                 crypto::ByteView body);
  // The same with a chosen logical id (a retry of an earlier Send).
  [[nodiscard]] absl::StatusOr<SendReceipt> Send(std::span<const AccountId> recipients,
                                                 crypto::ByteView body,
                                                 const MessageId& logical_id);
  // The wire id of `logical_id` for the devices of `account` (see top).
  [[nodiscard]] static MessageId WireMessageId(const MessageId& logical_id,
                                               const AccountId& account);
  // The wire id of `logical_id` for one own other device (see top).
  [[nodiscard]] static MessageId WireMessageId(const MessageId& logical_id,
                                               const AccountId& account, uint32_t device_id);

  // Sets how received messages are delivered. Call before FetchAll or
  // Subscribe.
  void SetCallbacks(ReceiveCallbacks callbacks);

  // Pages through the mailbox from the start, processing every envelope
  // (decrypt, de-duplicate, deliver, acknowledge) and topping up one-time
  // prekeys when the server says the pool is low. Returns how many
  // envelopes were processed. Safe to run while subscribed.
  [[nodiscard]] absl::StatusOr<size_t> FetchAll();

  // Starts a reader thread on the Subscribe stream (and a thread that sends
  // acks every ack_interval). Re-logs in on UNAUTHENTICATED and re-subscribes
  // after the stream deadline or a transport error (with backoff, at most
  // 5 consecutive failures). FAILED_PRECONDITION if already subscribed.
  [[nodiscard]] absl::Status Subscribe();
  // Cancels the stream, joins the threads and sends pending acks. Returns
  // the error that ended the stream, or OK if it ended because of this call
  // (or no subscription was running).
  absl::Status StopSubscription();
  // Sends every pending ack now.
  [[nodiscard]] absl::Status FlushAcks();

  // The vault intake key from ReportService.GetVaultKey (cached after the
  // first success). Errors: as the RPC (e.g. FAILED_PRECONDITION or
  // UNAVAILABLE when the server has no vault key configured), and
  // INVALID_ARGUMENT for a key that is not 32 bytes.
  [[nodiscard]] absl::StatusOr<crypto::X25519PublicKey> GetVaultKey();
  // Builds a report of `messages` (received by this device), seals it to the
  // vault key and submits it under this account's jurisdiction. Returns the
  // server's 16-byte report id. Errors: as BuildReportContent, GetVaultKey
  // and SubmitReport (RESOURCE_EXHAUSTED when throttled).
  [[nodiscard]] absl::StatusOr<std::string> SubmitReport(
      v1::ReportCategory category, std::span<const ReceivedMessage* const> messages,
      std::string_view comment);

  struct Stats {
    uint64_t received = 0;    // delivered to on_message
    uint64_t duplicates = 0;  // dropped as already seen
    uint64_t undecryptable = 0;
    uint64_t acked = 0;
    uint64_t one_time_prekeys_uploaded = 0;
    uint64_t logins = 0;
    uint64_t resubscribes = 0;
  };
  [[nodiscard]] Stats stats() const;

 private:
  struct StatsCounters {
    std::atomic<uint64_t> received{0}, duplicates{0}, undecryptable{0}, acked{0},
        one_time_prekeys_uploaded{0}, logins{0}, resubscribes{0};
  };
  struct CachedDevices {
    std::vector<uint32_t> ids;
    absl::Time fetched;
  };

  Device(std::shared_ptr<grpc::Channel> channel, DeviceOptions options, crypto::Random& random,
         std::unique_ptr<DeviceCrypto> crypto, DeviceAddress address, std::string jurisdiction,
         ProfileKey profile_key);

  // Runs `rpc` with a deadline and the session token; on UNAUTHENTICATED logs
  // in once and runs it again with a fresh context.
  [[nodiscard]] absl::Status CallAuthenticated(
      const std::function<grpc::Status(grpc::ClientContext&)>& rpc);
  void PrepareContext(grpc::ClientContext& context, absl::Duration deadline, bool with_token);
  [[nodiscard]] absl::Status UploadInitialKeys();
  [[nodiscard]] absl::StatusOr<std::vector<uint32_t>> DevicesOf(const AccountId& account);
  // Seals for `peer`, first claiming its bundle if there is no session.
  [[nodiscard]] absl::StatusOr<SealedMessage> SealFor(const DeviceAddress& peer,
                                                      const MessageId& wire_id,
                                                      crypto::ByteView body);
  [[nodiscard]] absl::StatusOr<SendReceipt::Delivery> SendToOneAccount(const AccountId& account,
                                                                       const MessageId& wire_id,
                                                                       crypto::ByteView body,
                                                                       int* mismatch_retries);
  [[nodiscard]] absl::StatusOr<SendReceipt::Delivery> SendToOwnDevice(uint32_t device_id,
                                                                      const MessageId& wire_id,
                                                                      crypto::ByteView body);
  [[nodiscard]] absl::Status SendWithRetry(
      const std::function<grpc::Status(grpc::ClientContext&)>& rpc);
  void ProcessEnvelope(const v1::Envelope& envelope);
  void QueueAck(uint64_t envelope_id);
  void ReaderLoop();
  void AckLoop();
  void MaybeTopUp();

  std::shared_ptr<grpc::Channel> channel_;
  DeviceOptions options_;
  crypto::Random& random_;
  std::unique_ptr<v1::AccountService::Stub> accounts_;
  std::unique_ptr<v1::AuthService::Stub> auth_;
  std::unique_ptr<v1::KeyService::Stub> keys_;
  std::unique_ptr<v1::MessageService::Stub> messages_;
  std::unique_ptr<v1::ReportService::Stub> reports_;
  const DeviceAddress address_;
  const std::string jurisdiction_;
  const ProfileKey profile_key_;

  mutable absl::Mutex token_mu_;
  std::string bearer_ ABSL_GUARDED_BY(token_mu_);  // "Bearer <hex>"

  // The end-to-end state and the de-duplication memory.
  mutable absl::Mutex crypto_mu_;
  std::unique_ptr<DeviceCrypto> crypto_ ABSL_GUARDED_BY(crypto_mu_);
  absl::flat_hash_set<std::pair<DeviceAddress, MessageId>> seen_ ABSL_GUARDED_BY(crypto_mu_);
  std::deque<std::pair<DeviceAddress, MessageId>> seen_order_ ABSL_GUARDED_BY(crypto_mu_);

  absl::Mutex cache_mu_;
  absl::flat_hash_map<AccountId, CachedDevices> device_cache_ ABSL_GUARDED_BY(cache_mu_);
  std::optional<crypto::X25519PublicKey> vault_key_ ABSL_GUARDED_BY(cache_mu_);

  absl::Mutex callbacks_mu_;
  ReceiveCallbacks callbacks_ ABSL_GUARDED_BY(callbacks_mu_);

  absl::Mutex ack_mu_;
  std::vector<uint64_t> pending_acks_ ABSL_GUARDED_BY(ack_mu_);

  absl::Mutex sub_mu_;
  bool subscribed_ ABSL_GUARDED_BY(sub_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(sub_mu_) = false;
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(sub_mu_) = nullptr;
  absl::Status stream_status_ ABSL_GUARDED_BY(sub_mu_);
  std::thread reader_;
  std::thread acker_;
  uint64_t last_envelope_id_ = 0;  // reader thread only

  std::atomic<bool> topup_wanted_{false};
  std::atomic<bool> topup_running_{false};  // one top-up at a time
  StatsCounters stats_;
};

}  // namespace letterbox::client
