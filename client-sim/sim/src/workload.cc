#include "letterbox/sim/workload.h"

#include <charconv>
#include <cmath>
#include <vector>

#include "text.h"

namespace letterbox::sim {
namespace {

constexpr std::array<std::string_view, kOpKinds> kNames = {"send", "fetch", "claim", "report",
                                                           "noop"};

uint64_t SplitMix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

absl::StatusOr<double> ParseNumber(std::string_view text, std::string_view what) {
  if (text.empty()) return absl::InvalidArgumentError(Cat(what, ": empty"));
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v)) {
    return absl::InvalidArgumentError(Cat(what, ": not a number: '", text, "'"));
  }
  return v;
}

}  // namespace

std::string_view OpName(OpKind kind) { return kNames[static_cast<size_t>(kind)]; }

std::string_view CryptoModeName(CryptoMode mode) {
  switch (mode) {
    case CryptoMode::kAuto:
      return "auto";
    case CryptoMode::kReal:
      return "real";
    case CryptoMode::kSynthetic:
      return "synthetic";
  }
  return "auto";
}

absl::StatusOr<CryptoMode> ParseCryptoMode(std::string_view text) {
  if (text == "real") return CryptoMode::kReal;
  if (text == "synthetic") return CryptoMode::kSynthetic;
  return absl::InvalidArgumentError(Cat("--crypto: expected real or synthetic, got '", text, "'"));
}

OpMix::OpMix() : OpMix(std::array<uint32_t, kOpKinds>{1, 0, 0, 0, 0}) {}

OpMix::OpMix(const std::array<uint32_t, kOpKinds>& weights) : weights_(weights) {
  weights_[static_cast<size_t>(OpKind::kNoop)] = 0;
  for (uint32_t w : weights_) total_ += w;
}

OpKind OpMix::Pick(uint64_t op_index) const {
  if (total_ == 0) return OpKind::kSend;
  uint64_t r = SplitMix64(op_index) % total_;
  for (size_t i = 0; i < kOpKinds; ++i) {
    if (r < weights_[i]) return static_cast<OpKind>(i);
    r -= weights_[i];
  }
  return OpKind::kSend;
}

std::string OpMix::ToString() const {
  std::string out;
  for (size_t i = 0; i < kOpKinds; ++i) {
    if (weights_[i] == 0) continue;
    out += Cat(out.empty() ? "" : ",", kNames[i], "=", weights_[i]);
  }
  return out;
}

absl::StatusOr<OpMix> ParseMix(std::string_view text) {
  std::array<uint32_t, kOpKinds> weights{};
  std::array<bool, kOpKinds> seen{};
  for (std::string_view item : Split(text, ',')) {
    item = StripWhitespace(item);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return absl::InvalidArgumentError(
          Cat("--mix: '", item, "' is not name=weight (e.g. send=80,fetch=20)"));
    }
    const std::string_view name = StripWhitespace(item.substr(0, eq));
    const std::string_view value = StripWhitespace(item.substr(eq + 1));
    size_t index = kOpKinds;
    for (size_t i = 0; i < static_cast<size_t>(OpKind::kNoop); ++i) {
      if (kNames[i] == name) index = i;
    }
    if (index == kOpKinds) {
      return absl::InvalidArgumentError(
          Cat("--mix: unknown operation '", name, "' (send, fetch, claim, report)"));
    }
    if (seen[index]) {
      return absl::InvalidArgumentError(Cat("--mix: '", name, "' given twice"));
    }
    seen[index] = true;
    uint32_t w = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), w);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() || w > 1000000) {
      return absl::InvalidArgumentError(
          Cat("--mix: weight of '", name, "' must be an integer 0..1000000"));
    }
    weights[index] = w;
  }
  uint64_t total = 0;
  for (uint32_t w : weights) total += w;
  if (total == 0) return absl::InvalidArgumentError("--mix: every weight is 0");
  return OpMix(weights);
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  text = StripWhitespace(text);
  double scale = 1e6;  // microseconds per unit; bare numbers are seconds
  if (ConsumeSuffix(&text, "us")) {
    scale = 1;
  } else if (ConsumeSuffix(&text, "ms")) {
    scale = 1e3;
  } else if (ConsumeSuffix(&text, "s")) {
    scale = 1e6;
  } else if (ConsumeSuffix(&text, "m")) {
    scale = 60e6;
  }
  absl::StatusOr<double> v = ParseNumber(text, "duration");
  if (!v.ok()) return v.status();
  if (*v <= 0) return absl::InvalidArgumentError("duration: must be positive");
  return absl::Microseconds(*v * scale);
}

absl::StatusOr<double> ParseRate(std::string_view text) {
  text = StripWhitespace(text);
  (void)ConsumeSuffix(&text, "/s");
  double scale = 1;
  if (ConsumeSuffix(&text, "k")) scale = 1e3;
  absl::StatusOr<double> v = ParseNumber(text, "rate");
  if (!v.ok()) return v.status();
  if (*v <= 0) return absl::InvalidArgumentError("rate: must be positive");
  return *v * scale;
}

}  // namespace letterbox::sim
