// File: letterbox/server/rate_limiter.h
//
// Keyed token buckets for throttling (logins per device, claims per
// (claimant, target), sends per sender, opens per reviewer). Time comes from
// the injected Clock, so tests move it instead of sleeping:
//
//   RateLimiter limiter(clock, Rate{.per_second = 1, .burst = 10});
//   if (!limiter.TryAcquire(key)) return absl::ResourceExhaustedError("rate limit");
#pragma once

#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/clock.h"
#include "letterbox/server/config.h"

namespace letterbox::server {

// Thread-safe. Memory is bounded: at most `max_keys` buckets are kept; when
// full, buckets that have refilled completely are dropped (they carry no
// state), and if none has, the whole table is reset.
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, Rate rate, size_t max_keys = 1'000'000);

  // Takes `cost` tokens from `key`'s bucket if it has them. Returns false (and
  // takes nothing) otherwise. A rate with burst 0 never limits.
  [[nodiscard]] bool TryAcquire(std::string_view key, double cost = 1);

  // Whether `key` currently has `cost` tokens, without taking them.
  [[nodiscard]] bool WouldAllow(std::string_view key, double cost = 1);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_micros = 0;
  };
  Bucket& Refill(std::string_view key, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Evict(int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const Rate rate_;
  const size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace letterbox::server
