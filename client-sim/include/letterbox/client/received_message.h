// File: letterbox/client/received_message.h
//
// A message a device received, decrypted and verified, with everything a
// later report needs to prove it (franking key, commitment, server tag,
// routing fields).
//
//   device.SetHandler({.on_message = [](ReceivedMessage m) { show(m.body.Expose()); }});
#pragma once

#include <cstdint>

#include "letterbox/client/types.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/franking.h"

namespace letterbox::client {

// Move-only (it holds the plaintext and the franking key).
struct ReceivedMessage {
  DeviceAddress sender;     // as stamped by the server
  DeviceAddress recipient;  // the receiving device
  MessageId message_id;
  uint64_t envelope_id = 0;
  int64_t server_timestamp_micros = 0;
  crypto::Commitment commitment;
  crypto::FrankingTag franking_tag;
  crypto::FrankingKey franking_key;
  crypto::SecretBytes body;

  // An explicit copy, for a caller that both shows and keeps a message.
  [[nodiscard]] ReceivedMessage Clone() const {
    return ReceivedMessage{.sender = sender,
                           .recipient = recipient,
                           .message_id = message_id,
                           .envelope_id = envelope_id,
                           .server_timestamp_micros = server_timestamp_micros,
                           .commitment = commitment,
                           .franking_tag = franking_tag,
                           .franking_key = franking_key.Clone(),
                           .body = body.Clone()};
  }
};

}  // namespace letterbox::client
