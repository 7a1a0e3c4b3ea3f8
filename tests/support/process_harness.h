// File: tests/support/process_harness.h
//
// Letterbox binaries as child processes, for end-to-end tests that start the
// real letterbox-server / letterbox-vault and kill them: a temporary
// directory removed at scope exit, a long-running child that reports the port
// of its "listening on HOST:PORT" line and is SIGKILLed at scope exit, a
// short-lived command run to completion, polling with a deadline, and numbers
// from the environment. Header-only. Nothing here uses Catch2 assertions, so
// every helper may be called from any thread: setup failures throw
// std::runtime_error (Catch2 reports it as a failure), everything else is a
// return value.
//
//   TempDir tmp;
//   ChildProcess server(LETTERBOX_SERVER_BIN,
//                       {"--listen", "127.0.0.1:0", "--data-dir", tmp.Sub("data")},
//                       tmp.Sub("server.log"));
//   const int port = server.WaitListening();  // 0: it exited or never said so
//   server.Kill();                            // kill -9, reaped
//
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace letterbox::testing {

// A fresh directory under $TMPDIR (or /tmp), mode 0700, removed with its
// contents at scope exit. Throws std::runtime_error if it cannot be created.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/letterbox-test-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  // `path()/name`; nothing is created.
  [[nodiscard]] std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole file, or "" if it cannot be read.
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Replaces the file at `path` with `contents`.
inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

// The decimal value of environment variable `name`, or `fallback` when it is
// unset or empty.
inline uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// Polls `condition` every `interval` until it holds or `timeout` passes;
// returns its last value.
inline bool WaitFor(const std::function<bool()>& condition,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30),
                    std::chrono::milliseconds interval = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(interval);
  }
  return condition();
}

namespace internal {

// argv for posix_spawn; `storage` must outlive the returned pointers.
inline std::vector<char*> Argv(std::vector<std::string>& storage) {
  std::vector<char*> argv;
  for (auto& a : storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

// The exit code of a waitpid status: the code, or 128 + signal.
inline int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace internal

// A long-running child process (a server). Its stdout is read through a pipe
// (for the "listening on" line); its stderr is appended to `stderr_path`, so
// the log of every incarnation on one path survives restarts. Killed with
// SIGKILL and reaped at destruction unless it has already exited. Not
// thread-safe: one thread owns it.
class ChildProcess {
 public:
  // Starts `binary` with `args`. Throws std::runtime_error if it cannot be
  // spawned.
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::string& stderr_path)
      : stderr_path_(stderr_path) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
    std::vector<std::string> all{binary};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv = internal::Argv(all);
    const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    stdout_fd_ = out[0];
    if (rc != 0) {
      ::close(stdout_fd_);
      throw std::runtime_error("cannot spawn " + binary);
    }
  }
  ~ChildProcess() {
    if (!exit_code_.has_value()) Kill();
    ::close(stdout_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads stdout until a complete "listening on HOST:PORT" line and returns
  // PORT; 0 if the process closes stdout (exits) or `timeout` passes first.
  int WaitListening(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return WaitForPort("listening on ", timeout);
  }

  // The same for the first complete line containing `prefix` followed by
  // HOST:PORT (for example "metrics on ").
  int WaitForPort(const std::string& prefix,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      const size_t at = stdout_.find(prefix);
      const size_t end = at == std::string::npos ? at : stdout_.find('\n', at);
      if (end != std::string::npos) {
        const std::string line = stdout_.substr(at, end - at);
        return std::atoi(line.substr(line.rfind(':') + 1).c_str());
      }
      if (!ReadSome(deadline)) return 0;
    }
  }

  // Everything the process writes to stdout until it closes it (or
  // `timeout` passes).
  const std::string& ReadAllStdout(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (ReadSome(deadline)) {
    }
    return stdout_;
  }

  // The exit code (128 + signal when killed by one), or nullopt if the
  // process is still running after `timeout`.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (exit_code_.has_value()) return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ = internal::ExitCode(status);
        return exit_code_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  // Sends `sig`; false if the process is gone.
  bool Signal(int sig) { return !exit_code_.has_value() && ::kill(pid_, sig) == 0; }

  // kill -9 and reap. No effect once the process has been reaped.
  void Kill() {
    if (exit_code_.has_value()) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    exit_code_ = internal::ExitCode(status);
  }

  [[nodiscard]] pid_t pid() const { return pid_; }
  // Everything read from stdout so far.
  [[nodiscard]] const std::string& Stdout() const { return stdout_; }
  // The stderr file (of every process that appended to it).
  [[nodiscard]] std::string Stderr() const { return ReadFile(stderr_path_); }

 private:
  // One read from stdout; false at EOF, on error or at `deadline`.
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::read(stdout_fd_, buf, sizeof(buf));
    if (n <= 0) return false;
    stdout_.append(buf, static_cast<size_t>(n));
    return true;
  }

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string stderr_path_;
  std::string stdout_;
  std::optional<int> exit_code_;
};

// The outcome of a command run to completion.
struct RunResult {
  int code = -1;  // exit code, 128 + signal, or -1 if it was killed at the timeout
  std::string out;
  std::string err;
};

// Runs `binary` with `args` to completion, capturing stdout and stderr; a
// command still running after `timeout` is SIGKILLed (code -1). Throws
// std::runtime_error if it cannot be spawned.
inline RunResult RunToExit(const std::string& binary, const std::vector<std::string>& args,
                           std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  TempDir io;
  const std::string out_path = io.Sub("out"), err_path = io.Sub("err");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<std::string> all{binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv = internal::Argv(all);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot spawn " + binary);
  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      result.code = internal::ExitCode(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

}  // namespace letterbox::testing
