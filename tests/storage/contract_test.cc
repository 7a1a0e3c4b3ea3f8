// The Stores contract (stores.h), run against both implementations: every
// TEMPLATE_TEST_CASE here runs once on MemoryStores and once on
// RocksDbStores in a fresh temporary directory.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "fixtures.h"

namespace letterbox::storage {
namespace {

using namespace testing;  // NOLINT(google-build-using-namespace): test helpers
using crypto::DeterministicRandom;

constexpr int64_t kT0 = 1'700'000'000'000'000;

#define CONTRACT_TEST(name) TEMPLATE_TEST_CASE(name, "[contract]", MemoryFixture, RocksFixture)

// --- Accounts and devices ---

CONTRACT_TEST("a created account reads back with its first device as id 1") {
  TestType f;
  DeterministicRandom rng(1);
  AccountRecord a = MakeAccount(rng);
  DeviceRecord d = MakeDevice(rng);
  REQUIRE(f.stores().accounts().CreateAccount(a, d).ok());

  auto got = f.stores().accounts().GetAccount(a.id);
  REQUIRE(got.ok());
  CHECK(got->id == a.id);
  CHECK(got->jurisdiction == "JP");
  CHECK(got->encrypted_profile == a.encrypted_profile);
  CHECK(got->next_device_id == 2);
  auto device = f.stores().accounts().GetDevice({a.id, 1});
  REQUIRE(device.ok());
  CHECK(device->id == 1);
  CHECK(device->identity_signing_key == d.identity_signing_key);
  CHECK(device->identity_dh_key == d.identity_dh_key);
  CHECK(device->identity_dh_signature == d.identity_dh_signature);
}

CONTRACT_TEST("creating an existing account id is ALREADY_EXISTS and changes nothing") {
  TestType f;
  DeterministicRandom rng(2);
  AccountRecord a = MakeAccount(rng);
  REQUIRE(f.stores().accounts().CreateAccount(a, MakeDevice(rng)).ok());
  AccountRecord again = a;
  again.jurisdiction = "US";
  CHECK(f.stores().accounts().CreateAccount(again, MakeDevice(rng)).code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(f.stores().accounts().GetAccount(a.id)->jurisdiction == "JP");
  CHECK(f.stores().accounts().ListDevices(a.id)->size() == 1);
}

CONTRACT_TEST("unknown accounts - devices and handles are NOT_FOUND") {
  TestType f;
  DeterministicRandom rng(3);
  const AccountId unknown = RandomId<AccountId>(rng);
  CHECK(f.stores().accounts().GetAccount(unknown).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.stores().accounts().ListDevices(unknown).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.stores().accounts().GetDevice({unknown, 1}).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(
      f.stores().accounts().FindByDiscoveryHandle(RandomId<DiscoveryHandle>(rng)).status().code() ==
      absl::StatusCode::kNotFound);
  CHECK(f.stores().accounts().AddDevice(unknown, MakeDevice(rng), 5).status().code() ==
        absl::StatusCode::kNotFound);
}

CONTRACT_TEST("the discovery index finds the account and refuses a second owner of a handle") {
  TestType f;
  DeterministicRandom rng(4);
  const DiscoveryHandle handle = RandomId<DiscoveryHandle>(rng);
  AccountRecord a = MakeAccount(rng, handle);
  REQUIRE(f.stores().accounts().CreateAccount(a, MakeDevice(rng)).ok());
  auto found = f.stores().accounts().FindByDiscoveryHandle(handle);
  REQUIRE(found.ok());
  CHECK(*found == a.id);
  CHECK(f.stores().accounts().GetAccount(a.id)->discovery_handle == handle);

  AccountRecord b = MakeAccount(rng, handle);
  CHECK(f.stores().accounts().CreateAccount(b, MakeDevice(rng)).code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(f.stores().accounts().GetAccount(b.id).status().code() == absl::StatusCode::kNotFound);
}

CONTRACT_TEST("devices are added up to the cap - then RESOURCE_EXHAUSTED") {
  TestType f;
  DeterministicRandom rng(5);
  AccountRecord a = MakeAccount(rng);
  REQUIRE(f.stores().accounts().CreateAccount(a, MakeDevice(rng)).ok());
  CHECK(*f.stores().accounts().AddDevice(a.id, MakeDevice(rng), 3) == 2);
  CHECK(*f.stores().accounts().AddDevice(a.id, MakeDevice(rng), 3) == 3);
  CHECK(f.stores().accounts().AddDevice(a.id, MakeDevice(rng), 3).status().code() ==
        absl::StatusCode::kResourceExhausted);
  auto devices = f.stores().accounts().ListDevices(a.id);
  REQUIRE(devices.ok());
  REQUIRE(devices->size() == 3);
  CHECK((*devices)[0].id == 1);
  CHECK((*devices)[1].id == 2);
  CHECK((*devices)[2].id == 3);
}

CONTRACT_TEST("device ids are never reused after a removal") {
  TestType f;
  DeterministicRandom rng(6);
  auto devices = CreateAccountWithDevices(f.stores(), rng, 3);
  REQUIRE(f.stores().accounts().RemoveDevice(devices[2]).ok());
  auto next = f.stores().accounts().AddDevice(devices[0].account, MakeDevice(rng), 10);
  REQUIRE(next.ok());
  CHECK(*next == 4);
  CHECK(f.stores().accounts().GetDevice(devices[2]).status().code() == absl::StatusCode::kNotFound);
}

CONTRACT_TEST("removing a device removes its prekeys - mailbox and sessions - and only its") {
  TestType f;
  DeterministicRandom rng(7);
  auto devices = CreateAccountWithDevices(f.stores(), rng, 2);
  const DeviceAddress gone = devices[1];
  const DeviceAddress kept = devices[0];
  for (const DeviceAddress& d : devices) {
    REQUIRE(f.stores().prekeys().SetSignedPrekey(d, MakeSignedPrekey(rng)).ok());
    REQUIRE(f.stores().prekeys().AddOneTimePrekeys(d, MakeOneTimePrekeys(rng, 1, 5), 100).ok());
    REQUIRE(f.stores()
                .mailboxes()
                .Store({MakeEnvelope(rng, kept, d, RandomId<MessageId>(rng), kT0)}, {})
                .ok());
  }
  const TokenHash gone_token = RandomId<TokenHash>(rng);
  const TokenHash kept_token = RandomId<TokenHash>(rng);
  REQUIRE(f.stores().sessions().PutSession(gone_token, {gone, kT0 + 1'000'000}).ok());
  REQUIRE(f.stores().sessions().PutSession(kept_token, {kept, kT0 + 1'000'000}).ok());

  REQUIRE(f.stores().accounts().RemoveDevice(gone).ok());

  CHECK(f.stores().accounts().GetDevice(gone).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.stores().prekeys().Claim(gone).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.stores().mailboxes().Fetch(gone, 0, 100, 0)->envelopes.empty());
  CHECK(f.stores().mailboxes().Stats(gone)->envelopes == 0);
  CHECK(f.stores().mailboxes().Stats(gone)->bytes == 0);
  CHECK(f.stores().sessions().GetSession(gone_token).status().code() ==
        absl::StatusCode::kNotFound);

  CHECK(f.stores().prekeys().CountOneTimePrekeys(kept).value() == 5);
  CHECK(f.stores().mailboxes().Fetch(kept, 0, 100, 0)->envelopes.size() == 1);
  CHECK(f.stores().sessions().GetSession(kept_token).ok());
}

CONTRACT_TEST("the last device cannot be removed - an unknown one is NOT_FOUND") {
  TestType f;
  DeterministicRandom rng(8);
  auto devices = CreateAccountWithDevices(f.stores(), rng, 1);
  CHECK(f.stores().accounts().RemoveDevice(devices[0]).code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(f.stores().accounts().GetDevice(devices[0]).ok());
  CHECK(f.stores().accounts().RemoveDevice({devices[0].account, 9}).code() ==
        absl::StatusCode::kNotFound);
}

// --- Prekeys ---

CONTRACT_TEST("a claim returns the signed prekey and the lowest one-time prekey - once") {
  TestType f;
  DeterministicRandom rng(9);
  const DeviceAddress d = CreateAccountWithDevices(f.stores(), rng)[0];
  CHECK(f.stores().prekeys().Claim(d).status().code() == absl::StatusCode::kNotFound);
  const SignedPrekey spk = MakeSignedPrekey(rng, 7);
  REQUIRE(f.stores().prekeys().SetSignedPrekey(d, spk).ok());
  auto keys = MakeOneTimePrekeys(rng, 10, 2);
  REQUIRE(f.stores().prekeys().AddOneTimePrekeys(d, {keys[1], keys[0]}, 100).ok());

  auto first = f.stores().prekeys().Claim(d);
  REQUIRE(first.ok());
  CHECK(first->signed_prekey.key_id == 7);
  CHECK(first->signed_prekey.public_key == spk.public_key);
  CHECK(first->signed_prekey.signature == spk.signature);
  REQUIRE(first->one_time_prekey.has_value());
  CHECK(first->one_time_prekey->key_id == 10);
  CHECK(first->one_time_prekey->public_key == keys[0].public_key);
  CHECK(f.stores().prekeys().Claim(d)->one_time_prekey->key_id == 11);
  auto empty = f.stores().prekeys().Claim(d);
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->one_time_prekey.has_value());
  CHECK(empty->signed_prekey.key_id == 7);
  CHECK(*f.stores().prekeys().CountOneTimePrekeys(d) == 0);
}

CONTRACT_TEST("a new signed prekey replaces the old one - unknown devices are NOT_FOUND") {
  TestType f;
  DeterministicRandom rng(10);
  const DeviceAddress d = CreateAccountWithDevices(f.stores(), rng)[0];
  REQUIRE(f.stores().prekeys().SetSignedPrekey(d, MakeSignedPrekey(rng, 1)).ok());
  REQUIRE(f.stores().prekeys().SetSignedPrekey(d, MakeSignedPrekey(rng, 2)).ok());
  CHECK(f.stores().prekeys().Claim(d)->signed_prekey.key_id == 2);
  const DeviceAddress unknown{d.account, 5};
  CHECK(f.stores().prekeys().SetSignedPrekey(unknown, MakeSignedPrekey(rng)).code() ==
        absl::StatusCode::kNotFound);
  CHECK(f.stores().prekeys().AddOneTimePrekeys(unknown, MakeOneTimePrekeys(rng, 1, 1), 10).code() ==
        absl::StatusCode::kNotFound);
  CHECK(f.stores().prekeys().CountOneTimePrekeys(unknown).status().code() ==
        absl::StatusCode::kNotFound);
}

CONTRACT_TEST("concurrent claims hand out every one-time prekey exactly once") {
  TestType f;
  DeterministicRandom rng(11);
  const DeviceAddress d = CreateAccountWithDevices(f.stores(), rng)[0];
  REQUIRE(f.stores().prekeys().SetSignedPrekey(d, MakeSignedPrekey(rng)).ok());
  constexpr uint32_t kPool = 500;
  REQUIRE(f.stores().prekeys().AddOneTimePrekeys(d, MakeOneTimePrekeys(rng, 1, kPool), kPool).ok());

  constexpr int kThreads = 8;
  constexpr int kClaimsPerThread = 80;  // 640 claims for 500 keys
  std::mutex mu;
  std::vector<uint32_t> handed_out;
  std::atomic<int> errors{0};
  std::atomic<int> signed_only{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kClaimsPerThread; ++i) {
        auto claimed = f.stores().prekeys().Claim(d);
        if (!claimed.ok()) {
          ++errors;
          continue;
        }
        if (!claimed->one_time_prekey) {
          ++signed_only;
          continue;
        }
        std::lock_guard<std::mutex> lock(mu);
        handed_out.push_back(claimed->one_time_prekey->key_id);
      }
    });
  }
  for (auto& t : threads) t.join();

  CHECK(errors == 0);
  CHECK(handed_out.size() == kPool);
  CHECK(std::set<uint32_t>(handed_out.begin(), handed_out.end()).size() == kPool);
  CHECK(signed_only == kThreads * kClaimsPerThread - static_cast<int>(kPool));
  CHECK(*f.stores().prekeys().CountOneTimePrekeys(d) == 0);
  auto after = f.stores().prekeys().Claim(d);
  REQUIRE(after.ok());
  CHECK_FALSE(after->one_time_prekey.has_value());
}

CONTRACT_TEST("the one-time prekey pool cap is enforced and replacements do not count twice") {
  TestType f;
  DeterministicRandom rng(12);
  const DeviceAddress d = CreateAccountWithDevices(f.stores(), rng)[0];
  REQUIRE(f.stores().prekeys().AddOneTimePrekeys(d, MakeOneTimePrekeys(rng, 1, 8), 10).ok());
  CHECK(f.stores().prekeys().AddOneTimePrekeys(d, MakeOneTimePrekeys(rng, 100, 3), 10).code() ==
        absl::StatusCode::kResourceExhausted);
  CHECK(*f.stores().prekeys().CountOneTimePrekeys(d) == 8);
  // Ids 7, 8 replace existing keys; 9, 10 are new: exactly at the cap.
  REQUIRE(f.stores().prekeys().AddOneTimePrekeys(d, MakeOneTimePrekeys(rng, 7, 4), 10).ok());
  CHECK(*f.stores().prekeys().CountOneTimePrekeys(d) == 10);
}

// --- Mailboxes ---

CONTRACT_TEST("stored envelopes come back in arrival order - page by page") {
  TestType f;
  DeterministicRandom rng(13);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  std::vector<EnvelopeId> ids;
  std::vector<Bytes> ciphertexts;
  for (int i = 0; i < 10; ++i) {
    Envelope e = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0 + i);
    ciphertexts.push_back(e.ciphertext);
    auto stored = f.stores().mailboxes().Store({e}, {});
    REQUIRE(stored.ok());
    CHECK_FALSE(stored->duplicate);
    REQUIRE(stored->receipt.deliveries.size() == 1);
    CHECK(stored->receipt.deliveries[0].recipient == recipient);
    CHECK(stored->receipt.deliveries[0].franking_tag == e.franking_tag);
    CHECK(stored->receipt.server_timestamp_micros == kT0 + i);
    ids.push_back(stored->receipt.deliveries[0].envelope_id);
  }
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(std::adjacent_find(ids.begin(), ids.end()) == ids.end());

