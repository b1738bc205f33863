#pragma once
// The sluice binary's command line, parsed into the library's own option structs. Kept apart
// from main() so that parsing (and every error message) can be tested without starting a server.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <iostream>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include "sluice/reverse_proxy.hpp"
#include "sluice/server.hpp"
#include "sluice/tls.hpp"
#include "sluice/url.hpp"
#include "stream_features.hpp"
#include "upstream_protocol.hpp"

namespace sluice::app {

// Exit status for a bad command line (flag or value), as most Unix tools use it.
inline constexpr int kUsageError = 2;

struct Config {
  // `sluice check FILE`: check that file and exit; nothing else is set.
  std::optional<std::string> check_file;
  // `sluice --config FILE`: run from that file; nothing else is set.
  std::optional<std::string> config_file;
  bool demo = false;            // `sluice demo`: the upstream is built in
  std::optional<Url> upstream;  // set unless demo
  ServerOptions server;         // listen, threads, header/idle timeouts, access log, TLS
  std::chrono::nanoseconds flush_interval{0};
  StreamFeatures streaming;    // --sse-heartbeat, --sse-resume(-attempts), --compress
  TransportOptions transport;  // connect, response-header and upstream idle timeouts, CA
  UpstreamProtocol upstream_protocol = UpstreamProtocol::automatic;  // --upstream-protocol
  // --admin-listen: /metrics, /healthz, /ready on a listener of their own. Unset: no admin
  // listener and no metrics recorded.
  std::optional<boost::asio::ip::tcp::endpoint> admin_listen;
};

// Parses argv. Returns the Config to run, or the status to exit with right away: 0 after
// --help/--version (written to `out`), kUsageError after a message on `err`.
std::variant<Config, int> parse_config(int argc, const char* const* argv,
                                       std::ostream& out = std::cout,
                                       std::ostream& err = std::cerr);

// "host:port" or "[v6]:port" (IP literals only: a listener binds one address, it does not
// resolve names). Port 0 asks the kernel for a free port.
std::optional<boost::asio::ip::tcp::endpoint> parse_listen(std::string_view text);

// "127.0.0.1:8080", "[::1]:8443": an address as --listen and the config file write it.
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& ep);

// "http://127.0.0.1:8080", "https://[::1]:8443": how the startup line names a listener.
std::string listen_url(const boost::asio::ip::tcp::endpoint& ep, bool tls = false);

// "http://127.0.0.1:9000/base": scheme, authority and path of an upstream (the query, merged
// into every request, is left out of the startup line).
std::string upstream_display(const Url& url);

}  // namespace sluice::app
