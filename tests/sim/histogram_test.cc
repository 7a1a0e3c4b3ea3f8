// LatencyHistogram: quantiles within the documented relative error of the
// exact nearest-rank quantiles, whatever the distribution.
#include "letterbox/sim/histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

namespace letterbox::sim {
namespace {

double ExactQuantile(std::vector<double> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  const auto rank = std::max<size_t>(1, static_cast<size_t>(std::ceil(q * sorted.size())));
  return sorted[rank - 1];
}

void CheckQuantiles(const std::vector<double>& samples) {
  LatencyHistogram h;
  for (double s : samples) h.Record(s);
  REQUIRE(h.count() == samples.size());
  for (double q : {0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    const double exact = ExactQuantile(samples, q);
    const double approx = h.Quantile(q);
    INFO("q=" << q << " exact=" << exact << " approx=" << approx);
    CHECK(std::abs(approx - exact) <= exact * LatencyHistogram::RelativeErrorBound() + 1e-9);
  }
}

TEST_CASE("the documented error bound is below one percent") {
  CHECK(LatencyHistogram::RelativeErrorBound() < 0.01);
  CHECK(LatencyHistogram::RelativeErrorBound() ==
        Approx(std::sqrt(LatencyHistogram::BinRatio()) - 1));
}

TEST_CASE("quantiles of log-normal latencies are within the bound") {
  std::mt19937_64 rng(1);
  std::lognormal_distribution<double> dist(std::log(400.0), 1.0);
  std::vector<double> samples(200000);
  for (double& s : samples) s = dist(rng);
  CheckQuantiles(samples);
}

TEST_CASE("quantiles of a bimodal distribution with a far tail are within the bound") {
  std::mt19937_64 rng(2);
  std::normal_distribution<double> fast(300.0, 30.0);
  std::exponential_distribution<double> stall(1.0 / 200000.0);
  std::vector<double> samples;
  for (int i = 0; i < 100000; ++i) samples.push_back(std::max(1.0, fast(rng)));
  for (int i = 0; i < 500; ++i) samples.push_back(1000.0 + stall(rng));
  CheckQuantiles(samples);
}

TEST_CASE("quantiles of uniform values spanning six decades are within the bound") {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> exponent(0.0, 6.0);
  std::vector<double> samples(50000);
  for (double& s : samples) s = std::pow(10.0, exponent(rng));
  CheckQuantiles(samples);
}

TEST_CASE("values outside the range report the exact minimum and maximum") {
  LatencyHistogram h;
  h.Record(0.25);
  h.Record(500);
  h.Record(5e8);
  CHECK(h.Quantile(0.0) == 0.25);
  CHECK(h.Quantile(1.0) == 5e8);
  CHECK(h.min() == 0.25);
  CHECK(h.max() == 5e8);
}

TEST_CASE("an empty histogram reports zero") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.Quantile(0.99) == 0);
  CHECK(h.mean() == 0);
}

TEST_CASE("merging two histograms equals recording into one") {
  LatencyHistogram a, b, both;
  for (int i = 1; i <= 1000; ++i) {
    (i % 2 == 0 ? a : b).Record(i * 3.0);
    both.Record(i * 3.0);
  }
  a.Merge(b);
  CHECK(a.count() == both.count());
  CHECK(a.min() == both.min());
  CHECK(a.max() == both.max());
  for (double q : {0.5, 0.9, 0.99}) CHECK(a.Quantile(q) == both.Quantile(q));
}

TEST_CASE("a concurrent recorder keeps warm-up samples out of the total") {
  ConcurrentLatency live;
  live.Record(100, /*in_total=*/false);
  live.Record(200);
  CHECK(live.Total().count() == 1);
  CHECK(live.TakeInterval().count() == 2);
  CHECK(live.TakeInterval().count() == 0);
}

}  // namespace
}  // namespace letterbox::sim
