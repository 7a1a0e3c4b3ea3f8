// File: letterbox/sim/workload.h
//
// What a load run does: the operation mix, what its sends carry, and the
// textual forms of its options (durations such as "10s", rates such as
// "5000/s").
//
//   LB_ASSIGN_OR_RETURN(OpMix mix, ParseMix("send=80,fetch=10,claim=5,report=5"));
//   LB_ASSIGN_OR_RETURN(CryptoMode crypto, ParseCryptoMode("real"));
//   OpKind k = mix.Pick(op_index);    // deterministic, proportions as weighted
//   LB_ASSIGN_OR_RETURN(absl::Duration d, ParseDuration("2s"));
//   LB_ASSIGN_OR_RETURN(double per_second, ParseRate("20000/s"));
//
// Everything here is pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace letterbox::sim {

// One operation of the load mix, and the ceiling's no-op.
enum class OpKind : uint8_t { kSend = 0, kFetch = 1, kClaim = 2, kReport = 3, kNoop = 4 };
inline constexpr size_t kOpKinds = 5;

// "send", "fetch", "claim", "report", "noop".
[[nodiscard]] std::string_view OpName(OpKind kind);

// Integer weights of the four load operations (noop is never in a mix).
class OpMix {
 public:
  // A mix of sends only.
  OpMix();
  // `weights` indexed by OpKind (kNoop's entry must be 0); at least one > 0.
  explicit OpMix(const std::array<uint32_t, kOpKinds>& weights);

  [[nodiscard]] uint32_t weight(OpKind kind) const { return weights_[static_cast<size_t>(kind)]; }
  [[nodiscard]] uint32_t total() const { return total_; }
  // The operation for the op_index-th operation of a run: a hash of the
  // index mapped through the cumulative weights, so over many indices each
  // kind's share approaches weight / total, and the same index always gives
  // the same kind.
  [[nodiscard]] OpKind Pick(uint64_t op_index) const;
  // "send=80,fetch=10,..." listing the non-zero weights (ParseMix's form).
  [[nodiscard]] std::string ToString() const;

 private:
  std::array<uint32_t, kOpKinds> weights_{};
  uint32_t total_ = 0;
};

// What a load Send carries.
enum class CryptoMode : uint8_t {
  // Resolved when the engine is created: kReal if the mix sends and at least
  // one device subscribes, kSynthetic otherwise.
  kAuto = 0,
  // A message sealed by the sender's client::DeviceCrypto (X3DH through the
  // server's key directory, then the Double Ratchet), opened and checked by
  // the recipient (load_crypto.h).
  kReal = 1,
  // Pooled random bytes as ciphertext with a real franking commitment over an
  // unrelated random plaintext; nothing is opened.
  kSynthetic = 2,
};

// "auto", "real", "synthetic".
[[nodiscard]] std::string_view CryptoModeName(CryptoMode mode);

// Parses "real" or "synthetic" (the command line never says "auto": leaving
// the option out does). INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<CryptoMode> ParseCryptoMode(std::string_view text);

// Parses "name=weight,..." with names send, fetch, claim, report and
// non-negative integer weights (not necessarily summing to 100; omitted
// names weigh 0). INVALID_ARGUMENT naming the problem for an unknown or
// repeated name, a missing '=', a weight that is not an integer in
// [0, 1000000], or all weights 0.
[[nodiscard]] absl::StatusOr<OpMix> ParseMix(std::string_view text);

// Parses a positive duration: a number with unit us, ms, s or m ("10s",
// "500ms", "1.5s", "2m"); a bare number means seconds. INVALID_ARGUMENT
// otherwise (including zero and negative values).
[[nodiscard]] absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// Parses a positive arrival rate per second: "5000", "5000/s" or "5k/s".
// INVALID_ARGUMENT otherwise.
[[nodiscard]] absl::StatusOr<double> ParseRate(std::string_view text);

}  // namespace letterbox::sim
