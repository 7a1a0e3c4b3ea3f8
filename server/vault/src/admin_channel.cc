#include "letterbox/vault/admin_channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/create_channel_posix.h>
#include <grpcpp/security/credentials.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace letterbox::vault {
namespace {

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitTarget(absl::string_view target) {
  for (absl::string_view scheme : {"ipv4:", "ipv6:", "dns:///", "dns:"}) {
    if (absl::StartsWith(target, scheme)) {
      target.remove_prefix(scheme.size());
      break;
    }
  }
  HostPort out;
  if (absl::StartsWith(target, "[")) {
    size_t close = target.find(']');
    if (close == absl::string_view::npos || close + 1 >= target.size() ||
        target[close + 1] != ':') {
      return absl::InvalidArgumentError(absl::StrCat("bad address: ", target));
    }
    out.host = std::string(target.substr(1, close - 1));
    out.port = std::string(target.substr(close + 2));
  } else {
    size_t colon = target.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("address needs a port: ", target));
    }
    out.host = std::string(target.substr(0, colon));
    out.port = std::string(target.substr(colon + 1));
  }
  uint32_t port = 0;
  if (out.host.empty() || !absl::SimpleAtoi(out.port, &port) || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("bad address: ", target));
  }
  return out;
}

// The source address as a sockaddr with port 0.
absl::StatusOr<sockaddr_storage> ParseSource(const std::string& source, socklen_t* len) {
  sockaddr_storage storage{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET, source.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    *len = sizeof(sockaddr_in);
    return storage;
  }
  if (inet_pton(AF_INET6, source.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    *len = sizeof(sockaddr_in6);
    return storage;
  }
  return absl::InvalidArgumentError(absl::StrCat("--source is not an IP address: ", source));
}

// Closes a descriptor unless released.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

absl::Status ConnectWithTimeout(int fd, const sockaddr* addr, socklen_t len,
                                absl::Duration timeout) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return absl::UnavailableError(absl::StrCat("fcntl: ", std::strerror(errno)));
  }
  if (connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(errno)));
    }
    pollfd pfd{.fd = fd, .events = POLLOUT, .revents = 0};
    int ready = 0;
    do {
      ready = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) return absl::UnavailableError("connect: timed out");
    if (ready < 0) return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
    int error = 0;
    socklen_t error_len = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len) != 0 || error != 0) {
      return absl::UnavailableError(absl::StrCat("connect: ", std::strerror(error)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenAdminChannel(
    const AdminChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  if (options.source.empty()) {
    if (options.target.empty()) return absl::InvalidArgumentError("no vault address");
    return grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  }

  socklen_t source_len = 0;
  auto source = ParseSource(options.source, &source_len);
  if (!source.ok()) return source.status();
  auto host_port = SplitTarget(options.target);
  if (!host_port.ok()) return host_port.status();

  addrinfo hints{};
  hints.ai_family = source->ss_family;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host_port->host.c_str(), host_port->port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", host_port->host,
                     " for a source of that address family: ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> results(found, &freeaddrinfo);

  FdCloser fd(socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&*source), source_len) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot send from ", options.source, ": ", std::strerror(errno)));
  }
  if (absl::Status s =
          ConnectWithTimeout(fd.get(), found->ai_addr, found->ai_addrlen, options.connect_timeout);
      !s.ok()) {
    return absl::UnavailableError(absl::StrCat(options.target, ": ", s.message()));
  }
  return grpc::CreateCustomInsecureChannelFromFd(options.target, fd.release(), args);
}

}  // namespace letterbox::vault
