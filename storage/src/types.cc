#include "letterbox/storage/types.h"

#include <string>
#include <utility>

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/storage/codec.h"

namespace letterbox::storage {

using crypto::ByteReader;
using crypto::ByteWriter;

namespace {

// DeviceAddress::Encode, appended in place.
ByteWriter& PutAddress(ByteWriter& w, const DeviceAddress& a) {
  return w.Raw(a.account.view()).U32(a.device);
}

}  // namespace

Bytes DeviceAddress::Encode() const {
  ByteWriter w(kDeviceAddressSize);
  PutAddress(w, *this);
  return std::move(w).Take();
}

namespace {

constexpr size_t kDeliverySize = kDeviceAddressSize + 8 + crypto::kFrankingTagSize;

// Turns any failure while reading a `what` record into DATA_LOSS, keeping
// only the reader's reason (never the input bytes).
absl::Status Corrupt(std::string_view what, const absl::Status& cause) {
  return absl::DataLossError("corrupt " + std::string(what) +
                             " record: " + std::string(cause.message()));
}

// Reads and checks the format byte.
absl::Status ExpectFormat(ByteReader& r, uint8_t format) {
  LB_ASSIGN_OR_RETURN(uint8_t got, r.U8());
  if (got != format) return absl::InvalidArgumentError("unknown format byte");
  return absl::OkStatus();
}

template <typename Fixed>
absl::StatusOr<Fixed> ReadFixed(ByteReader& r) {
  LB_ASSIGN_OR_RETURN(ByteView raw, r.Raw(Fixed::kSize));
  return Fixed::FromBytes(raw);
}

absl::StatusOr<DeviceAddress> ReadAddress(ByteReader& r) {
  DeviceAddress a;
  LB_ASSIGN_OR_RETURN(a.account, ReadFixed<AccountId>(r));
  LB_ASSIGN_OR_RETURN(a.device, r.U32());
  return a;
}

absl::StatusOr<std::string> ReadString(ByteReader& r) {
  LB_ASSIGN_OR_RETURN(ByteView b, r.Bytes());
  return crypto::ToString(b);
}

absl::StatusOr<Bytes> ReadBlob(ByteReader& r) {
  LB_ASSIGN_OR_RETURN(ByteView b, r.Bytes());
  return Bytes(b.begin(), b.end());
}

// Runs `body` over a reader of `bytes` that must start with `format` and be
// consumed exactly; maps every failure to DATA_LOSS.
template <typename T, typename Body>
absl::StatusOr<T> Decode(ByteView bytes, uint8_t format, std::string_view what, Body body) {
  ByteReader r(bytes);
  absl::StatusOr<T> out = [&]() -> absl::StatusOr<T> {
    LB_RETURN_IF_ERROR(ExpectFormat(r, format));
    LB_ASSIGN_OR_RETURN(T value, body(r));
    LB_RETURN_IF_ERROR(r.ExpectEnd());
    return value;
  }();
  if (!out.ok()) return Corrupt(what, out.status());
  return out;
}

}  // namespace

Bytes EncodeAccount(const AccountRecord& a) {
  ByteWriter w;
  w.U8(kAccountFormat)
      .Raw(a.id.view())
      .Label(a.jurisdiction)
      .Bytes(a.encrypted_profile)
      .U8(a.discovery_handle.has_value() ? 1 : 0);
  if (a.discovery_handle) w.Raw(a.discovery_handle->view());
  w.I64(a.created_micros).U32(a.next_device_id);
  return std::move(w).Take();
}

absl::StatusOr<AccountRecord> DecodeAccount(ByteView bytes) {
  return Decode<AccountRecord>(
      bytes, kAccountFormat, "account", [](ByteReader& r) -> absl::StatusOr<AccountRecord> {
        AccountRecord a;
        LB_ASSIGN_OR_RETURN(a.id, ReadFixed<AccountId>(r));
        LB_ASSIGN_OR_RETURN(a.jurisdiction, ReadString(r));
        LB_ASSIGN_OR_RETURN(a.encrypted_profile, ReadBlob(r));
        LB_ASSIGN_OR_RETURN(uint8_t has_handle, r.U8());
        if (has_handle > 1) return absl::InvalidArgumentError("bad flag");
        if (has_handle == 1) {
          LB_ASSIGN_OR_RETURN(a.discovery_handle, ReadFixed<DiscoveryHandle>(r));
        }
        LB_ASSIGN_OR_RETURN(a.created_micros, r.I64());
        LB_ASSIGN_OR_RETURN(a.next_device_id, r.U32());
        return a;
      });
}

Bytes EncodeDevice(const DeviceRecord& d) {
  ByteWriter w;
  w.U8(kDeviceFormat)
      .U32(d.id)
      .Raw(d.identity_signing_key.view())
      .Raw(d.identity_dh_key.view())
      .Raw(d.identity_dh_signature.view())
      .I64(d.created_micros);
  return std::move(w).Take();
}

absl::StatusOr<DeviceRecord> DecodeDevice(ByteView bytes) {
  return Decode<DeviceRecord>(
      bytes, kDeviceFormat, "device", [](ByteReader& r) -> absl::StatusOr<DeviceRecord> {
        DeviceRecord d;
        LB_ASSIGN_OR_RETURN(d.id, r.U32());
        LB_ASSIGN_OR_RETURN(d.identity_signing_key, ReadFixed<crypto::Ed25519PublicKey>(r));
        LB_ASSIGN_OR_RETURN(d.identity_dh_key, ReadFixed<crypto::X25519PublicKey>(r));
        LB_ASSIGN_OR_RETURN(d.identity_dh_signature, ReadFixed<crypto::Ed25519Signature>(r));
        LB_ASSIGN_OR_RETURN(d.created_micros, r.I64());
        return d;
      });
}

Bytes EncodeSignedPrekey(const SignedPrekey& p) {
  ByteWriter w;
  w.U8(kSignedPrekeyFormat)
      .U32(p.key_id)
      .Raw(p.public_key.view())
      .Raw(p.signature.view())
      .I64(p.uploaded_micros);
  return std::move(w).Take();
}

absl::StatusOr<SignedPrekey> DecodeSignedPrekey(ByteView bytes) {
  return Decode<SignedPrekey>(
      bytes, kSignedPrekeyFormat, "signed prekey",
      [](ByteReader& r) -> absl::StatusOr<SignedPrekey> {
        SignedPrekey p;
        LB_ASSIGN_OR_RETURN(p.key_id, r.U32());
        LB_ASSIGN_OR_RETURN(p.public_key, ReadFixed<crypto::X25519PublicKey>(r));
        LB_ASSIGN_OR_RETURN(p.signature, ReadFixed<crypto::Ed25519Signature>(r));
        LB_ASSIGN_OR_RETURN(p.uploaded_micros, r.I64());
        return p;
      });
}

Bytes EncodeOneTimePrekey(const OneTimePrekey& p) {
  ByteWriter w;
  w.U8(kOneTimePrekeyFormat).U32(p.key_id).Raw(p.public_key.view());
  return std::move(w).Take();
}

absl::StatusOr<OneTimePrekey> DecodeOneTimePrekey(ByteView bytes) {
  return Decode<OneTimePrekey>(bytes, kOneTimePrekeyFormat, "one-time prekey",
                               [](ByteReader& r) -> absl::StatusOr<OneTimePrekey> {
                                 OneTimePrekey p;
                                 LB_ASSIGN_OR_RETURN(p.key_id, r.U32());
                                 LB_ASSIGN_OR_RETURN(p.public_key,
                                                     ReadFixed<crypto::X25519PublicKey>(r));
                                 return p;
                               });
}

Bytes EncodeEnvelope(const Envelope& e) {
  ByteWriter w(1 + 8 + MessageId::kSize + 2 * kDeviceAddressSize + 8 + crypto::kCommitmentSize +
               crypto::kFrankingTagSize + 4 + e.ciphertext.size());
  w.U8(kEnvelopeFormat).U64(e.id).Raw(e.message_id.view());
  PutAddress(w, e.sender);
  PutAddress(w, e.recipient);
  w.I64(e.server_timestamp_micros)
      .Raw(e.franking_commitment.view())
      .Raw(e.franking_tag.view())
      .Bytes(e.ciphertext);
  return std::move(w).Take();
}

absl::StatusOr<Envelope> DecodeEnvelope(ByteView bytes) {
  return Decode<Envelope>(
      bytes, kEnvelopeFormat, "envelope", [](ByteReader& r) -> absl::StatusOr<Envelope> {
        Envelope e;
        LB_ASSIGN_OR_RETURN(e.id, r.U64());
        LB_ASSIGN_OR_RETURN(e.message_id, ReadFixed<MessageId>(r));
        LB_ASSIGN_OR_RETURN(e.sender, ReadAddress(r));
        LB_ASSIGN_OR_RETURN(e.recipient, ReadAddress(r));
        LB_ASSIGN_OR_RETURN(e.server_timestamp_micros, r.I64());
        LB_ASSIGN_OR_RETURN(e.franking_commitment, ReadFixed<crypto::Commitment>(r));
        LB_ASSIGN_OR_RETURN(e.franking_tag, ReadFixed<crypto::FrankingTag>(r));
        LB_ASSIGN_OR_RETURN(e.ciphertext, ReadBlob(r));
        return e;
      });
}

Bytes EncodeSendReceipt(const SendReceipt& s) {
  ByteWriter w(1 + 8 + 4 + s.deliveries.size() * kDeliverySize);
  w.U8(kSendReceiptFormat)
      .I64(s.server_timestamp_micros)
      .U32(static_cast<uint32_t>(s.deliveries.size()));
  for (const auto& d : s.deliveries) {
    PutAddress(w, d.recipient).U64(d.envelope_id).Raw(d.franking_tag.view());
  }
  return std::move(w).Take();
}

absl::StatusOr<SendReceipt> DecodeSendReceipt(ByteView bytes) {
  return Decode<SendReceipt>(
      bytes, kSendReceiptFormat, "send receipt", [](ByteReader& r) -> absl::StatusOr<SendReceipt> {
        SendReceipt s;
        LB_ASSIGN_OR_RETURN(s.server_timestamp_micros, r.I64());
        LB_ASSIGN_OR_RETURN(uint32_t count, r.U32());
        // Checked before reserving, so a hostile count cannot allocate.
        if (count > r.remaining() / kDeliverySize) {
          return absl::InvalidArgumentError("truncated input");
        }
        s.deliveries.reserve(count);
        for (uint32_t i = 0; i < count; ++i) {
          SendReceipt::Delivery d;
          LB_ASSIGN_OR_RETURN(d.recipient, ReadAddress(r));
          LB_ASSIGN_OR_RETURN(d.envelope_id, r.U64());
          LB_ASSIGN_OR_RETURN(d.franking_tag, ReadFixed<crypto::FrankingTag>(r));
          s.deliveries.push_back(d);
        }
        return s;
      });
}

Bytes EncodeSession(const SessionRecord& s) {
  ByteWriter w;
  w.U8(kSessionFormat).Raw(s.device.Encode()).I64(s.expires_micros);
  return std::move(w).Take();
}

absl::StatusOr<SessionRecord> DecodeSession(ByteView bytes) {
  return Decode<SessionRecord>(bytes, kSessionFormat, "session",
                               [](ByteReader& r) -> absl::StatusOr<SessionRecord> {
                                 SessionRecord s;
                                 LB_ASSIGN_OR_RETURN(s.device, ReadAddress(r));
                                 LB_ASSIGN_OR_RETURN(s.expires_micros, r.I64());
                                 return s;
                               });
}

Bytes EncodeOutboxReport(const OutboxReport& o) {
  ByteWriter w;
  w.U8(kOutboxReportFormat)
      .Raw(o.id.view())
      .Label(o.jurisdiction)
      .Raw(o.reporter.Encode())
      .I64(o.received_micros)
      .Bytes(o.sealed);
  return std::move(w).Take();
}

absl::StatusOr<OutboxReport> DecodeOutboxReport(ByteView bytes) {
  return Decode<OutboxReport>(bytes, kOutboxReportFormat, "outbox report",
                              [](ByteReader& r) -> absl::StatusOr<OutboxReport> {
                                OutboxReport o;
                                LB_ASSIGN_OR_RETURN(o.id, ReadFixed<ReportId>(r));
                                LB_ASSIGN_OR_RETURN(o.jurisdiction, ReadString(r));
                                LB_ASSIGN_OR_RETURN(o.reporter, ReadAddress(r));
                                LB_ASSIGN_OR_RETURN(o.received_micros, r.I64());
                                LB_ASSIGN_OR_RETURN(o.sealed, ReadBlob(r));
                                return o;
                              });
}

Bytes EncodeDiscoveryEntry(const AccountId& account) {
  ByteWriter w;
  w.U8(kDiscoveryFormat).Raw(account.view());
  return std::move(w).Take();
}

absl::StatusOr<AccountId> DecodeDiscoveryEntry(ByteView bytes) {
  return Decode<AccountId>(bytes, kDiscoveryFormat, "discovery entry",
                           [](ByteReader& r) { return ReadFixed<AccountId>(r); });
}

Bytes EncodeCounter(uint64_t value) {
  ByteWriter w;
  w.U8(kCounterFormat).U64(value);
  return std::move(w).Take();
}

absl::StatusOr<uint64_t> DecodeCounter(ByteView bytes) {
  return Decode<uint64_t>(bytes, kCounterFormat, "counter", [](ByteReader& r) { return r.U64(); });
}

absl::StatusOr<DeviceAddress> DecodeDeviceAddress(ByteView bytes) {
  ByteReader r(bytes);
  absl::StatusOr<DeviceAddress> a = ReadAddress(r);
  if (!a.ok()) return Corrupt("device address", a.status());
  if (absl::Status end = r.ExpectEnd(); !end.ok()) return Corrupt("device address", end);
  return a;
}

Bytes DeviceKey(const DeviceAddress& device) { return device.Encode(); }

Bytes OneTimePrekeyKey(const DeviceAddress& device, uint32_t key_id) {
  ByteWriter w;
  w.Raw(device.Encode()).U32(key_id);
  return std::move(w).Take();
}

Bytes MailboxKey(const DeviceAddress& recipient, EnvelopeId id) {
  ByteWriter w(kDeviceAddressSize + 8);
  PutAddress(w, recipient).U64(id);
  return std::move(w).Take();
}

Bytes ReceiptKey(const DeviceAddress& sender, const MessageId& message_id) {
  ByteWriter w(kDeviceAddressSize + MessageId::kSize);
  PutAddress(w, sender).Raw(message_id.view());
  return std::move(w).Take();
}

}  // namespace letterbox::storage
