#pragma once
// Server: accepts HTTP/1 clients and hands every request to a handler. N worker threads, each
// with its own io_context and its own acceptor on the same port (SO_REUSEPORT): nothing is shared
// between workers on the data path. Keep-alive and pipelining are served in order; HTTP/1.0
// clients are served and their connection closed after each response. The worker threads block
// SIGPIPE (large bodies are relayed with splice(2), which cannot suppress it per call); handlers
// run on them with it blocked.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "sluice/exchange.hpp"
#include "sluice/log.hpp"
#include "sluice/metrics.hpp"
#include "sluice/tls.hpp"

namespace sluice {

using namespace std::chrono_literals;

// Called once per request, on the worker thread that owns the connection. It must produce a
// response on `ex` (respond, or begin/.../end, or abort); if it returns without one the session
// answers 500, and if it throws after a response began the connection is cut.
using Handler = std::function<boost::asio::awaitable<void>(Exchange& ex)>;

// The access log's format: one line per request, refused ones included.
enum class AccessLog {
  off,
  text,  // 127.0.0.1 "GET /x HTTP/1.1" 200 13 upstream=0.4ms total=0.6ms
  json,  // one JSON object per line (docs/observability.md lists the fields)
};

struct ServerOptions {
  boost::asio::ip::tcp::endpoint listen{boost::asio::ip::make_address("127.0.0.1"), 8080};
  unsigned threads = 1;
  // SPEC L7. A request head must arrive whole within header_timeout (else 408 and close).
  std::chrono::nanoseconds header_timeout = 10s;
  // A keep-alive connection may wait this long for the first byte of its next request.
  std::chrono::nanoseconds idle_timeout = 60s;
  // Each write to the client (at most one output buffer) must finish within this time; a client
  // that stops reading is closed after it. Request body reads use the same bound.
  std::chrono::nanoseconds write_timeout = 60s;
  // Limits on what a client may send (SPEC J, R32, R33); each answer closes the connection.
  // Request head (request line + fields): larger heads get 431.
  std::uint32_t max_request_header_bytes = 64 * 1024;
  // Request-target: longer gets 414 (checked within the head limit).
  std::uint32_t max_uri_bytes = 16 * 1024;
  // Field lines in the request head: more get 431 (HAProxy 101, Envoy 100).
  std::uint32_t max_header_count = 100;
  // Request body: 0 = no limit (bodies stream through and are never held). A larger
  // Content-Length gets 413 before anything is sent upstream; a chunked body that grows past
  // it is cut with 413.
  std::uint64_t max_body_bytes = 0;
  // Client connections open at once (parked ones included: idle keep-alive connections, and
  // new ones that have not sent a byte yet); 0 = no limit. A full
  // listener stops accepting: new clients wait in the kernel's accept backlog until one
  // closes. Checked before each accept, so with several threads a burst may pass it by up to
  // threads - 1.
  std::uint32_t max_connections = 0;
  // HTTP/2 (RFC 9113): a TLS listener offers it by ALPN (ServerTlsOptions::alpn), a cleartext
  // one serves it to clients that start with its preface (prior knowledge; `Upgrade: h2c` is
  // never honoured). Each stream is an Exchange of its own.
  // Streams a client may have in flight; a stream it reset counts until its handler ended.
  std::uint32_t h2_max_concurrent_streams = 100;
  // Request body bytes a stream may send ahead of the upstream taking them
  // (SETTINGS_INITIAL_WINDOW_SIZE); at most 2^31-1.
  std::uint32_t h2_stream_window = 64 * 1024;
  // The same for all streams of a connection together; 0: streams x stream window, the smallest
  // allowed: a window no larger never stops a stream that still has window of its own, and a
  // larger one measured no faster (10 parallel 32 MiB uploads at 1 GB/s with 6.25, 16 or 64 MiB;
  // docs/benchmarks.md) while it lets a connection buffer more.
  std::uint32_t h2_connection_window = 0;
  // TLS listener (HTTPS): the certificates, chosen by SNI. Null: cleartext. The handshake must
  // finish within header_timeout; plain HTTP sent to a TLS listener gets a 400 in clear text.
  std::shared_ptr<ServerTls> tls;
  AccessLog access_log = AccessLog::text;
  // Where access and error lines go; default: stderr, through the log queue (sluice/log.hpp:
  // never blocks a worker; lines are dropped and counted when stderr cannot keep up).
  std::function<void(std::string_view line)> log;
  // Requests by route and status, durations, body bytes, active requests (sluice/metrics.hpp;
  // share it with the ReverseProxy). Null: none. Worker i records into shard i.
  std::shared_ptr<Metrics> metrics;
};

class Server {
 public:
  Server(ServerOptions options, Handler handler);
  ~Server();  // stop(0s) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds (throws std::system_error naming the address on failure) and starts the workers.
  void start();
  // The bound endpoint (the real port when options.listen had port 0). Valid after start().
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Graceful stop: stop accepting, close idle connections, let in-flight responses finish for
  // up to `grace`, then cut what is left and join the workers. Idempotent; any thread but a worker.
  void stop(std::chrono::nanoseconds grace = 5s);
  // Live client sessions (SPEC L2).
  std::int64_t live_sessions() const;
  // Connections parked right now: keep-alive ones idle past a short delay, and new ones that
  // have not sent a byte yet; they wait for their next (or first) request with no session
  // running (counted in live_sessions() too). Any thread, between start() and stop() (also
  // while a stop() waits out its grace); 0 after stop().
  std::int64_t parked_sessions() const;
  // Connections accepted so far (TLS ones before their handshake), summed over workers.
  std::uint64_t accepted_connections() const;
  // Waits until no client session is live, for at most `limit`; true if that happened.
  bool wait_for_no_sessions(std::chrono::nanoseconds limit) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
