#include "letterbox/server/authenticator.h"

#include <algorithm>
#include <utility>

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hash.h"

namespace letterbox::server {
namespace {

constexpr std::string_view kBearerPrefix = "Bearer ";

std::string DeviceKey(const storage::DeviceAddress& device) {
  return crypto::ToString(device.Encode());
}

storage::TokenHash HashToken(crypto::ByteView token) {
  storage::TokenHash hash;
  const crypto::Blake2b256 digest = crypto::Blake2b256Of(token);
  std::copy(digest.view().begin(), digest.view().end(), hash.mutable_view().begin());
  return hash;
}

absl::Status LoginFailed() { return absl::UnauthenticatedError(std::string(kLoginFailedMessage)); }

}  // namespace

crypto::Bytes DeviceLoginMessage(const Nonce& nonce, const storage::DeviceAddress& device) {
  crypto::ByteWriter w;
  w.Label(kAuthLabel).Bytes(nonce.view()).Bytes(device.account.view()).U32(device.device);
  return std::move(w).Take();
}

crypto::Bytes RelayLoginMessage(const Nonce& nonce) {
  crypto::ByteWriter w;
  w.Label(kRelayAuthLabel).Bytes(nonce.view());
  return std::move(w).Take();
}

Authenticator::Authenticator(storage::Stores& stores, const Clock& clock, const Limits& limits,
                             std::optional<crypto::Ed25519PublicKey> relay_public_key,
                             crypto::Random& random)
    : stores_(stores),
      clock_(clock),
      limits_(limits),
      relay_public_key_(std::move(relay_public_key)),
      random_(random),
      challenges_per_address_(clock, limits.challenges_per_address),
      failures_per_device_(clock, limits.login_failures_per_device),
      failures_per_address_(clock, limits.login_failures_per_address) {}

absl::StatusOr<Challenge> Authenticator::Issue(PendingChallenge pending,
                                               std::string_view peer_address) {
  if (!challenges_per_address_.TryAcquire(peer_address)) {
    return absl::ResourceExhaustedError("too many challenges; retry later");
  }
  const int64_t now = clock_.NowMicros();
  Challenge challenge;
  challenge.nonce = crypto::RandomFixed<Nonce>(random_);
  challenge.expires_micros = now + absl::ToInt64Microseconds(limits_.challenge_ttl);
  pending.expires_micros = challenge.expires_micros;
  absl::MutexLock lock(&mu_);
  if (challenges_.size() >= kMaxPendingChallenges) {
    absl::erase_if(challenges_, [now](const auto& e) { return e.second.expires_micros <= now; });
    if (challenges_.size() >= kMaxPendingChallenges) {
      return absl::ResourceExhaustedError("too many challenges; retry later");
    }
  }
  challenges_.insert_or_assign(challenge.nonce, std::move(pending));
  return challenge;
}

absl::StatusOr<Challenge> Authenticator::IssueChallenge(const storage::DeviceAddress& device,
                                                        std::string_view peer_address) {
  return Issue(PendingChallenge{.expires_micros = 0, .relay = false, .device = device},
               peer_address);
}

absl::StatusOr<Challenge> Authenticator::IssueRelayChallenge(std::string_view peer_address) {
  return Issue(PendingChallenge{.expires_micros = 0, .relay = true, .device = {}}, peer_address);
}

std::optional<Authenticator::PendingChallenge> Authenticator::Consume(std::string_view nonce) {
  auto parsed = Nonce::FromString(nonce);
  if (!parsed.ok()) return std::nullopt;
  const int64_t now = clock_.NowMicros();
  absl::MutexLock lock(&mu_);
  auto it = challenges_.find(*parsed);
  if (it == challenges_.end()) return std::nullopt;
  PendingChallenge pending = it->second;
  challenges_.erase(it);
  if (pending.expires_micros <= now) return std::nullopt;
  return pending;
}

Session Authenticator::NewToken(storage::TokenHash* hash) {
  Session session;
  session.token = crypto::RandomSecret<SessionToken>(random_);
  session.expires_micros = clock_.NowMicros() + absl::ToInt64Microseconds(limits_.session_ttl);
  *hash = HashToken(session.token.Expose());
  return session;
}

void Authenticator::Cache(const storage::TokenHash& hash, CachedSession session) {
  const int64_t now = clock_.NowMicros();
  absl::MutexLock lock(&mu_);
  if (sessions_.size() >= kMaxCachedSessions) {
    absl::erase_if(sessions_, [now](const auto& e) { return e.second.expires_micros <= now; });
    if (sessions_.size() >= kMaxCachedSessions) {
      // Device sessions reload from the store; relay sessions are kept.
      absl::erase_if(sessions_,
                     [](const auto& e) { return e.second.kind == Principal::Kind::kDevice; });
    }
  }
  sessions_.insert_or_assign(hash, std::move(session));
}

absl::StatusOr<Session> Authenticator::Login(const storage::DeviceAddress& device,
                                             std::string_view nonce, std::string_view signature,
                                             std::string_view peer_address) {
  const std::string device_key = DeviceKey(device);
  if (!failures_per_device_.WouldAllow(device_key) ||
      !failures_per_address_.WouldAllow(peer_address)) {
    return absl::ResourceExhaustedError("too many failed logins; retry later");
  }
  auto fail = [&]() -> absl::Status {
    (void)failures_per_device_.TryAcquire(device_key);
    (void)failures_per_address_.TryAcquire(peer_address);
    return LoginFailed();
  };
  const std::optional<PendingChallenge> pending = Consume(nonce);
  if (!pending.has_value() || pending->relay || !(pending->device == device)) return fail();
  auto parsed_signature = crypto::Ed25519Signature::FromString(signature);
  if (!parsed_signature.ok()) return fail();
  absl::StatusOr<storage::DeviceRecord> record = stores_.accounts().GetDevice(device);
  if (absl::IsNotFound(record.status())) return fail();
  LB_RETURN_IF_ERROR(record.status());
  Nonce parsed_nonce = *Nonce::FromString(nonce);
  if (!crypto::Ed25519Verify(record->identity_signing_key, DeviceLoginMessage(parsed_nonce, device),
                             *parsed_signature)
           .ok()) {
    return fail();
  }
  storage::TokenHash hash;
  Session session = NewToken(&hash);
  LB_RETURN_IF_ERROR(stores_.sessions().PutSession(
      hash, storage::SessionRecord{.device = device, .expires_micros = session.expires_micros}));
  Cache(hash, CachedSession{.kind = Principal::Kind::kDevice,
                            .device = device,
                            .expires_micros = session.expires_micros});
  return session;
}

absl::StatusOr<Session> Authenticator::RelayLogin(std::string_view nonce,
                                                  std::string_view signature,
                                                  std::string_view peer_address) {
  constexpr std::string_view kRelayKey = "relay";
  if (!failures_per_device_.WouldAllow(kRelayKey) ||
      !failures_per_address_.WouldAllow(peer_address)) {
    return absl::ResourceExhaustedError("too many failed logins; retry later");
  }
  auto fail = [&]() -> absl::Status {
    (void)failures_per_device_.TryAcquire(kRelayKey);
    (void)failures_per_address_.TryAcquire(peer_address);
    return LoginFailed();
  };
  const std::optional<PendingChallenge> pending = Consume(nonce);
  if (!pending.has_value() || !pending->relay || !relay_public_key_.has_value()) return fail();
  auto parsed_signature = crypto::Ed25519Signature::FromString(signature);
  if (!parsed_signature.ok()) return fail();
  if (!crypto::Ed25519Verify(*relay_public_key_, RelayLoginMessage(*Nonce::FromString(nonce)),
                             *parsed_signature)
           .ok()) {
    return fail();
  }
  storage::TokenHash hash;
  Session session = NewToken(&hash);
  Cache(hash, CachedSession{.kind = Principal::Kind::kRelay,
                            .device = {},
                            .expires_micros = session.expires_micros});
  return session;
}

absl::StatusOr<Principal> Authenticator::Authenticate(std::optional<std::string_view> header,
                                                      std::string_view peer_address) {
  if (!header.has_value() || header->empty()) {
    return absl::UnauthenticatedError("missing session token");
  }
  const absl::Status invalid = absl::UnauthenticatedError("invalid session token");
  if (!header->starts_with(kBearerPrefix) ||
      header->size() != kBearerPrefix.size() + 2 * kSessionTokenSize) {
    return invalid;
  }
  absl::StatusOr<crypto::Bytes> raw = crypto::FromHex(header->substr(kBearerPrefix.size()));
  if (!raw.ok() || raw->size() != kSessionTokenSize) return invalid;
  const storage::TokenHash hash = HashToken(*raw);
  crypto::SecureZero(*raw);
  const int64_t now = clock_.NowMicros();

  Principal principal;
  principal.peer_address = std::string(peer_address);
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(hash);
    if (it != sessions_.end()) {
      if (it->second.expires_micros <= now) {
        sessions_.erase(it);
        return invalid;
      }
      principal.kind = it->second.kind;
      principal.device = it->second.device;
      return principal;
    }
  }
  absl::StatusOr<storage::SessionRecord> stored = stores_.sessions().GetSession(hash);
  if (absl::IsNotFound(stored.status())) return invalid;
  LB_RETURN_IF_ERROR(stored.status());
  if (stored->expires_micros <= now) {
    (void)stores_.sessions().DeleteSession(hash);
    return invalid;
  }
  Cache(hash, CachedSession{.kind = Principal::Kind::kDevice,
                            .device = stored->device,
                            .expires_micros = stored->expires_micros});
  principal.kind = Principal::Kind::kDevice;
  principal.device = stored->device;
  return principal;
}

void Authenticator::ForgetDevice(const storage::DeviceAddress& device) {
  absl::MutexLock lock(&mu_);
  absl::erase_if(sessions_, [&](const auto& e) {
    return e.second.kind == Principal::Kind::kDevice && e.second.device == device;
  });
}

}  // namespace letterbox::server
