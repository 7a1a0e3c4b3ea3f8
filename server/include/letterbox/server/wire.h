// File: letterbox/server/wire.h
//
// Between wire messages (letterbox.v1 protobuf) and storage records: parsing
// and checking of fields before any handler touches storage (threat model
// P7), and the conversions back. Every function returns INVALID_ARGUMENT with a short
// reason naming the field, and never echoes the field's value (it may be a
// phone number or key material).
//
//   LB_ASSIGN_OR_RETURN(storage::DeviceAddress to, ParseDeviceAddress(request.recipient(),
//                                                                     "recipient"));
//   LB_ASSIGN_OR_RETURN(std::string e164, NormalizePhoneNumber(request.phone_number()));
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "letterbox/storage/types.h"
#include "letterbox/v1/common.pb.h"

namespace letterbox::server {

// A 16-byte account id; INVALID_ARGUMENT("<field>: ...") for any other length.
[[nodiscard]] absl::StatusOr<storage::AccountId> ParseAccountId(std::string_view bytes,
                                                                std::string_view field);

// A 16-byte message id; INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<storage::MessageId> ParseMessageId(std::string_view bytes,
                                                                std::string_view field);

// A device address with a 16-byte account id and a non-zero device id.
[[nodiscard]] absl::StatusOr<storage::DeviceAddress> ParseDeviceAddress(
    const v1::DeviceAddress& address, std::string_view field);

// A DeviceIdentity with 32-byte keys and a 64-byte signature by the signing
// key over crypto::IdentityDhSigningMessage(identity_dh_key). On success the
// returned record has id 0 and created_micros 0 (the caller sets them).
[[nodiscard]] absl::StatusOr<storage::DeviceRecord> ParseDeviceIdentity(
    const v1::DeviceIdentity& identity);

// OK if `jurisdiction` is 2–8 upper-case ASCII letters and one of
// `configured`; INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::Status ValidateJurisdiction(std::string_view jurisdiction,
                                                const std::vector<std::string>& configured);

// The E.164 form of a phone number: "+" then 8–15 digits, after removing
// spaces, hyphens, dots and parentheses. INVALID_ARGUMENT("phone_number: not
// an E.164 number") otherwise. The caller must not store or log either form.
[[nodiscard]] absl::StatusOr<std::string> NormalizePhoneNumber(std::string_view phone_number);

// The peer's address without the port, from grpc::ServerContext::peer()
// ("ipv4:127.0.0.1:5555" -> "ipv4:127.0.0.1", "ipv6:[::1]:5555" ->
// "ipv6:[::1]"); the input unchanged if it has no port.
[[nodiscard]] std::string PeerAddressWithoutPort(std::string_view peer);

// Fills `out` from `address`.
void ToProto(const storage::DeviceAddress& address, v1::DeviceAddress* out);
// Fills `out` from `envelope` (the recipient is implied by the mailbox).
void ToProto(const storage::Envelope& envelope, v1::Envelope* out);

}  // namespace letterbox::server
