// File: letterbox/crypto/init.h
//
// libsodium must be initialised once, before any thread uses it. Every
// binary's main() and the test runner call Initialize() first:
//
//   int main() {
//     if (!letterbox::crypto::Initialize().ok()) return 1;
//     ...
//   }
#pragma once

#include "absl/status/status.h"

namespace letterbox::crypto {

// Initialises libsodium. Safe to call more than once and from several threads
// (later calls are no-ops). Returns INTERNAL if libsodium cannot initialise
// (for example no entropy source); nothing in this module may be used then.
[[nodiscard]] absl::Status Initialize();

}  // namespace letterbox::crypto
