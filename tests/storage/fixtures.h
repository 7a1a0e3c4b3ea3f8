// File: tests/storage/fixtures.h
//
// Shared helpers for the storage tests: a temporary directory removed at the
// end of the test, one fixture per Stores implementation (so each contract
// TEMPLATE_TEST_CASE runs against both), and record builders.
//
//   TEMPLATE_TEST_CASE("behaviour", "[contract]", MemoryFixture, RocksFixture) {
//     TestType f;
//     Stores& stores = f.stores();
//   }
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "letterbox/crypto/random.h"
#include "letterbox/storage/memory_store.h"
#include "letterbox/storage/rocksdb_store.h"
#include "letterbox/storage/stores.h"

namespace letterbox::storage::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern =
        std::string(base != nullptr ? base : "/tmp") + "/letterbox-storage-XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    REQUIRE(mkdtemp(buffer.data()) != nullptr);
    path_ = buffer.data();
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct MemoryFixture {
  static constexpr bool kPersistent = false;
  Stores& stores() { return stores_; }
  MemoryStores stores_;
};

// RocksDbStores in a temporary directory that can be closed and reopened.
struct RocksFixture {
  static constexpr bool kPersistent = true;
  RocksFixture() { Reopen(); }
  Stores& stores() { return *stores_; }
  RocksDbStores& rocks() { return *stores_; }
  void Close() { stores_.reset(); }
  void Reopen(Durability durability = Durability::kProcess) {
    stores_.reset();
    auto opened = RocksDbStores::Open({.path = dir_.path(), .durability = durability});
    REQUIRE(opened.ok());
    stores_ = std::move(*opened);
  }
  const std::string& path() const { return dir_.path(); }

  TempDir dir_;  // declared first: removed after the store is closed
  std::unique_ptr<RocksDbStores> stores_;
};

template <typename Fixed>
Fixed RandomId(crypto::Random& rng) {
  return crypto::RandomFixed<Fixed>(rng);
}

inline DeviceRecord MakeDevice(crypto::Random& rng, int64_t created = 1'700'000'000'000'000) {
  DeviceRecord d;
  d.identity_signing_key = crypto::RandomFixed<crypto::Ed25519PublicKey>(rng);
  d.identity_dh_key = crypto::RandomFixed<crypto::X25519PublicKey>(rng);
  d.identity_dh_signature = crypto::RandomFixed<crypto::Ed25519Signature>(rng);
  d.created_micros = created;
  return d;
}

inline AccountRecord MakeAccount(crypto::Random& rng,
                                 std::optional<DiscoveryHandle> handle = std::nullopt) {
  AccountRecord a;
  a.id = RandomId<AccountId>(rng);
  a.jurisdiction = "JP";
  a.encrypted_profile = Bytes(48, 0);
  rng.Fill(a.encrypted_profile);
  a.discovery_handle = handle;
  a.created_micros = 1'700'000'000'000'000;
  return a;
}

// Creates an account with `devices` devices and returns their addresses.
inline std::vector<DeviceAddress> CreateAccountWithDevices(Stores& stores, crypto::Random& rng,
                                                           uint32_t devices = 1) {
  AccountRecord a = MakeAccount(rng);
  REQUIRE(stores.accounts().CreateAccount(a, MakeDevice(rng)).ok());
  std::vector<DeviceAddress> out = {{a.id, 1}};
  for (uint32_t i = 1; i < devices; ++i) {
    auto id = stores.accounts().AddDevice(a.id, MakeDevice(rng), 100);
    REQUIRE(id.ok());
    out.push_back({a.id, *id});
  }
  return out;
}

inline SignedPrekey MakeSignedPrekey(crypto::Random& rng, uint32_t key_id = 1) {
  SignedPrekey p;
  p.key_id = key_id;
  p.public_key = crypto::RandomFixed<crypto::X25519PublicKey>(rng);
  p.signature = crypto::RandomFixed<crypto::Ed25519Signature>(rng);
  p.uploaded_micros = 1'700'000'000'000'000;
  return p;
}

inline std::vector<OneTimePrekey> MakeOneTimePrekeys(crypto::Random& rng, uint32_t first,
                                                     uint32_t count) {
  std::vector<OneTimePrekey> out;
  for (uint32_t i = 0; i < count; ++i) {
    out.push_back({first + i, crypto::RandomFixed<crypto::X25519PublicKey>(rng)});
  }
  return out;
}

inline Envelope MakeEnvelope(crypto::Random& rng, const DeviceAddress& sender,
                             const DeviceAddress& recipient, const MessageId& message_id,
                             int64_t timestamp, size_t ciphertext_size = 64) {
  Envelope e;
  e.message_id = message_id;
  e.sender = sender;
  e.recipient = recipient;
  e.server_timestamp_micros = timestamp;
  e.franking_commitment = crypto::RandomFixed<crypto::Commitment>(rng);
  e.franking_tag = crypto::RandomFixed<crypto::FrankingTag>(rng);
  e.ciphertext = Bytes(ciphertext_size, 0);
  rng.Fill(e.ciphertext);
  return e;
}

}  // namespace letterbox::storage::testing
