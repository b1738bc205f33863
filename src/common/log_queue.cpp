#include "common/log_queue.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace sluice::detail {

namespace {

// How long the writer sits in poll() on a full non-blocking fd before it looks again whether
// the queue is being destroyed.
constexpr int kPollMillis = 100;
// How long the destructor waits for a stopped writer to exit before it gives up and detaches
// it: longer than kPollMillis, so only a writer stuck inside write(2) is left behind.
constexpr std::chrono::milliseconds kExitLimit{500};
// The writer thread's name (at most 15 characters).
constexpr char kThreadName[] = "sluice-log";
// A buffer that a burst grew past this is freed once written instead of being kept for reuse.
constexpr std::size_t kKeepCapacity = 64 * 1024;
// Batching: woken by the first line after a quiet spell, the writer waits this long for more
// (or for kBatchBytes of them) before it writes. A worker then pays a futex wake for one line
// in a batch, not for every line: measured, a wake and a switch to the writer per request cost
// a third more CPU per 13-byte request (docs/observability.md). A line reaches stderr at most
// this much later than without batching.
constexpr std::chrono::milliseconds kBatchDelay{5};
constexpr std::size_t kBatchBytes = 64 * 1024;

// Queued lines back to back in one buffer, so that the writer hands a whole batch to a single
// write(2); `ends` tells it how many lines a partial write completed, or an error lost.
struct Batch {
  std::string bytes;
  std::vector<std::size_t> ends;  // offset just past each line's '\n'

  void clear() {
    bytes.clear();
    ends.clear();
  }
};

// wait_until() with a limit that may be too large to add to now() (nanoseconds::max()).
template <class Predicate>
bool wait_for_limit(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                    std::chrono::nanoseconds limit, Predicate done) {
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  if (limit >= Clock::time_point::max() - now) {
    cv.wait(lock, done);
    return true;
  }
  return cv.wait_until(lock, now + std::chrono::duration_cast<Clock::duration>(limit), done);
}

}  // namespace

struct LogQueue::State {
  State(int f, std::size_t max) : fd(f), max_bytes(max) {}

  void run();
  void write_batch(const Batch& batch);
  bool wait_writable();
  bool account(std::size_t bytes, std::size_t lines, bool lost);

  const int fd;
  const std::size_t max_bytes;

  std::mutex mutex;
  std::condition_variable work;      // the writer waits for lines, or for stopping
  std::condition_variable progress;  // flush() and the destructor wait for the writer
  Batch pending;
  std::size_t unwritten = 0;     // bytes pushed, not yet written nor lost: at most max_bytes
  std::uint64_t pushed = 0;      // lines accepted, numbered 1..pushed in queue order
  std::uint64_t done = 0;        // lines 1..done were written or lost (the writer keeps order)
  std::uint64_t first_lost = 0;  // the number of the first line a write error lost, 0: none
  bool stopping = false;
  bool exited = false;
  bool writer_waiting = false;  // the writer waits on `work`: a push may need to wake it
  int flushing = 0;             // flush() calls waiting: the writer skips its batching delay
  std::atomic<std::uint64_t> dropped{0};
};

// The writer thread: takes everything queued at once and writes it, until the queue is stopped.
// What is still queued then is lost (the destructor already gave it kDrainLimit).
void LogQueue::State::run() {
  Batch batch;
  std::unique_lock lock(mutex);
  for (;;) {
    writer_waiting = true;
    work.wait(lock, [this] { return !pending.ends.empty() || stopping; });
    if (!stopping && flushing == 0 && pending.bytes.size() < kBatchBytes) {
      work.wait_for(lock, kBatchDelay, [this] {
        return stopping || flushing > 0 || pending.bytes.size() >= kBatchBytes;
      });
    }
    writer_waiting = false;
    if (stopping) break;
    std::swap(batch, pending);  // the writer's emptied buffers become the next queue's
    lock.unlock();
    write_batch(batch);
    if (batch.bytes.capacity() > kKeepCapacity) {
      batch = Batch{};
    } else {
      batch.clear();
    }
    lock.lock();
  }
  dropped.fetch_add(pending.ends.size(), std::memory_order_relaxed);
  done += pending.ends.size();
  unwritten -= pending.bytes.size();
  pending = Batch{};
  exited = true;
  progress.notify_all();
}

