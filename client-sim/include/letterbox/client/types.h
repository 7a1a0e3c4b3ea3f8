// File: letterbox/client/types.h
//
// Identifiers a client works with: account ids, device addresses and message
// ids, as distinct types so one cannot be passed for another.
//
//   DeviceAddress peer{account_id, 2};
//   absl::flat_hash_map<DeviceAddress, Session> sessions;
//   std::string label = peer.DebugString();   // "3f9a…:2" (public data only)
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "letterbox/crypto/bytes.h"

namespace letterbox::client {

inline constexpr size_t kAccountIdSize = 16;
inline constexpr size_t kMessageIdSize = 16;

// An account's random 16-byte id, as the server assigned it.
using AccountId = crypto::FixedBytes<kAccountIdSize, struct AccountIdTag>;
// A 16-byte message id chosen by the sending device.
using MessageId = crypto::FixedBytes<kMessageIdSize, struct MessageIdTag>;

// One device of one account. Copyable, comparable, hashable (absl).
struct DeviceAddress {
  AccountId account;
  uint32_t device_id = 0;

  // "<account hex>:<device id>": public data, for logs and diagnostics.
  [[nodiscard]] std::string DebugString() const {
    return account.hex() + ":" + std::to_string(device_id);
  }

  friend bool operator==(const DeviceAddress&, const DeviceAddress&) = default;
  friend auto operator<=>(const DeviceAddress&, const DeviceAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const DeviceAddress& a) {
    return H::combine(std::move(h), a.account, a.device_id);
  }
};

}  // namespace letterbox::client
