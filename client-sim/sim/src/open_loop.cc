#include "letterbox/sim/open_loop.h"

#include <cmath>

namespace letterbox::sim {

OpenLoopSchedule::OpenLoopSchedule(double per_second, int64_t start_ns)
    : per_second_(per_second), start_ns_(start_ns) {}

int64_t OpenLoopSchedule::IntendedTime(uint64_t index) const {
  const long double offset = static_cast<long double>(index) * 1e9L / per_second_;
  return start_ns_ + static_cast<int64_t>(std::floor(offset));
}

uint64_t OpenLoopSchedule::DueBy(int64_t now_ns) const {
  if (now_ns < start_ns_) return 0;
  const long double elapsed = static_cast<long double>(now_ns - start_ns_);
  uint64_t due = static_cast<uint64_t>(std::floor(elapsed * per_second_ / 1e9L)) + 1;
  // Floating-point rounding can be off by one either way near an edge; the
  // definition (IntendedTime(i) <= now) is the arbiter.
  while (due > 0 && IntendedTime(due - 1) > now_ns) --due;
  while (IntendedTime(due) <= now_ns) ++due;
  return due;
}

}  // namespace letterbox::sim
