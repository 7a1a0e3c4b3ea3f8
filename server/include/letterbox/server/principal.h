// File: letterbox/server/principal.h
//
// Who is calling: the authentication step turns a bearer token into a
// Principal before any handler runs, and handlers act only for it (a request
// can never name its own sender).
//
//   absl::Status Send(const Principal& caller, const v1::SendRequest& request, ...);
//   // caller.device is the authenticated sender.
#pragma once

#include "letterbox/storage/types.h"

namespace letterbox::server {

struct Principal {
  enum class Kind {
    kAnonymous,  // no session (unauthenticated RPCs only)
    kDevice,     // a device session from AuthService.Login
    kRelay,      // the vault's relay session from RelayService.RelayLogin
  };
  Kind kind = Kind::kAnonymous;
  // Set when kind == kDevice.
  storage::DeviceAddress device;
  // The caller's network address without the port (for per-address limits).
  std::string peer_address;
};

}  // namespace letterbox::server
