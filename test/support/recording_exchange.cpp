#include "support/recording_exchange.hpp"

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

namespace sluice::test {

namespace asio = boost::asio;

namespace {
std::error_code asio_error(asio::error::basic_errors e) { return boost::system::error_code(e); }
}  // namespace

RecordingExchange::RecordingExchange(asio::io_context& io, sluice::Request request)
    : Exchange(std::move(request)), executor_(io.get_executor()), stop_(io.get_executor()) {}

RecordingExchange::~RecordingExchange() = default;

void RecordingExchange::fail_next_write(std::error_code ec) { fail_write_ = ec; }
void RecordingExchange::fail_next_flush(std::error_code ec) { fail_flush_ = ec; }

std::size_t RecordingExchange::count(Call::Kind kind) const {
  return static_cast<std::size_t>(std::count_if(calls_.begin(), calls_.end(),
                                                [kind](const Call& c) { return c.kind == kind; }));
}

std::string RecordingExchange::head_text(const sluice::Response& res) {
  std::string head = "HTTP/1.1 " + std::to_string(res.status) + "\r\n";
  for (const auto& f : res.header) {
    head += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
  }
  head += "\r\n";
  return head;
}

RecordingExchange::Call& RecordingExchange::record(Call::Kind kind) {
  Call call;
  call.kind = kind;
  call.at = Clock::now();
  calls_.push_back(std::move(call));
  return calls_.back();
}

asio::awaitable<void> RecordingExchange::maybe_suspend() {
  const auto ex = executor_;
  if (suspend_) co_await asio::post(ex, asio::use_awaitable);
}

asio::awaitable<std::pair<std::error_code, std::size_t>> RecordingExchange::read_body(
    asio::mutable_buffer buf) {
  const std::size_t n = std::min(buf.size(), request_body_.size() - request_body_read_);
  std::memcpy(buf.data(), request_body_.data() + request_body_read_, n);
  request_body_read_ += n;
  co_return std::pair<std::error_code, std::size_t>{std::error_code{}, n};
}

void RecordingExchange::begin_response(const sluice::Response& res,
                                       const std::vector<std::string>& /*trailer_names*/) {
  Call& call = record(Call::begin);
  call.status = res.status;
  if (started_) return;
  started_ = true;
  status_ = res.status;
  pending_ += head_text(res);
  head_pending_ = true;
}

asio::awaitable<std::error_code> RecordingExchange::write_body(asio::const_buffer data) {
  const std::string bytes(static_cast<const char*>(data.data()), data.size());
  co_await maybe_suspend();
  std::error_code ec;
  if (fail_write_) {
    ec = *std::exchange(fail_write_, std::nullopt);
  } else if (!started_ || ended_ || aborted_) {
    ec = asio_error(asio::error::not_connected);
  } else {
    pending_ += bytes;
    body_bytes_ += bytes.size();
  }
  Call& call = record(Call::write_body);
  call.bytes = bytes;
  call.ec = ec;
  co_return ec;
}

std::error_code RecordingExchange::deliver(Call::Kind kind) {
  std::error_code ec;
  if (fail_flush_) {
    ec = *std::exchange(fail_flush_, std::nullopt);
  } else if (aborted_) {
    ec = asio_error(asio::error::not_connected);
  }
  Call& call = record(kind);
  call.ec = ec;
  if (ec) {
    if (!aborted_) pending_.clear();
    return ec;
  }
  call.bytes = std::exchange(pending_, {});
  call.head = std::exchange(head_pending_, false);
  if (call.bytes.empty()) return ec;
  wire_ += call.bytes;
  head_sent_ = true;
  notify_client_write(call.bytes.size());
  return ec;
}

asio::awaitable<std::error_code> RecordingExchange::flush() {
  co_await maybe_suspend();
  const auto ec = deliver(Call::flush);
  co_return ec;
}

asio::awaitable<std::error_code> RecordingExchange::end_response(const sluice::Fields* trailers) {
  co_await maybe_suspend();
  if (!started_ || aborted_) {
    Call& call = record(Call::end);
    call.ec = asio_error(asio::error::not_connected);
    co_return call.ec;
  }
  ended_ = true;
  if (trailers != nullptr) {
    for (const auto& f : *trailers) {
      pending_ += std::string(f.name_string()) + ": " + std::string(f.value()) + "\r\n";
    }
  }
  const auto ec = deliver(Call::end);
  co_return ec;
}

void RecordingExchange::abort() {
  record(Call::abort);
  aborted_ = true;
  pending_.clear();
  head_pending_ = false;
}

void RecordingExchange::discard_response() {
  record(Call::discard);
  if (head_sent_) return;
  pending_.clear();
  head_pending_ = false;
  started_ = false;
  ended_ = false;
  status_ = 0;
  body_bytes_ = 0;
}

asio::awaitable<std::error_code> RecordingExchange::write_informational(unsigned status,
                                                                        sluice::Fields /*fields*/) {
  Call& call = record(Call::informational);
  call.status = status;
  co_return std::error_code{};
}

asio::awaitable<sluice::Exchange::Switched> RecordingExchange::switch_protocols(
    sluice::Response /*res*/) {
  Switched refused;
  refused.ec = asio_error(asio::error::operation_not_supported);
  co_return refused;
}

void RecordingExchange::start_wait_client(WaitHandler handler) {
  ++client_waits_;
  // Single-threaded io_context: the handler may run from a handler of the exchange's executor.
  asio::post(executor_, [h = std::move(handler)]() mutable {
    std::move(h)(asio::error::operation_not_supported);
  });
}

const char* to_string(RecordingExchange::Call::Kind kind) {
  switch (kind) {
    case RecordingExchange::Call::begin: return "begin";
    case RecordingExchange::Call::write_body: return "write_body";
    case RecordingExchange::Call::flush: return "flush";
    case RecordingExchange::Call::end: return "end";
    case RecordingExchange::Call::abort: return "abort";
    case RecordingExchange::Call::discard: return "discard";
    case RecordingExchange::Call::informational: return "informational";
  }
  return "?";
}

}  // namespace sluice::test
