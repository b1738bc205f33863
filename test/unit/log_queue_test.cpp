// The stderr queue (include/sluice/log.hpp): lines arrive whole and in order, a stalled reader
// costs dropped lines and never a blocked caller, a broken fd loses lines and not the writer.
// Every wait is bounded by a deadline or by flush()'s own limit; nothing sleeps.
#include "common/log_queue.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "sluice/log.hpp"
#include "support/deadline.hpp"

namespace sluice::detail {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using test::kDeadline;

// A pipe whose ends close with the test. `shrink()` sets the kernel buffer to one page, so a
// reader that never reads stalls the writer after a few lines.
struct Pipe {
  Pipe() {
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int read_fd() const { return fds[0]; }
  int write_fd() const { return fds[1]; }
  int shrink() const { return ::fcntl(fds[1], F_SETPIPE_SZ, 4096); }
  bool make_write_nonblocking() const {
    return ::fcntl(fds[1], F_SETFL, ::fcntl(fds[1], F_GETFL) | O_NONBLOCK) == 0;
  }
  void close_read() { close_end(0); }
  void close_write() { close_end(1); }

 private:
  void close_end(int i) {
    if (fds[i] >= 0) ::close(fds[i]);
    fds[i] = -1;
  }
  int fds[2] = {-1, -1};
};

// Reads whole lines (without their '\n') until `count` arrived or the deadline passed.
std::vector<std::string> read_lines(int fd, std::size_t count,
                                    Clock::time_point deadline = Clock::now() + kDeadline) {
  std::vector<std::string> lines;
  std::string partial;
  char buf[4096];
  while (lines.size() < count) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    ::pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ::ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t end; (end = partial.find('\n', start)) != std::string::npos; start = end + 1) {
      lines.push_back(partial.substr(start, end - start));
    }
    partial.erase(0, start);
  }
  EXPECT_EQ(partial, "") << "a line arrived cut";
  return lines;
}

std::string numbered_line(int thread, int seq, std::size_t padding) {
  return "t" + std::to_string(thread) + " s" + std::to_string(seq) + " " +
         std::string(padding, 'x');
}

// Threads of this process named as the queue names its writer.
std::size_t writer_threads() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      if (std::getline(comm, name) && name == "sluice-log") ++n;
    }
    ::closedir(d);
  }
  return n;
}

Clock::duration process_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// First in the file: no writer that another test left detached is still around.
TEST(LogQueue, StartsItsThreadOnTheFirstPush) {
  Pipe pipe;
  const std::size_t before = writer_threads();
  LogQueue q(pipe.write_fd(), 1 << 20);
  EXPECT_EQ(writer_threads(), before);
  EXPECT_TRUE(q.flush(milliseconds(0)));  // nothing pushed: nothing to wait for
  ASSERT_TRUE(q.push("first"));
  EXPECT_EQ(writer_threads(), before + 1);
  EXPECT_EQ(read_lines(pipe.read_fd(), 1), std::vector<std::string>{"first"});
  EXPECT_TRUE(q.flush(kDeadline));
}

TEST(LogQueue, LinesFromSeveralThreadsArriveWholeAndInOrder) {
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  Pipe pipe;
  LogQueue q(pipe.write_fd(), 8 << 20);  // more than all the lines: none may be dropped
  std::vector<std::string> got;
  {
    std::jthread reader([&] { got = read_lines(pipe.read_fd(), kThreads * kLines); });
    std::vector<std::jthread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&q, t] {
        for (int i = 0; i < kLines; ++i) {
          // Lengths vary so that lines straddle the writer's write(2) boundaries.
          EXPECT_TRUE(q.push(numbered_line(t, i, static_cast<std::size_t>(i % 97) * 7)));
        }
      });
    }
  }
  EXPECT_TRUE(q.flush(kDeadline));
  EXPECT_EQ(q.dropped(), 0u);
  ASSERT_EQ(got.size(), std::size_t{kThreads * kLines});
  std::vector<int> next(kThreads, 0);
  for (const auto& line : got) {
    int t = -1;
    int i = -1;
    ASSERT_EQ(std::sscanf(line.c_str(), "t%d s%d ", &t, &i), 2) << line;
    ASSERT_TRUE(t >= 0 && t < kThreads) << line;
    ASSERT_EQ(i, next[static_cast<std::size_t>(t)]) << "out of order: " << line;
    EXPECT_EQ(line, numbered_line(t, i, static_cast<std::size_t>(i % 97) * 7));
    ++next[static_cast<std::size_t>(t)];
  }
}

