#include "letterbox/server/status_conversion.h"

#include <optional>
#include <string>

#include "absl/strings/cord.h"

namespace letterbox::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return grpc::Status(code, "internal error");
    default: {
      auto details = status.GetPayload(kGrpcErrorDetailsPayload);
      if (details.has_value()) {
        return grpc::Status(code, std::string(status.message()), std::string(*details));
      }
      return grpc::Status(code, std::string(status.message()));
    }
  }
}

}  // namespace letterbox::server
