// File: storage/src/send_validation.h (internal)
//
// Checks and helpers shared by both MailboxStore implementations, so the
// fake and the RocksDB store agree on what a well-formed Send is.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "letterbox/storage/types.h"

namespace letterbox::storage::internal {

// OK if `envelopes` is non-empty and every envelope shares the first one's
// sender, message id and timestamp; INVALID_ARGUMENT otherwise.
[[nodiscard]] inline absl::Status ValidateSend(const std::vector<Envelope>& envelopes) {
  if (envelopes.empty()) return absl::InvalidArgumentError("no envelopes to store");
  const Envelope& first = envelopes.front();
  for (const Envelope& e : envelopes) {
    if (e.sender != first.sender || e.message_id != first.message_id ||
        e.server_timestamp_micros != first.server_timestamp_micros) {
      return absl::InvalidArgumentError(
          "envelopes of one send must share sender, message id and timestamp");
    }
  }
  return absl::OkStatus();
}

// The receipt for `envelopes`, whose ids have been assigned.
[[nodiscard]] inline SendReceipt MakeReceipt(const std::vector<Envelope>& envelopes) {
  SendReceipt receipt;
  receipt.server_timestamp_micros = envelopes.front().server_timestamp_micros;
  receipt.deliveries.reserve(envelopes.size());
  for (const Envelope& e : envelopes) {
    receipt.deliveries.push_back({e.recipient, e.id, e.franking_tag});
  }
  return receipt;
}

// a - b, or 0 if b > a.
[[nodiscard]] inline uint64_t SaturatingSub(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

}  // namespace letterbox::storage::internal
