#pragma once
// RequestContext: what a request's upstream side may know of its client side (Go's
// Request.Context()). A Transport gets this, never the Exchange: it can learn that the server is
// stopping or that the client left, and nothing else about the client connection.
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/system/error_code.hpp>

#include "sluice/stop_signal.hpp"

namespace sluice {

class RequestContext {
 public:
  using WaitHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  virtual ~RequestContext() = default;
  RequestContext() = default;
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  // The worker thread's executor: everything of this request runs on it.
  virtual boost::asio::any_io_executor executor() const = 0;

  // Fires when the server stops for good (forced stop): race it in every wait.
  virtual StopSignal& stop_signal() = 0;
  virtual bool server_stopping() const = 0;

  // ---- Client liveness (SPEC 34). A client that leaves while its response is awaited cancels
  // the upstream request. False while the client cannot be watched (HTTP/1: the request body is
  // still being read, or bytes of a next, pipelined request are known to wait: readability then
  // says nothing about the client leaving).
  virtual bool client_watchable() const = 0;
  // Completes when the client may have left; then client_gone_now() tells. Race it, never wait
  // on it alone (a client that stays never completes it).
  template <typename Token>
  auto async_wait_client(Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) { start_wait_client(WaitHandler(std::move(handler))); }, token);
  }
  // At once: true when the client closed or reset. When it finds the bytes of a next request
  // instead, the client stops being watchable.
  virtual bool client_gone_now() = 0;

 protected:
  virtual void start_wait_client(WaitHandler handler) = 0;
};

}  // namespace sluice
