// File: letterbox/storage/types.h
//
// The records the messaging server stores. Every field is a random
// identifier, a public key, a timestamp, a size, or opaque bytes the client
// encrypted: nothing here can hold a name, a phone number, an e-mail address
// or a message in clear (threat model P1). docs/storage.md has the schema.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/ed25519.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/hash.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::storage {

using crypto::Bytes;
using crypto::ByteView;

// A random 16-byte account identifier.
using AccountId = crypto::FixedBytes<16, struct AccountIdTag>;
// A client-chosen 16-byte message identifier (unique per sender device).
using MessageId = crypto::FixedBytes<16, struct MessageIdTag>;
// A random 16-byte report identifier assigned by the server.
using ReportId = crypto::FixedBytes<16, struct ReportIdTag>;
// The BLAKE2b-256 hash of a session token (the token itself is never stored).
using TokenHash = crypto::FixedBytes<32, struct TokenHashTag>;
// A keyed hash of a normalised phone number (HMAC-SHA256 with the pepper).
using DiscoveryHandle = crypto::FixedBytes<32, struct DiscoveryHandleTag>;

// Device ids are assigned by the server per account, starting at 1, and are
// never reused within an account.
using DeviceId = uint32_t;
// Server-assigned, strictly increasing across the whole store, never reused.
using EnvelopeId = uint64_t;

struct DeviceAddress {
  AccountId account;
  DeviceId device = 0;
  friend bool operator==(const DeviceAddress&, const DeviceAddress&) = default;
  friend auto operator<=>(const DeviceAddress&, const DeviceAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const DeviceAddress& a) {
    return H::combine(std::move(h), a.account, a.device);
  }
  // account (16 bytes) ‖ device (4 bytes big-endian): the form used in keys
  // and in franking tags.
  [[nodiscard]] Bytes Encode() const;
};

struct DeviceRecord {
  DeviceId id = 0;
  crypto::Ed25519PublicKey identity_signing_key;
  crypto::X25519PublicKey identity_dh_key;
  // Ed25519 signature by identity_signing_key over
  // crypto::IdentityDhSigningMessage(identity_dh_key).
  crypto::Ed25519Signature identity_dh_signature;
  int64_t created_micros = 0;
};

struct AccountRecord {
  AccountId id;
  std::string jurisdiction;  // e.g. "JP"; validated by the server
  Bytes encrypted_profile;   // opaque, client-encrypted; may be empty
  std::optional<DiscoveryHandle> discovery_handle;
  int64_t created_micros = 0;
  DeviceId next_device_id = 1;  // maintained by the store
};

struct SignedPrekey {
  uint32_t key_id = 0;
  crypto::X25519PublicKey public_key;
  crypto::Ed25519Signature signature;  // over crypto::SignedPrekeySigningMessage
  int64_t uploaded_micros = 0;
};

struct OneTimePrekey {
  uint32_t key_id = 0;
  crypto::X25519PublicKey public_key;
};

// What a claimant receives: the signed prekey and at most one one-time
// prekey, which the store has removed from the pool atomically.
struct ClaimedPrekeys {
  SignedPrekey signed_prekey;
  std::optional<OneTimePrekey> one_time_prekey;
};

struct Envelope {
  EnvelopeId id = 0;  // assigned by MailboxStore::Store
  MessageId message_id;
  DeviceAddress sender;
  DeviceAddress recipient;
  int64_t server_timestamp_micros = 0;
  crypto::Commitment franking_commitment;
  crypto::FrankingTag franking_tag;
  Bytes ciphertext;  // opaque end-to-end ciphertext
};

// The result of one Send, kept so a retry with the same (sender, message id)
// returns exactly the same answer.
struct SendReceipt {
  struct Delivery {
    DeviceAddress recipient;
    EnvelopeId envelope_id = 0;
    crypto::FrankingTag franking_tag;
  };
  int64_t server_timestamp_micros = 0;
  std::vector<Delivery> deliveries;
};

struct SessionRecord {
  DeviceAddress device;
  int64_t expires_micros = 0;
};

struct OutboxReport {
  ReportId id;
  std::string jurisdiction;
  DeviceAddress reporter;  // the authenticated device that submitted it
  int64_t received_micros = 0;
  Bytes sealed;  // crypto_box_seal to the vault's intake key; opaque here
};

}  // namespace letterbox::storage