  std::vector<EnvelopeId> fetched;
  EnvelopeId after = 0;
  int pages = 0;
  for (;;) {
    auto page = f.stores().mailboxes().Fetch(recipient, after, 4, 0);
    REQUIRE(page.ok());
    ++pages;
    for (const Envelope& e : page->envelopes) {
      CHECK(e.ciphertext == ciphertexts[fetched.size()]);
      CHECK(e.sender == sender);
      CHECK(e.recipient == recipient);
      fetched.push_back(e.id);
      after = e.id;
    }
    if (!page->more) break;
  }
  CHECK(pages == 3);
  CHECK(fetched == ids);
  CHECK(f.stores().mailboxes().Fetch(sender, 0, 10, 0)->envelopes.empty());
}

CONTRACT_TEST("one send to several devices stores one envelope each with increasing ids") {
  TestType f;
  DeterministicRandom rng(14);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipients = CreateAccountWithDevices(f.stores(), rng, 3);
  const MessageId mid = RandomId<MessageId>(rng);
  std::vector<Envelope> send;
  for (const auto& r : recipients) send.push_back(MakeEnvelope(rng, sender, r, mid, kT0));
  auto stored = f.stores().mailboxes().Store(send, {});
  REQUIRE(stored.ok());
  REQUIRE(stored->receipt.deliveries.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(stored->receipt.deliveries[i].recipient == recipients[i]);
    if (i > 0) {
      CHECK(stored->receipt.deliveries[i].envelope_id >
            stored->receipt.deliveries[i - 1].envelope_id);
    }
    auto page = f.stores().mailboxes().Fetch(recipients[i], 0, 10, 0);
    REQUIRE(page->envelopes.size() == 1);
    CHECK(page->envelopes[0].id == stored->receipt.deliveries[i].envelope_id);
  }
}

CONTRACT_TEST("a malformed send is INVALID_ARGUMENT") {
  TestType f;
  DeterministicRandom rng(15);
  auto a = CreateAccountWithDevices(f.stores(), rng, 2);
  CHECK(f.stores().mailboxes().Store({}, {}).status().code() == absl::StatusCode::kInvalidArgument);
  Envelope e1 = MakeEnvelope(rng, a[0], a[1], RandomId<MessageId>(rng), kT0);
  Envelope e2 = MakeEnvelope(rng, a[1], a[0], e1.message_id, kT0);
  CHECK(f.stores().mailboxes().Store({e1, e2}, {}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.stores().mailboxes().Stats(a[1])->envelopes == 0);
}

CONTRACT_TEST("a retried send returns the same receipt and stores once") {
  TestType f;
  DeterministicRandom rng(16);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  Envelope e = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0);
  auto first = f.stores().mailboxes().Store({e}, {});
  REQUIRE(first.ok());
  Envelope retry = e;
  retry.server_timestamp_micros = kT0 + 5;  // the server stamps the retry later
  retry.franking_tag = RandomId<crypto::FrankingTag>(rng);
  auto second = f.stores().mailboxes().Store({retry}, {});
  REQUIRE(second.ok());
  CHECK(second->duplicate);
  CHECK(second->receipt.server_timestamp_micros == first->receipt.server_timestamp_micros);
  REQUIRE(second->receipt.deliveries.size() == 1);
  CHECK(second->receipt.deliveries[0].envelope_id == first->receipt.deliveries[0].envelope_id);
  CHECK(second->receipt.deliveries[0].franking_tag == e.franking_tag);
  CHECK(second->receipt.deliveries[0].recipient == recipient);
  CHECK(f.stores().mailboxes().Stats(recipient)->envelopes == 1);
}

CONTRACT_TEST("concurrent identical sends store exactly one envelope") {
  TestType f;
  DeterministicRandom rng(17);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  const Envelope e = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0);
  std::atomic<int> fresh{0};
  std::atomic<int> duplicates{0};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = f.stores().mailboxes().Store({e}, {});
        if (r.ok()) {
          ++(r->duplicate ? duplicates : fresh);
        } else if (r.status().code() == absl::StatusCode::kUnavailable) {
          ++unavailable;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(fresh == 1);
  CHECK(other == 0);
  CHECK(fresh + duplicates + unavailable == 160);
  CHECK(f.stores().mailboxes().Stats(recipient)->envelopes == 1);
}

CONTRACT_TEST("the envelope count cap refuses a send and writes nothing") {
  TestType f;
  DeterministicRandom rng(18);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto roomy = CreateAccountWithDevices(f.stores(), rng)[0];
  auto full = CreateAccountWithDevices(f.stores(), rng)[0];
  const MailboxLimits limits{.max_envelopes = 3, .max_bytes = 1 << 20};
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.stores()
                .mailboxes()
                .Store({MakeEnvelope(rng, sender, full, RandomId<MessageId>(rng), kT0)}, limits)
                .ok());
  }
  const MessageId mid = RandomId<MessageId>(rng);
  std::vector<Envelope> send = {MakeEnvelope(rng, sender, roomy, mid, kT0),
                                MakeEnvelope(rng, sender, full, mid, kT0)};
  CHECK(f.stores().mailboxes().Store(send, limits).status().code() ==
        absl::StatusCode::kResourceExhausted);
  CHECK(f.stores().mailboxes().Stats(roomy)->envelopes == 0);
  CHECK(f.stores().mailboxes().Stats(full)->envelopes == 3);
  // No receipt was kept: once there is room the same send is stored afresh.
  auto three = f.stores().mailboxes().Fetch(full, 0, 10, 0);
  REQUIRE(f.stores().mailboxes().Ack(full, {three->envelopes[0].id}).ok());
  auto retried = f.stores().mailboxes().Store(send, limits);
  REQUIRE(retried.ok());
  CHECK_FALSE(retried->duplicate);
}

