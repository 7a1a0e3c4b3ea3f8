// File: letterbox/common/status.h
//
// Errors are values. Every fallible function in Letterbox returns
// absl::Status or absl::StatusOr<T>; these two macros keep call sites short:
//
//   absl::StatusOr<Envelope> Load(...) {
//     LB_RETURN_IF_ERROR(Validate(request));
//     LB_ASSIGN_OR_RETURN(auto bytes, store.Get(key));
//     return Decode(bytes);
//   }
//
// absl::Status is tied to google.rpc.Code, so server/ converts it to a
// grpc::Status in one place (letterbox/server/status_conversion.h).
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LB_STATUS_CONCAT_INNER_(a, b) a##b
#define LB_STATUS_CONCAT_(a, b) LB_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// if it is not OK.
#define LB_RETURN_IF_ERROR(expr)                                \
  do {                                                          \
    if (::absl::Status lb_status_ = (expr); !lb_status_.ok()) { \
      return lb_status_;                                        \
    }                                                           \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise moves the value into `lhs`, which may be a
// declaration (`auto x`) or an existing variable.
#define LB_ASSIGN_OR_RETURN(lhs, rexpr) \
  LB_ASSIGN_OR_RETURN_IMPL_(LB_STATUS_CONCAT_(lb_statusor_, __LINE__), lhs, rexpr)

#define LB_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                              \
  if (!statusor.ok()) {                                 \
    return std::move(statusor).status();                \
  }                                                     \
  lhs = std::move(statusor).value()
