// grpc::Status -> absl::Status in one place, keeping structured details.
#include "letterbox/client/grpc_status.h"

#include <catch2/catch.hpp>

#include "letterbox/v1/messages.pb.h"

namespace letterbox::client {
namespace {

TEST_CASE("an OK grpc status converts to OK") { CHECK(FromGrpcStatus(grpc::Status::OK).ok()); }

TEST_CASE("every grpc code keeps its number and message") {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status s =
        FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(code), "short reason"));
    CHECK(static_cast<int>(s.code()) == code);
    CHECK(s.message() == "short reason");
  }
}

TEST_CASE("a device mismatch is read from the status details") {
  v1::DeviceMismatch mismatch;
  mismatch.add_missing_devices(3);
  mismatch.add_extra_devices(2);
  const absl::Status s = FromGrpcStatus(grpc::Status(
      grpc::StatusCode::FAILED_PRECONDITION, "device list mismatch", mismatch.SerializeAsString()));
  auto parsed = ParseDeviceMismatch(s);
  REQUIRE(parsed.has_value());
  CHECK(parsed->missing_devices == std::vector<uint32_t>{3});
  CHECK(parsed->extra_devices == std::vector<uint32_t>{2});
}

TEST_CASE("no device mismatch is read from other statuses") {
  CHECK_FALSE(ParseDeviceMismatch(absl::FailedPreconditionError("no details")).has_value());
  CHECK_FALSE(ParseDeviceMismatch(FromGrpcStatus(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                                              "x", "\xff\xff")))
                  .has_value());
  CHECK_FALSE(ParseDeviceMismatch(absl::InvalidArgumentError("x")).has_value());
}

}  // namespace
}  // namespace letterbox::client
