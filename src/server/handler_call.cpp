#include "server/handler_call.hpp"

#include <exception>
#include <string>

#include "sluice/log.hpp"

namespace sluice::detail {

boost::asio::awaitable<void> call_handler(const SessionEnv& env, Exchange& ex) {
  const ServerOptions& opts = env.options;
  bool threw = false;
  try {
    co_await env.handler(ex);
  } catch (const std::exception& e) {
    threw = true;
    write_log_line(opts.log, std::string("handler threw: ") + e.what());
  } catch (...) {
    threw = true;
    write_log_line(opts.log, "handler threw a non-standard exception");
  }
  if (!ex.response_started() && !ex.aborted()) {
    SimpleResponse fallback{500, {}, threw ? "handler failed\n" : "no response\n"};
    co_await ex.respond(std::move(fallback));
  } else if (!ex.response_ended() && !ex.aborted()) {
    ex.abort();
  }
}

}  // namespace sluice::detail
