#pragma once
// The sluice binary as a child process, for the tests that run it end to end
// (binary_test, tls_binary_test, admin_binary_test): spawn it with its stdout and stderr
// captured, wait for a line or its exit within a deadline, send it signals, stop it. Every wait
// is bounded; a Child that is destroyed while the process runs kills and reaps it.
//
// The binary is found from the test's own path (build/<dir>/test/<test> ->
// build/<dir>/app/sluice); app/CMakeLists.txt makes building those tests build it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/deadline.hpp"

extern char** environ;

namespace sluice::test {

using namespace std::chrono_literals;

// A stop waits for in-flight responses for up to 5 s (twice in demo mode: proxy, then demo
// upstream) plus the cut; a healthy stop takes milliseconds, this only bounds a broken one.
inline constexpr std::chrono::milliseconds kExitDeadline{15000};

inline std::string sluice_path() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return (self.parent_path() / ".." / "app" / "sluice").lexically_normal().string();
}

inline std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// A port that was free a moment ago: bind 127.0.0.1:0, read the port, close. Another process
// may take it before sluice binds it; start_sluice() retries then.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// How the child's stderr pipe is made. The defaults are what every test had before these
// options: a pipe of the kernel's default size, non-blocking on both ends.
struct SpawnOptions {
  // The pipe's capacity (F_SETPIPE_SZ, set before the child starts; the kernel rounds it up to a
  // page). 0: the default (64 KiB on Linux).
  int stderr_pipe_bytes = 0;
  // The child's end blocks, as a terminal's or a shell pipe's does: a write to a full pipe waits
  // for the reader instead of failing with EAGAIN.
  bool blocking_stderr = false;
  // NAME=VALUE entries for the child's environment, over this process's (which it inherits
  // otherwise), e.g. NOTIFY_SOCKET for the systemd notification test.
  std::vector<std::string> env;
  // Another program than sluice (an absolute path), e.g. a Python probe: the tests' peers.
  std::string program;
};

