#include "letterbox/crypto/random.h"

#include <sodium.h>

#include "letterbox/crypto/encoding.h"

namespace letterbox::crypto {

void SystemRandom::Fill(std::span<uint8_t> out) {
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

SystemRandom& SystemRandom::Instance() {
  static SystemRandom* instance = new SystemRandom();
  return *instance;
}

DeterministicRandom::DeterministicRandom(uint64_t seed) : state_{} {
  ByteWriter w;
  w.Label("letterbox.deterministic-random.v1").U64(seed);
  crypto_generichash(state_.data(), state_.size(), w.view().data(), w.view().size(), nullptr, 0);
}

void DeterministicRandom::Fill(std::span<uint8_t> out) {
  static_assert(sizeof(state_) == randombytes_SEEDBYTES);
  if (!out.empty()) randombytes_buf_deterministic(out.data(), out.size(), state_.data());
  // Re-key so that two calls never return the same stream.
  std::array<uint8_t, 32> next{};
  crypto_generichash(next.data(), next.size(), state_.data(), state_.size(), nullptr, 0);
  state_ = next;
}

}  // namespace letterbox::crypto
