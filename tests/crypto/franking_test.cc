// Franking: the sender's commitment opens only to the plaintext and context
// it was made for, and the server's tag binds the commitment to every
// routing field. The exact byte encodings of franking.h are pinned here too.
#include "letterbox/crypto/franking.h"

#include <catch2/catch.hpp>

#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/random.h"

namespace letterbox::crypto {
namespace {

// A sender's message and a server's view of it, from a fixed seed.
struct Fixture {
  DeterministicRandom random{7};
  FrankingKey k_f = NewFrankingKey(random);
  FrankingServerKey server_key = RandomSecret<FrankingServerKey>(random);
  ByteView plaintext = AsBytes("meet me at noon");
  ByteView context = AsBytes("conversation:alice|bob");
  Commitment commitment = Commit(k_f, plaintext, context);

  FrankingFields Fields() const {
    return {.commitment = commitment,
            .sender = AsBytes("alice/1"),
            .recipient = AsBytes("bob/2"),
            .timestamp_micros = 1'700'000'000'000'000,
            .message_id = AsBytes("msg-0001")};
  }
};

TEST_CASE("A franking commitment verifies against its plaintext - context and key") {
  Fixture f;
  CHECK(VerifyCommitment(f.k_f, f.plaintext, f.context, f.commitment).ok());
}

TEST_CASE("A franking commitment is rejected for an altered plaintext") {
  Fixture f;
  auto status = VerifyCommitment(f.k_f, AsBytes("meet me at one"), f.context, f.commitment);
  CHECK(absl::IsInvalidArgument(status));
  CHECK(status.message() == "franking commitment does not match");
}

TEST_CASE("A franking commitment is rejected for an altered context") {
  Fixture f;
  CHECK(absl::IsInvalidArgument(
      VerifyCommitment(f.k_f, f.plaintext, AsBytes("conversation:alice|eve"), f.commitment)));
}

TEST_CASE("A franking commitment is rejected under a different franking key") {
  Fixture f;
  const FrankingKey other = NewFrankingKey(f.random);
  CHECK(absl::IsInvalidArgument(VerifyCommitment(other, f.plaintext, f.context, f.commitment)));
}

TEST_CASE("A franking commitment is HMAC-SHA256(k_f - label || lp(plaintext) || lp(context))") {
  Fixture f;
  ByteWriter w;
  w.Label("letterbox.franking.commit.v1").Bytes(f.plaintext).Bytes(f.context);
  CHECK(f.commitment.view().size() == kCommitmentSize);
  CHECK(ToHex(f.commitment.view()) == HmacSha256(f.k_f.Expose(), w.view()).hex());
}

TEST_CASE("Fresh franking keys differ - so equal plaintexts get unrelated commitments") {
  Fixture f;
  const FrankingKey second = NewFrankingKey(f.random);
  CHECK_FALSE(second.Equals(f.k_f));
  CHECK(Commit(second, f.plaintext, f.context) != f.commitment);
}

TEST_CASE("A server franking tag verifies over the fields it was computed on") {
  Fixture f;
  const FrankingTag tag = ComputeFrankingTag(f.server_key, f.Fields());
  CHECK(VerifyFrankingTag(f.server_key, f.Fields(), tag).ok());
}

// The tag as franking.h specifies it, computed with plain HMAC-SHA256.
std::string SpecifiedTagHex(const FrankingServerKey& key, const FrankingFields& fields) {
  ByteWriter w;
  w.Label("letterbox.franking.tag.v1")
      .Raw(fields.commitment.view())
      .Bytes(fields.sender)
      .Bytes(fields.recipient)
      .I64(fields.timestamp_micros)
      .Bytes(fields.message_id);
  return HmacSha256(key.Expose(), w.view()).hex();
}

TEST_CASE(
    "A server franking tag is HMAC-SHA256(K - label || c || lp(sender) || lp(recipient) || "
    "be64(ts) || lp(id))") {
  Fixture f;
  const FrankingFields fields = f.Fields();
  CHECK(ComputeFrankingTag(f.server_key, fields).hex() == SpecifiedTagHex(f.server_key, fields));
}

TEST_CASE("A tagger reused for many tags gives each the specified HMAC") {
  Fixture f;
  const FrankingTagger tagger(f.server_key);
  FrankingFields fields = f.Fields();
  CHECK(tagger.Tag(fields).hex() == SpecifiedTagHex(f.server_key, fields));
  // Reusing the keyed state leaves it unchanged for the next tag.
  fields.timestamp_micros += 1;
  CHECK(tagger.Tag(fields).hex() == SpecifiedTagHex(f.server_key, fields));
  const FrankingTagger moved = FrankingTagger(f.server_key);
  CHECK(moved.Tag(fields).hex() == SpecifiedTagHex(f.server_key, fields));
}

TEST_CASE("A server franking tag is rejected when any bound field is altered") {
  Fixture f;
  const FrankingTag tag = ComputeFrankingTag(f.server_key, f.Fields());
  FrankingFields altered = f.Fields();

  SECTION("commitment") {
    altered.commitment = Commit(f.k_f, AsBytes("something else"), f.context);
  }
  SECTION("sender") { altered.sender = AsBytes("mallory/1"); }
  SECTION("recipient") { altered.recipient = AsBytes("bob/3"); }
  SECTION("timestamp") { altered.timestamp_micros += 1; }
  SECTION("message id") { altered.message_id = AsBytes("msg-0002"); }

  auto status = VerifyFrankingTag(f.server_key, altered, tag);
  CHECK(absl::IsInvalidArgument(status));
  CHECK(status.message() == "franking tag does not verify");
}

TEST_CASE("A server franking tag is rejected under a different server key") {
  Fixture f;
  const FrankingTag tag = ComputeFrankingTag(f.server_key, f.Fields());
  const auto other_key = RandomSecret<FrankingServerKey>(f.random);
  CHECK(absl::IsInvalidArgument(VerifyFrankingTag(other_key, f.Fields(), tag)));
}

TEST_CASE("Length prefixes keep sender/recipient splits apart: (ab - c) and (a - bc) differ") {
  Fixture f;
  FrankingFields ab_c = f.Fields();
  ab_c.sender = AsBytes("ab");
  ab_c.recipient = AsBytes("c");
  FrankingFields a_bc = f.Fields();
  a_bc.sender = AsBytes("a");
  a_bc.recipient = AsBytes("bc");

  const FrankingTag tag = ComputeFrankingTag(f.server_key, ab_c);
  CHECK(ComputeFrankingTag(f.server_key, a_bc) != tag);
  CHECK(absl::IsInvalidArgument(VerifyFrankingTag(f.server_key, a_bc, tag)));
}

TEST_CASE("Length prefixes keep plaintext/context splits apart in the commitment") {
  Fixture f;
  const Commitment c = Commit(f.k_f, AsBytes("ab"), AsBytes("c"));
  CHECK(Commit(f.k_f, AsBytes("a"), AsBytes("bc")) != c);
  CHECK(absl::IsInvalidArgument(VerifyCommitment(f.k_f, AsBytes("a"), AsBytes("bc"), c)));
}

}  // namespace
}  // namespace letterbox::crypto
