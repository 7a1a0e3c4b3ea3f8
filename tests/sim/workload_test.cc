// The load options' text forms: the operation mix, durations and rates.
#include "letterbox/sim/workload.h"

#include <array>
#include <catch2/catch.hpp>

namespace letterbox::sim {
namespace {

TEST_CASE("a mix parses into its weights") {
  auto mix = ParseMix("send=80,fetch=10,claim=5,report=5");
  REQUIRE(mix.ok());
  CHECK(mix->weight(OpKind::kSend) == 80);
  CHECK(mix->weight(OpKind::kFetch) == 10);
  CHECK(mix->weight(OpKind::kClaim) == 5);
  CHECK(mix->weight(OpKind::kReport) == 5);
  CHECK(mix->total() == 100);
  CHECK(mix->ToString() == "send=80,fetch=10,claim=5,report=5");
}

TEST_CASE("omitted operations weigh zero and weights need not sum to 100") {
  auto mix = ParseMix("send=3, fetch=1");
  REQUIRE(mix.ok());
  CHECK(mix->weight(OpKind::kClaim) == 0);
  CHECK(mix->total() == 4);
}

TEST_CASE("bad mixes are refused with a reason") {
  for (const char* bad : {"", "send", "send=", "send=x", "send=-1", "send=1.5", "post=10",
                          "send=10,send=20", "send=0,fetch=0", "noop=5", "send=2000000"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(ParseMix(bad).status()));
  }
}

TEST_CASE("picking follows the weights over many operations") {
  const OpMix mix = *ParseMix("send=80,fetch=10,claim=5,report=5");
  std::array<int, kOpKinds> counts{};
  for (uint64_t i = 0; i < 100000; ++i) ++counts[static_cast<size_t>(mix.Pick(i))];
  CHECK(counts[0] == Approx(80000).epsilon(0.02));
  CHECK(counts[1] == Approx(10000).epsilon(0.05));
  CHECK(counts[2] == Approx(5000).epsilon(0.08));
  CHECK(counts[3] == Approx(5000).epsilon(0.08));
  CHECK(counts[4] == 0);
}

TEST_CASE("picking is deterministic per index") {
  const OpMix mix = *ParseMix("send=50,claim=50");
  for (uint64_t i = 0; i < 100; ++i) CHECK(mix.Pick(i) == mix.Pick(i));
}

TEST_CASE("the default mix is sends only") {
  const OpMix mix;
  for (uint64_t i = 0; i < 100; ++i) CHECK(mix.Pick(i) == OpKind::kSend);
}

TEST_CASE("durations take a unit or mean seconds") {
  CHECK(*ParseDuration("10s") == absl::Seconds(10));
  CHECK(*ParseDuration("500ms") == absl::Milliseconds(500));
  CHECK(*ParseDuration("1.5s") == absl::Milliseconds(1500));
  CHECK(*ParseDuration("2m") == absl::Minutes(2));
  CHECK(*ParseDuration("250us") == absl::Microseconds(250));
  CHECK(*ParseDuration("3") == absl::Seconds(3));
}

TEST_CASE("bad durations are refused") {
  for (const char* bad : {"", "s", "0s", "-1s", "ten", "10h", "1e999s"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(ParseDuration(bad).status()));
  }
}

TEST_CASE("rates accept a per-second suffix and a k multiplier") {
  CHECK(*ParseRate("5000") == 5000);
  CHECK(*ParseRate("5000/s") == 5000);
  CHECK(*ParseRate("2.5k/s") == 2500);
  for (const char* bad : {"", "/s", "0/s", "-5", "fast"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(ParseRate(bad).status()));
  }
}

}  // namespace
}  // namespace letterbox::sim
