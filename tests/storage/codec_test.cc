// Record and key encodings (codec.h): round trips, strict decoding, and no
// crash on any input.
#include "letterbox/storage/codec.h"

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "fixtures.h"

namespace letterbox::storage {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test helpers
using crypto::DeterministicRandom;

constexpr int64_t kT0 = 1'700'000'000'000'000;

// One valid encoding of every record type, for the strictness checks.
std::vector<std::pair<std::string, Bytes>> SampleEncodings() {
  DeterministicRandom rng(1);
  AccountRecord account = MakeAccount(rng, RandomId<DiscoveryHandle>(rng));
  DeviceRecord device = MakeDevice(rng);
  Envelope envelope = MakeEnvelope(rng, {RandomId<AccountId>(rng), 1},
                                   {RandomId<AccountId>(rng), 2}, RandomId<MessageId>(rng), kT0);
  SendReceipt receipt{kT0,
                      {{envelope.recipient, 7, envelope.franking_tag},
                       {envelope.sender, 8, envelope.franking_tag}}};
  OutboxReport report{RandomId<ReportId>(rng), "JP", envelope.sender, kT0, Bytes(33, 9)};
  return {
      {"account", EncodeAccount(account)},
      {"device", EncodeDevice(device)},
      {"signed prekey", EncodeSignedPrekey(MakeSignedPrekey(rng))},
      {"one-time prekey", EncodeOneTimePrekey(MakeOneTimePrekeys(rng, 5, 1)[0])},
      {"envelope", EncodeEnvelope(envelope)},
      {"send receipt", EncodeSendReceipt(receipt)},
      {"session", EncodeSession({envelope.sender, kT0})},
      {"outbox report", EncodeOutboxReport(report)},
      {"discovery entry", EncodeDiscoveryEntry(account.id)},
      {"counter", EncodeCounter(42)},
  };
}

// Decodes `bytes` as every stored record type; returns how many accepted it.
int DecodeAll(ByteView bytes) {
  int accepted = 0;
  accepted += DecodeAccount(bytes).ok();
  accepted += DecodeDevice(bytes).ok();
  accepted += DecodeSignedPrekey(bytes).ok();
  accepted += DecodeOneTimePrekey(bytes).ok();
  accepted += DecodeEnvelope(bytes).ok();
  accepted += DecodeSendReceipt(bytes).ok();
  accepted += DecodeSession(bytes).ok();
  accepted += DecodeOutboxReport(bytes).ok();
  accepted += DecodeDiscoveryEntry(bytes).ok();
  accepted += DecodeCounter(bytes).ok();
  return accepted;
}

TEST_CASE("a device address encodes as account then big-endian device id", "[codec]") {
  DeterministicRandom rng(2);
  const DeviceAddress a{RandomId<AccountId>(rng), 0x01020304};
  const Bytes encoded = a.Encode();
  REQUIRE(encoded.size() == kDeviceAddressSize);
  CHECK(Bytes(encoded.begin(), encoded.begin() + 16) ==
        Bytes(a.account.view().begin(), a.account.view().end()));
  CHECK(Bytes(encoded.begin() + 16, encoded.end()) == Bytes{1, 2, 3, 4});
  CHECK(*DecodeDeviceAddress(encoded) == a);
}

TEST_CASE("mailbox keys sort by device - then by envelope id numerically", "[codec]") {
  DeterministicRandom rng(3);
  const AccountId account = RandomId<AccountId>(rng);
  const Bytes k1 = MailboxKey({account, 1}, 255);
  const Bytes k2 = MailboxKey({account, 1}, 256);
  const Bytes k3 = MailboxKey({account, 2}, 1);
  CHECK(k1.size() == 28);
  CHECK(k1 < k2);
  CHECK(k2 < k3);
  CHECK(Bytes(k1.begin(), k1.begin() + 20) == DeviceKey({account, 1}));
  CHECK(OneTimePrekeyKey({account, 1}, 1) < OneTimePrekeyKey({account, 1}, 256));
  CHECK(ReceiptKey({account, 1}, RandomId<MessageId>(rng)).size() == 36);
}

TEST_CASE("every record type survives an encode and decode unchanged", "[codec]") {
  DeterministicRandom rng(4);
  AccountRecord account = MakeAccount(rng, RandomId<DiscoveryHandle>(rng));
  account.next_device_id = 9;
  auto a = DecodeAccount(EncodeAccount(account));
  REQUIRE(a.ok());
  CHECK(a->id == account.id);
  CHECK(a->jurisdiction == account.jurisdiction);
  CHECK(a->encrypted_profile == account.encrypted_profile);
  CHECK(a->discovery_handle == account.discovery_handle);
  CHECK(a->created_micros == account.created_micros);
  CHECK(a->next_device_id == 9);
  account.discovery_handle.reset();
  CHECK_FALSE(DecodeAccount(EncodeAccount(account))->discovery_handle.has_value());

  Envelope e = MakeEnvelope(rng, {RandomId<AccountId>(rng), 3}, {RandomId<AccountId>(rng), 4},
                            RandomId<MessageId>(rng), -5, 300);
  e.id = 77;
  auto back = DecodeEnvelope(EncodeEnvelope(e));
  REQUIRE(back.ok());
  CHECK(back->id == 77);
  CHECK(back->message_id == e.message_id);
  CHECK(back->sender == e.sender);
  CHECK(back->recipient == e.recipient);
  CHECK(back->server_timestamp_micros == -5);
  CHECK(back->franking_commitment == e.franking_commitment);
  CHECK(back->franking_tag == e.franking_tag);
  CHECK(back->ciphertext == e.ciphertext);

  SendReceipt receipt{kT0, {{e.recipient, 7, e.franking_tag}}};
  auto r = DecodeSendReceipt(EncodeSendReceipt(receipt));
  REQUIRE(r.ok());
  CHECK(r->server_timestamp_micros == kT0);
  REQUIRE(r->deliveries.size() == 1);
  CHECK(r->deliveries[0].recipient == e.recipient);
  CHECK(r->deliveries[0].envelope_id == 7);
  CHECK(r->deliveries[0].franking_tag == e.franking_tag);

  SignedPrekey spk = MakeSignedPrekey(rng, 3);
  auto s = DecodeSignedPrekey(EncodeSignedPrekey(spk));
  REQUIRE(s.ok());
  CHECK(s->key_id == 3);
  CHECK(s->public_key == spk.public_key);
  CHECK(s->signature == spk.signature);
  CHECK(s->uploaded_micros == spk.uploaded_micros);

  OutboxReport report{RandomId<ReportId>(rng), "KR", e.sender, kT0, Bytes(33, 9)};
  auto o = DecodeOutboxReport(EncodeOutboxReport(report));
  REQUIRE(o.ok());
  CHECK(o->id == report.id);
  CHECK(o->jurisdiction == "KR");
  CHECK(o->reporter == e.sender);
  CHECK(o->sealed == report.sealed);

  CHECK(DecodeSession(EncodeSession({e.sender, kT0}))->device == e.sender);
  CHECK(*DecodeCounter(EncodeCounter(1ull << 40)) == 1ull << 40);
  CHECK(*DecodeDiscoveryEntry(EncodeDiscoveryEntry(account.id)) == account.id);
}

TEST_CASE("each encoding decodes as its own type only", "[codec]") {
  for (const auto& [name, bytes] : SampleEncodings()) {
    INFO(name);
    CHECK(DecodeAll(bytes) == 1);
  }
}

TEST_CASE("every truncation and any trailing byte is DATA_LOSS", "[codec]") {
  for (const auto& [name, bytes] : SampleEncodings()) {
    INFO(name);
    for (size_t n = 0; n < bytes.size(); ++n) {
      CHECK(DecodeAll(ByteView(bytes).first(n)) == 0);
    }
    Bytes longer = bytes;
    longer.push_back(0);
    CHECK(DecodeAll(longer) == 0);
  }
  auto status = DecodeEnvelope(Bytes{kEnvelopeFormat, 1, 2});
  CHECK(status.status().code() == absl::StatusCode::kDataLoss);
  CHECK(status.status().message().rfind("corrupt envelope record", 0) == 0);
}

TEST_CASE("an unknown format byte or a bad flag is refused", "[codec]") {
  DeterministicRandom rng(5);
  Bytes account = EncodeAccount(MakeAccount(rng));
  account[0] = 0x12;  // a future account version
  CHECK(DecodeAccount(account).status().code() == absl::StatusCode::kDataLoss);
  account[0] = kAccountFormat;
  // The handle-present flag sits after id (16), jurisdiction (4+2), profile (4+48).
  const size_t flag = 1 + 16 + 4 + 2 + 4 + 48;
  REQUIRE(account[flag] == 0);
  account[flag] = 2;
  CHECK(DecodeAccount(account).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a receipt claiming billions of deliveries is refused without allocating", "[codec]") {
  Bytes hostile = {kSendReceiptFormat, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff};
  CHECK(DecodeSendReceipt(hostile).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("random and mutated bytes never crash a decoder", "[codec]") {
  DeterministicRandom rng(6);
  const auto samples = SampleEncodings();
  for (int i = 0; i < 20'000; ++i) {
    uint8_t len_byte = 0;
    rng.Fill({&len_byte, 1});
    Bytes input(len_byte, 0);
    rng.Fill(input);
    if (i % 2 == 1 && !input.empty()) {
      // Half the inputs keep a valid format byte to get past the first check.
      input[0] = samples[static_cast<size_t>(i / 2) % samples.size()].second[0];
    }
    (void)DecodeAll(input);
    (void)DecodeDeviceAddress(input);
  }
  for (const auto& [name, bytes] : samples) {
    for (int i = 0; i < 2'000; ++i) {
      Bytes mutated = bytes;
      uint8_t pick[2];
      rng.Fill(pick);
      mutated[pick[0] % mutated.size()] ^= static_cast<uint8_t>(pick[1] | 1);
      (void)DecodeAll(mutated);
    }
  }
  SUCCEED("no decoder crashed");
}

}  // namespace
}  // namespace letterbox::storage
