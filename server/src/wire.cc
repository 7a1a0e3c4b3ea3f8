#include "letterbox/server/wire.h"

#include <algorithm>

#include "letterbox/common/status.h"
#include "letterbox/crypto/x3dh.h"

namespace letterbox::server {
namespace {

absl::Status LengthError(std::string_view field, size_t expected) {
  return absl::InvalidArgumentError(std::string(field) + ": must be " + std::to_string(expected) +
                                    " bytes");
}

template <typename Fixed>
absl::StatusOr<Fixed> ParseFixed(std::string_view bytes, std::string_view field) {
  if (bytes.size() != Fixed::kSize) return LengthError(field, Fixed::kSize);
  return Fixed::FromString(bytes);
}

}  // namespace

absl::StatusOr<storage::AccountId> ParseAccountId(std::string_view bytes, std::string_view field) {
  return ParseFixed<storage::AccountId>(bytes, field);
}

absl::StatusOr<storage::MessageId> ParseMessageId(std::string_view bytes, std::string_view field) {
  return ParseFixed<storage::MessageId>(bytes, field);
}

absl::StatusOr<storage::DeviceAddress> ParseDeviceAddress(const v1::DeviceAddress& address,
                                                          std::string_view field) {
  storage::DeviceAddress out;
  LB_ASSIGN_OR_RETURN(out.account,
                      ParseAccountId(address.account_id(), std::string(field) + ".account_id"));
  if (address.device_id() == 0) {
    return absl::InvalidArgumentError(std::string(field) + ".device_id: must not be 0");
  }
  out.device = address.device_id();
  return out;
}

absl::StatusOr<storage::DeviceRecord> ParseDeviceIdentity(const v1::DeviceIdentity& identity) {
  storage::DeviceRecord record;
  LB_ASSIGN_OR_RETURN(record.identity_signing_key,
                      ParseFixed<crypto::Ed25519PublicKey>(identity.identity_signing_key(),
                                                           "device.identity_signing_key"));
  LB_ASSIGN_OR_RETURN(
      record.identity_dh_key,
      ParseFixed<crypto::X25519PublicKey>(identity.identity_dh_key(), "device.identity_dh_key"));
  LB_ASSIGN_OR_RETURN(record.identity_dh_signature,
                      ParseFixed<crypto::Ed25519Signature>(identity.identity_dh_signature(),
                                                           "device.identity_dh_signature"));
  if (!crypto::VerifyIdentityDhKey(record.identity_signing_key, record.identity_dh_key,
                                   record.identity_dh_signature)
           .ok()) {
    return absl::InvalidArgumentError("device.identity_dh_signature: does not verify");
  }
  return record;
}

absl::Status ValidateJurisdiction(std::string_view jurisdiction,
                                  const std::vector<std::string>& configured) {
  const bool well_formed = jurisdiction.size() >= 2 && jurisdiction.size() <= 8 &&
                           std::all_of(jurisdiction.begin(), jurisdiction.end(),
                                       [](char c) { return c >= 'A' && c <= 'Z'; });
  if (!well_formed) {
    return absl::InvalidArgumentError("jurisdiction: must be 2-8 upper-case letters");
  }
  if (std::find(configured.begin(), configured.end(), jurisdiction) == configured.end()) {
    return absl::InvalidArgumentError("jurisdiction: not served here");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizePhoneNumber(std::string_view phone_number) {
  const absl::Status bad = absl::InvalidArgumentError("phone_number: not an E.164 number");
  if (phone_number.size() > 32) return bad;
  std::string out;
  out.reserve(16);
  for (char c : phone_number) {
    if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
    out.push_back(c);
  }
  if (out.size() < 9 || out.size() > 16 || out[0] != '+' || out[1] == '0' ||
      !std::all_of(out.begin() + 1, out.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    crypto::SecureZero({reinterpret_cast<uint8_t*>(out.data()), out.size()});
    return bad;
  }
  return out;
}

std::string PeerAddressWithoutPort(std::string_view peer) {
  const size_t colon = peer.rfind(':');
  const size_t first = peer.find(':');
  if (colon == std::string_view::npos || colon == first) return std::string(peer);
  const size_t bracket = peer.rfind(']');
  if (bracket != std::string_view::npos && bracket > colon) return std::string(peer);
  return std::string(peer.substr(0, colon));
}

void ToProto(const storage::DeviceAddress& address, v1::DeviceAddress* out) {
  out->set_account_id(address.account.str());
  out->set_device_id(address.device);
}

void ToProto(const storage::Envelope& envelope, v1::Envelope* out) {
  out->set_envelope_id(envelope.id);
  out->set_message_id(envelope.message_id.str());
  ToProto(envelope.sender, out->mutable_sender());
  out->set_server_timestamp_micros(envelope.server_timestamp_micros);
  out->set_franking_commitment(envelope.franking_commitment.str());
  out->set_franking_tag(envelope.franking_tag.str());
  out->set_ciphertext(crypto::ToString(envelope.ciphertext));
}

}  // namespace letterbox::server