// Writes the batch whole, continuing after partial writes and EINTR, so that the fd sees each
// line's bytes in one piece and in order. Returns early, counting the rest as lost, on a hard
// error (EPIPE, EBADF, ...) or when the queue is stopped: a writer the destructor has left
// detached must not write to an fd whose owner may have closed (and reused) it.
void LogQueue::State::write_batch(const Batch& batch) {
  std::size_t offset = 0;
  std::size_t lines = 0;  // lines of the batch fully written
  while (offset < batch.bytes.size()) {
    const ::ssize_t n = ::write(fd, batch.bytes.data() + offset, batch.bytes.size() - offset);
    if (n > 0) {
      offset += static_cast<std::size_t>(n);
      const std::size_t before = lines;
      while (lines < batch.ends.size() && batch.ends[lines] <= offset) {
        ++lines;
      }
      if (!account(static_cast<std::size_t>(n), lines - before, false)) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const bool would_block = n == 0 || errno == EAGAIN || errno == EWOULDBLOCK;
    if (!would_block || !wait_writable()) break;
  }
  if (offset < batch.bytes.size()) {
    account(batch.bytes.size() - offset, batch.ends.size() - lines, true);
  }
}

// A non-blocking fd that is full: poll() for room instead of spinning on EAGAIN, waking now and
// then to see whether the queue is being stopped. False: give the batch up.
bool LogQueue::State::wait_writable() {
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (stopping) return false;
    }
    ::pollfd p{fd, POLLOUT, 0};
    const int r = ::poll(&p, 1, kPollMillis);
    if (r > 0) return true;  // room, or an error (POLLERR, POLLHUP) that write(2) will report
    if (r < 0 && errno != EINTR) return false;
  }
}

// Counts bytes and lines the writer is done with, and wakes flush(). False once stopping.
bool LogQueue::State::account(std::size_t bytes, std::size_t lines, bool lost) {
  std::lock_guard lock(mutex);
  unwritten -= bytes;
  done += lines;
  if (lost && lines > 0) {
    dropped.fetch_add(lines, std::memory_order_relaxed);
    if (first_lost == 0) first_lost = done - lines + 1;
  }
  progress.notify_all();
  return !stopping;
}

LogQueue::LogQueue(int fd, std::size_t max_bytes)
    : state_(std::make_shared<State>(fd, max_bytes)) {}

LogQueue::~LogQueue() {
  if (!writer_.joinable()) return;
  flush(kDrainLimit);
  State& s = *state_;
  bool exited = false;
  {
    std::unique_lock lock(s.mutex);
    s.stopping = true;
    s.work.notify_all();
    exited = s.progress.wait_for(lock, kExitLimit, [&s] { return s.exited; });
  }
  // A writer blocked in write(2) on a stalled pipe never returns to see `stopping`. It keeps the
  // state alive through its own shared_ptr, so leaving it detached is safe.
  if (exited) {
    writer_.join();
  } else {
    writer_.detach();
  }
}

bool LogQueue::push(std::string_view line) {
  State& s = *state_;
  const std::size_t size = line.size() + 1;
  bool wake = false;
  {
    std::lock_guard lock(s.mutex);
    if (size > s.max_bytes - s.unwritten || (!writer_.joinable() && !start_writer())) {
      s.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // Only the first line of a batch, or the one that fills it, wakes a waiting writer.
    const std::size_t before = s.pending.bytes.size();
    wake =
        s.writer_waiting && (before == 0 || (before < kBatchBytes && before + size >= kBatchBytes));
    s.pending.bytes.append(line);
    s.pending.bytes += '\n';
    s.pending.ends.push_back(s.pending.bytes.size());
    s.unwritten += size;
    ++s.pushed;
  }
  if (wake) s.work.notify_one();
  return true;
}

// Called under the state's mutex by the first push().
bool LogQueue::start_writer() {
  try {
    writer_ = std::thread([state = state_] {
      // A reader that went away fails write(2) with EPIPE instead of killing the process with
      // SIGPIPE; blocked on this thread only, the signal stays pending here (as on the server's
      // worker threads, server.cpp).
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
      state->run();
    });
  } catch (const std::system_error&) {  // no thread to be had (limits): drop, try again later
    return false;
  }
  // So that top -H and gdb tell it apart. Named from here rather than by the thread itself, so
  // that the name is there when push() returns.
  pthread_setname_np(writer_.native_handle(), kThreadName);
  return true;
}

std::uint64_t LogQueue::dropped() const { return state_->dropped.load(std::memory_order_relaxed); }

bool LogQueue::flush(std::chrono::nanoseconds limit) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  const std::uint64_t target = s.pushed;
  ++s.flushing;
  s.work.notify_one();  // a writer in its batching delay writes now
  const bool written = wait_for_limit(s.progress, lock, limit, [&] { return s.done >= target; });
  --s.flushing;
  if (!written) return false;
  return s.first_lost == 0 || s.first_lost > target;
}

LogQueue& LogQueue::for_stderr() {
  // Leaked on purpose (see the header): no destructor to race with late loggers.
  static LogQueue* const queue = new LogQueue(STDERR_FILENO, std::size_t{4} << 20);
  return *queue;
}

}  // namespace sluice::detail
