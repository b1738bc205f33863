#pragma once
// StopSignal: the server's forced stop, as something a wait can race. It fires once; every wait
// on it, pending or started later, then completes at once. Handlers that wait on their own (a
// tick, a long poll) race it so that a stopping server is never held up by them.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>  // std::forward

namespace sluice {

class StopSignal {
 public:
  explicit StopSignal(const boost::asio::any_io_executor& executor) : timer_(executor) {
    timer_.expires_at(boost::asio::steady_timer::time_point::max());
  }
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Completes once the signal fired (with or without an error: either means "stop").
  template <typename Token>
  auto async_wait(Token&& token) {
    return timer_.async_wait(std::forward<Token>(token));
  }
  // Idempotent. Expiring the timer (rather than only cancelling it) also completes waits that
  // start after this moment: nobody between two waits can miss the stop.
  void fire() {
    fired_ = true;
    timer_.expires_at(boost::asio::steady_timer::time_point::min());
  }
  bool fired() const { return fired_; }

 private:
  boost::asio::steady_timer timer_;  // never expires until fire()
  bool fired_ = false;
};

}  // namespace sluice
