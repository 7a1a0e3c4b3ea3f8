// File: letterbox/common/clock.h
//
// The time seam. Code that expires, throttles or stamps anything takes a
// Clock& in its constructor, so tests drive time with FakeClock instead of
// sleeping:
//
//   FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
//   Authenticator auth(store, clock, limits);
//   clock.Advance(absl::Minutes(6));   // the challenge has now expired
#pragma once

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace letterbox {

// A source of wall-clock time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // The current time.
  [[nodiscard]] virtual absl::Time Now() const = 0;
  // The current time in whole microseconds since the Unix epoch.
  [[nodiscard]] int64_t NowMicros() const { return absl::ToUnixMicros(Now()); }
};

// The real clock (absl::Now()).
class SystemClock final : public Clock {
 public:
  [[nodiscard]] absl::Time Now() const override { return absl::Now(); }
  // A process-wide instance; never destroyed.
  static SystemClock& Instance() {
    static SystemClock* clock = new SystemClock();
    return *clock;
  }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : micros_(absl::ToUnixMicros(start)) {}
  [[nodiscard]] absl::Time Now() const override {
    return absl::FromUnixMicros(micros_.load(std::memory_order_acquire));
  }
  // Moves time forward by `d` (which may be negative to test clock skew).
  void Advance(absl::Duration d) {
    micros_.fetch_add(absl::ToInt64Microseconds(d), std::memory_order_acq_rel);
  }
  void Set(absl::Time t) { micros_.store(absl::ToUnixMicros(t), std::memory_order_release); }

 private:
  std::atomic<int64_t> micros_;
};

}  // namespace letterbox