CONTRACT_TEST("the byte cap refuses a send and writes nothing") {
  TestType f;
  DeterministicRandom rng(19);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  const MailboxLimits limits{.max_envelopes = 100, .max_bytes = 1000};
  REQUIRE(
      f.stores()
          .mailboxes()
          .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0, 600)}, limits)
          .ok());
  CHECK(
      f.stores()
          .mailboxes()
          .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0, 401)}, limits)
          .status()
          .code() == absl::StatusCode::kResourceExhausted);
  CHECK(f.stores().mailboxes().Stats(recipient)->bytes == 600);
  CHECK(
      f.stores()
          .mailboxes()
          .Store({MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0, 400)}, limits)
          .ok());
  CHECK(f.stores().mailboxes().Stats(recipient)->bytes == 1000);
  CHECK(f.stores().mailboxes().Stats(recipient)->envelopes == 2);
}

CONTRACT_TEST("concurrent sends to one device stop exactly at the count cap") {
  TestType f;
  DeterministicRandom rng(20);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  std::vector<Envelope> envelopes;
  for (int i = 0; i < 240; ++i) {
    envelopes.push_back(MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0));
  }
  const MailboxLimits limits{.max_envelopes = 100, .max_bytes = 1 << 30};
  std::atomic<int> stored{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 240; i += 8) {
        auto r = f.stores().mailboxes().Store({envelopes[static_cast<size_t>(i)]}, limits);
        if (r.ok()) ++stored;
        if (r.status().code() == absl::StatusCode::kResourceExhausted) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(stored == 100);
  CHECK(refused == 140);
  CHECK(f.stores().mailboxes().Stats(recipient)->envelopes == 100);
  CHECK(f.stores().mailboxes().Fetch(recipient, 0, 1000, 0)->envelopes.size() == 100);
}

