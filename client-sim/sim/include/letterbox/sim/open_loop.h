// File: letterbox/sim/open_loop.h
//
// The arrival schedule of an open-loop run: operation i is INTENDED to start
// at start + i / rate, whether or not earlier operations have finished. The
// load engine measures each operation's latency from this intended time, not
// from when it actually managed to send it, so a stall (server or client)
// shows up as latency of every operation that should have started during it
// instead of silently lowering the offered rate (coordinated omission).
//
//   OpenLoopSchedule schedule(/*per_second=*/20000, /*start_ns=*/Now());
//   for (uint64_t i = issued; i < schedule.DueBy(Now()); ++i)
//     Issue(i, schedule.IntendedTime(i));
//
// Times are nanoseconds on one monotonic clock (the caller's choice). Pure
// and thread-safe.
#pragma once

#include <cstdint>

namespace letterbox::sim {

class OpenLoopSchedule {
 public:
  // `per_second` > 0 arrivals per second starting at `start_ns` (arrival 0
  // is due at start_ns exactly).
  OpenLoopSchedule(double per_second, int64_t start_ns);

  // When arrival `index` is intended to start: start_ns + index * 1e9 /
  // per_second, rounded down to a nanosecond. Computed from the index, so
  // rounding never accumulates over a long run.
  [[nodiscard]] int64_t IntendedTime(uint64_t index) const;

  // How many arrivals are due at `now_ns`: the number of indices i with
  // IntendedTime(i) <= now_ns (0 before start_ns).
  [[nodiscard]] uint64_t DueBy(int64_t now_ns) const;

  [[nodiscard]] double per_second() const { return per_second_; }
  [[nodiscard]] int64_t start_ns() const { return start_ns_; }

 private:
  double per_second_;
  int64_t start_ns_;
};

}  // namespace letterbox::sim
