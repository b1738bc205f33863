#pragma once
// One upstream connection and the primitive waits the proxy builds on. The socket is in
// non-blocking mode: reads are tried at once, and only when nothing is ready does one wait race
// the upstream read, the client and a deadline. That wait is a plain socket read, never a Beast
// read: cancelled, it has read nothing (a cancelled Beast read would leave the connection
// unusable).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace sluice {

class Exchange;

struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::ip::tcp::socket&& s, std::string pool_key);

  boost::asio::ip::tcp::socket socket;
  boost::beast::flat_buffer buffer;  // bytes read from the upstream, not parsed yet
  std::string key;                   // "host:port" it is pooled under
  std::chrono::steady_clock::time_point idle_since{};
  std::uint64_t requests = 0;        // requests sent on it so far (> 0 once reused)
};

// What woke a wait.
enum class Wake { upstream, client, timer, stop };

struct WaitResult {
  Wake wake;
  boost::system::error_code read_error;  // of the upstream read, when it completed
  std::size_t read = 0;                  // bytes the upstream read put into `into`
};

// Reads upstream bytes into `into`, racing the client leaving (only when `watch_client`),
// `timer` and the server's stop signal. Every racing operation has finished (completed or
// cancelled) when this returns: no handler outlives the call, and `into` is no longer written.
// `read` counts the bytes that arrived whichever operation won (a read and a timer can complete
// in the same turn).
//
// A read rather than a readiness wait: Asio re-arms epoll (epoll_ctl) for every readiness wait,
// while a read that finds nothing is parked without a syscall, and the client watch is a
// one-byte MSG_PEEK read for the same reason.
boost::asio::awaitable<WaitResult> wait_and_read(UpstreamConnection& up, Exchange& ex,
                                                 bool watch_client, boost::asio::steady_timer& timer,
                                                 boost::asio::mutable_buffer into);

// Waits until the upstream socket is readable, racing the same three as wait_and_read, without
// reading: for the splice path, where the kernel moves the bytes (one epoll re-arm per wait).
boost::asio::awaitable<Wake> wait_readable(UpstreamConnection& up, Exchange& ex, bool watch_client,
                                           boost::asio::steady_timer& timer);

// Reads what is available without blocking into up.buffer (at most `max` bytes).
// {would_block, 0} when nothing was ready; {eof, 0} at the end of the stream.
std::pair<boost::system::error_code, std::size_t> read_available(UpstreamConnection& up, std::size_t max);

// Connects to host:port within `timeout` (racing the server's stop signal).
boost::asio::awaitable<std::pair<std::error_code, std::unique_ptr<UpstreamConnection>>>
connect_upstream(Exchange& ex, std::string host, std::string port,
                 std::chrono::nanoseconds timeout);

// Writes every buffer within `timeout`, racing the stop signal. With `stop_if_answered` (request
// bodies) it also stops when the upstream starts answering (or closes) before the body is all
// sent, returning errc::upstream_answered_early: Go's transport relays such an early response
// (a 413, a 401) instead of pushing the rest of the body at an upstream that stopped reading.
boost::asio::awaitable<std::error_code> write_upstream(
    UpstreamConnection& up, Exchange& ex, const std::vector<boost::asio::const_buffer>& buffers,
    std::chrono::nanoseconds timeout, bool stop_if_answered = false);

}  // namespace sluice
