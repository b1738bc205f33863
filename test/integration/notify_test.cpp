// The systemd service protocol (sd_notify) as a Type=notify unit sees it: the test binds the
// Unix datagram socket systemd would (NOTIFY_SOCKET) and runs the sluice binary with it.
//   - READY=1 comes once the listener is bound: the port its STATUS names answers a request at
//     once (sent earlier, the connect would be refused);
//   - SIGHUP brings RELOADING=1 (with MONOTONIC_USEC), then READY=1 again;
//   - SIGTERM brings STOPPING=1 before the drain, and nothing after it; the exit is clean.
// Every wait is a poll() with a deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/deadline.hpp"
#include "support/sluice_process.hpp"
#include "support/test_client.hpp"
#include "support/text.hpp"

namespace sluice::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The manager's end: a Unix datagram socket bound in a fresh temporary directory.
class NotifySocket {
 public:
  NotifySocket() {
    char dir[] = "/tmp/sluice-notify-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    path_ = dir_ + "/notify";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  bool ok() const { return fd_ >= 0; }
  std::string env() const { return "NOTIFY_SOCKET=" + path_; }

  // The next datagram, or a failure at the deadline.
  testing::AssertionResult receive(std::string& message, std::chrono::milliseconds deadline) {
    const auto until = Clock::now() + deadline;
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (left <= 0ms) {
        return testing::AssertionFailure() << "no notification within " << deadline.count() << "ms";
      }
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno != EINTR) {
        return testing::AssertionFailure() << "poll: " << std::strerror(errno);
      }
      if (ready <= 0) continue;
      char buf[4096];
      const ssize_t got = ::recv(fd_, buf, sizeof buf, 0);
      if (got < 0) return testing::AssertionFailure() << "recv: " << std::strerror(errno);
      message.assign(buf, static_cast<std::size_t>(got));
      return testing::AssertionSuccess();
    }
  }

  // Nothing is queued right now (used after the sender exited, so nothing more can come).
  bool empty_now() {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

// The lines of one notification, "NAME=value" each.
std::vector<std::string> fields(std::string_view message) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= message.size()) {
    const std::size_t end = std::min(message.find('\n', at), message.size());
    if (end > at) out.emplace_back(message.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

bool has_field(std::string_view message, std::string_view field) {
  for (const auto& f : fields(message)) {
    if (f == field) return true;
  }
  return false;
}

// The port at the end of READY's "STATUS=listening on http://127.0.0.1:PORT".
std::uint16_t status_port(std::string_view message) {
  constexpr std::string_view kPrefix = "STATUS=listening on http://127.0.0.1:";
  for (const auto& f : fields(message)) {
    if (!f.starts_with(kPrefix)) continue;
    std::uint16_t port = 0;
    const char* begin = f.data() + kPrefix.size();
    const auto [end, ec] = std::from_chars(begin, f.data() + f.size(), port);
    if (ec == std::errc() && end == f.data() + f.size()) return port;
  }
  return 0;
}

// sluice demo (a real upstream in the same process) on a kernel-chosen port, with NOTIFY_SOCKET.
testing::AssertionResult start(NotifySocket& notify, std::unique_ptr<Child>& child) {
  SpawnOptions options;
  options.env = {notify.env()};
  return Child::spawn({"demo", "--listen", "127.0.0.1:0", "--access-log", "off"}, child, options);
}

// The next notification must carry `field` (e.g. "READY=1"); it is left in `message`.
testing::AssertionResult next_has(NotifySocket& notify, Child& child, std::string_view field,
                                  std::string& message) {
  if (auto got = notify.receive(message, kDeadline); !got)
    return got << "; stderr:\n" << child.err();
  if (!has_field(message, field)) {
    return testing::AssertionFailure() << "no " << field << " in:\n" << message;
  }
  return testing::AssertionSuccess();
}

// SIGTERM: STOPPING=1 comes, then exit status 0.
testing::AssertionResult stops_cleanly(NotifySocket& notify, Child& child) {
  child.send_signal(SIGTERM);
  std::string stopping;
  if (auto got = next_has(notify, child, "STOPPING=1", stopping); !got) return got;
  int status = 0;
  if (auto exited = child.wait_exit(status, kExitDeadline); !exited) return exited;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return testing::AssertionFailure() << describe_status(status) << "; stderr:\n" << child.err();
  }
  return testing::AssertionSuccess();
}

TEST(Notify, ReadyComesOnceTheListenerAnswers) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  std::unique_ptr<Child> child;
  ASSERT_TRUE(start(notify, child));

  std::string ready;
  ASSERT_TRUE(next_has(notify, *child, "READY=1", ready));
  const std::uint16_t port = status_port(ready);
  ASSERT_NE(port, 0) << ready;
  // No retry: the listener must already be accepting when READY=1 arrives.
  ParsedResponse res;
  ASSERT_TRUE(http_get(port, "/", res));
  EXPECT_EQ(res.status, 200);

  ASSERT_TRUE(stops_cleanly(notify, *child));
  EXPECT_TRUE(notify.empty_now()) << "a notification after STOPPING=1";
}

TEST(Notify, ReloadIsBracketedByReloadingAndReady) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  std::unique_ptr<Child> child;
  ASSERT_TRUE(start(notify, child));
  std::string message;
  ASSERT_TRUE(next_has(notify, *child, "READY=1", message));
  const std::uint16_t port = status_port(message);

  child->send_signal(SIGHUP);
  std::string reloading;
  ASSERT_TRUE(next_has(notify, *child, "RELOADING=1", reloading));
  bool has_timestamp = false;
  for (const auto& f : fields(reloading))
    has_timestamp = has_timestamp || f.starts_with("MONOTONIC_USEC=");
  EXPECT_TRUE(has_timestamp) << reloading;
  std::string ready;
  ASSERT_TRUE(next_has(notify, *child, "READY=1", ready));
  EXPECT_EQ(status_port(ready), port) << ready;
  // Still serving after the reload.
  ParsedResponse res;
  ASSERT_TRUE(http_get(port, "/", res));
  EXPECT_EQ(res.status, 200);

  ASSERT_TRUE(stops_cleanly(notify, *child));
}

// A process that cannot start (its address is taken) never says READY=1.
TEST(Notify, NoReadyWhenTheListenerCannotBind) {
  NotifySocket notify;
  ASSERT_TRUE(notify.ok()) << std::strerror(errno);
  std::unique_ptr<Child> first;
  ASSERT_TRUE(start(notify, first));
  std::string message;
  ASSERT_TRUE(next_has(notify, *first, "READY=1", message));
  const std::uint16_t port = status_port(message);
  ASSERT_NE(port, 0) << message;

  SpawnOptions options;
  options.env = {notify.env()};
  std::unique_ptr<Child> second;
  ASSERT_TRUE(
      Child::spawn({"demo", "--listen", "127.0.0.1:" + std::to_string(port)}, second, options));
  int status = 0;
  ASSERT_TRUE(second->wait_exit(status, kExitDeadline));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << describe_status(status);
  EXPECT_TRUE(contains(second->err(), "cannot listen")) << second->err();
  EXPECT_TRUE(notify.empty_now()) << "the second process notified";

  first->send_signal(SIGTERM);
  ASSERT_TRUE(first->wait_exit(status, kExitDeadline));
}

}  // namespace
}  // namespace sluice::test