CONTRACT_TEST("ack deletes - is idempotent and frees quota") {
  TestType f;
  DeterministicRandom rng(21);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  const MailboxLimits limits{.max_envelopes = 2, .max_bytes = 1 << 20};
  std::vector<EnvelopeId> ids;
  for (int i = 0; i < 2; ++i) {
    auto r = f.stores().mailboxes().Store(
        {MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0, 100)}, limits);
    REQUIRE(r.ok());
    ids.push_back(r->receipt.deliveries[0].envelope_id);
  }
  auto third = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0);
  CHECK(f.stores().mailboxes().Store({third}, limits).status().code() ==
        absl::StatusCode::kResourceExhausted);

  CHECK(*f.stores().mailboxes().Ack(recipient, {ids[0], ids[0], 999'999'999}) == 1);
  CHECK(*f.stores().mailboxes().Ack(recipient, {ids[0]}) == 0);
  auto stats = f.stores().mailboxes().Stats(recipient);
  CHECK(stats->envelopes == 1);
  CHECK(stats->bytes == 100);
  auto left = f.stores().mailboxes().Fetch(recipient, 0, 10, 0);
  REQUIRE(left->envelopes.size() == 1);
  CHECK(left->envelopes[0].id == ids[1]);
  CHECK(f.stores().mailboxes().Store({third}, limits).ok());
}

