// File: letterbox/server/cli.h
//
// Compatibility include: the option helpers live in letterbox/common/cli.h
// (namespace letterbox::cli) so that every binary can use them.
#pragma once

#include "letterbox/common/cli.h"

namespace letterbox::server {
namespace cli = ::letterbox::cli;
}  // namespace letterbox::server
