// File: letterbox/crypto/sealed_box.h
//
// Anonymous public-key encryption (crypto_box_seal): anyone with the
// recipient's X25519 public key can seal; only the holder of the secret key
// can open. Reports are sealed to the vault's intake key this way, so the
// messaging server that relays them cannot read them.
//
//   LB_ASSIGN_OR_RETURN(Bytes sealed, SealedBoxSeal(vault_public_key, report_bytes));
//   LB_ASSIGN_OR_RETURN(SecretBytes report, SealedBoxOpen(vault_key_pair, sealed));
#pragma once

#include "absl/status/statusor.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/x25519.h"

namespace letterbox::crypto {

inline constexpr size_t kSealedBoxOverhead = 48;  // ephemeral public key + MAC

// Seals `message` to `recipient`. The output is message.size() + 48 bytes.
// INVALID_ARGUMENT if `recipient` is a low-order point (the key agreement
// would give the all-zero secret, and libsodium refuses it).
[[nodiscard]] absl::StatusOr<Bytes> SealedBoxSeal(const X25519PublicKey& recipient,
                                                  ByteView message);

// Opens a sealed box addressed to `recipient`. INVALID_ARGUMENT if it is too
// short, was sealed to another key, or was altered.
[[nodiscard]] absl::StatusOr<SecretBytes> SealedBoxOpen(const X25519KeyPair& recipient,
                                                        ByteView sealed);

}  // namespace letterbox::crypto