CONTRACT_TEST("fetch skips expired envelopes and Expire deletes envelopes and receipts") {
  TestType f;
  DeterministicRandom rng(22);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  Envelope old_env = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0);
  Envelope new_env = MakeEnvelope(rng, sender, recipient, RandomId<MessageId>(rng), kT0 + 100);
  REQUIRE(f.stores().mailboxes().Store({old_env}, {}).ok());
  REQUIRE(f.stores().mailboxes().Store({new_env}, {}).ok());

  auto page = f.stores().mailboxes().Fetch(recipient, 0, 10, kT0 + 50);
  REQUIRE(page->envelopes.size() == 1);
  CHECK(page->envelopes[0].server_timestamp_micros == kT0 + 100);
  CHECK_FALSE(page->more);

  // One envelope and one receipt are older than the cut.
  CHECK(*f.stores().mailboxes().Expire(kT0 + 50) == 2);
  CHECK(f.stores().mailboxes().Fetch(recipient, 0, 10, 0)->envelopes.size() == 1);
  CHECK(f.stores().mailboxes().Stats(recipient)->envelopes == 1);
  CHECK(*f.stores().mailboxes().Expire(kT0 + 50) == 0);
  // With its receipt gone, the old send is no longer a duplicate.
  auto again = f.stores().mailboxes().Store({old_env}, {});
  REQUIRE(again.ok());
  CHECK_FALSE(again->duplicate);
  // The newer send's receipt survived.
  CHECK(f.stores().mailboxes().Store({new_env}, {})->duplicate);
}

