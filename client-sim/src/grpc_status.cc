#include "letterbox/client/grpc_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "letterbox/v1/messages.pb.h"

namespace letterbox::client {

namespace {
// This abseil build has its own string_view type.
const absl::string_view kPayloadUrl(kGrpcErrorDetailsPayload.data(),
                                    kGrpcErrorDetailsPayload.size());
}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    code = static_cast<int>(absl::StatusCode::kUnknown);
  }
  absl::Status out(static_cast<absl::StatusCode>(code), status.error_message());
  if (!status.error_details().empty()) {
    out.SetPayload(kPayloadUrl, absl::Cord(status.error_details()));
  }
  return out;
}

std::optional<DeviceMismatchInfo> ParseDeviceMismatch(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kFailedPrecondition) return std::nullopt;
  const absl::optional<absl::Cord> details = status.GetPayload(kPayloadUrl);
  if (!details.has_value()) return std::nullopt;
  v1::DeviceMismatch mismatch;
  if (!mismatch.ParseFromString(std::string(*details))) return std::nullopt;
  if (mismatch.missing_devices_size() == 0 && mismatch.extra_devices_size() == 0) {
    return std::nullopt;
  }
  return DeviceMismatchInfo{
      .missing_devices = {mismatch.missing_devices().begin(), mismatch.missing_devices().end()},
      .extra_devices = {mismatch.extra_devices().begin(), mismatch.extra_devices().end()}};
}

}  // namespace letterbox::client
