#pragma once
// One upstream connection and the waits the HTTP/1 transport builds on. Reads are tried at
// once, and only when nothing is ready does a wait race the upstream read, the client leaving
// and a deadline (net/race.hpp). That wait is a plain stream read, never a Beast read:
// cancelled, it has read nothing (a cancelled Beast read would leave the connection unusable).
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "net/byte_stream.hpp"
#include "sluice/request_context.hpp"
#include "sluice/tls.hpp"

namespace sluice {

struct UpstreamConnection {
  UpstreamConnection(std::unique_ptr<ByteStream> s, std::string pool_key);

  std::unique_ptr<ByteStream> stream;
  boost::beast::flat_buffer buffer;  // bytes read from the upstream, not parsed yet
  std::string key;                   // what it is pooled under (round_trip.hpp, pool_key)
  std::chrono::steady_clock::time_point idle_since{};
  std::uint64_t requests = 0;  // requests sent on it so far (> 0 once reused)
};

// What woke a wait.
enum class Wake { upstream, client, timer, stop };

struct WaitResult {
  Wake wake;
  boost::system::error_code read_error;  // of the upstream read, when it completed
  std::size_t read = 0;                  // bytes the upstream read put into `into`
};

// Reads upstream bytes into `into`, racing the client leaving (only when `watch_client`),
// `timer` and the server's stop signal. Every racing operation has finished when this returns.
// `read` counts the bytes that arrived whichever operation won.
boost::asio::awaitable<WaitResult> wait_and_read(UpstreamConnection& up, RequestContext& ctx,
                                                 bool watch_client,
                                                 boost::asio::steady_timer& timer,
                                                 boost::asio::mutable_buffer into);

// Connects to host:port within `timeout`, racing the stop signal and the client leaving. With
// `tls` (an https upstream) the TLS handshake follows within the same timeout; a failed one is
// its own error (a certificate_verify_error() naming the reason, or OpenSSL's), which the proxy
// answers with 502. `key`: what the connection is pooled (and its TLS session cached) under.
struct ConnectResult {
  std::error_code ec;
  std::unique_ptr<UpstreamConnection> conn;  // set when !ec
  // On failure, for the error log: the address and the OS, resolver or TLS reason, e.g.
  // "connect 127.0.0.1:9: Connection refused".
  std::string detail;
};
// `alpn`: the protocols offered over TLS, in ALPN's wire format ("\x02h2"); empty: the TLS
// context's own (http/1.1).
boost::asio::awaitable<ConnectResult> connect_upstream(RequestContext& ctx, std::string host,
                                                       std::string port,
                                                       std::chrono::nanoseconds timeout,
                                                       UpstreamTls* tls, std::string key,
                                                       std::string_view alpn = {});

// Writes every buffer within `timeout`, racing the stop signal. With `stop_if_answered` (request
// bodies) it also stops when the upstream starts answering (or closes) before the body is all
// sent, returning kAnsweredEarly: Go's transport relays such an early response (a 413, a 401)
// instead of pushing the rest of the body at an upstream that stopped reading.
boost::asio::awaitable<std::error_code> write_upstream(
    UpstreamConnection& up, RequestContext& ctx,
    const std::vector<boost::asio::const_buffer>& buffers, std::chrono::nanoseconds timeout,
    bool stop_if_answered = false);

// write_upstream's "the upstream answered before the body was all sent" (never leaves the
// transport: the round trip then relays the answer).
std::error_code answered_early();

}  // namespace sluice