TEST(LogQueue, StalledReaderCostsDroppedLinesNotABlockedCaller) {
  Pipe pipe;
  ASSERT_GT(pipe.shrink(), 0);
  LogQueue q(pipe.write_fd(), 16 * 1024);
  std::vector<std::string> accepted;
  std::uint64_t refused = 0;
  const auto start = Clock::now();
  for (int i = 0; i < 1000; ++i) {  // ~100 KB: far more than the pipe and the queue hold
    const std::string line = numbered_line(0, i, 90);
    if (q.push(line)) {
      accepted.push_back(line);
    } else {
      ++refused;
    }
  }
  // A push that waited on the pipe would wait for ever: the reader never reads yet.
  EXPECT_LT(Clock::now() - start, kDeadline);
  EXPECT_GT(refused, 0u);
  EXPECT_FALSE(accepted.empty());
  EXPECT_EQ(q.dropped(), refused);

  const auto flush_start = Clock::now();
  EXPECT_FALSE(q.flush(milliseconds(50)));
  const auto flush_took = Clock::now() - flush_start;
  EXPECT_GE(flush_took, milliseconds(50));
  EXPECT_LT(flush_took, kDeadline);

  // The reader catches up: every accepted line arrives, whole and in order, and flush() agrees.
  EXPECT_EQ(read_lines(pipe.read_fd(), accepted.size()), accepted);
  EXPECT_TRUE(q.flush(kDeadline));
  EXPECT_EQ(q.dropped(), refused);

  // And the queue takes lines again.
  ASSERT_TRUE(q.push("after"));
  EXPECT_EQ(read_lines(pipe.read_fd(), 1), std::vector<std::string>{"after"});
  EXPECT_TRUE(q.flush(kDeadline));
}

TEST(LogQueue, FullNonBlockingFdIsPolledNotSpunOn) {
  Pipe pipe;
  ASSERT_GT(pipe.shrink(), 0);
  ASSERT_TRUE(pipe.make_write_nonblocking());
  LogQueue q(pipe.write_fd(), 1 << 20);
  std::vector<std::string> lines;
  for (int i = 0; i < 200; ++i) {  // ~20 KB: the pipe takes 4 KiB, the rest waits in EAGAIN
    lines.push_back(numbered_line(0, i, 90));
    ASSERT_TRUE(q.push(lines.back()));
  }
  // While flush() waits out its limit, a writer spinning on EAGAIN would burn about that much
  // CPU; one in poll() burns next to none.
  const auto cpu_before = process_cpu_time();
  EXPECT_FALSE(q.flush(milliseconds(300)));
  EXPECT_LT(process_cpu_time() - cpu_before, milliseconds(50));

  EXPECT_EQ(read_lines(pipe.read_fd(), lines.size()), lines);
  EXPECT_TRUE(q.flush(kDeadline));
  EXPECT_EQ(q.dropped(), 0u);
}

TEST(LogQueue, WriteErrorLosesTheLinesAndTheWriterCarriesOn) {
  Pipe pipe;
  pipe.close_read();  // EPIPE (SIGPIPE is blocked on the writer: the test process survives)
  LogQueue q(pipe.write_fd(), 1 << 20);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(q.push("lost"));
  EXPECT_FALSE(q.flush(kDeadline));  // returns once they are done with, but they were lost
  EXPECT_EQ(q.dropped(), 3u);
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(q.push("lost again"));
  EXPECT_FALSE(q.flush(kDeadline));
  EXPECT_EQ(q.dropped(), 5u);
}

