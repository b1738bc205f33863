#pragma once
// Runs the server's handler on one exchange, whichever protocol carries it: a handler that
// throws or produces nothing gets a 500 answered for it (rather than a client left waiting), and
// a response it began but did not end is cut (SPEC 33).
#include <boost/asio/awaitable.hpp>

#include "server/session.hpp"
#include "sluice/exchange.hpp"

namespace sluice::detail {

boost::asio::awaitable<void> call_handler(const SessionEnv& env, Exchange& ex);

}  // namespace sluice::detail
