#include "fleet/health_checker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>

#include "sluice/request_context.hpp"
#include "sluice/transport.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// A check has no client: nothing to watch, and the checker's stop is the server's stop.
class CheckContext final : public RequestContext {
 public:
  CheckContext(asio::any_io_executor executor, StopSignal& stop)
      : executor_(std::move(executor)), stop_(stop) {}
  asio::any_io_executor executor() const override { return executor_; }
  StopSignal& stop_signal() override { return stop_; }
  bool server_stopping() const override { return stop_.fired(); }
  bool client_watchable() const override { return false; }
  bool client_gone_now() override { return false; }

 protected:
  void start_wait_client(WaitHandler handler) override {
    // Never called while client_watchable() is false; answer at once if it ever is.
    asio::post(executor_, [h = std::move(handler)]() mutable {
      std::move(h)(asio::error::operation_aborted);
    });
  }

 private:
  asio::any_io_executor executor_;
  StopSignal& stop_;
};

TransportOptions check_transport_options(const HealthTarget& t) {
  TransportOptions o;
  o.connect_timeout = t.timeout;
  o.response_header_timeout = t.timeout;
  o.max_idle_connections = 0;  // a check never reuses a connection
  o.tls = t.tls;
  return o;
}

}  // namespace

struct HealthChecker::Loop {
  HealthTarget target;
  std::shared_ptr<Transport> transport;

  asio::awaitable<bool> check_once(CheckContext& ctx) {
    const auto started = Clock::now();
    Request out;
    out.method = "GET";
    out.url = target.url;
    out.header.set(boost::beast::http::field::connection, "close");
    out.header.set(boost::beast::http::field::user_agent, "sluice-health-check");
    UpstreamResponse up = co_await transport->round_trip(RoundTripRequest{out, nullptr, {}, ctx});
    const bool in_time = Clock::now() - started <= target.timeout;
    co_return !up.ec && up.head.status >= 200 && up.head.status < 400 && in_time;
  }

  asio::awaitable<void> run(StopSignal& stop, const CheckObserver& observer) {
    auto executor = co_await asio::this_coro::executor;
    CheckContext ctx(executor, stop);
    asio::steady_timer timer(executor);
    while (!stop.fired()) {
      const auto started = Clock::now();
      const bool passed = co_await check_once(ctx);
      if (stop.fired()) break;
      if (passed) {
        target.server->check_passed();
      } else {
        target.server->check_failed();
      }
      if (observer) observer(*target.server, passed, target.server->up());
      timer.expires_at(started + target.interval);
      co_await asio::experimental::make_parallel_group(timer.async_wait(asio::deferred),
                                                       stop.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    }
  }
};

HealthChecker::HealthChecker(std::vector<HealthTarget> targets, CheckObserver observer)
    : stop_(io_.get_executor()), observer_(std::move(observer)) {
  for (HealthTarget& t : targets) {
    auto loop = std::make_unique<Loop>();
    loop->transport = t.http2 ? make_http2_transport(check_transport_options(t))
                              : make_http1_transport(check_transport_options(t));
    loop->target = std::move(t);
    loops_.push_back(std::move(loop));
  }
  if (loops_.empty()) return;
  live_ = loops_.size();
  for (auto& loop : loops_) {
    // The last loop to end stops the io_context: a transport's pool service may hold a timer
    // that would keep run() going after every check is over.
    asio::co_spawn(io_, loop->run(stop_, observer_), [this](const std::exception_ptr&) {
      if (--live_ == 0) io_.stop();
    });
  }
  thread_ = std::thread([this] { io_.run(); });
}

HealthChecker::~HealthChecker() {
  if (!thread_.joinable()) return;
  // The stop signal's timer belongs to the checker's thread: fired there. Every loop then ends
  // (a check in progress races the stop), and the last one stops the io_context.
  asio::post(io_, [this] { stop_.fire(); });
  thread_.join();
}

}  // namespace sluice
