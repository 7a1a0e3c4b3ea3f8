#include "letterbox/client/message_format.h"

#include <algorithm>

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"

namespace letterbox::client {

using crypto::ByteReader;
using crypto::Bytes;
using crypto::ByteView;
using crypto::ByteWriter;
using crypto::SecretBytes;

namespace {
constexpr std::string_view kFrankingContextLabel = "letterbox.franking.context.v1";
constexpr std::string_view kMessageAdLabel = "letterbox.client.message.v1";
}  // namespace

Bytes ClientMessage::Encode() const {
  ByteWriter w;
  w.U8(kClientMessageVersion).U8(static_cast<uint8_t>(type()));
  if (x3dh.has_value()) {
    const Bytes header = x3dh->Encode();
    w.Bytes(header);
  }
  const Bytes ratchet_bytes = ratchet.Encode();
  w.Bytes(ratchet_bytes);
  return std::move(w).Take();
}

absl::StatusOr<ClientMessage> ClientMessage::Parse(ByteView encoded) {
  ByteReader r(encoded);
  LB_ASSIGN_OR_RETURN(const uint8_t version, r.U8());
  if (version != kClientMessageVersion) {
    return absl::InvalidArgumentError("unsupported client message version");
  }
  LB_ASSIGN_OR_RETURN(const uint8_t type, r.U8());
  ClientMessage out;
  if (type == static_cast<uint8_t>(ClientMessageType::kPrekey)) {
    LB_ASSIGN_OR_RETURN(const ByteView header, r.Bytes());
    LB_ASSIGN_OR_RETURN(out.x3dh, crypto::X3dhInitialHeader::Decode(header));
  } else if (type != static_cast<uint8_t>(ClientMessageType::kNormal)) {
    return absl::InvalidArgumentError("unknown client message type");
  }
  LB_ASSIGN_OR_RETURN(const ByteView ratchet_bytes, r.Bytes());
  LB_ASSIGN_OR_RETURN(out.ratchet, crypto::RatchetMessage::Decode(ratchet_bytes));
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  return out;
}

absl::StatusOr<SecretBytes> InnerPlaintext::Encode() const {
  if (body.size() > kMaxBodyBytes) {
    return absl::InvalidArgumentError("message body too large");
  }
  // Written in place so no unzeroed copy of the plaintext is left behind.
  SecretBytes out(1 + crypto::kFrankingKeySize + 4 + body.size());
  auto buf = out.mutable_view();
  size_t at = 0;
  buf[at++] = kInnerPlaintextVersion;
  std::copy_n(franking_key.data(), crypto::kFrankingKeySize, buf.begin() + at);
  at += crypto::kFrankingKeySize;
  const auto n = static_cast<uint32_t>(body.size());
  buf[at++] = static_cast<uint8_t>(n >> 24);
  buf[at++] = static_cast<uint8_t>(n >> 16);
  buf[at++] = static_cast<uint8_t>(n >> 8);
  buf[at++] = static_cast<uint8_t>(n);
  const ByteView b = body.Expose();
  std::copy(b.begin(), b.end(), buf.begin() + at);
  return out;
}

absl::StatusOr<InnerPlaintext> InnerPlaintext::Parse(ByteView encoded) {
  ByteReader r(encoded);
  LB_ASSIGN_OR_RETURN(const uint8_t version, r.U8());
  if (version != kInnerPlaintextVersion) {
    return absl::InvalidArgumentError("unsupported plaintext version");
  }
  LB_ASSIGN_OR_RETURN(const ByteView key, r.Raw(crypto::kFrankingKeySize));
  LB_ASSIGN_OR_RETURN(const ByteView body, r.Bytes());
  if (body.size() > kMaxBodyBytes) {
    return absl::InvalidArgumentError("message body too large");
  }
  LB_RETURN_IF_ERROR(r.ExpectEnd());
  InnerPlaintext out;
  LB_ASSIGN_OR_RETURN(out.franking_key, crypto::FrankingKey::FromBytes(key));
  out.body = SecretBytes(body);
  return out;
}

Bytes FrankingContext(const MessageId& message_id) {
  ByteWriter w;
  w.Label(kFrankingContextLabel).Bytes(message_id.view());
  return std::move(w).Take();
}

Bytes MessageAssociatedData(ByteView x3dh_associated_data, const MessageId& message_id) {
  ByteWriter w;
  w.Raw(x3dh_associated_data).Label(kMessageAdLabel).Bytes(message_id.view());
  return std::move(w).Take();
}

}  // namespace letterbox::client
