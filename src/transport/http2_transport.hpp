#pragma once
// What the auto transport (auto_transport.cpp) needs of the HTTP/2 one
// (http2_transport.cpp): over TLS it offers "h2" and "http/1.1" by ALPN, and a server that
// chooses http/1.1 is handed over to HTTP/1.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "sluice/transport.hpp"
#include "transport/upstream_connection.hpp"

namespace sluice::detail {

class Http2OrHttp1 : public Transport {
 public:
  // Takes the connection of a server that chose http/1.1, fresh and ready for the request, and
  // how long connecting took.
  using AdoptHttp1 =
      std::function<void(std::unique_ptr<UpstreamConnection>, std::chrono::nanoseconds)>;

  // The round trip over HTTP/2, or nullopt with `rq` untouched when the server chose http/1.1
  // by ALPN, on this connect (whose connection went to `adopt`) or on an earlier one on this
  // worker (believed for options().pool_idle_timeout).
  virtual boost::asio::awaitable<std::optional<UpstreamResponse>> round_trip_unless_http1(
      RoundTripRequest& rq, const AdoptHttp1& adopt) = 0;
};

// An HTTP/2 transport whose TLS connects offer http/1.1 too (round_trip() still fails a server
// that does not choose h2: use round_trip_unless_http1()).
std::shared_ptr<Http2OrHttp1> make_http2_transport_offering_http1(TransportOptions options);

}  // namespace sluice::detail
