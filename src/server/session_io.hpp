#pragma once
// What one client connection's session owns and lends to each Exchange: the stream, the read
// buffer (which may hold the next pipelined request), the per-request parser, and the flags the
// server's stop sequence sets. Lives in the session coroutine's frame.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <optional>

#include <memory>

#include "net/byte_stream.hpp"
#include "sluice/server.hpp"
#include "sluice/stop_signal.hpp"

namespace sluice::detail {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

struct SessionIo {
  SessionIo(std::unique_ptr<ByteStream> client, const ServerOptions& opts)
      : stream_owner(std::move(client)),
        stream(*stream_owner),
        buffer(opts.max_request_header_bytes + 16 * 1024),
        stop_signal(stream.get_executor()),
        options(opts) {}

  // The client connection (TCP today; any ByteStream, such as a test's in-memory one). Timeouts
  // are raced per operation (net/bounded_io.hpp), so nothing else is allocated per connection
  // for them. Parking takes the owner away (the session ends then).
  std::unique_ptr<ByteStream> stream_owner;
  ByteStream& stream;
  boost::beast::flat_buffer buffer;
  // Exists while a request is read and served; a waiting keep-alive connection drops it (and a
  // parked one has no SessionIo at all).
  std::optional<RequestParser> parser;
  // Fired by the forced stop: every wait racing it, pending or started later, wakes up.
  StopSignal stop_signal;
  const ServerOptions& options;
  bool tls = false;       // the stream is a TlsStream (Request::tls)
  bool idle = true;       // waiting for the first byte of a request: safe to close when draining
  bool draining = false;  // graceful stop: finish this response, then close
  bool stopping = false;  // forced stop: cut everything now
  // Kept by the worker's IdleSessions while the session waits for its next request.
  std::list<SessionIo*>::iterator idle_pos;
  std::chrono::steady_clock::time_point idle_since;
  bool in_idle_list = false;
  bool idle_expired = false;    // idle_timeout passed: the wait was cancelled, close
  bool park_requested = false;  // kParkAfter passed: the wait was cancelled, park
  // Cleartext, and no request read yet: the first bytes may be HTTP/2's client preface.
  bool h2_possible = true;
  // A new connection's deadline for its TLS handshake and first request head (SessionStart);
  // taken by the first that uses it.
  std::optional<std::chrono::steady_clock::time_point> first_deadline;
  // Set while the connection speaks HTTP/2: the server's drain calls it (GOAWAY, then finish
  // the open streams), since such a connection is never idle in HTTP/1's sense.
  std::function<void()> on_drain;
};

}  // namespace sluice::detail
