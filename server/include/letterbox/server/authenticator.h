// File: letterbox/server/authenticator.h
//
// Device and relay authentication (auth.proto, relay.proto):
//  - challenges: single-use 32-byte nonces that expire after challenge_ttl,
//    held in memory (bounded; a restart invalidates them);
//  - logins: an Ed25519 signature over
//      ByteWriter Label("letterbox.auth.v1") ‖ Bytes(nonce) ‖ Bytes(account_id) ‖ U32(device_id)
//    (relay: Label("letterbox.relay-auth.v1") ‖ Bytes(nonce)) exchanged for
//    a random 32-byte session token valid for session_ttl;
//  - sessions: only BLAKE2b-256(token) is kept, in SessionStore (device
//    sessions, so they survive restarts) and in a bounded in-memory cache;
//    relay sessions live only in memory (the vault logs in again);
//  - throttling: failed logins per device and per address, challenges per
//    address (RESOURCE_EXHAUSTED).
// Threat model P8: a login for an unknown device, with a wrong signature, or
// with an unknown, expired, reused or mismatched nonce fails with the same
// UNAUTHENTICATED message; GetChallenge never looks at the store.
//
//   Authenticator auth(stores, clock, limits, relay_key, SystemRandom::Instance());
//   LB_ASSIGN_OR_RETURN(Challenge c, auth.IssueChallenge(device, peer));
//   LB_ASSIGN_OR_RETURN(Session s, auth.Login(device, nonce, signature, peer));
//   LB_ASSIGN_OR_RETURN(Principal p, auth.Authenticate("Bearer " + hex, peer));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "letterbox/common/clock.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/random.h"
#include "letterbox/server/config.h"
#include "letterbox/server/principal.h"
#include "letterbox/server/rate_limiter.h"
#include "letterbox/storage/stores.h"

namespace letterbox::server {

inline constexpr std::string_view kAuthLabel = "letterbox.auth.v1";
inline constexpr std::string_view kRelayAuthLabel = "letterbox.relay-auth.v1";
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kSessionTokenSize = 32;
// The one answer to every failed login (P8).
inline constexpr std::string_view kLoginFailedMessage = "authentication failed";

using Nonce = crypto::FixedBytes<kNonceSize, struct NonceTag>;
using SessionToken = crypto::Secret<kSessionTokenSize, struct SessionTokenTag>;

// The bytes a device signs to log in.
[[nodiscard]] crypto::Bytes DeviceLoginMessage(const Nonce& nonce,
                                               const storage::DeviceAddress& device);
// The bytes the vault's relay key signs to log in.
[[nodiscard]] crypto::Bytes RelayLoginMessage(const Nonce& nonce);

struct Challenge {
  Nonce nonce;
  int64_t expires_micros = 0;
};

struct Session {
  SessionToken token;  // give to the client once; the server keeps only its hash
  int64_t expires_micros = 0;
};

// Thread-safe. Keeps references to `stores`, `clock` and `random`, which must
// outlive it.
class Authenticator {
 public:
  // At most this many unanswered challenges are kept; when full, expired ones
  // are dropped, and if none has expired the request is RESOURCE_EXHAUSTED.
  static constexpr size_t kMaxPendingChallenges = 100'000;
  // At most this many sessions are cached in memory (more stay in the store).
  static constexpr size_t kMaxCachedSessions = 100'000;

  // `relay_public_key` absent: relay logins always fail.
  Authenticator(storage::Stores& stores, const Clock& clock, const Limits& limits,
                std::optional<crypto::Ed25519PublicKey> relay_public_key, crypto::Random& random);

  // A fresh nonce bound to `device` (which is not looked up, so the answer is
  // the same whether it exists or not). RESOURCE_EXHAUSTED if `peer_address`
  // asks too often or too many challenges are pending.
  [[nodiscard]] absl::StatusOr<Challenge> IssueChallenge(const storage::DeviceAddress& device,
                                                         std::string_view peer_address);

  // Consumes `nonce` (whatever the outcome) and, if `signature` is the
  // device's identity key's signature over DeviceLoginMessage, opens a
  // session. UNAUTHENTICATED(kLoginFailedMessage) for every kind of failure;
  // RESOURCE_EXHAUSTED while the device or the address is throttled (too many
  // recent failures; nothing is consumed then); INTERNAL if storage fails.
  [[nodiscard]] absl::StatusOr<Session> Login(const storage::DeviceAddress& device,
                                              std::string_view nonce, std::string_view signature,
                                              std::string_view peer_address);

  // A nonce for the relay (same rules as IssueChallenge).
  [[nodiscard]] absl::StatusOr<Challenge> IssueRelayChallenge(std::string_view peer_address);

  // As Login, for the relay key and RelayLoginMessage.
  [[nodiscard]] absl::StatusOr<Session> RelayLogin(std::string_view nonce,
                                                   std::string_view signature,
                                                   std::string_view peer_address);

  // The principal behind an `authorization` metadata value ("Bearer <hex>").
  // UNAUTHENTICATED("missing session token") if absent,
  // UNAUTHENTICATED("invalid session token") if malformed, unknown or
  // expired; INTERNAL if storage fails.
  [[nodiscard]] absl::StatusOr<Principal> Authenticate(std::optional<std::string_view> header,
                                                       std::string_view peer_address);

  // Drops cached sessions of `device` (after RemoveDevice deleted its stored
  // sessions), so its tokens stop working at once.
  void ForgetDevice(const storage::DeviceAddress& device);

 private:
  struct PendingChallenge {
    int64_t expires_micros = 0;
    bool relay = false;
    storage::DeviceAddress device;
  };
  struct CachedSession {
    Principal::Kind kind = Principal::Kind::kDevice;
    storage::DeviceAddress device;
    int64_t expires_micros = 0;
  };

  absl::StatusOr<Challenge> Issue(PendingChallenge pending, std::string_view peer_address);
  // Removes `nonce` and returns what it was issued for, if it was pending and
  // unexpired.
  std::optional<PendingChallenge> Consume(std::string_view nonce);
  Session NewToken(storage::TokenHash* hash);
  void Cache(const storage::TokenHash& hash, CachedSession session);

  storage::Stores& stores_;
  const Clock& clock_;
  const Limits limits_;
  const std::optional<crypto::Ed25519PublicKey> relay_public_key_;
  crypto::Random& random_;
  RateLimiter challenges_per_address_;
  RateLimiter failures_per_device_;
  RateLimiter failures_per_address_;

  absl::Mutex mu_;
  absl::flat_hash_map<Nonce, PendingChallenge> challenges_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<storage::TokenHash, CachedSession> sessions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace letterbox::server
