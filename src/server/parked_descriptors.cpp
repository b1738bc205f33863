#include "server/parked_descriptors.hpp"

#include <unistd.h>

namespace sluice::detail {

ParkedDescriptors::ParkedDescriptors(boost::asio::any_io_executor executor)
    : descriptor_(std::move(executor)) {
  const int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return;
  boost::system::error_code ec;
  descriptor_.assign(epoll_fd, ec);
  if (ec) ::close(epoll_fd);
}

ParkedDescriptors::~ParkedDescriptors() {
  boost::system::error_code ignored;
  descriptor_.close(ignored);
}

bool ParkedDescriptors::watch(int fd, void* tag) {
  // Level-triggered: a descriptor not taken in one batch is reported again by the next wait.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.ptr = tag;
  return ::epoll_ctl(descriptor_.native_handle(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

void ParkedDescriptors::forget(int fd) {
  epoll_event unused{};  // (kernels before 2.6.9 wanted a non-null event for DEL)
  ::epoll_ctl(descriptor_.native_handle(), EPOLL_CTL_DEL, fd, &unused);
}

void ParkedDescriptors::cancel() {
  boost::system::error_code ignored;
  descriptor_.cancel(ignored);
}

std::span<void* const> ParkedDescriptors::take_ready() {
  std::array<epoll_event, kBatch> events;
  // A zero timeout: Asio already saw this descriptor readable, nothing here ever blocks.
  const int n =
      ::epoll_wait(descriptor_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
  std::size_t count = 0;
  for (int i = 0; i < n; ++i)
    ready_[count++] = events[static_cast<std::size_t>(i)].data.ptr;
  return {ready_.data(), count};
}

}  // namespace sluice::detail
