// File: letterbox/server/message_handler.h
//
// The logic of MessageService (messages.proto), free of gRPC. Send stamps
// each envelope with the authenticated sender, the server's clock and the
// franking tag
//   ComputeFrankingTag(K_frank, {commitment, sender.Encode(), recipient.Encode(),
//                                timestamp, message_id})
// and stores it (with the idempotency receipt) in one MailboxStore::Store
// call, then wakes the recipient's Subscribe streams through the notifier.
// The streaming RPCs (Subscribe, SendStream) are driven by reactors in the
// gRPC layer that call ReadMailbox and Send.
//
//   MessageHandler messages(context);
//   v1::SendResponse response;
//   absl::Status s = messages.Send(caller, request, &response);
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/server/handler_context.h"
#include "letterbox/server/principal.h"
#include "letterbox/server/rate_limiter.h"
#include "letterbox/v1/messages.pb.h"

namespace letterbox::server {

// Thread-safe. `caller` is a device principal. On error storage is unchanged.
class MessageHandler {
 public:
  explicit MessageHandler(const HandlerContext& context);

  // INVALID_ARGUMENT (ids, sizes), RESOURCE_EXHAUSTED (the sender's rate,
  // checked after validation; the recipient's mailbox caps), NOT_FOUND (no
  // such recipient device), UNAVAILABLE (the same message id is being
  // stored concurrently). A retry of a stored (sender, message id) returns
  // the first answer with duplicate = true and stores nothing.
  [[nodiscard]] absl::Status Send(const Principal& caller, const v1::SendRequest& request,
                                  v1::SendResponse* response);
  // As Send, for every device of one account in one atomic store; NOT_FOUND
  // if there is no such account; FAILED_PRECONDITION if the listed devices
  // are not exactly the account's devices, with a message naming the missing
  // and extra ids and a serialized v1::DeviceMismatch in the
  // kGrpcErrorDetailsPayload payload.
  [[nodiscard]] absl::Status SendToAccount(const Principal& caller,
                                           const v1::SendToAccountRequest& request,
                                           v1::SendResponse* response);
  // INVALID_ARGUMENT (limit above max_fetch_page). Expired envelopes are
  // skipped.
  [[nodiscard]] absl::Status Fetch(const Principal& caller, const v1::FetchRequest& request,
                                   v1::FetchResponse* response);
  // INVALID_ARGUMENT (no ids, or more than max_ack_batch). Idempotent.
  [[nodiscard]] absl::Status Ack(const Principal& caller, const v1::AckRequest& request,
                                 v1::AckResponse* response);

  // Up to `limit` unexpired envelopes of `device` after `after`, for the
  // Subscribe stream.
  [[nodiscard]] absl::StatusOr<storage::FetchResult> ReadMailbox(
      const storage::DeviceAddress& device, storage::EnvelopeId after, uint32_t limit);

 private:
  struct Item {
    storage::DeviceAddress recipient;
    const std::string* ciphertext = nullptr;
    const std::string* commitment = nullptr;
  };
  // Stamps, stores and notifies; fills `response`.
  absl::Status StoreEnvelopes(const Principal& caller, const storage::MessageId& message_id,
                              const std::vector<Item>& items, v1::SendResponse* response);
  absl::Status CheckPayload(const std::string& ciphertext, const std::string& commitment,
                            std::string_view field) const;

  const HandlerContext& context_;
  const crypto::FrankingTagger tagger_;  // keyed once with context_.keys.franking_key
  RateLimiter sends_per_sender_;
};

}  // namespace letterbox::server
