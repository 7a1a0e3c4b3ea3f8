// The Catch2 runner for every Letterbox test binary: initialises libsodium
// once, before any test (and so before any thread) runs.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <iostream>

#include "letterbox/crypto/init.h"

int main(int argc, char* argv[]) {
  if (auto status = letterbox::crypto::Initialize(); !status.ok()) {
    std::cerr << "libsodium failed to initialise: " << status << "\n";
    return 1;
  }
  return Catch::Session().run(argc, argv);
}
