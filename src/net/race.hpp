#pragma once
// Every wait in sluice is a race: the operations it is for, a deadline, and the server's stop
// signal. race() runs them in one parallel_group, which returns only after every racer has
// completed or finished cancelling: no handler outlives the call, and no buffer or timer it
// used is touched afterwards. That is what lets a response's flush timer be waited on without
// ever being left with a completion to run after the response ended (docs/architecture.md).
#include <array>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <utility>

#include "sluice/stop_signal.hpp"

namespace sluice {

// Which racer won, for a race of `ops` operations (the deadline and the stop come after them).
struct Winner {
  std::size_t index;
  std::size_t ops;
  bool is(std::size_t op) const { return index == op; }
  bool deadline() const { return index == ops; }
  bool stop() const { return index == ops + 1; }
};

template <std::size_t N>
Winner winner_of(const std::array<std::size_t, N>& order) {
  return Winner{order[0], N - 2};
}

// co_await race(deadline, stop, op...): the first to complete wins and the others are cancelled.
// The result is parallel_group's: (order, each op's results..., deadline's, stop's); winner_of
// reads `order`.
template <typename... Ops>
auto race(boost::asio::steady_timer& deadline, StopSignal& stop, Ops&&... ops) {
  return boost::asio::experimental::make_parallel_group(std::forward<Ops>(ops)...,
                                                        deadline.async_wait(boost::asio::deferred),
                                                        stop.async_wait(boost::asio::deferred))
      .async_wait(boost::asio::experimental::wait_for_one(), boost::asio::use_awaitable);
}

// A race in which a completion ends it only when it is real: an operation whose second result
// `real` is false (a readiness wake that turned out spurious: the client is still there, the
// upstream sent only an interim 1xx) lets the others run on. For operations that cannot simply
// be started again, such as a connect.
struct CancelUnlessSpurious {
  template <typename... Args>
  boost::asio::cancellation_type_t operator()(const Args&...) const {
    return boost::asio::cancellation_type::all;
  }
  boost::asio::cancellation_type_t operator()(boost::system::error_code, bool real) const {
    return real ? boost::asio::cancellation_type::all : boost::asio::cancellation_type::none;
  }
};

template <typename... Ops>
auto race_unless_spurious(boost::asio::steady_timer& deadline, StopSignal& stop, Ops&&... ops) {
  return boost::asio::experimental::make_parallel_group(std::forward<Ops>(ops)...,
                                                        deadline.async_wait(boost::asio::deferred),
                                                        stop.async_wait(boost::asio::deferred))
      .async_wait(CancelUnlessSpurious{}, boost::asio::use_awaitable);
}

}  // namespace sluice
