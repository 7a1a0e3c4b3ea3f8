// File: letterbox/crypto/random.h
//
// The randomness seam. Key generation and nonces take a Random&, so tests can
// make protocol runs reproducible:
//
//   DeterministicRandom rng(/*seed=*/42);
//   auto alice = X25519KeyPair::Generate(rng);   // same keys on every run
//
// Production code uses SystemRandom (libsodium's randombytes_buf).
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "letterbox/crypto/bytes.h"

namespace letterbox::crypto {

// A source of random bytes. Implementations are thread-safe unless noted.
class Random {
 public:
  virtual ~Random() = default;
  // Fills `out` with random bytes. Never fails.
  virtual void Fill(std::span<uint8_t> out) = 0;
};

// libsodium's CSPRNG. Thread-safe; requires Initialize().
class SystemRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override;
  // A process-wide instance; never destroyed.
  static SystemRandom& Instance();
};

// A reproducible stream for tests only (randombytes_buf_deterministic keyed
// by the seed, re-keyed after every call). Not thread-safe.
class DeterministicRandom final : public Random {
 public:
  explicit DeterministicRandom(uint64_t seed);
  void Fill(std::span<uint8_t> out) override;

 private:
  std::array<uint8_t, 32> state_;
};

// A fixed-size secret (Secret<N, Tag>) filled from `random`:
//   auto key = RandomSecret<AeadKey>(SystemRandom::Instance());
template <typename SecretType>
[[nodiscard]] SecretType RandomSecret(Random& random) {
  SecretType s;
  random.Fill(s.mutable_view());
  return s;
}

// A fixed-size public value (FixedBytes<N, Tag>) filled from `random`, e.g. a
// nonce or a random identifier.
template <typename FixedType>
[[nodiscard]] FixedType RandomFixed(Random& random) {
  FixedType v;
  random.Fill(v.mutable_view());
  return v;
}

}  // namespace letterbox::crypto
