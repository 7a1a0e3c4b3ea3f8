// Reports built on the device: sealed to the vault key, opened only with it,
// and carrying what the vault needs to verify the commitments.
#include "letterbox/client/report.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "letterbox/client/device_crypto.h"
#include "letterbox/client/message_format.h"
#include "letterbox/crypto/random.h"
#include "letterbox/crypto/sealed_box.h"

namespace letterbox::client {
namespace {

using crypto::AsBytes;
using crypto::DeterministicRandom;

// Bob receives `count` messages from Alice through real sessions.
std::vector<ReceivedMessage> Receive(DeterministicRandom& rng, const DeviceAddress& a,
                                     const DeviceAddress& b, int count) {
  DeviceCrypto alice(rng), bob(rng);
  bob.RotateSignedPrekey();
  const auto bundle = bob.BundleForTesting(std::nullopt).value();
  std::vector<ReceivedMessage> out;
  for (int i = 0; i < count; ++i) {
    const auto id = crypto::RandomFixed<MessageId>(rng);
    const std::string body = "abusive message " + std::to_string(i);
    auto sealed = alice.Seal(b, id, AsBytes(body), i == 0 ? &bundle : nullptr).value();
    auto opened = bob.Open(a, id, sealed.ciphertext, sealed.commitment).value();
    out.push_back(ReceivedMessage{.sender = a,
                                  .recipient = b,
                                  .message_id = id,
                                  .envelope_id = static_cast<uint64_t>(i + 1),
                                  .server_timestamp_micros = 1'700'000'000'000'000 + i,
                                  .commitment = sealed.commitment,
                                  .franking_tag = crypto::RandomFixed<crypto::FrankingTag>(rng),
                                  .franking_key = std::move(opened.franking_key),
                                  .body = std::move(opened.body)});
  }
  return out;
}

std::vector<const ReceivedMessage*> Pointers(const std::vector<ReceivedMessage>& v) {
  std::vector<const ReceivedMessage*> out;
  for (const auto& m : v) out.push_back(&m);
  return out;
}

TEST_CASE("a sealed report opens with the vault key and its commitments verify") {
  DeterministicRandom rng(1);
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 2};
  const auto received = Receive(rng, a, b, 3);
  const auto vault = crypto::X25519KeyPair::Generate(rng);

  auto sealed = BuildAndSealReport(b, v1::REPORT_CATEGORY_HARASSMENT, Pointers(received),
                                   "please look", vault.public_key);
  REQUIRE(sealed.ok());
  auto opened = crypto::SealedBoxOpen(vault, *sealed);
  REQUIRE(opened.ok());
  v1::ReportContent content;
  REQUIRE(content.ParseFromArray(opened->Expose().data(), static_cast<int>(opened->size())));
  CHECK(content.version() == kReportContentVersion);
  CHECK(content.category() == v1::REPORT_CATEGORY_HARASSMENT);
  CHECK(content.comment() == "please look");
  CHECK(content.reporter().account_id() == b.account.str());
  CHECK(content.reporter().device_id() == 2);
  REQUIRE(content.messages_size() == 3);
  for (int i = 0; i < 3; ++i) {
    const v1::ReportedMessage& m = content.messages(i);
    const ReceivedMessage& r = received[static_cast<size_t>(i)];
    CHECK(m.message_id() == r.message_id.str());
    CHECK(m.sender().account_id() == a.account.str());
    CHECK(m.recipient().device_id() == 2);
    CHECK(m.server_timestamp_micros() == r.server_timestamp_micros);
    CHECK(m.franking_tag() == r.franking_tag.str());
    CHECK(m.plaintext() == "abusive message " + std::to_string(i));
    // What the vault does: recompute the commitment from what was revealed.
    auto key = crypto::FrankingKey::FromBytes(AsBytes(m.franking_key())).value();
    auto commitment = crypto::Commitment::FromString(m.franking_commitment()).value();
    auto id = MessageId::FromString(m.message_id()).value();
    CHECK(crypto::VerifyCommitment(key, AsBytes(m.plaintext()), FrankingContext(id), commitment)
              .ok());
  }
}

TEST_CASE("a sealed report does not open with another key") {
  DeterministicRandom rng(2);
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 1};
  const auto received = Receive(rng, a, b, 1);
  const auto vault = crypto::X25519KeyPair::Generate(rng);
  const auto other = crypto::X25519KeyPair::Generate(rng);
  auto sealed =
      BuildAndSealReport(b, v1::REPORT_CATEGORY_SPAM, Pointers(received), "", vault.public_key);
  REQUIRE(sealed.ok());
  CHECK_FALSE(crypto::SealedBoxOpen(other, *sealed).ok());
}

TEST_CASE("the sealed report does not contain the plaintext in clear") {
  DeterministicRandom rng(3);
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 1};
  const auto received = Receive(rng, a, b, 1);
  const auto vault = crypto::X25519KeyPair::Generate(rng);
  auto sealed =
      BuildAndSealReport(b, v1::REPORT_CATEGORY_SPAM, Pointers(received), "", vault.public_key);
  REQUIRE(sealed.ok());
  const std::string blob(sealed->begin(), sealed->end());
  CHECK(blob.find("abusive message") == std::string::npos);
}

TEST_CASE("a report of a message received by another device is refused") {
  DeterministicRandom rng(4);
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 1};
  const auto received = Receive(rng, a, b, 1);
  const DeviceAddress someone_else{b.account, 2};
  CHECK(BuildReportContent(someone_else, v1::REPORT_CATEGORY_SPAM, Pointers(received), "")
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a report with no messages - too many - or no category is refused") {
  DeterministicRandom rng(5);
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 1};
  const auto received = Receive(rng, a, b, 21);
  auto all = Pointers(received);
  CHECK_FALSE(BuildReportContent(b, v1::REPORT_CATEGORY_SPAM, {}, "").ok());
  CHECK_FALSE(BuildReportContent(b, v1::REPORT_CATEGORY_SPAM, all, "").ok());
  all.resize(20);
  CHECK(BuildReportContent(b, v1::REPORT_CATEGORY_SPAM, all, "").ok());
  CHECK_FALSE(BuildReportContent(b, v1::REPORT_CATEGORY_UNSPECIFIED, all, "").ok());
  CHECK_FALSE(BuildReportContent(b, v1::REPORT_CATEGORY_SPAM, all, std::string(2049, 'x')).ok());
}

TEST_CASE("wiping a report content zeroes its plaintexts and franking keys") {
  DeterministicRandom rng(6);
  const DeviceAddress a{crypto::RandomFixed<AccountId>(rng), 1};
  const DeviceAddress b{crypto::RandomFixed<AccountId>(rng), 1};
  const auto received = Receive(rng, a, b, 1);
  auto content = BuildReportContent(b, v1::REPORT_CATEGORY_SPAM, Pointers(received), "").value();
  WipeReportContent(content);
  CHECK(content.messages(0).plaintext() ==
        std::string(content.messages(0).plaintext().size(), '\0'));
  CHECK(content.messages(0).franking_key() == std::string(32, '\0'));
}

}  // namespace
}  // namespace letterbox::client
