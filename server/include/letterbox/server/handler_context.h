// File: letterbox/server/handler_context.h
//
// What every request handler needs, gathered once by MessagingServer and
// passed to each handler's constructor: the stores, the clock, the
// configuration, the server's keys, the authenticator, the mailbox notifier
// and the randomness source. Handlers hold a reference; the context and all
// it refers to must outlive them. Fuzz targets and tests build one directly:
//
//   ServerKeys keys{.franking_key = ..., .discovery_pepper = ...};
//   HandlerContext context{stores, clock, config, keys, auth, notifier, random};
//   MessageHandler messages(context);
#pragma once

#include <optional>

#include "letterbox/common/clock.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/x25519.h"
#include "letterbox/server/authenticator.h"
#include "letterbox/server/config.h"
#include "letterbox/server/mailbox_notifier.h"
#include "letterbox/storage/stores.h"

namespace letterbox::server {

// The messaging server's secrets, loaded from the keys directory by the
// binary (key_files.h). Move-only; zeroed when destroyed.
struct ServerKeys {
  // K_frank: the key of the franking tags on every envelope.
  crypto::FrankingServerKey franking_key;
  // The key of the discovery handle HMAC-SHA256(pepper, E.164 number).
  crypto::MacKey discovery_pepper;
};

struct HandlerContext {
  storage::Stores& stores;
  const Clock& clock;
  const ServerConfig& config;
  const ServerKeys& keys;
  Authenticator& auth;
  MailboxNotifier& notifier;
  crypto::Random& random;
  // The vault's intake key from config.vault_intake_public_key_hex; absent if
  // not configured (GetVaultKey is then FAILED_PRECONDITION).
  std::optional<crypto::X25519PublicKey> vault_intake_key;
};

}  // namespace letterbox::server
