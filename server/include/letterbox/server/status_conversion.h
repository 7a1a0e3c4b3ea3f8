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

// `status` as a grpc::Status with the same code. The message is kept for
// client errors and replaced by a fixed text for INTERNAL, UNKNOWN and
// DATA_LOSS.
[[nodiscard]] grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace letterbox::server
