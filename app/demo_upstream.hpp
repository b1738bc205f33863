#pragma once
// `sluice demo`: a small streaming upstream run inside the sluice process, so that the proxy
// can be tried with nothing but curl. It is a second sluice::Server with a local handler:
//   /         an HTML page explaining the demo
//   /events   Server-Sent Events, one a second, until the client leaves or the server stops
//   /slow     a chunked text stream: 10 lines, one every 500 ms
//   /big      64 MiB of known length (Content-Length), written 16 KiB at a time
//   else      404
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "sluice/server.hpp"
#include "sluice/url.hpp"

namespace sluice::app {

class DemoUpstream {
 public:
  DemoUpstream();
  ~DemoUpstream();
  DemoUpstream(const DemoUpstream&) = delete;
  DemoUpstream& operator=(const DemoUpstream&) = delete;

  // Listens on 127.0.0.1:<free port>. Throws std::system_error like Server::start().
  void start();
  // http://127.0.0.1:<port>, for single_host(). Valid after start().
  Url url() const;
  // Asks the endless /events streams to end cleanly at their next tick (within a second), so
  // that a graceful stop of the proxy in front does not have to wait out its whole grace.
  void begin_stop();
  // Server::stop(grace) of the demo server.
  void stop(std::chrono::nanoseconds grace);

  struct State;  // shared with the handler's coroutines

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

// The curl commands to try, for a proxy listening at `proxy_url` ("http://127.0.0.1:8080").
std::string demo_usage(const std::string& proxy_url);

}  // namespace sluice::app