CONTRACT_TEST("a reader paging with after never skips an envelope stored concurrently") {
  TestType f;
  DeterministicRandom rng(26);
  auto senders = CreateAccountWithDevices(f.stores(), rng, 4);
  auto recipient = CreateAccountWithDevices(f.stores(), rng)[0];
  std::vector<std::vector<Envelope>> work(senders.size());
  for (size_t s = 0; s < senders.size(); ++s) {
    for (int i = 0; i < 150; ++i) {
      work[s].push_back(MakeEnvelope(rng, senders[s], recipient, RandomId<MessageId>(rng), kT0));
    }
  }
  std::mutex mu;
  std::set<EnvelopeId> stored;
  std::atomic<int> writing{static_cast<int>(senders.size())};
  std::vector<std::thread> writers;
  for (size_t s = 0; s < senders.size(); ++s) {
    writers.emplace_back([&, s] {
      for (const Envelope& e : work[s]) {
        auto r = f.stores().mailboxes().Store({e}, {});
        if (r.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          stored.insert(r->receipt.deliveries[0].envelope_id);
        }
      }
      --writing;
    });
  }
  std::vector<EnvelopeId> seen;
  EnvelopeId cursor = 0;
  auto drain = [&] {
    for (;;) {
      auto page = f.stores().mailboxes().Fetch(recipient, cursor, 16, 0);
      REQUIRE(page.ok());
      for (const Envelope& e : page->envelopes) {
        seen.push_back(e.id);
        cursor = e.id;
      }
      if (!page->more) return;
    }
  };
  while (writing > 0) drain();
  for (auto& t : writers) t.join();
  drain();

  CHECK(stored.size() == 600);
  CHECK(std::is_sorted(seen.begin(), seen.end()));
  CHECK(std::set<EnvelopeId>(seen.begin(), seen.end()) == stored);
}

