// File: letterbox/client/message_format.h
//
// The client-to-client message format: what goes inside an envelope's
// `ciphertext` field, and what the Double Ratchet encrypts. Both encodings are
// versioned and built with crypto::ByteWriter; both parsers are strict (they
// accept exactly what the encoder produces and are fuzzed).
//
//   ClientMessage (the envelope ciphertext):
//     U8(kClientMessageVersion) ‖ U8(type)
//     [‖ Bytes(X3dhInitialHeader::Encode())]     only when type == PREKEY
//     ‖ Bytes(RatchetMessage::Encode())
//   InnerPlaintext (what the ratchet encrypts):
//     U8(kInnerPlaintextVersion) ‖ Raw(k_f, 32) ‖ Bytes(body)
//
// The franking commitment beside the ciphertext is
//   crypto::Commit(k_f, body, FrankingContext(message_id))
// with a fresh k_f for every inner plaintext.
//
//   LB_ASSIGN_OR_RETURN(ClientMessage m, ClientMessage::Parse(envelope_ciphertext));
//   if (m.is_prekey()) { ... X3dhRespond with *m.x3dh ... }
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "letterbox/client/types.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/double_ratchet.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/x3dh.h"

namespace letterbox::client {

inline constexpr uint8_t kClientMessageVersion = 1;
inline constexpr uint8_t kInnerPlaintextVersion = 1;
// The largest message body a client sends or accepts (a report may reveal
// at most 64 KiB of plaintext per message).
inline constexpr size_t kMaxBodyBytes = 64 * 1024;

// The type byte of a ClientMessage.
enum class ClientMessageType : uint8_t {
  // The first messages of a session: carries the X3DH initial header.
  kPrekey = 1,
  // Every later message.
  kNormal = 2,
};

// A parsed envelope ciphertext. Copyable (public data only).
struct ClientMessage {
  // Present exactly for a PREKEY message.
  std::optional<crypto::X3dhInitialHeader> x3dh;
  crypto::RatchetMessage ratchet;

  [[nodiscard]] bool is_prekey() const { return x3dh.has_value(); }
  [[nodiscard]] ClientMessageType type() const {
    return is_prekey() ? ClientMessageType::kPrekey : ClientMessageType::kNormal;
  }

  // The encoding documented at the top of this file.
  [[nodiscard]] crypto::Bytes Encode() const;
  // Strict inverse of Encode. INVALID_ARGUMENT for a wrong version, an unknown
  // type, a truncated input, a bad X3DH header or ratchet message (their own
  // strict decoders), or trailing bytes. Never reads out of bounds.
  [[nodiscard]] static absl::StatusOr<ClientMessage> Parse(crypto::ByteView encoded);

  friend bool operator==(const ClientMessage&, const ClientMessage&) = default;
};

// A decrypted message: the franking key and the body. Move-only (secrets).
struct InnerPlaintext {
  crypto::FrankingKey franking_key;
  crypto::SecretBytes body;

  // The encoding documented at the top of this file, in a buffer that is
  // zeroed when freed. INVALID_ARGUMENT if the body exceeds kMaxBodyBytes.
  [[nodiscard]] absl::StatusOr<crypto::SecretBytes> Encode() const;
  // Strict inverse of Encode. INVALID_ARGUMENT for a wrong version, a
  // truncated input, a body over kMaxBodyBytes, or trailing bytes.
  [[nodiscard]] static absl::StatusOr<InnerPlaintext> Parse(crypto::ByteView encoded);
};

// The franking commitment context of a message (report_content.proto):
// ByteWriter().Label("letterbox.franking.context.v1").Bytes(message_id).
[[nodiscard]] crypto::Bytes FrankingContext(const MessageId& message_id);

// The associated data the ratchet authenticates for one message: the
// session's X3DH associated data, then Label("letterbox.client.message.v1")
// ‖ Bytes(message_id), so a ciphertext cannot be replayed under another id.
[[nodiscard]] crypto::Bytes MessageAssociatedData(crypto::ByteView x3dh_associated_data,
                                                  const MessageId& message_id);

}  // namespace letterbox::client
