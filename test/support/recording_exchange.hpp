#pragma once
// A fake sluice::Exchange for unit tests of what drives an exchange (FlushWriter, ...): no
// socket, no session. It records every call (begin_response, write_body, flush, end_response,
// abort, ...) with the time it was made and the bytes it carried, keeps what "reached the
// client" apart from what is still buffered, and can be told to fail the next write or flush.
//
// Its RequestContext side runs on the io_context the test passes in: executor() is that
// io_context's, the StopSignal lives on it, and the client can never be watched
// (client_watchable() is false).
//
// Bytes are framed as nothing in particular: begin_response buffers a plain-text head
// ("HTTP/1.1 <status>\r\n<fields>\r\n"), write_body buffers the body bytes as given, and
// flush/end_response move what is buffered to wire(). Observers get client_write for every flush
// that moved bytes, as the real exchanges report them.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "sluice/exchange.hpp"
#include "sluice/stop_signal.hpp"
#include "support/deadline.hpp"

namespace sluice::test {

class RecordingExchange final : public sluice::Exchange {
 public:
  using Clock = std::chrono::steady_clock;

  struct Call {
    enum Kind { begin, write_body, flush, end, abort, discard, informational };
    Kind kind = begin;
    Clock::time_point at{};
    // write_body: the bytes given. flush/end: what this call moved to the client (head
    // included), "" when nothing was buffered.
    std::string bytes;
    bool head = false;    // flush/end: the response head went out with this call
    unsigned status = 0;  // begin, informational
    std::error_code ec;   // what the call returned (write_body, flush, end)
  };

  explicit RecordingExchange(boost::asio::io_context& io, sluice::Request request = {});
  ~RecordingExchange() override;

  // ---- Test controls.
  // The next write_body (only that one) fails with `ec` and buffers nothing.
  void fail_next_write(std::error_code ec = std::make_error_code(std::errc::broken_pipe));
  // The next flush or end_response (only that one) fails with `ec`; what was buffered is dropped,
  // as a failed socket write leaves it.
  void fail_next_flush(std::error_code ec = std::make_error_code(std::errc::broken_pipe));
  // Whether write_body/flush/end_response suspend (post to the executor) before completing, as
  // real I/O does. Default true.
  void set_suspend(bool suspend) { suspend_ = suspend; }
  // What read_body hands out.
  void set_request_body(std::string body) { request_body_ = std::move(body); }

  // ---- What happened.
  const std::vector<Call>& calls() const { return calls_; }
  std::size_t count(Call::Kind kind) const;
  // Bytes (head and body) that reached the "client", in order.
  const std::string& wire() const { return wire_; }
  // Bytes buffered and not flushed yet.
  const std::string& pending() const { return pending_; }
  // The head begin_response buffers for `res` (what wire() starts with once it is flushed).
  static std::string head_text(const sluice::Response& res);
  // start_wait_client was called (it should not be: the client is never watchable).
  std::size_t client_waits() const { return client_waits_; }

  // ---- RequestContext
  boost::asio::any_io_executor executor() const override { return executor_; }
  sluice::StopSignal& stop_signal() override { return stop_; }
  bool server_stopping() const override { return stop_.fired(); }
  bool client_watchable() const override { return false; }
  bool client_gone_now() override { return false; }

  // ---- Exchange
  boost::asio::awaitable<std::pair<std::error_code, std::size_t>> read_body(
      boost::asio::mutable_buffer buf) override;
  bool continue_sent() const override { return false; }
  void begin_response(const sluice::Response& res,
                      const std::vector<std::string>& trailer_names = {}) override;
  boost::asio::awaitable<std::error_code> write_body(boost::asio::const_buffer data) override;
  boost::asio::awaitable<std::error_code> flush() override;
  boost::asio::awaitable<std::error_code> end_response(
      const sluice::Fields* trailers = nullptr) override;
  void abort() override;
  void discard_response() override;
  boost::asio::awaitable<std::error_code> write_informational(unsigned status,
                                                              sluice::Fields fields) override;
  boost::asio::awaitable<Switched> switch_protocols(sluice::Response res) override;

 protected:
  // Never expected (client_watchable() is false); completes at once with operation_not_supported
  // so that a race including it cannot hang.
  void start_wait_client(WaitHandler handler) override;

 private:
  boost::asio::awaitable<void> maybe_suspend();
  // Moves pending_ to wire_ and records `kind`; `ec` is the injected failure, if any.
  std::error_code deliver(Call::Kind kind);
  Call& record(Call::Kind kind);

  boost::asio::any_io_executor executor_;
  sluice::StopSignal stop_;
  std::vector<Call> calls_;
  std::string pending_;
  bool head_pending_ = false;
  std::string wire_;
  std::optional<std::error_code> fail_write_;
  std::optional<std::error_code> fail_flush_;
  bool suspend_ = true;
  std::string request_body_;
  std::size_t request_body_read_ = 0;
  std::size_t client_waits_ = 0;
};

// Runs `op` on `io` until it completes (bounded by `deadline`) and returns its result; rethrows
// what it threw. Throws std::runtime_error when it did not complete in time or `io` ran out of
// work first (the operation waits on something nobody will complete).
template <typename T>
T run_to_end(boost::asio::io_context& io, boost::asio::awaitable<T> op,
             std::chrono::milliseconds deadline = kDeadline) {
  std::optional<T> result;
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e, T value) {
    done = true;
    error = e;
    if (!e) result = std::move(value);
  });
  io.restart();
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done && std::chrono::steady_clock::now() < until) {
    if (io.run_one_until(until) == 0 && io.stopped()) break;
  }
  if (!done) throw std::runtime_error("run_to_end: the operation did not complete");
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

inline void run_to_end(boost::asio::io_context& io, boost::asio::awaitable<void> op,
                       std::chrono::milliseconds deadline = kDeadline) {
  std::exception_ptr error;
  bool done = false;
  boost::asio::co_spawn(io, std::move(op), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  io.restart();
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done && std::chrono::steady_clock::now() < until) {
    if (io.run_one_until(until) == 0 && io.stopped()) break;
  }
  if (!done) throw std::runtime_error("run_to_end: the operation did not complete");
  if (error) std::rethrow_exception(error);
}

const char* to_string(RecordingExchange::Call::Kind kind);

}  // namespace sluice::test
