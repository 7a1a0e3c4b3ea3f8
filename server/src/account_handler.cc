#include "letterbox/server/account_handler.h"

#include <string>
#include <utility>

#include "letterbox/common/status.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/server/wire.h"

namespace letterbox::server {
namespace {

// A discovery handle from a phone number; the normalised copy is wiped.
absl::StatusOr<storage::DiscoveryHandle> DiscoveryHandleOf(const crypto::MacKey& pepper,
                                                           std::string_view phone_number) {
  LB_ASSIGN_OR_RETURN(std::string e164, NormalizePhoneNumber(phone_number));
  const crypto::HmacSha256Tag mac = crypto::HmacSha256(pepper.Expose(), crypto::AsBytes(e164));
  crypto::SecureZero({reinterpret_cast<uint8_t*>(e164.data()), e164.size()});
  storage::DiscoveryHandle handle;
  std::copy(mac.view().begin(), mac.view().end(), handle.mutable_view().begin());
  return handle;
}

}  // namespace

AccountHandler::AccountHandler(const HandlerContext& context)
    : context_(context),
      registrations_per_address_(context.clock, context.config.limits.registrations_per_address),
      lookups_per_device_(context.clock, context.config.limits.lookups_per_device) {}

absl::Status AccountHandler::RegisterAccount(const Principal& caller,
                                             const v1::RegisterAccountRequest& request,
                                             v1::RegisterAccountResponse* response) {
  const Limits& limits = context_.config.limits;
  if (!registrations_per_address_.TryAcquire(caller.peer_address)) {
    return absl::ResourceExhaustedError("too many registrations; retry later");
  }
  LB_RETURN_IF_ERROR(ValidateJurisdiction(request.jurisdiction(), context_.config.jurisdictions));
  if (request.encrypted_profile().size() > limits.max_profile_bytes) {
    return absl::InvalidArgumentError("encrypted_profile: larger than max_profile_bytes");
  }
  if (!request.has_device()) return absl::InvalidArgumentError("device: required");
  LB_ASSIGN_OR_RETURN(storage::DeviceRecord device, ParseDeviceIdentity(request.device()));
  std::optional<storage::DiscoveryHandle> handle;
  if (!request.phone_number().empty()) {
    LB_ASSIGN_OR_RETURN(handle,
                        DiscoveryHandleOf(context_.keys.discovery_pepper, request.phone_number()));
  }

  const int64_t now = context_.clock.NowMicros();
  storage::AccountRecord account;
  account.id = crypto::RandomFixed<storage::AccountId>(context_.random);
  account.jurisdiction = request.jurisdiction();
  account.encrypted_profile.assign(request.encrypted_profile().begin(),
                                   request.encrypted_profile().end());
  account.discovery_handle = handle;
  account.created_micros = now;
  device.created_micros = now;
  absl::Status created = context_.stores.accounts().CreateAccount(account, device);
  if (absl::IsAlreadyExists(created)) {
    return absl::AlreadyExistsError("phone number already registered");
  }
  LB_RETURN_IF_ERROR(created);
  response->set_account_id(account.id.str());
  response->set_device_id(1);
  return absl::OkStatus();
}

absl::Status AccountHandler::AddDevice(const Principal& caller, const v1::AddDeviceRequest& request,
                                       v1::AddDeviceResponse* response) {
  if (!request.has_device()) return absl::InvalidArgumentError("device: required");
  LB_ASSIGN_OR_RETURN(storage::DeviceRecord device, ParseDeviceIdentity(request.device()));
  device.created_micros = context_.clock.NowMicros();
  absl::StatusOr<storage::DeviceId> id = context_.stores.accounts().AddDevice(
      caller.device.account, device, context_.config.limits.max_devices_per_account);
  if (absl::IsResourceExhausted(id.status())) {
    return absl::ResourceExhaustedError("account has max_devices_per_account devices");
  }
  LB_RETURN_IF_ERROR(id.status());
  response->set_device_id(*id);
  return absl::OkStatus();
}

absl::Status AccountHandler::RemoveDevice(const Principal& caller,
                                          const v1::RemoveDeviceRequest& request,
                                          v1::RemoveDeviceResponse* /*response*/) {
  if (request.device_id() == 0) return absl::InvalidArgumentError("device_id: must not be 0");
  const storage::DeviceAddress target{caller.device.account, request.device_id()};
  absl::Status removed = context_.stores.accounts().RemoveDevice(target);
  if (absl::IsNotFound(removed)) return absl::NotFoundError("no such device");
  if (absl::IsFailedPrecondition(removed)) {
    return absl::FailedPreconditionError("cannot remove the account's last device");
  }
  LB_RETURN_IF_ERROR(removed);
  context_.auth.ForgetDevice(target);
  context_.notifier.CloseDevice(target);
  return absl::OkStatus();
}

absl::Status AccountHandler::ListDevices(const Principal& /*caller*/,
                                         const v1::ListDevicesRequest& request,
                                         v1::ListDevicesResponse* response) {
  LB_ASSIGN_OR_RETURN(storage::AccountId account,
                      ParseAccountId(request.account_id(), "account_id"));
  absl::StatusOr<std::vector<storage::DeviceRecord>> devices =
      context_.stores.accounts().ListDevices(account);
  if (absl::IsNotFound(devices.status())) return absl::NotFoundError("no such account");
  LB_RETURN_IF_ERROR(devices.status());
  for (const storage::DeviceRecord& d : *devices) response->add_device_ids(d.id);
  return absl::OkStatus();
}

absl::Status AccountHandler::LookupByPhoneNumber(const Principal& caller,
                                                 const v1::LookupByPhoneNumberRequest& request,
                                                 v1::LookupByPhoneNumberResponse* response) {
  if (!lookups_per_device_.TryAcquire(crypto::ToString(caller.device.Encode()))) {
    return absl::ResourceExhaustedError("too many lookups; retry later");
  }
  LB_ASSIGN_OR_RETURN(storage::DiscoveryHandle handle,
                      DiscoveryHandleOf(context_.keys.discovery_pepper, request.phone_number()));
  absl::StatusOr<storage::AccountId> account =
      context_.stores.accounts().FindByDiscoveryHandle(handle);
  if (absl::IsNotFound(account.status())) return absl::NotFoundError("no such account");
  LB_RETURN_IF_ERROR(account.status());
  response->set_account_id(account->str());
  return absl::OkStatus();
}

absl::Status AccountHandler::GetChallenge(const Principal& caller,
                                          const v1::GetChallengeRequest& request,
                                          v1::GetChallengeResponse* response) {
  LB_ASSIGN_OR_RETURN(storage::DeviceAddress device,
                      ParseDeviceAddress(request.device(), "device"));
  LB_ASSIGN_OR_RETURN(Challenge challenge,
                      context_.auth.IssueChallenge(device, caller.peer_address));
  response->set_nonce(challenge.nonce.str());
  response->set_expires_micros(challenge.expires_micros);
  return absl::OkStatus();
}

absl::Status AccountHandler::Login(const Principal& caller, const v1::LoginRequest& request,
                                   v1::LoginResponse* response) {
  LB_ASSIGN_OR_RETURN(storage::DeviceAddress device,
                      ParseDeviceAddress(request.device(), "device"));
  if (request.nonce().size() != kNonceSize) {
    return absl::InvalidArgumentError("nonce: must be 32 bytes");
  }
  if (request.signature().size() != crypto::kEd25519SignatureSize) {
    return absl::InvalidArgumentError("signature: must be 64 bytes");
  }
  LB_ASSIGN_OR_RETURN(
      Session session,
      context_.auth.Login(device, request.nonce(), request.signature(), caller.peer_address));
  response->set_session_token(crypto::ToString(session.token.Expose()));
  response->set_expires_micros(session.expires_micros);
  return absl::OkStatus();
}

}  // namespace letterbox::server
