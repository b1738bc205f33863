#pragma once
// Wraps a completion handler in a function that adapts its results, keeping what Asio reads
// from the handler: its cancellation slot (so a race can still cancel the operation) and its
// executor. A plain lambda around a handler would drop both.
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <utility>

namespace sluice {

// `adapt(handler, results...)` is called with the handler (moved) and the operation's results.
template <typename Handler, typename Executor, typename Adapt>
auto adapt_handler(Handler handler, const Executor& fallback, Adapt adapt) {
  auto slot = boost::asio::get_associated_cancellation_slot(handler);
  auto executor = boost::asio::get_associated_executor(handler, fallback);
  return boost::asio::bind_cancellation_slot(
      slot, boost::asio::bind_executor(executor, [h = std::move(handler),
                                                  a = std::move(adapt)](auto&&... results) mutable {
        a(std::move(h), std::forward<decltype(results)>(results)...);
      }));
}

}  // namespace sluice
