#pragma once
// What every served or refused request leaves behind, whichever protocol carried it: its
// access-log line and its counts (sluice_requests_total & co.), and sluice_active_requests
// while its handler runs.
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string_view>

#include "common/metric_shards.hpp"
#include "server/session.hpp"
#include "sluice/exchange.hpp"

namespace sluice::detail {

// "HTTP/1.0", "HTTP/1.1" or "HTTP/2.0", for Request::version 10, 11, 20.
std::string_view protocol_of(unsigned version);

// A request the server answered itself before any handler (400, 408, 413, 414, 431, 501, 505):
// counted under no route, and logged with why. `method` and `target` are empty when the head
// was not parsed.
struct RefusedRequest {
  boost::asio::ip::tcp::endpoint remote;
  unsigned status = 400;
  std::string_view reason;
  std::chrono::steady_clock::time_point started;
  std::string_view method;
  std::string_view target;
  std::string_view protocol;
};
void record_refused(const SessionEnv& env, const RefusedRequest& r);

// A request a handler served: its line and its counts.
void record_served(const SessionEnv& env, const Exchange& ex,
                   std::chrono::steady_clock::time_point start);

// Counts a request in sluice_active_requests while its handler runs, however the frame ends.
class ActiveRequest {
 public:
  explicit ActiveRequest(Metrics* metrics) : metrics_(metrics) {
    if (metrics_) metrics_->shards().add_active_requests(+1);
  }
  ~ActiveRequest() {
    if (metrics_) metrics_->shards().add_active_requests(-1);
  }
  ActiveRequest(const ActiveRequest&) = delete;
  ActiveRequest& operator=(const ActiveRequest&) = delete;

 private:
  Metrics* metrics_;
};

}  // namespace sluice::detail
