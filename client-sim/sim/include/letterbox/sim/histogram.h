// File: letterbox/sim/histogram.h
//
// Latency histograms for the load modes, on Boost.Histogram: 1000 bins whose
// edges are spaced evenly in log scale from 1 µs to 100 s, so each bin's upper
// edge is kBinRatio (about 1.0186) times its lower edge. A quantile is
// reported as the geometric midpoint of the bin holding the sample of that
// rank, so for samples inside [kMinMicros, kMaxMicros) it is within
// RelativeErrorBound() (about 0.93%) of the exact nearest-rank quantile.
// Samples outside the range land in under/overflow bins and are reported as
// the exact minimum or maximum seen. Memory is fixed (about 8 KiB), whatever
// the sample count: no samples are kept.
//
//   LatencyHistogram h;
//   h.Record(340.0);                 // microseconds
//   double p99 = h.Quantile(0.99);   // within 0.93% of the exact p99
//
//   ConcurrentLatency live;          // many recording threads, one reader
//   live.Record(420.0);
//   LatencyHistogram last_second = live.TakeInterval();
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "boost/histogram.hpp"

namespace letterbox::sim {

// A log-binned histogram of latencies in microseconds. Not thread-safe;
// copyable.
class LatencyHistogram {
 public:
  static constexpr double kMinMicros = 1.0;
  static constexpr double kMaxMicros = 1e8;
  static constexpr unsigned kBins = 1000;

  LatencyHistogram();

  // Upper edge / lower edge of every bin.
  [[nodiscard]] static double BinRatio();
  // The largest relative error of Quantile() for samples in range:
  // sqrt(BinRatio()) - 1.
  [[nodiscard]] static double RelativeErrorBound();

  // Adds one sample. NaN and negative values count as 0.
  void Record(double micros);
  // Adds every sample of `other`.
  void Merge(const LatencyHistogram& other);
  // Forgets every sample.
  void Reset();

  [[nodiscard]] uint64_t count() const { return count_; }
  // The exact smallest / largest / mean sample; 0 when empty.
  [[nodiscard]] double min() const { return count_ == 0 ? 0 : min_; }
  [[nodiscard]] double max() const { return count_ == 0 ? 0 : max_; }
  [[nodiscard]] double mean() const { return count_ == 0 ? 0 : sum_ / count_; }

  // The nearest-rank q-quantile (q in [0, 1]; the sample of rank
  // max(1, ceil(q * count))), as its bin's geometric midpoint clamped to
  // [min(), max()]. 0 when empty.
  [[nodiscard]] double Quantile(double q) const;

 private:
  using Axis = boost::histogram::axis::regular<double, boost::histogram::axis::transform::log>;
  using Histogram =
      boost::histogram::histogram<std::tuple<Axis>, boost::histogram::dense_storage<uint64_t>>;

  Histogram histogram_;
  uint64_t count_ = 0;
  double sum_ = 0;
  double min_ = 0;
  double max_ = 0;
};

// A LatencyHistogram for the whole run plus one for the current interval,
// behind a mutex. Thread-safe.
class ConcurrentLatency {
 public:
  // Adds a sample to the current interval and, if `in_total`, to the
  // whole-run histogram (warm-up samples go to the interval only).
  void Record(double micros, bool in_total = true) ABSL_LOCKS_EXCLUDED(mu_);
  // The interval histogram so far; starts a new interval.
  [[nodiscard]] LatencyHistogram TakeInterval() ABSL_LOCKS_EXCLUDED(mu_);
  // A copy of the whole-run histogram.
  [[nodiscard]] LatencyHistogram Total() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  LatencyHistogram total_ ABSL_GUARDED_BY(mu_);
  LatencyHistogram interval_ ABSL_GUARDED_BY(mu_);
};

}  // namespace letterbox::sim
