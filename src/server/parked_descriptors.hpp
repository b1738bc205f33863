#pragma once
// The bare descriptors of a worker's parked TCP connections (IdleSessions), watched by an epoll
// instance of their own, on whose descriptor Asio waits once for all of them. A parked
// connection then costs its descriptor and an entry in IdleSessions' list: no Asio socket (the
// reactor's per-descriptor state and a type-erased executor, about 0.25 KiB) and no wait
// operation of its own. A keep-alive connection leaves Asio's reactor when it is parked and
// joins it again when it wakes, two epoll_ctl calls each way: paid by connections idle for
// kParkAfter or more, never by a busy one. A new connection with no bytes at its accept comes
// here straight from accept4(), and joins Asio's reactor only when its bytes come.
// (Asio keeps the per-descriptor state of a socket it let go for its next socket: the saving
// is per connection parked at once, not per connection ever opened.)
#include <sys/epoll.h>

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstddef>
#include <span>
#include <utility>

namespace sluice::detail {

class ParkedDescriptors {
 public:
  // At most this many ready descriptors are taken per wake: the next wait finds the rest.
  static constexpr std::size_t kBatch = 64;

  explicit ParkedDescriptors(boost::asio::any_io_executor executor);
  // Closes the epoll instance; the watched descriptors are the caller's to close.
  ~ParkedDescriptors();
  ParkedDescriptors(const ParkedDescriptors&) = delete;
  ParkedDescriptors& operator=(const ParkedDescriptors&) = delete;

  // False when the kernel gave no epoll instance: connections are then parked as Asio sockets.
  bool usable() const { return descriptor_.is_open(); }
  // Watches `fd` for bytes, the peer's close or an error; `tag` comes back from take_ready().
  bool watch(int fd, void* tag);
  void forget(int fd);
  // Calls `handler(ec)` once some watched descriptor is ready, or with operation_aborted after
  // cancel(). One wait at a time.
  template <typename Handler>
  void async_wait(Handler&& handler) {
    descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                           std::forward<Handler>(handler));
  }
  void cancel();
  // The tags of ready descriptors, at most kBatch, without waiting; they stay watched.
  std::span<void* const> take_ready();

 private:
  boost::asio::posix::stream_descriptor descriptor_;
  std::array<void*, kBatch> ready_{};
};

}  // namespace sluice::detail