CONTRACT_TEST("envelope ids increase strictly across sends and devices") {
  TestType f;
  DeterministicRandom rng(23);
  auto sender = CreateAccountWithDevices(f.stores(), rng)[0];
  auto recipients = CreateAccountWithDevices(f.stores(), rng, 4);
  EnvelopeId last = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = f.stores().mailboxes().Store(
        {MakeEnvelope(rng, sender, recipients[static_cast<size_t>(i % 4)], RandomId<MessageId>(rng),
                      kT0)},
        {});
    REQUIRE(r.ok());
    CHECK(r->receipt.deliveries[0].envelope_id > last);
    last = r->receipt.deliveries[0].envelope_id;
  }
}

// --- Sessions ---

CONTRACT_TEST("sessions are put - read - deleted idempotently and expired") {
  TestType f;
  DeterministicRandom rng(24);
  const DeviceAddress d = CreateAccountWithDevices(f.stores(), rng)[0];
  const TokenHash live = RandomId<TokenHash>(rng);
  const TokenHash stale = RandomId<TokenHash>(rng);
  REQUIRE(f.stores().sessions().PutSession(live, {d, kT0 + 100}).ok());
  REQUIRE(f.stores().sessions().PutSession(stale, {d, kT0 - 1}).ok());
  CHECK(f.stores().sessions().PutSession(live, {d, kT0 + 999}).code() ==
        absl::StatusCode::kAlreadyExists);
  auto got = f.stores().sessions().GetSession(live);
  REQUIRE(got.ok());
  CHECK(got->device == d);
  CHECK(got->expires_micros == kT0 + 100);

  CHECK(*f.stores().sessions().ExpireSessions(kT0) == 1);
  CHECK(f.stores().sessions().GetSession(stale).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.stores().sessions().GetSession(live).ok());

  CHECK(f.stores().sessions().DeleteSession(live).ok());
  CHECK(f.stores().sessions().DeleteSession(live).ok());
  CHECK(f.stores().sessions().GetSession(live).status().code() == absl::StatusCode::kNotFound);
}

