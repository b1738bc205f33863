// make_auto_transport() (include/sluice/transport.hpp): HTTP/1.1 to http:// servers, and to
// https:// servers whatever ALPN chooses: "h2" gets the HTTP/2 transport's shared connections,
// "http/1.1" (or no ALPN) the HTTP/1 round trip, on the connection the choice was made on.
// What a server chose is remembered per worker for the pool idle timeout (Http2PoolService), so
// only a connect after that asks again.
#include <boost/asio/execution/context.hpp>
#include <boost/asio/query.hpp>
#include <boost/beast/http/field.hpp>

#include "sluice/transport.hpp"
#include "transport/connection_pool.hpp"
#include "transport/http2_transport.hpp"
#include "transport/round_trip.hpp"

namespace sluice {

namespace asio = boost::asio;

namespace {

// A protocol upgrade (WebSocket) or CONNECT needs HTTP/1.1: RFC 8441's extended CONNECT over
// HTTP/2 is not built.
bool needs_http1(const Request& out) {
  return out.method == "CONNECT" ||
         out.header.find(boost::beast::http::field::upgrade) != out.header.end();
}

class AutoTransport final : public Transport {
 public:
  explicit AutoTransport(TransportOptions options)
      : h2_(detail::make_http2_transport_offering_http1(std::move(options))),
        shared_(std::make_shared<PoolShared>(h2_->options())) {}
  ~AutoTransport() override { shared_->retire(); }

  asio::awaitable<UpstreamResponse> round_trip(RoundTripRequest rq) override {
    if (rq.out.url.scheme != "https" || needs_http1(rq.out)) {
      ConnectionPool& pool = http1_pool(rq.context);
      return round_trip_http1(std::move(rq), pool);
    }
    return h2_or_http1(std::move(rq));
  }

  const TransportOptions& options() const override { return shared_->options; }

  TransportCounts counts() const override {
    const TransportCounts h2 = h2_->counts();
    return TransportCounts{shared_->busy.load() + h2.busy, shared_->idle.load() + h2.idle};
  }

 private:
  // This worker's HTTP/1 pool of the transport: looked up only for a request that goes HTTP/1.
  ConnectionPool& http1_pool(RequestContext& ctx) {
    auto executor = ctx.executor();
    auto& io = asio::query(executor, asio::execution::context);
    return asio::use_service<PoolService>(io).pool_for(shared_, executor);
  }

  asio::awaitable<UpstreamResponse> h2_or_http1(RoundTripRequest rq) {
    // The connection the server chose http/1.1 on carries this request, as a new connection.
    std::unique_ptr<UpstreamConnection> fresh;
    std::chrono::nanoseconds connect_time{};
    const detail::Http2OrHttp1::AdoptHttp1 adopt = [&fresh, &connect_time](auto conn, auto took) {
      fresh = std::move(conn);
      connect_time = took;
    };
    std::optional<UpstreamResponse> h2 = co_await h2_->round_trip_unless_http1(rq, adopt);
    if (h2) co_return std::move(*h2);
    // Pooled later under the key the HTTP/1 round trip looks for (its SNI name included).
    if (fresh) fresh->key = pool_key(rq.out, shared_->options.tls.get());
    ConnectionPool& pool = http1_pool(rq.context);
    auto http1 = round_trip_http1(std::move(rq), pool, std::move(fresh), connect_time);
    co_return co_await std::move(http1);
  }

  const std::shared_ptr<detail::Http2OrHttp1> h2_;
  const std::shared_ptr<PoolShared> shared_;
};

}  // namespace

std::shared_ptr<Transport> make_auto_transport(TransportOptions options) {
  return std::make_shared<AutoTransport>(std::move(options));
}

}  // namespace sluice
