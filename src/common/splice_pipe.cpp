#include "common/splice_pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

namespace sluice {

namespace {

// Room for a 1 MiB body in one pass (the default, 64 KiB, is 16 page slots). Above
// /proc/sys/fs/pipe-max-size the kernel refuses and the pipe keeps its default size.
constexpr int kPipeBytes = 1 << 20;
// What a worker keeps between responses: a pipe costs two fds and no memory while empty.
constexpr std::size_t kCachedPerThread = 8;

std::vector<std::unique_ptr<SplicePipe>>& cache() {
  thread_local std::vector<std::unique_ptr<SplicePipe>> pipes;
  return pipes;
}

}  // namespace

std::unique_ptr<SplicePipe> SplicePipe::take() {
  auto& pipes = cache();
  if (!pipes.empty()) {
    auto pipe = std::move(pipes.back());
    pipes.pop_back();
    return pipe;
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return nullptr;
  (void)::fcntl(fds[1], F_SETPIPE_SZ, kPipeBytes);
  return std::unique_ptr<SplicePipe>(new SplicePipe(fds[0], fds[1]));
}

void SplicePipe::give_back(std::unique_ptr<SplicePipe> pipe) {
  if (!pipe || pipe->held != 0) return;  // unique_ptr closes it
  auto& pipes = cache();
  if (pipes.size() < kCachedPerThread) pipes.push_back(std::move(pipe));
}

SplicePipe::~SplicePipe() {
  ::close(fds_[0]);
  ::close(fds_[1]);
}

}  // namespace sluice