// One sluice process with stdout and stderr on pipes. Every wait is bounded; the destructor
// kills (SIGKILL) and reaps a child that is still running, so a failed test leaves none behind.
class Child {
 public:
  static testing::AssertionResult spawn(const std::vector<std::string>& args,
                                        std::unique_ptr<Child>& out,
                                        const SpawnOptions& options = {}) {
    std::unique_ptr<Child> child(new Child());
    int out_pipe[2];
    int err_pipe[2];
    // O_CLOEXEC: the child gets only the ends dup2'ed onto 1 and 2, not these (nor those of
    // a child spawned concurrently), so EOF on a pipe really means the child is done.
    if (::pipe2(out_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      return testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
    }
    if (::pipe2(err_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
      ::close(out_pipe[0]);
      ::close(out_pipe[1]);
      return testing::AssertionFailure() << "pipe2: " << std::strerror(errno);
    }
    child->out_fd_ = out_pipe[0];
    child->err_fd_ = err_pipe[0];
    auto close_write_ends = [&] {
      ::close(out_pipe[1]);
      ::close(err_pipe[1]);
    };
    if (options.stderr_pipe_bytes > 0 &&
        ::fcntl(err_pipe[1], F_SETPIPE_SZ, options.stderr_pipe_bytes) < 0) {
      close_write_ends();
      return testing::AssertionFailure() << "F_SETPIPE_SZ: " << std::strerror(errno);
    }
    // The ends are separate open files: this makes the child's end blocking, not ours.
    if (options.blocking_stderr &&
        ::fcntl(err_pipe[1], F_SETFL, ::fcntl(err_pipe[1], F_GETFL) & ~O_NONBLOCK) < 0) {
      close_write_ends();
      return testing::AssertionFailure() << "F_SETFL: " << std::strerror(errno);
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    // The child starts with the signals it will be sent at their defaults and unblocked,
    // whatever this test process did with them.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigset_t defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGHUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    const std::string path = options.program.empty() ? sluice_path() : options.program;
    std::vector<char*> argv;
    std::vector<std::string> storage{path};
    storage.insert(storage.end(), args.begin(), args.end());
    for (auto& s : storage)
      argv.push_back(s.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_storage = options.env;
    std::vector<char*> envp;
    const auto overridden = [&](std::string_view entry) {
      const std::string_view name = entry.substr(0, entry.find('=') + 1);  // "NAME="
      return std::any_of(env_storage.begin(), env_storage.end(),
                         [&](const std::string& e) { return e.starts_with(name); });
    };
    for (char** e = environ; *e != nullptr; ++e) {
      if (!overridden(*e)) envp.push_back(*e);
    }
    for (auto& e : env_storage)
      envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc =
        ::posix_spawn(&child->pid_, path.c_str(), &actions, &attr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close_write_ends();
    if (rc != 0) {
      child->pid_ = -1;
      return testing::AssertionFailure() << "posix_spawn " << path << ": " << std::strerror(rc);
    }
    out = std::move(child);
    return testing::AssertionSuccess();
  }

  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void send_signal(int sig) {
    if (pid_ > 0 && !status_) ::kill(pid_, sig);
  }

  // Stops reading stderr for good, like a reader that hangs: what the child writes from now on
  // stays in the pipe, and once the pipe is full its writes wait (blocking_stderr) or fail with
  // EAGAIN. The pipe stays open. wait_stderr() fails from now on; wait_exit() still reads stdout.
  void stall_stderr() { stderr_stalled_ = true; }

  // Reads stderr until pred(stderr so far) holds. Fails at the deadline or when the child
  // closes its stderr (it exited) first.
  testing::AssertionResult wait_stderr(const std::function<bool(std::string_view)>& pred,
                                       std::chrono::milliseconds deadline = kDeadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!pred(err_)) {
      if (stderr_stalled_) {
        return testing::AssertionFailure() << "stderr is stalled (stall_stderr()); stderr so far:\n"
                                           << err_;
      }
      if (err_fd_ < 0) {
        return testing::AssertionFailure() << "sluice closed its stderr (exited?) first; stderr:\n"
                                           << err_;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= until) {
        return testing::AssertionFailure()
               << "condition not met on stderr within " << deadline.count() << "ms; stderr:\n"
               << err_;
      }
      pump(std::chrono::duration_cast<std::chrono::milliseconds>(until - now) + 1ms);
    }
    return testing::AssertionSuccess();
  }

  // Waits for the child to exit, reading its output meanwhile (a child blocked on a full pipe
  // would never exit). No sleeping: each round is a poll() on the pipes, short once they are
  // closed, followed by waitpid(WNOHANG).
  testing::AssertionResult wait_exit(int& status, std::chrono::milliseconds deadline = kDeadline) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (!reap()) {
      if (std::chrono::steady_clock::now() >= until) {
        return testing::AssertionFailure()
               << "sluice did not exit within " << deadline.count() << "ms; stderr:\n"
               << err_;
      }
      pump(20ms);
    }
    // Whatever it wrote just before exiting.
    while (out_fd_ >= 0 || (err_fd_ >= 0 && !stderr_stalled_))
      pump(100ms);
    status = *status_;
    return testing::AssertionSuccess();
  }

  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  Child() = default;

  // One poll() over the open pipes for at most `timeout`; appends what arrived and closes a
  // pipe at EOF.
  void pump(std::chrono::milliseconds timeout) {
    pollfd fds[2];
    int* owners[2];
    std::string* sinks[2];
    nfds_t n = 0;
    if (out_fd_ >= 0) {
      fds[n] = {out_fd_, POLLIN, 0};
      owners[n] = &out_fd_;
      sinks[n++] = &out_;
    }
    if (err_fd_ >= 0 && !stderr_stalled_) {
      fds[n] = {err_fd_, POLLIN, 0};
      owners[n] = &err_fd_;
      sinks[n++] = &err_;
    }
    const int ms = static_cast<int>(std::max<std::int64_t>(timeout.count(), 0));
    if (::poll(n > 0 ? fds : nullptr, n, ms) <= 0) return;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[4096];
      while (true) {
        const ssize_t got = ::read(*owners[i], buf, sizeof buf);
        if (got > 0) {
          sinks[i]->append(buf, static_cast<std::size_t>(got));
          continue;
        }
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
        ::close(*owners[i]);  // EOF or a real error: nothing more will come
        *owners[i] = -1;
        break;
      }
    }
  }

  bool reap() {
    if (status_) return true;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) status_ = status;
    return status_.has_value();
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
  std::optional<int> status_;
  bool stderr_stalled_ = false;
};

struct RunResult {
  int status = -1;  // as waitpid() reports it
  std::string out;
  std::string err;
};

// Runs sluice to completion (for commands that exit at once: --help, bad flags).
inline testing::AssertionResult run(const std::vector<std::string>& args, RunResult& result) {
  std::unique_ptr<Child> child;
  if (auto spawned = Child::spawn(args, child); !spawned) return spawned;
  if (auto exited = child->wait_exit(result.status); !exited) return exited;
  result.out = child->out();
  result.err = child->err();
  return testing::AssertionSuccess();
}

inline testing::AssertionResult exited_with(const RunResult& r, int code) {
  if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == code) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "expected exit status " << code << ", got "
                                     << describe_status(r.status) << "\nstdout:\n"
                                     << r.out << "\nstderr:\n"
                                     << r.err;
}

// Starts `sluice <args> --listen 127.0.0.1:<port>` and waits for its startup line. The port
// was free a moment ago; when something took it in between, sluice exits 1 ("cannot listen")
// and another port is tried, three times in all.
inline testing::AssertionResult start_sluice(const std::vector<std::string>& args,
                                             std::unique_ptr<Child>& child, std::uint16_t& port,
                                             std::string& startup_line,
                                             std::string_view scheme = "http",
                                             const SpawnOptions& options = {}) {
  std::string last_err;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port = free_port();
    if (port == 0) return testing::AssertionFailure() << "no free port: " << std::strerror(errno);
    std::vector<std::string> full = args;
    full.push_back("--listen");
    full.push_back("127.0.0.1:" + std::to_string(port));
    child.reset();
    if (auto spawned = Child::spawn(full, child, options); !spawned) return spawned;
    const std::string prefix =
        "sluice: listening on " + std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
    const auto started = child->wait_stderr([&](std::string_view err) {
      const auto at = err.find(prefix);
      return at != std::string_view::npos && err.find('\n', at) != std::string_view::npos;
    });
    if (started) {
      const auto at = child->err().find(prefix);
      startup_line = child->err().substr(at, child->err().find('\n', at) - at);
      return testing::AssertionSuccess();
    }
    last_err = child->err();
    if (last_err.find("cannot listen") == std::string::npos) return started;
    int status = 0;
    if (auto exited = child->wait_exit(status); !exited) return exited;
  }
  child.reset();
  return testing::AssertionFailure() << "sluice could not bind a free port 3 times; stderr:\n"
                                     << last_err;
}

// SIGTERM, then the exit within kExitDeadline, which must be status 0.
inline testing::AssertionResult stop_cleanly(Child& child) {
  child.send_signal(SIGTERM);
  int status = 0;
  if (auto exited = child.wait_exit(status, kExitDeadline); !exited) return exited;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "after SIGTERM: " << describe_status(status) << "; stderr:\n"
         << child.err();
}

}  // namespace sluice::test
