#include "letterbox/vault/admin_session.h"

#include <fcntl.h>
#include <grpcpp/client_context.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "letterbox/common/status.h"
#include "letterbox/crypto/encoding.h"
#include "letterbox/server/key_files.h"
#include "letterbox/v1/vault.grpc.pb.h"

namespace letterbox::vault {
namespace {

namespace v1 = letterbox::v1;

constexpr std::string_view kVaultAuthLabel = "letterbox.vault-auth.v1";
constexpr absl::string_view kSessionMagic = "letterbox-admin-session v1";

struct KeyPath {
  std::string dir;
  std::string name;
};

// "<dir>/<name>.key" -> {dir, name}.
absl::StatusOr<KeyPath> SplitKeyPath(const std::string& path) {
  absl::string_view p = path;
  if (!absl::ConsumeSuffix(&p, ".key")) {
    return absl::InvalidArgumentError("staff key path must end in .key: " + path);
  }
  const size_t slash = p.rfind('/');
  KeyPath out;
  out.dir =
      slash == absl::string_view::npos ? "." : std::string(p.substr(0, slash == 0 ? 1 : slash));
  out.name = std::string(slash == absl::string_view::npos ? p : p.substr(slash + 1));
  if (out.name.empty() || out.name.size() > 64) {
    return absl::InvalidArgumentError("staff key name must be 1..64 characters: " + path);
  }
  for (char c : out.name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return absl::InvalidArgumentError(
          "staff key file name may use only a-z, 0-9, '_' and '-' before .key: " + path);
    }
  }
  return out;
}

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

absl::Status EnsurePrivateDir(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return absl::FailedPreconditionError(dir + " is not a directory");
    return absl::OkStatus();
  }
  if (errno != ENOENT || ::mkdir(dir.c_str(), 0700) != 0) {
    return absl::InternalError("cannot create " + dir + ": " + std::strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace

crypto::Bytes StaffLoginMessage(crypto::ByteView nonce, crypto::ByteView staff_id) {
  crypto::ByteWriter w;
  w.Label(kVaultAuthLabel).Bytes(nonce).Bytes(staff_id);
  return std::move(w).Take();
}

absl::StatusOr<StaffKeyInfo> GenerateStaffKey(const std::string& path) {
  LB_ASSIGN_OR_RETURN(KeyPath kp, SplitKeyPath(path));
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    return absl::AlreadyExistsError(path + " exists; it is never overwritten");
  }
  LB_ASSIGN_OR_RETURN(server::KeyDirectory dir, server::KeyDirectory::Open(kp.dir));
  LB_ASSIGN_OR_RETURN(auto key, dir.LoadOrCreate<crypto::Ed25519SecretKey>(kp.name));
  LB_ASSIGN_OR_RETURN(auto public_key, crypto::Ed25519PublicKey::FromBytes(key.public_key));
  return StaffKeyInfo{public_key, key.id};
}

absl::StatusOr<crypto::Ed25519KeyPair> LoadStaffKey(const std::string& path) {
  LB_ASSIGN_OR_RETURN(KeyPath kp, SplitKeyPath(path));
  struct stat st {};
  if (::stat(kp.dir.c_str(), &st) != 0) {
    return absl::NotFoundError("no staff key at " + path + " (run letterbox-admin keygen)");
  }
  LB_ASSIGN_OR_RETURN(server::KeyDirectory dir, server::KeyDirectory::Open(kp.dir));
  absl::StatusOr<server::RawKey> raw =
      dir.LoadRaw(kp.name, server::KeyKind::kEd25519, crypto::kEd25519SecretKeySize);
  if (absl::IsNotFound(raw.status())) {
    return absl::NotFoundError("no staff key at " + path + " (run letterbox-admin keygen)");
  }
  if (!raw.ok()) return raw.status();
  LB_ASSIGN_OR_RETURN(crypto::Ed25519SecretKey secret,
                      crypto::Ed25519SecretKey::FromBytes(raw->secret.Expose()));
  return crypto::Ed25519KeyPair::FromSecret(std::move(secret));
}

std::string StaffSession::Authorization() const {
  return "Bearer " + crypto::ToHex(token.Expose());
}

absl::StatusOr<StaffSession> LoginStaff(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& staff_id,
                                        const crypto::Ed25519KeyPair& key, absl::Duration timeout) {
  auto stub = v1::VaultService::NewStub(channel);
  const auto deadline = [&] {
    return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
  };
  auto to_absl = [](const grpc::Status& s) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
  };

  v1::VaultGetChallengeRequest challenge_request;
  challenge_request.set_staff_id(staff_id);
  v1::VaultGetChallengeResponse challenge;
  {
    grpc::ClientContext context;
    context.set_deadline(deadline());
    grpc::Status s = stub->GetChallenge(&context, challenge_request, &challenge);
    if (!s.ok()) return to_absl(s);
  }
  const crypto::Ed25519Signature signature = crypto::Ed25519Sign(
      key.secret_key,
      StaffLoginMessage(crypto::AsBytes(challenge.nonce()), crypto::AsBytes(staff_id)));
  v1::VaultLoginRequest request;
  request.set_staff_id(staff_id);
  request.set_nonce(challenge.nonce());
  request.set_signature(signature.str());
  v1::VaultLoginResponse response;
  grpc::ClientContext context;
  context.set_deadline(deadline());
  grpc::Status s = stub->Login(&context, request, &response);
  if (!s.ok()) return to_absl(s);

  StaffSession session;
  session.staff_id = staff_id;
  session.expires_micros = response.expires_micros();
  session.jurisdiction = response.jurisdiction();
  switch (response.role()) {
    case v1::STAFF_ROLE_REVIEWER:
      session.role = "reviewer";
      break;
    case v1::STAFF_ROLE_APPROVER:
      session.role = "approver";
      break;
    case v1::STAFF_ROLE_AUDITOR:
      session.role = "auditor";
      break;
    case v1::STAFF_ROLE_ADMIN:
      session.role = "admin";
      break;
    default:
      session.role = "none";
      break;
  }
  session.token = crypto::SecretBytes(crypto::AsBytes(response.session_token()));
  crypto::SecureZero({reinterpret_cast<uint8_t*>(response.mutable_session_token()->data()),
                      response.session_token().size()});
  return session;
}

absl::Status WriteSessionFile(const std::string& path, const StaffSession& session) {
  LB_RETURN_IF_ERROR(EnsurePrivateDir(ParentDir(path)));
  std::string text = std::string(kSessionMagic) + "\n" + "vault " + session.vault_address + "\n" +
                     "source " + session.source + "\n" + "staff_id " +
                     crypto::ToHex(crypto::AsBytes(session.staff_id)) + "\n" + "role " +
                     session.role + "\n" + "jurisdiction " + session.jurisdiction + "\n" +
                     "expires_micros " + std::to_string(session.expires_micros) + "\n" + "token " +
                     crypto::ToHex(session.token.Expose()) + "\n";
  const std::string temp = path + ".tmp";
  ::unlink(temp.c_str());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  absl::Status status;
  if (fd < 0) {
    status = absl::InternalError("cannot create " + temp + ": " + std::strerror(errno));
  } else {
    const bool written =
        ::fchmod(fd, 0600) == 0 &&
        ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(fd) == 0;
    if (!written)
      status = absl::InternalError("cannot write " + temp + ": " + std::strerror(errno));
    ::close(fd);
    if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
      status = absl::InternalError("cannot write " + path + ": " + std::strerror(errno));
    }
    if (!status.ok()) ::unlink(temp.c_str());
  }
  crypto::SecureZero({reinterpret_cast<uint8_t*>(text.data()), text.size()});
  return status;
}

