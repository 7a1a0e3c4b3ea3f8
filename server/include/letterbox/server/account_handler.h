// File: letterbox/server/account_handler.h
//
// The logic of AccountService (accounts.proto) and AuthService (auth.proto),
// free of gRPC: each method takes the authenticated caller and the parsed
// request, validates every field before writing anything, and returns an
// absl::Status whose codes are the ones documented in the .proto files.
//
//   AccountHandler accounts(context);
//   v1::RegisterAccountResponse response;
//   absl::Status s = accounts.RegisterAccount(anonymous_caller, request, &response);
#pragma once

#include "absl/status/status.h"
#include "letterbox/server/handler_context.h"
#include "letterbox/server/principal.h"
#include "letterbox/server/rate_limiter.h"
#include "letterbox/v1/accounts.pb.h"
#include "letterbox/v1/auth.pb.h"

namespace letterbox::server {

// Thread-safe. `caller` is a device principal for every method except
// RegisterAccount, GetChallenge and Login, which use only its peer address.
// On error the response is unspecified and storage is unchanged.
class AccountHandler {
 public:
  explicit AccountHandler(const HandlerContext& context);

  // INVALID_ARGUMENT (sizes, keys, identity signature, jurisdiction, phone
  // number), ALREADY_EXISTS (phone number already registered),
  // RESOURCE_EXHAUSTED (registrations from this address).
  [[nodiscard]] absl::Status RegisterAccount(const Principal& caller,
                                             const v1::RegisterAccountRequest& request,
                                             v1::RegisterAccountResponse* response);
  // INVALID_ARGUMENT, RESOURCE_EXHAUSTED (max_devices_per_account).
  [[nodiscard]] absl::Status AddDevice(const Principal& caller, const v1::AddDeviceRequest& request,
                                       v1::AddDeviceResponse* response);
  // INVALID_ARGUMENT (device id 0), NOT_FOUND, FAILED_PRECONDITION (last
  // device). Ends the removed device's Subscribe streams and sessions.
  [[nodiscard]] absl::Status RemoveDevice(const Principal& caller,
                                          const v1::RemoveDeviceRequest& request,
                                          v1::RemoveDeviceResponse* response);
  // INVALID_ARGUMENT, NOT_FOUND.
  [[nodiscard]] absl::Status ListDevices(const Principal& caller,
                                         const v1::ListDevicesRequest& request,
                                         v1::ListDevicesResponse* response);
  // RESOURCE_EXHAUSTED (lookups_per_device, checked first), INVALID_ARGUMENT,
  // NOT_FOUND. The number is hashed and discarded.
  [[nodiscard]] absl::Status LookupByPhoneNumber(const Principal& caller,
                                                 const v1::LookupByPhoneNumberRequest& request,
                                                 v1::LookupByPhoneNumberResponse* response);

  // INVALID_ARGUMENT (malformed address), RESOURCE_EXHAUSTED. Identical for
  // existing and unknown devices.
  [[nodiscard]] absl::Status GetChallenge(const Principal& caller,
                                          const v1::GetChallengeRequest& request,
                                          v1::GetChallengeResponse* response);
  // INVALID_ARGUMENT (sizes), UNAUTHENTICATED (one message for every
  // failure), RESOURCE_EXHAUSTED (throttled).
  [[nodiscard]] absl::Status Login(const Principal& caller, const v1::LoginRequest& request,
                                   v1::LoginResponse* response);

 private:
  const HandlerContext& context_;
  RateLimiter registrations_per_address_;
  RateLimiter lookups_per_device_;
};

}  // namespace letterbox::server
