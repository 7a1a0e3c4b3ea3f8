// File: letterbox/storage/codec.h
//
// The byte forms of the records in types.h and of the keys RocksDbStores
// files them under (schema in docs/storage.md). Values are written with
// crypto::ByteWriter; each begins with one format byte whose high nibble
// names the record type and whose low nibble is its version, so a value of
// one type can never decode as another. Keys are fixed-width big-endian, so
// byte order is numeric order and a device's mailbox is one prefix in
// envelope-id order.
//
// Decoders are strict: a wrong format byte, a wrong length, a truncated
// field, an out-of-range flag or trailing bytes gives DATA_LOSS("corrupt
// <record> record: ...") and never reads out of bounds or allocates more
// than the input's size. The message never contains the input's bytes.
//
//   Bytes value = EncodeEnvelope(envelope);
//   LB_ASSIGN_OR_RETURN(Envelope back, DecodeEnvelope(value));
//   Bytes key = MailboxKey(envelope.recipient, envelope.id);
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "letterbox/storage/types.h"

namespace letterbox::storage {

// Format bytes of the current encodings (type << 4 | version).
inline constexpr uint8_t kAccountFormat = 0x11;
inline constexpr uint8_t kDeviceFormat = 0x21;
inline constexpr uint8_t kSignedPrekeyFormat = 0x31;
inline constexpr uint8_t kOneTimePrekeyFormat = 0x41;
inline constexpr uint8_t kEnvelopeFormat = 0x51;
inline constexpr uint8_t kSendReceiptFormat = 0x61;
inline constexpr uint8_t kSessionFormat = 0x71;
inline constexpr uint8_t kOutboxReportFormat = 0x81;
inline constexpr uint8_t kDiscoveryFormat = 0x91;
inline constexpr uint8_t kCounterFormat = 0xA1;

// Size of DeviceAddress::Encode(): account (16) ‖ device (4, big-endian).
inline constexpr size_t kDeviceAddressSize = 20;

// --- Values. Encoders never fail; decoders fail as described above. ---

[[nodiscard]] Bytes EncodeAccount(const AccountRecord& account);
[[nodiscard]] absl::StatusOr<AccountRecord> DecodeAccount(ByteView bytes);

[[nodiscard]] Bytes EncodeDevice(const DeviceRecord& device);
[[nodiscard]] absl::StatusOr<DeviceRecord> DecodeDevice(ByteView bytes);

[[nodiscard]] Bytes EncodeSignedPrekey(const SignedPrekey& prekey);
[[nodiscard]] absl::StatusOr<SignedPrekey> DecodeSignedPrekey(ByteView bytes);

[[nodiscard]] Bytes EncodeOneTimePrekey(const OneTimePrekey& prekey);
[[nodiscard]] absl::StatusOr<OneTimePrekey> DecodeOneTimePrekey(ByteView bytes);

[[nodiscard]] Bytes EncodeEnvelope(const Envelope& envelope);
[[nodiscard]] absl::StatusOr<Envelope> DecodeEnvelope(ByteView bytes);

[[nodiscard]] Bytes EncodeSendReceipt(const SendReceipt& receipt);
[[nodiscard]] absl::StatusOr<SendReceipt> DecodeSendReceipt(ByteView bytes);

[[nodiscard]] Bytes EncodeSession(const SessionRecord& session);
[[nodiscard]] absl::StatusOr<SessionRecord> DecodeSession(ByteView bytes);

[[nodiscard]] Bytes EncodeOutboxReport(const OutboxReport& report);
[[nodiscard]] absl::StatusOr<OutboxReport> DecodeOutboxReport(ByteView bytes);

// The discovery index value: the account a handle belongs to.
[[nodiscard]] Bytes EncodeDiscoveryEntry(const AccountId& account);
[[nodiscard]] absl::StatusOr<AccountId> DecodeDiscoveryEntry(ByteView bytes);

// A stored 64-bit counter (the envelope-id high-water mark).
[[nodiscard]] Bytes EncodeCounter(uint64_t value);
[[nodiscard]] absl::StatusOr<uint64_t> DecodeCounter(ByteView bytes);

// The inverse of DeviceAddress::Encode(); DATA_LOSS unless exactly 20 bytes.
[[nodiscard]] absl::StatusOr<DeviceAddress> DecodeDeviceAddress(ByteView bytes);

// --- Keys (all big-endian). ---

// devices, signed_prekeys: account (16) ‖ device (4). Also the prefix of a
// device's one-time prekeys and of its mailbox.
[[nodiscard]] Bytes DeviceKey(const DeviceAddress& device);
// one_time_prekeys: account (16) ‖ device (4) ‖ key id (4).
[[nodiscard]] Bytes OneTimePrekeyKey(const DeviceAddress& device, uint32_t key_id);
// mailboxes: account (16) ‖ device (4) ‖ envelope id (8).
[[nodiscard]] Bytes MailboxKey(const DeviceAddress& recipient, EnvelopeId id);
// idempotency: sender account (16) ‖ sender device (4) ‖ message id (16).
[[nodiscard]] Bytes ReceiptKey(const DeviceAddress& sender, const MessageId& message_id);

}  // namespace letterbox::storage