TEST(LogQueue, AfterABadFdLaterLinesAreWrittenAgain) {
  Pipe pipe;
  const int fd = ::dup(pipe.write_fd());
  ASSERT_GE(fd, 0);
  ::close(fd);  // EBADF for the queue, until the number is given the pipe again below
  {
    LogQueue q(fd, 1 << 20);
    ASSERT_TRUE(q.push("lost"));
    EXPECT_FALSE(q.flush(kDeadline));
    EXPECT_EQ(q.dropped(), 1u);

    ASSERT_EQ(::dup2(pipe.write_fd(), fd), fd);
    ASSERT_TRUE(q.push("written"));
    EXPECT_EQ(read_lines(pipe.read_fd(), 1), std::vector<std::string>{"written"});
    EXPECT_EQ(q.dropped(), 1u);
    EXPECT_FALSE(q.flush(kDeadline));  // "lost" was pushed before this call and never written
  }
  ::close(fd);
}

TEST(LogQueue, LineLongerThanTheBoundIsDropped) {
  Pipe pipe;
  LogQueue q(pipe.write_fd(), 8);
  EXPECT_FALSE(q.push("12345678"));  // 9 bytes with its '\n'
  EXPECT_TRUE(q.push("1234567"));
  EXPECT_EQ(read_lines(pipe.read_fd(), 1), std::vector<std::string>{"1234567"});
  EXPECT_EQ(q.dropped(), 1u);
}

TEST(LogQueue, DestructorGivesUpOnAWriterStuckInWrite) {
  Pipe pipe;
  ASSERT_GT(pipe.shrink(), 0);
  // Never closed: the writer left detached uses it until its write(2) returns, and nothing
  // tells the test when that is (the fd contract of ~LogQueue).
  const int writer_fd = ::dup(pipe.write_fd());
  ASSERT_GE(writer_fd, 0);
  auto q = std::make_unique<LogQueue>(writer_fd, 1 << 20);
  for (int i = 0; i < 100; ++i)
    ASSERT_TRUE(q->push(numbered_line(0, i, 90)));
  const auto start = Clock::now();
  q.reset();  // the writer is blocked in write(2) on a full pipe that nobody reads
  EXPECT_LT(Clock::now() - start, LogQueue::kDrainLimit + std::chrono::seconds(2));
  // The detached writer wakes with EPIPE, finds the queue stopped and exits without touching
  // freed memory (what a sanitizer build of this test checks).
  pipe.close_read();
}

TEST(LogQueue, DestructorDrainsWhatWasQueued) {
  Pipe pipe;
  std::vector<std::string> lines;
  {
    LogQueue q(pipe.write_fd(), 1 << 20);
    for (int i = 0; i < 50; ++i) {
      lines.push_back(numbered_line(0, i, 10));
      ASSERT_TRUE(q.push(lines.back()));
    }
  }
  EXPECT_EQ(read_lines(pipe.read_fd(), lines.size()), lines);
}

TEST(WriteLogLine, SinkGetsTheLineAndItsExceptionIsSwallowed) {
  std::vector<std::string> got;
  write_log_line([&](std::string_view line) { got.emplace_back(line); }, "to the sink");
  EXPECT_EQ(got, std::vector<std::string>{"to the sink"});
  EXPECT_NO_THROW(
      write_log_line([](std::string_view) { throw std::runtime_error("sink failed"); }, "x"));
}

TEST(WriteLogLine, WithoutASinkGoesToTheStderrQueue) {
  const std::uint64_t dropped = log_lines_dropped();
  write_log_line({}, "log_queue_test: a line for stderr");
  EXPECT_TRUE(flush_log(kDeadline));
  EXPECT_EQ(log_lines_dropped(), dropped);
}

}  // namespace
}  // namespace sluice::detail
