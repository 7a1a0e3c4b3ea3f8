// File: letterbox/crypto/franking.h
//
// Message franking (Facebook's scheme, as analysed by Grubbs et al., CRYPTO
// 2017): a report can prove that a given sender sent a given plaintext.
//
//  1. The sender draws a fresh 32-byte franking key k_f for each message,
//     puts k_f inside the end-to-end ciphertext, and sends the commitment
//        c = HMAC-SHA256(k_f, lp("letterbox.franking.commit.v1") ‖ lp(plaintext) ‖ lp(context))
//     in clear beside the ciphertext.
//  2. The server, which sees c but not the plaintext, attaches
//        tag = HMAC-SHA256(K_frank, lp("letterbox.franking.tag.v1") ‖ c ‖ lp(sender) ‖
//                          lp(recipient) ‖ be64(timestamp_micros) ‖ lp(message_id))
//  3. A report reveals plaintext, k_f, c, tag and the routing fields; the
//     verifier recomputes both.
//
// lp(x) is x's length as 4 bytes big-endian followed by x, so no two
// different field lists encode to the same bytes. be64 is an 8-byte
// big-endian two's-complement integer. Labels are length-prefixed ASCII, as
// everywhere ByteWriter::Label is used.
//
//   auto k_f = NewFrankingKey(SystemRandom::Instance());
//   Commitment c = Commit(k_f, plaintext, context);
//   FrankingTag t = ComputeFrankingTag(server_key, {c, sender, recipient, ts, id});
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "letterbox/crypto/bytes.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/random.h"

namespace letterbox::crypto {

inline constexpr size_t kFrankingKeySize = 32;
inline constexpr size_t kCommitmentSize = 32;
inline constexpr size_t kFrankingTagSize = 32;

using FrankingKey = Secret<kFrankingKeySize, struct FrankingKeyTag>;
using FrankingServerKey = Secret<32, struct FrankingServerKeyTag>;
using Commitment = FixedBytes<kCommitmentSize, struct CommitmentTag>;
using FrankingTag = FixedBytes<kFrankingTagSize, struct FrankingTagTag>;

// A fresh per-message franking key.
[[nodiscard]] FrankingKey NewFrankingKey(Random& random);

// The commitment to `plaintext` in `context` (for example the conversation or
// the sender's and recipient's ids, chosen by the client protocol).
[[nodiscard]] Commitment Commit(const FrankingKey& key, ByteView plaintext, ByteView context);

// OK if `commitment` opens to (plaintext, context) under `key` (constant-time
// compare); INVALID_ARGUMENT("franking commitment does not match") otherwise.
[[nodiscard]] absl::Status VerifyCommitment(const FrankingKey& key, ByteView plaintext,
                                            ByteView context, const Commitment& commitment);

// The fields the server binds to a commitment.
struct FrankingFields {
  Commitment commitment;
  ByteView sender;               // the authenticated sender's address (opaque bytes)
  ByteView recipient;            // the recipient device's address (opaque bytes)
  int64_t timestamp_micros = 0;  // server receive time, Unix microseconds
  ByteView message_id;           // the client-chosen message id
};

// The server's tag over `fields`.
[[nodiscard]] FrankingTag ComputeFrankingTag(const FrankingServerKey& key,
                                             const FrankingFields& fields);

// ComputeFrankingTag for one server key, with the key's HMAC-SHA256 inner
// and outer states computed once at construction, so a tag costs only the
// compressions of its input (the server's Send path; ComputeFrankingTag is
// a tagger used once). Move-only; the keyed states are as secret as the key
// and are zeroed on destruction. Tag() is const and thread-safe; a
// moved-from tagger must not be used.
class FrankingTagger {
 public:
  explicit FrankingTagger(const FrankingServerKey& key);
  ~FrankingTagger();
  FrankingTagger(FrankingTagger&&) noexcept;
  FrankingTagger& operator=(FrankingTagger&&) noexcept;
  FrankingTagger(const FrankingTagger&) = delete;
  FrankingTagger& operator=(const FrankingTagger&) = delete;

  [[nodiscard]] FrankingTag Tag(const FrankingFields& fields) const;

 private:
  struct KeyedState;
  std::unique_ptr<KeyedState> keyed_;
};

// OK if `tag` is the server's tag over `fields` (constant-time compare);
// INVALID_ARGUMENT("franking tag does not verify") otherwise.
[[nodiscard]] absl::Status VerifyFrankingTag(const FrankingServerKey& key,
                                             const FrankingFields& fields, const FrankingTag& tag);

}  // namespace letterbox::crypto
