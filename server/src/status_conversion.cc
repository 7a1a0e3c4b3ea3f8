#include "letterbox/server/status_conversion.h"

#include <string>

namespace letterbox::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      return grpc::Status(code, "internal error");
    default:
      return grpc::Status(code, std::string(status.message()));
  }
}

}  // namespace letterbox::server
