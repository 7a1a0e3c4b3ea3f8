#include "letterbox/server/process.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "letterbox/common/status.h"
#include "letterbox/crypto/init.h"

namespace letterbox::server {

absl::Status DisableCoreDumps() {
  struct rlimit none {};
  if (::setrlimit(RLIMIT_CORE, &none) != 0) {
    return absl::InternalError(std::string("setrlimit(RLIMIT_CORE, 0): ") + std::strerror(errno));
  }
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    return absl::InternalError(std::string("prctl(PR_SET_DUMPABLE, 0): ") + std::strerror(errno));
  }
  return absl::OkStatus();
}

absl::StatusOr<sigset_t> PrepareDaemon() {
  LB_RETURN_IF_ERROR(DisableCoreDumps());
  LB_RETURN_IF_ERROR(crypto::Initialize());
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) {
    return absl::InternalError("cannot block SIGTERM and SIGINT");
  }
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

absl::Status PrepareDataDir(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return absl::FailedPreconditionError("data dir " + path + ": " + std::strerror(errno));
    }
    if (::mkdir(path.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError("cannot create data dir " + path + ": " +
                                           std::strerror(errno) +
                                           " (its parent directory must exist)");
    }
    return absl::OkStatus();
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError("data dir " + path + " is not a directory");
  }
  if (::access(path.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError("data dir " + path +
                                         " is not writable: " + std::strerror(errno));
  }
  return absl::OkStatus();
}

absl::Status WritePortFile(const std::string& path, int port) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << port << "\n";
    out.flush();
    if (!out) return absl::FailedPreconditionError("cannot write --port-file " + temp);
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::FailedPreconditionError("cannot write --port-file " + path + ": " +
                                         std::strerror(errno));
  }
  return absl::OkStatus();
}

}  // namespace letterbox::server
