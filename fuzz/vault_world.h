// File: fuzz/vault_world.h
//
// The report vault over MemoryVaultStores and a FakeClock, with keys from a
// DeterministicRandom and a fake FrankingVerifier that holds a fixed
// franking server key, so the sealed_report fuzz target and its seed
// generator agree on the intake key and on which franking tags are genuine.
//
//   auto world = VaultWorld::Create();
//   auto outcome = world->vault->Ingest(report);
//
// Not thread-safe. The vault holds references into the world, so it is
// created on the heap and never moved.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "letterbox/common/clock.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/random.h"
#include "letterbox/storage/vault/memory_vault_store.h"
#include "letterbox/vault/vault.h"

namespace letterbox::fuzz {

namespace v1 = ::letterbox::v1;

// The messaging server's franking tag check, with the server's encoding of
// addresses (DeviceAddress::Encode: account ‖ U32 device).
class FakeFrankingVerifier final : public vault::FrankingVerifier {
 public:
  explicit FakeFrankingVerifier(crypto::FrankingServerKey key) : key_(std::move(key)) {}

  static crypto::Bytes AddressBytes(const v1::DeviceAddress& a) {
    crypto::ByteWriter w;
    w.Raw(crypto::AsBytes(a.account_id())).U32(a.device_id());
    return std::move(w).Take();
  }

  [[nodiscard]] crypto::FrankingTag Tag(const std::string& commitment,
                                        const v1::DeviceAddress& sender,
                                        const v1::DeviceAddress& recipient, int64_t timestamp,
                                        const std::string& message_id) const {
    return crypto::ComputeFrankingTag(
        key_, {crypto::Commitment::FromString(commitment).value(), AddressBytes(sender),
               AddressBytes(recipient), timestamp, crypto::AsBytes(message_id)});
  }

  absl::StatusOr<std::vector<bool>> Verify(const std::vector<v1::FrankingClaim>& claims) override {
    std::vector<bool> out;
    for (const auto& c : claims) {
      auto commitment = crypto::Commitment::FromString(c.franking_commitment());
      auto tag = crypto::FrankingTag::FromString(c.franking_tag());
      if (!commitment.ok() || !tag.ok()) {
        out.push_back(false);
        continue;
      }
      out.push_back(crypto::VerifyFrankingTag(
                        key_,
                        {*commitment, AddressBytes(c.sender()), AddressBytes(c.recipient()),
                         c.server_timestamp_micros(), crypto::AsBytes(c.message_id())},
                        *tag)
                        .ok());
    }
    return out;
  }

 private:
  crypto::FrankingServerKey key_;
};

class VaultWorld {
 public:
  static constexpr uint64_t kSeed = 0x7a017;
  // The device the relay says submitted every fuzzed report.
  static v1::DeviceAddress Reporter() {
    v1::DeviceAddress a;
    a.set_account_id(std::string(16, '\xAA'));
    a.set_device_id(1);
    return a;
  }

  // nullptr if the vault does not open (a bug: the caller aborts).
  static std::unique_ptr<VaultWorld> Create() {
    auto world = std::unique_ptr<VaultWorld>(new VaultWorld());
    vault::VaultConfig config;
    config.jurisdiction_networks = {{"JP", {"127.0.0.2/32"}}, {"KR", {"127.0.0.3/32"}}};
    vault::VaultKeys keys{.intake = crypto::X25519KeyPair::Generate(world->random),
                          .intake_key_id = "intake-1",
                          .kek = crypto::RandomSecret<crypto::AeadKey>(world->random),
                          .kek_id = "kek-1",
                          .previous_keks = {},
                          .audit_signing = crypto::Ed25519KeyPair::Generate(world->random),
                          .pseudonym_key = crypto::RandomSecret<crypto::MacKey>(world->random)};
    world->intake_public_key = keys.intake.public_key;
    auto opened = vault::Vault::Open(config, world->stores, world->clock, std::move(keys),
                                     world->verifier, world->random);
    if (!opened.ok()) return nullptr;
    world->vault = *std::move(opened);
    return world;
  }

  crypto::DeterministicRandom random{kSeed};
  FakeClock clock;
  storage::vault::MemoryVaultStores stores;
  FakeFrankingVerifier verifier{crypto::RandomSecret<crypto::FrankingServerKey>(random)};
  crypto::X25519PublicKey intake_public_key;
  std::unique_ptr<vault::Vault> vault;

 private:
  VaultWorld() = default;
};

}  // namespace letterbox::fuzz
