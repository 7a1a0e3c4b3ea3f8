// OpenLoopSchedule: arrival i is intended at start + i / rate, independent
// of when anything completes.
#include "letterbox/sim/open_loop.h"

#include <catch2/catch.hpp>

namespace letterbox::sim {
namespace {

TEST_CASE("intended times are start plus index over rate") {
  const OpenLoopSchedule s(1000.0, 5'000'000'000);
  CHECK(s.IntendedTime(0) == 5'000'000'000);
  CHECK(s.IntendedTime(1) == 5'001'000'000);
  CHECK(s.IntendedTime(1000) == 6'000'000'000);
}

TEST_CASE("intended times do not accumulate rounding over a long run") {
  const OpenLoopSchedule s(3.0, 0);  // 333,333,333.33... ns apart
  CHECK(s.IntendedTime(3) == 1'000'000'000);
  CHECK(s.IntendedTime(3'000'000) == 1'000'000'000'000'000);
  CHECK(s.IntendedTime(1) == 333'333'333);
}

TEST_CASE("nothing is due before the start") {
  const OpenLoopSchedule s(1000.0, 1'000'000);
  CHECK(s.DueBy(0) == 0);
  CHECK(s.DueBy(999'999) == 0);
}

TEST_CASE("due counts every arrival whose intended time has passed") {
  const OpenLoopSchedule s(1000.0, 0);
  CHECK(s.DueBy(0) == 1);  // arrival 0 at exactly start
  CHECK(s.DueBy(999'999) == 1);
  CHECK(s.DueBy(1'000'000) == 2);
  CHECK(s.DueBy(10'000'000'000) == 10'001);
}

TEST_CASE("after a stall every missed arrival is due at once with its original time") {
  // A scheduler that wakes 50 ms late must issue the 50 arrivals it missed,
  // each timed from its own intended time (no coordinated omission).
  const OpenLoopSchedule s(1000.0, 0);
  const uint64_t due = s.DueBy(50'000'000);
  CHECK(due == 51);
  CHECK(s.IntendedTime(due - 1) == 50'000'000);
  CHECK(s.IntendedTime(10) == 10'000'000);
}

TEST_CASE("due and intended time agree at every edge for an awkward rate") {
  const OpenLoopSchedule s(7919.0, 123);
  for (uint64_t i = 0; i < 20000; ++i) {
    const int64_t t = s.IntendedTime(i);
    REQUIRE(s.DueBy(t) == i + 1);
    REQUIRE(s.DueBy(t - 1) == i);
  }
}

}  // namespace
}  // namespace letterbox::sim
