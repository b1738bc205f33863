#pragma once
// MemoryStream: an in-memory ByteStream, the test double of TcpStream (as Beast's test::stream
// is of a socket). pair() gives two connected ends; what one writes, the other reads. It keeps
// TcpStream's contract (src/net/byte_stream.hpp), so the HTTP/1 codecs run over it unchanged,
// without a socket, a thread or a sleep:
//
//   - read_some / peek: the bytes that are there, else would_block; eof once the peer shut its
//     write side or closed (after what it wrote); connection_reset after the peer's reset(),
//     which, as a TCP RST, discards what was still unread.
//   - write_some: up to the room left in the peer's inbox (set_send_capacity; large by
//     default), else would_block; broken_pipe once the peer closed.
//   - async_read_some / async_write_some / async_wait / async_wait_peer complete when their
//     condition holds, possibly at once, but always through the handler's executor, never
//     inside the initiating call. Each honours per-operation cancellation (the handler's
//     cancellation slot): cancelled, it completes with operation_aborted having done nothing,
//     which is what the races of net/race.hpp rely on. cancel() aborts every pending operation
//     of this end; shutdown_both() wakes them; close() aborts them (as Asio's socket does).
//
// Differences from TCP, on purpose: close() is always a FIN (the kernel turns a close with
// unread bytes into an RST; a test that wants one calls reset()), and a pending operation is
// not io_context work (a co_spawned coroutine waiting on one is). As a socket's, a pending
// operation is destroyed, unrun, with the io_context; destroy both ends before it.
//
// Single-threaded: both ends and every handler run on one io_context.
#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "net/byte_stream.hpp"

namespace sluice::test {

class MemoryStream final : public sluice::ByteStream {
 public:
  static std::pair<std::unique_ptr<MemoryStream>, std::unique_ptr<MemoryStream>> pair(
      boost::asio::any_io_executor executor);
  ~MemoryStream() override;  // close()

  // ByteStream
  boost::asio::any_io_executor get_executor() override;
  std::size_t read_some(boost::asio::mutable_buffer into, boost::system::error_code& ec) override;
  std::size_t write_some(std::span<const boost::asio::const_buffer> data,
                         boost::system::error_code& ec) override;
  std::size_t peek(boost::asio::mutable_buffer into, boost::system::error_code& ec) override;
  void shutdown_write() override;
  void shutdown_both() override;
  void cancel() override;
  void close() override;
  bool is_open() const override;

  // ---- Test-only.
  // An RST: this end closes, the peer's reads and writes fail with connection_reset.
  void reset();
  // How many bytes this end may have written that the peer has not read yet.
  void set_send_capacity(std::size_t bytes);
  // Bytes waiting to be read by this end.
  std::size_t available() const;
  // Takes every byte waiting (none is "", whatever the state of the stream).
  std::string read_available();
  // Writes all of `bytes` at once; false if the stream refused any of them (no room, closed).
  bool send(std::string_view bytes);
  // Operations of this end still waiting: 0 after a race, or its loser was not cancelled.
  std::size_t pending_operations() const;

  struct Shared;  // both ends' state (memory_stream.cpp)

 protected:
  void start_read_some(boost::asio::mutable_buffer into, ReadHandler handler) override;
  void start_write_some(std::span<const boost::asio::const_buffer> data,
                        ReadHandler handler) override;
  void start_wait(Ready what, WaitHandler handler) override;
  void start_wait_peer(WaitHandler handler) override;

 private:
  MemoryStream(std::shared_ptr<Shared> shared, int side);
  std::shared_ptr<Shared> shared_;
  int side_;  // 0 or 1: this end's index in shared_
};

}  // namespace sluice::test