// --- Outbox ---

CONTRACT_TEST("reports are listed in id order - paged - counted and deleted") {
  TestType f;
  DeterministicRandom rng(25);
  const DeviceAddress d = CreateAccountWithDevices(f.stores(), rng)[0];
  std::vector<ReportId> ids;
  for (int i = 0; i < 5; ++i) {
    OutboxReport r{RandomId<ReportId>(rng), "JP", d, kT0 + i, Bytes(80, static_cast<uint8_t>(i))};
    REQUIRE(f.stores().outbox().PutReport(r).ok());
    CHECK(f.stores().outbox().PutReport(r).code() == absl::StatusCode::kAlreadyExists);
    ids.push_back(r.id);
  }
  std::sort(ids.begin(), ids.end());
  CHECK(*f.stores().outbox().CountReports() == 5);

  auto first = f.stores().outbox().ListReports(std::nullopt, 3);
  REQUIRE(first->size() == 3);
  auto rest = f.stores().outbox().ListReports(first->back().id, 3);
  REQUIRE(rest->size() == 2);
  std::vector<ReportId> listed;
  for (const auto& r : *first) listed.push_back(r.id);
  for (const auto& r : *rest) listed.push_back(r.id);
  CHECK(listed == ids);
  CHECK((*first)[0].reporter == d);
  CHECK((*first)[0].jurisdiction == "JP");
  CHECK((*first)[0].sealed.size() == 80);

  REQUIRE(f.stores().outbox().DeleteReports({ids[0], ids[1], RandomId<ReportId>(rng)}).ok());
  REQUIRE(f.stores().outbox().DeleteReports({ids[0]}).ok());
  CHECK(*f.stores().outbox().CountReports() == 3);
  CHECK(f.stores().outbox().ListReports(std::nullopt, 10)->front().id == ids[2]);
}

}  // namespace
}  // namespace letterbox::storage
