#include "letterbox/server/key_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sstream>

#include "letterbox/common/status.h"
#include "letterbox/crypto/hash.h"

namespace letterbox::server {
namespace {

// Concatenates printable values (absl::StrCat in this abseil build does not
// take std::string_view).
template <typename... Args>
std::string Cat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

constexpr char kMagic[6] = {'L', 'B', 'K', 'E', 'Y', '\0'};
constexpr size_t kKeyIdBytes = 8;
constexpr size_t kKeyIdHexChars = 2 * kKeyIdBytes;
constexpr std::string_view kKeyIdLabel = "letterbox.key-id.v1";
constexpr size_t kMaxSecretSize = 1024;

std::string Errno(std::string_view what, const std::string& path, int err) {
  return Cat(what, " ", path, ": ", std::strerror(err));
}

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

bool IsHexId(std::string_view s) {
  return s.size() == kKeyIdHexChars && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

absl::Status CheckKindAndSize(std::string_view name, KeyKind kind, size_t size) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(Cat("bad key name '", name, "': use 1-64 of [a-z0-9_-]"));
  }
  switch (kind) {
    case KeyKind::kSymmetric:
      if (size < 16 || size > kMaxSecretSize) {
        return absl::InvalidArgumentError("symmetric key size must be 16..1024 bytes");
      }
      return absl::OkStatus();
    case KeyKind::kX25519:
      if (size != crypto::X25519SecretKey::kSize) {
        return absl::InvalidArgumentError("an X25519 key file holds 32 bytes");
      }
      return absl::OkStatus();
    case KeyKind::kEd25519:
      if (size != crypto::Ed25519SecretKey::kSize) {
        return absl::InvalidArgumentError("an Ed25519 key file holds 64 bytes");
      }
      return absl::OkStatus();
  }
  return absl::InvalidArgumentError("unknown key kind");
}

// The public half of a key pair; empty for symmetric keys.
absl::StatusOr<crypto::Bytes> PublicPart(KeyKind kind, const crypto::SecretBytes& secret) {
  switch (kind) {
    case KeyKind::kSymmetric:
      return crypto::Bytes{};
    case KeyKind::kX25519: {
      LB_ASSIGN_OR_RETURN(auto sk, crypto::X25519SecretKey::FromBytes(secret.Expose()));
      auto pk = crypto::X25519PublicFromSecret(sk);
      return crypto::Bytes(pk.view().begin(), pk.view().end());
    }
    case KeyKind::kEd25519: {
      LB_ASSIGN_OR_RETURN(auto sk, crypto::Ed25519SecretKey::FromBytes(secret.Expose()));
      auto pair = crypto::Ed25519KeyPair::FromSecret(std::move(sk));
      return crypto::Bytes(pair.public_key.view().begin(), pair.public_key.view().end());
    }
  }
  return absl::InvalidArgumentError("unknown key kind");
}

// First 8 bytes of BLAKE2b-256(label ‖ kind ‖ material), hex.
std::string ComputeKeyId(KeyKind kind, crypto::ByteView material) {
  crypto::SecretBytes buffer(kKeyIdLabel.size() + 1 + material.size());
  auto out = buffer.mutable_view();
  std::copy(kKeyIdLabel.begin(), kKeyIdLabel.end(), out.begin());
  out[kKeyIdLabel.size()] = static_cast<uint8_t>(kind);
  std::copy(material.begin(), material.end(), out.begin() + kKeyIdLabel.size() + 1);
  crypto::Blake2b256 digest = crypto::Blake2b256Of(buffer.Expose());
  return crypto::ToHex(digest.view().subspan(0, kKeyIdBytes));
}

absl::StatusOr<RawKey> Complete(KeyKind kind, crypto::SecretBytes secret, int64_t created) {
  RawKey key;
  key.kind = kind;
  key.created_unix_seconds = created;
  LB_ASSIGN_OR_RETURN(key.public_key, PublicPart(kind, secret));
  key.id = kind == KeyKind::kSymmetric ? ComputeKeyId(kind, secret.Expose())
                                       : ComputeKeyId(kind, key.public_key);
  key.secret = std::move(secret);
  return key;
}

size_t FileSize(std::string_view name, size_t secret_size) {
  return sizeof(kMagic) + 3 + name.size() + kKeyIdBytes + 8 + 2 + secret_size;
}

void PutBe(uint64_t v, size_t n, uint8_t* out) {
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(v >> (8 * (n - 1 - i)));
}
uint64_t GetBe(const uint8_t* in, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | in[i];
  return v;
}

crypto::SecretBytes Encode(std::string_view name, const RawKey& key) {
  crypto::SecretBytes file(FileSize(name, key.secret.size()));
  uint8_t* p = file.mutable_view().data();
  std::memcpy(p, kMagic, sizeof(kMagic));
  p += sizeof(kMagic);
  *p++ = kKeyFileVersion;
  *p++ = static_cast<uint8_t>(key.kind);
  *p++ = static_cast<uint8_t>(name.size());
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  auto id = crypto::FromHex(key.id);
  std::memcpy(p, id->data(), kKeyIdBytes);  // our own id: always valid hex
  p += kKeyIdBytes;
  PutBe(static_cast<uint64_t>(key.created_unix_seconds), 8, p);
  p += 8;
  PutBe(key.secret.size(), 2, p);
  p += 2;
  std::memcpy(p, key.secret.Expose().data(), key.secret.size());
  return file;
}

absl::StatusOr<RawKey> Decode(const std::string& path, std::string_view name, KeyKind kind,
                              size_t size, crypto::ByteView file) {
  auto damaged = [&](std::string_view why) {
    return absl::DataLossError(
        Cat("key file ", path, " is damaged or not a ", name, " key: ", why));
  };
  if (file.size() != FileSize(name, size)) {
    return damaged(Cat("size is ", file.size(), " bytes, expected ", FileSize(name, size)));
  }
  const uint8_t* p = file.data();
  if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) return damaged("bad magic");
  p += sizeof(kMagic);
  if (*p != kKeyFileVersion) {
    return damaged(Cat("unsupported format version ", static_cast<int>(*p)));
  }
  ++p;
  if (*p != static_cast<uint8_t>(kind)) return damaged("wrong key kind");
  ++p;
  if (*p != name.size() || std::memcmp(p + 1, name.data(), name.size()) != 0) {
    return damaged("holds a key of another name");
  }
  p += 1 + name.size();
  std::string stored_id = crypto::ToHex(crypto::ByteView(p, kKeyIdBytes));
  p += kKeyIdBytes;
  auto created = static_cast<int64_t>(GetBe(p, 8));
  p += 8;
  if (GetBe(p, 2) != size) return damaged("wrong secret length");
  p += 2;
  crypto::SecretBytes secret(crypto::ByteView(p, size));
  LB_ASSIGN_OR_RETURN(RawKey key, Complete(kind, std::move(secret), created));
  if (key.id != stored_id) return damaged("key id does not match the key");
  return key;
}

