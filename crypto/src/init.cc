#include "letterbox/crypto/init.h"

#include <sodium.h>

#include <mutex>

namespace letterbox::crypto {

absl::Status Initialize() {
  static std::once_flag once;
  static int result = -1;
  std::call_once(once, [] { result = sodium_init(); });
  // sodium_init() returns 0 on first success and 1 if already initialised.
  if (result < 0) return absl::InternalError("libsodium could not initialise");
  return absl::OkStatus();
}

}  // namespace letterbox::crypto
