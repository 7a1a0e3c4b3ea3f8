// Message franking: the sender's commitment and the server's tag, both
// HMAC-SHA256 over the encodings documented in franking.h.
#include "letterbox/crypto/franking.h"

#include <sodium.h>

#include <string_view>

#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"

namespace letterbox::crypto {

namespace {

constexpr std::string_view kCommitLabel = "letterbox.franking.commit.v1";
constexpr std::string_view kTagLabel = "letterbox.franking.tag.v1";

static_assert(kCommitmentSize == crypto_auth_hmacsha256_BYTES);
static_assert(kFrankingTagSize == crypto_auth_hmacsha256_BYTES);

// HMAC-SHA256 fed field by field, so the plaintext is never copied into an
// encoding buffer that would be freed without being zeroed.
class StreamingHmac {
 public:
  explicit StreamingHmac(ByteView key) {
    static constexpr uint8_t kNoKey = 0;
    ok_ = crypto_auth_hmacsha256_init(&state_, key.empty() ? &kNoKey : key.data(), key.size()) == 0;
  }
  StreamingHmac(const StreamingHmac&) = delete;
  StreamingHmac& operator=(const StreamingHmac&) = delete;
  ~StreamingHmac() { sodium_memzero(&state_, sizeof state_); }

  StreamingHmac& Raw(ByteView bytes) {
    ok_ = ok_ && crypto_auth_hmacsha256_update(&state_, bytes.data(), bytes.size()) == 0;
    return *this;
  }
  // lp(bytes): the 4-byte big-endian length as ByteWriter::Bytes writes it,
  // then the bytes.
  StreamingHmac& LengthPrefixed(ByteView bytes) {
    ByteWriter prefix;
    prefix.U32(static_cast<uint32_t>(bytes.size()));
    return Raw(prefix.view()).Raw(bytes);
  }

  absl::StatusOr<Commitment> Finish() {
    Commitment out;
    if (!ok_ || crypto_auth_hmacsha256_final(&state_, out.data()) != 0) {
      return absl::InternalError("HMAC-SHA256 failed");
    }
    return out;
  }

 private:
  crypto_auth_hmacsha256_state state_;
  bool ok_ = false;
};

absl::StatusOr<Commitment> ComputeCommitment(const FrankingKey& key, ByteView plaintext,
                                             ByteView context) {
  StreamingHmac mac(key.Expose());
  mac.LengthPrefixed(AsBytes(kCommitLabel)).LengthPrefixed(plaintext).LengthPrefixed(context);
  return mac.Finish();
}

// "letterbox.franking.tag.v1" ‖ c ‖ lp(sender) ‖ lp(recipient) ‖
// be64(timestamp_micros) ‖ lp(message_id). Every field is public.
Bytes EncodeTagInput(const FrankingFields& fields) {
  ByteWriter w(4 + kTagLabel.size() + kCommitmentSize + 4 + fields.sender.size() + 4 +
               fields.recipient.size() + 8 + 4 + fields.message_id.size());
  w.Label(kTagLabel)
      .Raw(fields.commitment.view())
      .Bytes(fields.sender)
      .Bytes(fields.recipient)
      .I64(fields.timestamp_micros)
      .Bytes(fields.message_id);
  return std::move(w).Take();
}

}  // namespace

FrankingKey NewFrankingKey(Random& random) { return RandomSecret<FrankingKey>(random); }

Commitment Commit(const FrankingKey& key, ByteView plaintext, ByteView context) {
  auto commitment = ComputeCommitment(key, plaintext, context);
  // Only an (impossible) libsodium failure lands here; VerifyCommitment
  // reports it instead of comparing against this placeholder.
  if (!commitment.ok()) return Commitment();
  return *commitment;
}

absl::Status VerifyCommitment(const FrankingKey& key, ByteView plaintext, ByteView context,
                              const Commitment& commitment) {
  LB_ASSIGN_OR_RETURN(Commitment expected, ComputeCommitment(key, plaintext, context));
  if (!ConstantTimeEquals(expected.view(), commitment.view())) {
    return absl::InvalidArgumentError("franking commitment does not match");
  }
  return absl::OkStatus();
}

FrankingTag ComputeFrankingTag(const FrankingServerKey& key, const FrankingFields& fields) {
  return FrankingTagger(key).Tag(fields);
}

struct FrankingTagger::KeyedState {
  crypto_auth_hmacsha256_state state;
  ~KeyedState() { sodium_memzero(&state, sizeof state); }
};

FrankingTagger::FrankingTagger(const FrankingServerKey& key)
    : keyed_(std::make_unique<KeyedState>()) {
  // Cannot fail for a 32-byte key (libsodium returns 0 unconditionally).
  crypto_auth_hmacsha256_init(&keyed_->state, key.Expose().data(), key.Expose().size());
}
FrankingTagger::~FrankingTagger() = default;
FrankingTagger::FrankingTagger(FrankingTagger&&) noexcept = default;
FrankingTagger& FrankingTagger::operator=(FrankingTagger&&) noexcept = default;

FrankingTag FrankingTagger::Tag(const FrankingFields& fields) const {
  KeyedState copy{keyed_->state};
  const Bytes input = EncodeTagInput(fields);
  FrankingTag tag;
  crypto_auth_hmacsha256_update(&copy.state, input.data(), input.size());
  crypto_auth_hmacsha256_final(&copy.state, tag.data());
  return tag;
}

absl::Status VerifyFrankingTag(const FrankingServerKey& key, const FrankingFields& fields,
                               const FrankingTag& tag) {
  if (absl::Status s = VerifyHmacSha256(key.Expose(), EncodeTagInput(fields), tag.view());
      !s.ok()) {
    if (absl::IsInvalidArgument(s)) {
      return absl::InvalidArgumentError("franking tag does not verify");
    }
    return s;
  }
  return absl::OkStatus();
}

}  // namespace letterbox::crypto
