#pragma once
// How sluice speaks to an upstream: --upstream-protocol and upstreams.NAME.protocol.
//   auto: HTTP/1.1 (ALPN over TLS is to choose HTTP/2 once HTTP/2 over TLS upstream exists)
//   h1:   HTTP/1.1 only
//   h2:   HTTP/2: prior knowledge (h2c) to http:// servers, ALPN "h2" over TLS to https://
namespace sluice::app {

enum class UpstreamProtocol { automatic, h1, h2 };

}  // namespace sluice::app
