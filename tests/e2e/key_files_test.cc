// Key files on disk (P9): created 0600 in a 0700 directory, reloaded with the
// same key id, refused when unsafe or damaged, kept across rotation.
#include "letterbox/server/key_files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "letterbox/crypto/franking.h"
#include "letterbox/crypto/hmac.h"
#include "letterbox/crypto/x25519.h"
#include "support/process_harness.h"

namespace letterbox::server {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

unsigned ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

TEST_CASE("a new key file is created with mode 0600 in a 0700 directory") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  auto key = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  REQUIRE(key.ok());
  CHECK(ModeOf(tmp.Sub("keys")) == 0700);
  CHECK(ModeOf(tmp.Sub("keys/franking.key")) == 0600);
  CHECK(key->id.size() == 16);
  CHECK_FALSE(key->key.IsZero());
}

TEST_CASE("a key file is reloaded with the same key and key id") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  auto first = dir->LoadOrCreate<crypto::MacKey>("discovery-pepper");
  REQUIRE(first.ok());
  auto again = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(again.ok());
  auto second = again->LoadOrCreate<crypto::MacKey>("discovery-pepper");
  REQUIRE(second.ok());
  CHECK(second->id == first->id);
  CHECK(second->key.Equals(first->key));
}

TEST_CASE("different names hold different keys") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  auto a = dir->LoadOrCreate<crypto::MacKey>("a");
  auto b = dir->LoadOrCreate<crypto::MacKey>("b");
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->id != b->id);
  CHECK_FALSE(a->key.Equals(b->key));
}

TEST_CASE("a key file readable by group or others is refused with a clear error") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  REQUIRE(dir->LoadOrCreate<crypto::FrankingServerKey>("franking").ok());
  REQUIRE(::chmod(tmp.Sub("keys/franking.key").c_str(), 0644) == 0);
  auto loaded = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  REQUIRE(loaded.status().code() == absl::StatusCode::kFailedPrecondition);
  const std::string message(loaded.status().message());
  CHECK(message.find("franking.key") != std::string::npos);
  CHECK(message.find("0644") != std::string::npos);
  CHECK(message.find("chmod 600") != std::string::npos);
  // Nothing was regenerated over the refused file.
  CHECK(ModeOf(tmp.Sub("keys/franking.key")) == 0644);
}

TEST_CASE("a key file of the wrong size is refused") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  REQUIRE(dir->LoadOrCreate<crypto::FrankingServerKey>("franking").ok());
  const std::string path = tmp.Sub("keys/franking.key");
  WriteFile(path, ReadFile(path) + "x");
  auto loaded = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  REQUIRE(loaded.status().code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(loaded.status().message()).find("wrong size") != std::string::npos);
}

TEST_CASE("a key file with a changed byte is refused because its key id no longer matches") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  REQUIRE(dir->LoadOrCreate<crypto::FrankingServerKey>("franking").ok());
  const std::string path = tmp.Sub("keys/franking.key");
  std::string bytes = ReadFile(path);
  bytes.back() = static_cast<char>(bytes.back() ^ 1);
  WriteFile(path, bytes);
  auto loaded = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  REQUIRE(loaded.status().code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(loaded.status().message()).find("key id") != std::string::npos);
}

TEST_CASE("a key file copied under another name is refused") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  REQUIRE(dir->LoadOrCreate<crypto::MacKey>("discovery-pepper").ok());
  std::filesystem::copy_file(tmp.Sub("keys/discovery-pepper.key"), tmp.Sub("keys/franking.key"));
  auto loaded = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  CHECK(loaded.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a symbolic link in place of a key file is refused") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  REQUIRE(dir->LoadOrCreate<crypto::MacKey>("real").ok());
  REQUIRE(::symlink(tmp.Sub("keys/real.key").c_str(), tmp.Sub("keys/franking.key").c_str()) == 0);
  auto loaded = dir->LoadOrCreate<crypto::MacKey>("franking");
  CHECK(loaded.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a keys directory writable by group or others is refused") {
  TempDir tmp;
  REQUIRE(::mkdir(tmp.Sub("keys").c_str(), 0700) == 0);
  REQUIRE(::chmod(tmp.Sub("keys").c_str(), 0770) == 0);
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  CHECK(dir.status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("rotation makes a new current key and keeps the old one loadable by key id") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  auto old_key = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  REQUIRE(old_key.ok());
  auto new_key = dir->Rotate<crypto::FrankingServerKey>("franking");
  REQUIRE(new_key.ok());
  CHECK(new_key->id != old_key->id);

  auto current = dir->LoadOrCreate<crypto::FrankingServerKey>("franking");
  REQUIRE(current.ok());
  CHECK(current->id == new_key->id);

  auto ring = dir->LoadRing<crypto::FrankingServerKey>("franking");
  REQUIRE(ring.ok());
  CHECK(ring->current.id == new_key->id);
  REQUIRE(ring->previous.size() == 1);
  const auto* found = ring->Find(old_key->id);
  REQUIRE(found != nullptr);
  CHECK(found->key.Equals(old_key->key));
  CHECK(ModeOf(tmp.Sub("keys/franking." + old_key->id + ".key")) == 0600);
}

TEST_CASE("two rotations keep both previous keys") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  auto k1 = dir->LoadOrCreate<crypto::MacKey>("kek");
  auto k2 = dir->Rotate<crypto::MacKey>("kek");
  auto k3 = dir->Rotate<crypto::MacKey>("kek");
  REQUIRE((k1.ok() && k2.ok() && k3.ok()));
  auto ring = dir->LoadRing<crypto::MacKey>("kek");
  REQUIRE(ring.ok());
  CHECK(ring->current.id == k3->id);
  CHECK(ring->previous.size() == 2);
  CHECK(ring->Find(k1->id) != nullptr);
  CHECK(ring->Find(k2->id) != nullptr);
}

TEST_CASE("a key pair's key id is derived from its public key - which is returned") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  auto intake = dir->LoadOrCreate<crypto::X25519SecretKey>("vault-intake");
  REQUIRE(intake.ok());
  const auto expected = crypto::X25519PublicFromSecret(intake->key);
  CHECK(intake->public_key == crypto::Bytes(expected.view().begin(), expected.view().end()));
  auto reloaded = dir->LoadOrCreate<crypto::X25519SecretKey>("vault-intake");
  REQUIRE(reloaded.ok());
  CHECK(reloaded->id == intake->id);

  auto signing = dir->LoadOrCreate<crypto::Ed25519SecretKey>("audit-signing");
  REQUIRE(signing.ok());
  CHECK(signing->public_key.size() == 32);
}

TEST_CASE("a key file of one kind is not loaded as another kind") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  REQUIRE(dir->LoadOrCreate<crypto::X25519SecretKey>("k").ok());
  auto as_symmetric = dir->LoadOrCreate<crypto::MacKey>("k");
  CHECK(as_symmetric.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a bad key name is refused") {
  TempDir tmp;
  auto dir = KeyDirectory::Open(tmp.Sub("keys"));
  REQUIRE(dir.ok());
  CHECK(dir->LoadOrCreate<crypto::MacKey>("../escape").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(dir->LoadOrCreate<crypto::MacKey>("").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace letterbox::server
