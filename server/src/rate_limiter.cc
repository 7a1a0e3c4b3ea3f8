#include "letterbox/server/rate_limiter.h"

#include <algorithm>

namespace letterbox::server {

RateLimiter::RateLimiter(const Clock& clock, Rate rate, size_t max_keys)
    : clock_(clock), rate_(rate), max_keys_(max_keys) {}

RateLimiter::Bucket& RateLimiter::Refill(std::string_view key, int64_t now) {
  auto it = buckets_.find(absl::string_view(key.data(), key.size()));
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) Evict(now);
    it = buckets_.emplace(std::string(key), Bucket{rate_.burst, now}).first;
  }
  Bucket& b = it->second;
  if (now > b.updated_micros) {
    const double elapsed_s = static_cast<double>(now - b.updated_micros) / 1e6;
    b.tokens = std::min(rate_.burst, b.tokens + elapsed_s * rate_.per_second);
    b.updated_micros = now;
  }
  return b;
}

void RateLimiter::Evict(int64_t now) {
  absl::erase_if(buckets_, [&](const auto& entry) {
    const Bucket& b = entry.second;
    const double elapsed_s = static_cast<double>(now - b.updated_micros) / 1e6;
    return b.tokens + elapsed_s * rate_.per_second >= rate_.burst;
  });
  if (buckets_.size() >= max_keys_) buckets_.clear();
}

bool RateLimiter::TryAcquire(std::string_view key, double cost) {
  if (rate_.burst <= 0) return true;
  absl::MutexLock lock(&mu_);
  Bucket& b = Refill(key, clock_.NowMicros());
  if (b.tokens < cost) return false;
  b.tokens -= cost;
  return true;
}

bool RateLimiter::WouldAllow(std::string_view key, double cost) {
  if (rate_.burst <= 0) return true;
  absl::MutexLock lock(&mu_);
  return Refill(key, clock_.NowMicros()).tokens >= cost;
}

}  // namespace letterbox::server
