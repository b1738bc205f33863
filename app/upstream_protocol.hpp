#pragma once
// How sluice speaks to an upstream: --upstream-protocol and upstreams.NAME.protocol.
//   auto: HTTP/1.1 to http:// servers; to https://, h2 or http/1.1 as the server chooses by ALPN
//   h1:   HTTP/1.1 only
//   h2:   HTTP/2: prior knowledge (h2c) to http:// servers, ALPN "h2" over TLS to https://
#include <memory>

#include "sluice/transport.hpp"

namespace sluice::app {

enum class UpstreamProtocol { automatic, h1, h2 };

inline std::shared_ptr<Transport> make_transport(UpstreamProtocol p, TransportOptions options) {
  switch (p) {
    case UpstreamProtocol::h1: return make_http1_transport(std::move(options));
    case UpstreamProtocol::h2: return make_http2_transport(std::move(options));
    case UpstreamProtocol::automatic: break;
  }
  return make_auto_transport(std::move(options));
}

}  // namespace sluice::app