// Reads a key file after checking that it is a regular file of ours that
// group and others cannot access. NOT_FOUND if it does not exist.
absl::StatusOr<RawKey> ReadKeyFile(const std::string& path, std::string_view name, KeyKind kind,
                                   size_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return absl::NotFoundError(Cat("no key file ", path));
    if (err == ELOOP) {
      return absl::FailedPreconditionError(
          Cat("refusing key file ", path, ": it is a symbolic link"));
    }
    return absl::InternalError(Errno("cannot open key file", path, err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return absl::InternalError(Errno("cannot stat key file", path, err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(Cat("refusing key file ", path, ": not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::FailedPreconditionError(
        Cat("refusing key file ", path, ": mode ", mode,
            " lets group or others access it; it must be 0600 (chmod 600)"));
  }
  if (st.st_uid != ::geteuid()) {
    ::close(fd);
    return absl::FailedPreconditionError(Cat("refusing key file ", path, ": owned by uid ",
                                             st.st_uid, ", not by this process's uid ",
                                             ::geteuid()));
  }
  const size_t expected = FileSize(name, size);
  if (static_cast<uint64_t>(st.st_size) != expected) {
    ::close(fd);
    return absl::DataLossError(
        Cat("key file ", path, " has the wrong size: ", st.st_size, " bytes, expected ", expected));
  }
  crypto::SecretBytes buffer(expected);
  size_t done = 0;
  while (done < expected) {
    ssize_t n = ::read(fd, buffer.mutable_view().data() + done, expected - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return absl::InternalError(Errno("cannot read key file", path, err));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return Decode(path, name, kind, size, buffer.Expose());
}

absl::Status FsyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(Errno("cannot open directory", dir, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return absl::InternalError(Errno("cannot fsync directory", dir, err));
  return absl::OkStatus();
}

// Writes `contents` to a new temporary file in `dir` (mode 0600, fsynced)
// and returns its path.
absl::StatusOr<std::string> WriteTemporary(const std::string& dir, std::string_view name,
                                           crypto::Random& random, crypto::ByteView contents) {
  std::array<uint8_t, 8> suffix{};
  random.Fill(suffix);
  std::string path = Cat(dir, "/.", name, ".tmp-", crypto::ToHex(suffix));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(Errno("cannot create key file", path, errno));
  auto fail = [&](std::string_view what, int err) {
    ::close(fd);
    ::unlink(path.c_str());
    return absl::InternalError(Errno(what, path, err));
  };
  if (::fchmod(fd, 0600) != 0) return fail("cannot chmod key file", errno);
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write key file", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync key file", errno);
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(path.c_str());
    return absl::InternalError(Errno("cannot close key file", path, err));
  }
  return path;
}

}  // namespace

absl::StatusOr<KeyDirectory> KeyDirectory::Open(std::string path, crypto::Random& random) {
  if (path.empty()) return absl::InvalidArgumentError("keys directory path is empty");
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(Errno("cannot create keys directory", path, errno));
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return absl::InternalError(Errno("cannot stat keys directory", path, errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(Cat("keys directory ", path, " is not a directory"));
  }
  if (st.st_uid != ::geteuid()) {
    return absl::FailedPreconditionError(
        Cat("refusing keys directory ", path, ": owned by uid ", st.st_uid, ", not ", ::geteuid()));
  }
  if ((st.st_mode & 022) != 0) {
    return absl::FailedPreconditionError(
        Cat("refusing keys directory ", path,
            ": group or others may write to it; it must be 0700 (chmod 700)"));
  }
  return KeyDirectory(std::move(path), &random);
}

absl::StatusOr<RawKey> KeyDirectory::LoadRaw(std::string_view name, KeyKind kind,
                                             size_t size) const {
  LB_RETURN_IF_ERROR(CheckKindAndSize(name, kind, size));
  return ReadKeyFile(Cat(path_, "/", name, ".key"), name, kind, size);
}

namespace {

absl::StatusOr<RawKey> Generate(KeyKind kind, size_t size, crypto::Random& random) {
  crypto::SecretBytes secret(size);
  switch (kind) {
    case KeyKind::kSymmetric:
      random.Fill(secret.mutable_view());
      break;
    case KeyKind::kX25519: {
      auto pair = crypto::X25519KeyPair::Generate(random);
      secret = crypto::SecretBytes(pair.secret_key.Expose());
      break;
    }
    case KeyKind::kEd25519: {
      auto pair = crypto::Ed25519KeyPair::Generate(random);
      secret = crypto::SecretBytes(pair.secret_key.Expose());
      break;
    }
  }
  return Complete(kind, std::move(secret), static_cast<int64_t>(::time(nullptr)));
}

}  // namespace

absl::StatusOr<RawKey> KeyDirectory::LoadOrCreateRaw(std::string_view name, KeyKind kind,
                                                     size_t size) const {
  auto loaded = LoadRaw(name, kind, size);
  if (!absl::IsNotFound(loaded.status())) return loaded;
  LB_ASSIGN_OR_RETURN(RawKey key, Generate(kind, size, *random_));
  crypto::SecretBytes contents = Encode(name, key);
  LB_ASSIGN_OR_RETURN(std::string temp, WriteTemporary(path_, name, *random_, contents.Expose()));
  const std::string final_path = Cat(path_, "/", name, ".key");
  // link() never replaces: if another process created the key first, use theirs.
  int rc = ::link(temp.c_str(), final_path.c_str());
  int err = errno;
  ::unlink(temp.c_str());
  if (rc != 0) {
    if (err == EEXIST) return LoadRaw(name, kind, size);
    return absl::InternalError(Errno("cannot create key file", final_path, err));
  }
  LB_RETURN_IF_ERROR(FsyncDirectory(path_));
  return key;
}

absl::StatusOr<std::vector<RawKey>> KeyDirectory::LoadAllRaw(std::string_view name, KeyKind kind,
                                                             size_t size) const {
  std::vector<RawKey> keys;
  LB_ASSIGN_OR_RETURN(RawKey current, LoadRaw(name, kind, size));
  const std::string current_id = current.id;
  keys.push_back(std::move(current));

  DIR* dir = ::opendir(path_.c_str());
  if (dir == nullptr) return absl::InternalError(Errno("cannot list keys directory", path_, errno));
  std::vector<std::string> ids;
  const std::string prefix = Cat(name, ".");
  while (struct dirent* entry = ::readdir(dir)) {
    std::string_view file = entry->d_name;
    if (file.size() != prefix.size() + kKeyIdHexChars + 4) continue;
    if (file.substr(0, prefix.size()) != prefix || file.substr(file.size() - 4) != ".key") continue;
    std::string_view id = file.substr(prefix.size(), kKeyIdHexChars);
    if (IsHexId(id) && id != current_id) ids.emplace_back(id);
  }
  ::closedir(dir);
  std::sort(ids.begin(), ids.end());
  for (const std::string& id : ids) {
    const std::string path = Cat(path_, "/", name, ".", id, ".key");
    LB_ASSIGN_OR_RETURN(RawKey key, ReadKeyFile(path, name, kind, size));
    if (key.id != id) {
      return absl::DataLossError(
          Cat("key file ", path, " holds key ", key.id, ", not the one its name says"));
    }
    keys.push_back(std::move(key));
  }
  return keys;
}

absl::StatusOr<RawKey> KeyDirectory::RotateRaw(std::string_view name, KeyKind kind,
                                               size_t size) const {
  auto old = LoadRaw(name, kind, size);
  if (absl::IsNotFound(old.status())) return LoadOrCreateRaw(name, kind, size);
  if (!old.ok()) return old.status();
  const std::string current_path = Cat(path_, "/", name, ".key");
  const std::string archive_path = Cat(path_, "/", name, ".", old->id, ".key");
  if (::link(current_path.c_str(), archive_path.c_str()) != 0 && errno != EEXIST) {
    return absl::InternalError(Errno("cannot archive key file", archive_path, errno));
  }
  LB_RETURN_IF_ERROR(FsyncDirectory(path_));

  LB_ASSIGN_OR_RETURN(RawKey key, Generate(kind, size, *random_));
  crypto::SecretBytes contents = Encode(name, key);
  LB_ASSIGN_OR_RETURN(std::string temp, WriteTemporary(path_, name, *random_, contents.Expose()));
  if (::rename(temp.c_str(), current_path.c_str()) != 0) {
    int err = errno;
    ::unlink(temp.c_str());
    return absl::InternalError(Errno("cannot replace key file", current_path, err));
  }
  LB_RETURN_IF_ERROR(FsyncDirectory(path_));
  return key;
}

}  // namespace letterbox::server
