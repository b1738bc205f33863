#pragma once
// A bounded queue of text lines that one writer thread of its own drains to a file descriptor:
// what lets a worker thread log without ever waiting on stderr (include/sluice/log.hpp). The
// caller only copies the line in under a mutex; every write(2), and so every stall of a slow or
// stopped reader, happens on the writer thread. When the reader falls behind by more than
// max_bytes, lines are dropped and counted rather than queued without bound.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>

namespace sluice::detail {

class LogQueue {
 public:
  // Nothing starts until the first push(): a process that never logs has no extra thread. `fd`
  // stays the caller's; it must stay open while the queue lives (see also ~LogQueue).
  LogQueue(int fd, std::size_t max_bytes);
  // Waits up to kDrainLimit for what was queued to be written, then stops the writer. A writer
  // stuck inside write(2) on a stalled blocking pipe cannot be joined: it is left detached,
  // drops what it still holds when the call returns, and exits without writing again. Until
  // that call returns it still uses `fd`, so the caller should not close it then; no caller of
  // for_stderr() has to care, since that queue is never destroyed.
  ~LogQueue();
  LogQueue(const LogQueue&) = delete;
  LogQueue& operator=(const LogQueue&) = delete;

  // Queues `line` plus '\n'. False, and one more dropped(), when the bytes not yet written
  // would then exceed max_bytes (or the writer thread cannot be started). Never waits on the fd.
  bool push(std::string_view line);

  // Lines lost: refused by push() because the queue was full, or queued and then lost to a
  // write error (EPIPE, EBADF, ...) or to the destructor.
  std::uint64_t dropped() const;

  // Waits until every line pushed before the call was written, for at most `limit`. False when
  // the limit passed first, or when a write error lost any of those lines (however long ago):
  // then not every one was written. Lines push() refused were never queued and do not count.
  bool flush(std::chrono::nanoseconds limit);

  // The process-wide queue on STDERR_FILENO (4 MiB). Never destroyed, on purpose: lines logged
  // during static destruction, or by threads still running at exit, must find it alive.
  static LogQueue& for_stderr();

  static constexpr std::chrono::seconds kDrainLimit{1};

 private:
  struct State;  // shared with the writer thread, which may outlive the queue (see ~LogQueue)

  bool start_writer();

  std::shared_ptr<State> state_;
  std::thread writer_;  // started by the first push(), under the state's mutex
};

}  // namespace sluice::detail
