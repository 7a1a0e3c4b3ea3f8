// File: fuzz/fuzz_check.h
//
// The one way a fuzz target reports a broken property: FUZZ_CHECK(cond,
// what) prints the failed condition and aborts, so libFuzzer records the
// input as a crash artifact. Unlike assert it stays on under NDEBUG.
//
//   FUZZ_CHECK(decoded.Encode() == input, "decode/encode round trip");
#pragma once

#include <cstdio>
#include <cstdlib>

#include "letterbox/crypto/init.h"

#define FUZZ_CHECK(cond, what)                                                              \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: property violated: %s (%s)\n", __FILE__, __LINE__, what, \
                   #cond);                                                                  \
      std::abort();                                                                         \
    }                                                                                       \
  } while (false)

// libsodium is initialised once per process, before the first input runs.
#define FUZZ_INIT_SODIUM()                                   \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {       \
    if (!letterbox::crypto::Initialize().ok()) std::abort(); \
    return 0;                                                \
  }
