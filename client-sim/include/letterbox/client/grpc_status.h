// File: letterbox/client/grpc_status.h
//
// The one place on the client side where a grpc::Status becomes an
// absl::Status (the mirror of server/status_conversion.h). Both use the
// google.rpc.Code numbering, so codes map one to one. The binary
// error details travel along as a payload, so a caller can still read
// structured details such as a DeviceMismatch.
//
//   grpc::Status s = stub->Send(&ctx, request, &response);
//   LB_RETURN_IF_ERROR(FromGrpcStatus(s));
//   ...
//   if (auto mismatch = ParseDeviceMismatch(status)) { ... }
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace letterbox::client {

// The payload type URL under which FromGrpcStatus keeps grpc error details
// (the same URL the server uses for them, server/status_conversion.h).
inline constexpr std::string_view kGrpcErrorDetailsPayload =
    "type.googleapis.com/letterbox.grpc.ErrorDetails";

// `status` as an absl::Status with the same code and message; its
// error_details(), if any, attached as the kGrpcErrorDetailsPayload payload.
// A code outside the google.rpc range becomes UNKNOWN.
[[nodiscard]] absl::Status FromGrpcStatus(const grpc::Status& status);

// The devices a SendToAccount listed wrongly.
struct DeviceMismatchInfo {
  std::vector<uint32_t> missing_devices;
  std::vector<uint32_t> extra_devices;
};

// The DeviceMismatch carried by a FAILED_PRECONDITION answer to
// SendToAccount, read from the status details (a serialized
// letterbox.v1.DeviceMismatch). nullopt if `status` is not
// FAILED_PRECONDITION or its details are absent, unparsable or empty (the
// caller then refreshes the device list with ListDevices).
[[nodiscard]] std::optional<DeviceMismatchInfo> ParseDeviceMismatch(const absl::Status& status);

}  // namespace letterbox::client
