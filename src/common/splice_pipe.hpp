#pragma once
// A kernel pipe that carries body bytes from one socket to another with splice(2): the bytes
// move as page references, never through the proxy's memory (issue 4: large bodies). Empty
// pipes are kept per worker thread for reuse; a pipe that still holds bytes (a relay that ended
// early) is closed instead, so a reused pipe is always empty.
#include <cstddef>
#include <memory>

namespace sluice {

class SplicePipe {
 public:
  // An empty pipe, from this thread's cache or new; null when none can be made (fd limit): the
  // caller then copies instead.
  static std::unique_ptr<SplicePipe> take();
  // Back to this thread's cache when empty, else closed.
  static void give_back(std::unique_ptr<SplicePipe> pipe);

  ~SplicePipe();
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;

  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  // Bytes spliced in and not yet spliced out: the callers keep this exact.
  std::size_t held = 0;

 private:
  SplicePipe(int read_fd, int write_fd) : fds_{read_fd, write_fd} {}
  int fds_[2];
};

}  // namespace sluice