absl::StatusOr<StaffSession> ReadSessionFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError("no session at " + path + " (run letterbox-admin login)");
    }
    return absl::FailedPreconditionError("cannot read " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 || st.st_uid != ::geteuid()) {
    ::close(fd);
    return absl::FailedPreconditionError(path +
                                         " must be a file of yours with mode 0600; log in again");
  }
  std::string text;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof(buffer))) > 0 && text.size() < 65536) {
    text.append(buffer, static_cast<size_t>(n));
  }
  crypto::SecureZero({reinterpret_cast<uint8_t*>(buffer), sizeof(buffer)});
  ::close(fd);

  std::map<std::string, std::string> fields;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.empty() || lines[0] != kSessionMagic) {
    crypto::SecureZero({reinterpret_cast<uint8_t*>(text.data()), text.size()});
    return absl::DataLossError(path + " is not a letterbox-admin session file");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> kv = absl::StrSplit(lines[i], absl::MaxSplits(' ', 1));
    if (kv.size() == 2) fields[std::string(kv[0])] = std::string(kv[1]);
  }
  crypto::SecureZero({reinterpret_cast<uint8_t*>(text.data()), text.size()});

  StaffSession session;
  session.vault_address = fields["vault"];
  session.source = fields["source"];
  session.role = fields["role"];
  session.jurisdiction = fields["jurisdiction"];
  auto staff_id = crypto::FromHex(fields["staff_id"]);
  auto token = crypto::FromHex(fields["token"]);
  crypto::SecureZero({reinterpret_cast<uint8_t*>(fields["token"].data()), fields["token"].size()});
  if (!staff_id.ok() || staff_id->size() != 16 || !token.ok() || token->empty() ||
      !absl::SimpleAtoi(fields["expires_micros"], &session.expires_micros)) {
    if (token.ok()) crypto::SecureZero(*token);
    return absl::DataLossError(path + " is damaged; log in again");
  }
  session.staff_id = crypto::ToString(*staff_id);
  session.token = crypto::SecretBytes(*token);
  crypto::SecureZero(*token);
  return session;
}

std::string DefaultSessionPath() {
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : ".") + "/.letterbox-admin/session";
}

}  // namespace letterbox::vault
