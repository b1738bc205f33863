// The default Transport: HTTP/1.1 over TCP, one keep-alive pool per worker (connection_pool.hpp
// says who owns what).
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>

#include "sluice/transport.hpp"
#include "transport/connection_pool.hpp"
#include "transport/round_trip.hpp"

namespace sluice {

namespace asio = boost::asio;

namespace {

// The system CA bundle is read here, when the transport is made, never on a request's path.
TransportOptions with_tls(TransportOptions options) {
  if (!options.tls) {
    static const std::shared_ptr<UpstreamTls> system_default = UpstreamTls::load();
    options.tls = system_default;
  }
  return options;
}

class Http1Transport final : public Transport {
 public:
  explicit Http1Transport(TransportOptions options)
      : shared_(std::make_shared<PoolShared>(with_tls(std::move(options)))) {}
  ~Http1Transport() override { shared_->retire(); }

  asio::awaitable<UpstreamResponse> round_trip(RoundTripRequest request) override {
    auto executor = request.context.executor();
    auto& ctx = asio::query(executor, asio::execution::context);
    ConnectionPool& pool = asio::use_service<PoolService>(ctx).pool_for(shared_, executor);
    return round_trip_http1(std::move(request), pool);
  }

  const TransportOptions& options() const override { return shared_->options; }

  TransportCounts counts() const override {
    return TransportCounts{shared_->busy.load(), shared_->idle.load()};
  }

 private:
  std::shared_ptr<PoolShared> shared_;
};

}  // namespace

std::shared_ptr<Transport> make_http1_transport(TransportOptions options) {
  return std::make_shared<Http1Transport>(options);
}

}  // namespace sluice
