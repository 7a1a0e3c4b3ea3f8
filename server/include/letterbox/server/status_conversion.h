// File: letterbox/server/status_conversion.h
//
// The one place where an absl::Status becomes a grpc::Status. Both use the
// google.rpc.Code numbering, so the code maps one to one. INTERNAL and
// UNKNOWN errors never carry their message to the client (it may hold
// internals such as paths or engine errors); they are logged by the caller.
//
//   reactor->Finish(ToGrpcStatus(HandleSend(request, response)));
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace letterbox::server {

// The absl::Status payload whose bytes become grpc::Status::error_details()
// (binary details, e.g. a serialized letterbox.v1.DeviceMismatch):
//   status.SetPayload(kGrpcErrorDetailsPayload, absl::Cord(mismatch.SerializeAsString()));
inline constexpr char kGrpcErrorDetailsPayload[] =
    "type.googleapis.com/letterbox.grpc.ErrorDetails";

// `status` as a grpc::Status with the same code. The message, and the
// kGrpcErrorDetailsPayload payload as error details, are kept for client
// errors; INTERNAL, UNKNOWN and DATA_LOSS get a fixed text and no details.
[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace letterbox::server
