// Names for the public enums and the sluice error category.
#include <boost/asio/error.hpp>

#include "sluice/error.hpp"
#include "sluice/events.hpp"

namespace sluice {

const char* to_string(FlushStopReason reason) {
  switch (reason) {
    case FlushStopReason::complete: return "complete";
    case FlushStopReason::upstream_error: return "upstream_error";
    case FlushStopReason::upstream_timeout: return "upstream_timeout";
    case FlushStopReason::client_gone: return "client_gone";
    case FlushStopReason::shutdown: return "shutdown";
  }
  return "unknown";
}

const char* to_string(ResponseOutcome outcome) {
  switch (outcome) {
    case ResponseOutcome::complete: return "complete";
    case ResponseOutcome::error_response: return "error_response";
    case ResponseOutcome::truncated: return "truncated";
    case ResponseOutcome::client_gone: return "client_gone";
    case ResponseOutcome::shutdown: return "shutdown";
    case ResponseOutcome::upgraded: return "upgraded";
  }
  return "unknown";
}

const char* to_string(SseResumeResult result) {
  switch (result) {
    case SseResumeResult::resumed: return "resumed";
    case SseResumeResult::failed: return "failed";
  }
  return "unknown";
}

namespace {

class Category : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice"; }
  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::no_route:
        return "no route: set exactly one of rewrite/director, and an upstream host";
      case errc::upstream_connect_failed: return "upstream connect failed";
      case errc::upstream_connect_timeout: return "upstream connect timed out";
      case errc::upstream_header_timeout: return "upstream response header timed out";
      case errc::upstream_closed:
        return "upstream closed the connection before the response was complete";
      case errc::upstream_bad_response: return "upstream sent a malformed response";
      case errc::upstream_write_failed: return "sending the request upstream failed";
      case errc::upstream_protocol_switch:
        return "upstream switched to a protocol the client did not ask for";
      case errc::invalid_upgrade_protocol: return "client requested an invalid upgrade protocol";
      case errc::client_gone: return "client went away";
      case errc::client_body_failed: return "reading the request body from the client failed";
      case errc::client_body_invalid: return "malformed request body framing";
      case errc::client_body_too_large: return "request body too large";
      case errc::modify_response_failed: return "modify_response failed";
      case errc::hook_threw: return "a rewrite/director hook threw";
      case errc::upstream_idle_timeout:
        return "upstream idle timeout: no byte within the upstream idle timeout";
      case errc::upstream_body_invalid: return "upstream sent a malformed response body";
      case errc::no_upstream_available: return "no server of the upstream is available";
      case errc::encoder_failed: return "compressing the response body failed";
    }
    return "unknown sluice error";
  }
};

}  // namespace

const std::error_category& error_category() {
  static const Category category;
  return category;
}

unsigned default_error_status(std::error_code ec) {
  if (ec == errc::upstream_connect_timeout || ec == errc::upstream_header_timeout ||
      ec == errc::upstream_idle_timeout) {
    return 504;
  }
  return 502;
}

}  // namespace sluice
