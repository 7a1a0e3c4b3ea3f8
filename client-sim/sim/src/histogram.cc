#include "letterbox/sim/histogram.h"

#include <algorithm>

namespace letterbox::sim {

LatencyHistogram::LatencyHistogram()
    : histogram_(boost::histogram::make_histogram_with(std::vector<uint64_t>(),
                                                       Axis(kBins, kMinMicros, kMaxMicros))) {}

double LatencyHistogram::BinRatio() {
  return std::pow(kMaxMicros / kMinMicros, 1.0 / static_cast<double>(kBins));
}

double LatencyHistogram::RelativeErrorBound() { return std::sqrt(BinRatio()) - 1.0; }

void LatencyHistogram::Record(double micros) {
  if (!(micros >= 0)) micros = 0;
  histogram_(micros);
  if (count_ == 0) {
    min_ = max_ = micros;
  } else {
    min_ = std::min(min_, micros);
    max_ = std::max(max_, micros);
  }
  ++count_;
  sum_ += micros;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  histogram_ += other.histogram_;
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
  } else {
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::Reset() {
  histogram_.reset();
  count_ = 0;
  sum_ = min_ = max_ = 0;
}

double LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const uint64_t rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  const Axis& axis = histogram_.axis();
  uint64_t seen = 0;
  // Bin -1 (underflow) first, then 0..kBins-1, then kBins (overflow).
  for (int i = -1; i <= static_cast<int>(kBins); ++i) {
    seen += histogram_.at(i);
    if (seen < rank) continue;
    if (i < 0) return min_;
    if (i >= static_cast<int>(kBins)) return max_;
    const double mid = std::sqrt(axis.value(i) * axis.value(i + 1));
    return std::clamp(mid, min_, max_);
  }
  return max_;
}

void ConcurrentLatency::Record(double micros, bool in_total) {
  absl::MutexLock lock(&mu_);
  if (in_total) total_.Record(micros);
  interval_.Record(micros);
}

LatencyHistogram ConcurrentLatency::TakeInterval() {
  absl::MutexLock lock(&mu_);
  LatencyHistogram out = interval_;
  interval_.Reset();
  return out;
}

LatencyHistogram ConcurrentLatency::Total() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

}  // namespace letterbox::sim
