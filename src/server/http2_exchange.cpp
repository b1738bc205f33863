#include "server/http2_exchange.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>

#include "common/nothrow.hpp"
#include "net/race.hpp"
#include "sluice/error.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;

namespace {

// nghttp2's data provider: copies what a flush released; defers when nothing is, until
// nghttp2_session_resume_data. At the end of the body it ends the stream, or sends the trailers.
ssize_t read_response(nghttp2_session* session, std::int32_t stream_id, std::uint8_t* buf,
                      std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                      void*) {
  auto& s = *static_cast<Http2Stream*>(source->ptr);
  const std::size_t n = std::min(length, s.sendable);
  if (n > 0) {
    std::memcpy(buf, s.out.data() + s.out_taken, n);
    s.out_taken += n;
    s.sendable -= n;
    if (s.out_taken == s.out.size()) {
      s.out.clear();
      s.out_taken = 0;
    }
    s.out_wake.cancel();  // room for a waiting write
  }
  if (s.eof && s.pending_out() == 0) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s.trailers && !s.trailers->empty()) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      if (nghttp2_submit_trailer(session, stream_id, s.trailers->data(), s.trailers->size()) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets the stream: no clean end
      }
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    s.deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

bool expects_continue(const Request& r) {
  const auto it = r.header.find(http::field::expect);
  return it != r.header.end() && boost::beast::iequals(it->value(), "100-continue");
}

std::error_code gone_error() { return to_std(asio::error::connection_reset); }

}  // namespace

Http2Exchange::Http2Exchange(Http2Connection& conn, std::shared_ptr<Http2Stream> stream,
                             Request&& request)
    : Exchange(std::move(request)), conn_(conn), stream_(std::move(stream)) {
  stream_->exchange = this;
}

Http2Exchange::~Http2Exchange() { stream_->exchange = nullptr; }

asio::any_io_executor Http2Exchange::executor() const { return conn_.io().stream.get_executor(); }

void Http2Exchange::start_wait_client(WaitHandler handler) {
  stream_->gone.async_wait(std::move(handler));
}

// ---- Request body ------------------------------------------------------------------------------

asio::awaitable<std::pair<std::error_code, std::size_t>> Http2Exchange::read_body(
    asio::mutable_buffer buf) {
  Http2Stream& s = *stream_;
  SessionIo& io = conn_.io();
  if (!continue_sent_ && !started_ && !s.body_ended && expects_continue(request_)) {
    // RFC 9110 §10.1.1: the client waits for this before it sends the body.
    continue_sent_ = true;
    Fields none;  // named: a temporary inside co_await breaks GCC 12's coroutines
    co_await write_informational(100, std::move(none));
  }
  asio::steady_timer deadline(io.stream.get_executor());
  deadline.expires_after(io.options.write_timeout);
  // Each round hands out bytes or waits once, within the deadline.
  for (;;) {
    const std::size_t unread = s.unread_body();
    if (unread > 0 && buf.size() > 0) {
      const std::size_t n = std::min(unread, buf.size());
      std::memcpy(buf.data(), s.body.data() + s.body_read, n);
      s.body_read += n;
      // Compact: the client refills what was read, so without this the buffer would grow by
      // the whole upload whenever a little stays unread.
      if (s.body_read == s.body.size()) {
        s.body.clear();
        s.body_read = 0;
      } else if (s.body_read >= kOutputBufferBytes && 2 * s.body_read >= s.body.size()) {
        s.body.erase(0, s.body_read);
        s.body_read = 0;
      }
      body_bytes_received_ += n;
      // The handler took them: the client may send as many again (WINDOW_UPDATE).
      if (!s.closed) {
        nghttp2_session_consume(conn_.session(), s.id, n);
        conn_.wake_writer();
      }
      const auto limit = io.options.max_body_bytes;
      if (limit > 0 && body_bytes_received_ > limit) {
        co_return std::pair{make_error_code(sluice::errc::client_body_too_large), n};
      }
      co_return std::pair{std::error_code{}, n};
    }
    if (s.body_ended) co_return std::pair{std::error_code{}, std::size_t{0}};
    if (s.gone.fired() || s.closed || io.stopping) {
      co_return std::pair{make_error_code(sluice::errc::client_body_failed), std::size_t{0}};
    }
    s.body_wake.expires_at(asio::steady_timer::time_point::max());
    auto [order, wec, dec, sec] =
        co_await race(deadline, io.stop_signal, s.body_wake.async_wait(asio::deferred));
    const Winner w = winner_of(order);
    if (w.deadline() || w.stop()) {
      co_return std::pair{make_error_code(sluice::errc::client_body_failed), std::size_t{0}};
    }
  }
}

// ---- Response ----------------------------------------------------------------------------------

void Http2Exchange::begin_response(const Response& res, const std::vector<std::string>&) {
  if (started_) return;
  started_ = true;
  status_ = res.status;
  head_ = res;
  no_body_ = request_.method == "HEAD" || res.status == 204 || res.status == 304;
  // HEAD and 304 describe the representation: its length passes through (SPEC 19).
  declared_length_ = no_body_ ? kUnknownLength : res.content_length;
  if (res.status == 204) head_.content_length = kUnknownLength;
}

void Http2Exchange::discard_response() {
  if (head_sent_) return;
  started_ = false;
  ended_ = false;
  status_ = 0;
  body_bytes_ = 0;
  body_delivered_ = 0;
  declared_length_ = kUnknownLength;
  stream_->out.clear();
  stream_->out_taken = 0;
  stream_->sendable = 0;
}

void Http2Exchange::submit_head() {
  Http2Stream& s = *stream_;
  const bool headers_only = s.eof && s.pending_out() == 0 && !s.trailers;
  // A response that is one HEADERS frame says nothing about a length, unless it describes a
  // representation (HEAD, 304): gRPC's Trailers-Only form carries none.
  const std::int64_t length = headers_only && !no_body_ && head_.content_length == 0
                                  ? kUnknownLength
                                  : head_.content_length;
  http2::HeaderList list = http2::HeaderList::response(head_.status, head_.header, length);
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = read_response;
  // A response without body or trailers is one HEADERS frame with END_STREAM (for gRPC, the
  // Trailers-Only form).
  const int rv = nghttp2_submit_response(conn_.session(), s.id, list.data(), list.size(),
                                         headers_only ? nullptr : &provider);
  s.submitted = true;
  head_sent_ = true;  // with nghttp2 now: it can no longer be replaced
  if (rv != 0) reset(NGHTTP2_INTERNAL_ERROR);
}

asio::awaitable<std::error_code> Http2Exchange::send_out(bool ending) {
  Http2Stream& s = *stream_;
  SessionIo& io = conn_.io();
  if (s.gone.fired() || s.closed) {
    aborted_ = true;
    co_return gone_error();
  }
  // Frames to wait for: the head, body bytes, or the end. A flush with nothing new waits only
  // for what an earlier one queued.
  if (!s.submitted || s.pending_out() > 0 || ending) s.last_batch = Http2Stream::kQueued;
  s.sendable = s.pending_out();
  if (!s.submitted) {
    submit_head();
  } else if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(conn_.session(), s.id);
  }
  conn_.wake_writer();
  if (aborted_) co_return gone_error();
  asio::steady_timer deadline(io.stream.get_executor());
  deadline.expires_after(io.options.write_timeout);
  std::size_t left = s.sendable;
  // Each round waits once for the writer (or the client's window); each must see progress
  // within write_timeout, as a write to an HTTP/1 client must.
  for (;;) {
    if (s.gone.fired() || conn_.failed()) {
      aborted_ = true;
      co_return gone_error();
    }
    if (s.sendable < left) {
      left = s.sendable;
      deadline.expires_after(io.options.write_timeout);
    }
    const bool taken = s.sendable == 0 && (!ending || s.end_sent);
    if (taken && s.last_batch != Http2Stream::kQueued && conn_.written_batch() >= s.last_batch) {
      body_delivered_ = s.batched_body;  // written now, as HTTP/1 counts them
      co_return std::error_code{};
    }
    if (s.closed) {
      // Closed by our own END_STREAM and the client's: complete; else it was reset.
      if (s.end_sent) {
        body_delivered_ = s.batched_body;
        co_return std::error_code{};
      }
      aborted_ = true;
      co_return gone_error();
    }
    if (io.stopping) {
      aborted_ = true;
      co_return aborted_error();
    }
    s.out_wake.expires_at(asio::steady_timer::time_point::max());
    auto [order, wec, dec, sec] =
        co_await race(deadline, io.stop_signal, s.out_wake.async_wait(asio::deferred));
    const Winner w = winner_of(order);
    if (w.deadline()) {
      // The client kept the stream's window shut (or stopped reading) for write_timeout.
      reset(NGHTTP2_CANCEL);
      co_return to_std(asio::error::timed_out);
    }
  }
}

asio::awaitable<std::error_code> Http2Exchange::write_body(asio::const_buffer data) {
  if (!started_ || ended_ || aborted_) co_return to_std(asio::error::not_connected);
  if (stream_->gone.fired()) {
    aborted_ = true;
    co_return gone_error();
  }
  if (data.size() == 0 || no_body_) co_return std::error_code{};
  if (declared_length_ >= 0 &&
      body_bytes_ + data.size() > static_cast<std::uint64_t>(declared_length_)) {
    abort();  // more than content-length announced: a malformed response (RFC 9113 §8.1.1)
    co_return to_std(http::error::body_limit);
  }
  // In pieces of at most one output buffer, each sent before the next is copied: a stream
  // holds at most kOutputBufferBytes of the response, whatever the caller's buffer.
  const auto* bytes = static_cast<const char*>(data.data());
  std::size_t rest = data.size();
  while (rest > 0) {
    const std::size_t room =
        kOutputBufferBytes - std::min(kOutputBufferBytes, stream_->pending_out());
    const std::size_t n = std::min(rest, std::max<std::size_t>(room, 1));
    stream_->out.append(bytes, n);
    body_bytes_ += n;
    bytes += n;
    rest -= n;
    if (stream_->pending_out() >= kOutputBufferBytes) {
      const auto ec = co_await send_out(false);
      if (ec) co_return ec;
    }
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Http2Exchange::flush() {
  if (aborted_) co_return to_std(asio::error::not_connected);
  if (!started_ || ended_) co_return std::error_code{};
  co_return co_await send_out(false);
}

asio::awaitable<std::error_code> Http2Exchange::end_response(const Fields* trailers) {
  if (!started_ || aborted_) co_return to_std(asio::error::not_connected);
  if (ended_) co_return std::error_code{};
  if (declared_length_ >= 0 && body_bytes_ != static_cast<std::uint64_t>(declared_length_)) {
    abort();  // short body: reset rather than end the stream cleanly
    co_return to_std(http::error::partial_message);
  }
  ended_ = true;
  stream_->eof = true;
  if (trailers != nullptr && !no_body_) {
    http2::HeaderList list = http2::HeaderList::trailers(*trailers);
    if (!list.empty()) stream_->trailers = std::move(list);
  }
  const auto ec = co_await send_out(true);
  if (ec) ended_ = false;
  co_return ec;
}

void Http2Exchange::reset(std::uint32_t code) {
  aborted_ = true;
  Http2Stream& s = *stream_;
  s.out.clear();
  s.out_taken = 0;
  s.sendable = 0;
  if (!s.closed && !s.reset_submitted) {
    s.reset_submitted = true;
    nghttp2_submit_rst_stream(conn_.session(), NGHTTP2_FLAG_NONE, s.id, code);
    conn_.wake_writer();
  }
}

void Http2Exchange::abort() {
  if (aborted_) return;
  reset(NGHTTP2_INTERNAL_ERROR);
}

asio::awaitable<std::error_code> Http2Exchange::write_informational(unsigned status,
                                                                    Fields fields) {
  if (started_) co_return to_std(asio::error::already_started);
  if (status < 100 || status > 199 || status == 101) {
    co_return to_std(asio::error::invalid_argument);
  }
  if (stream_->gone.fired() || stream_->closed) co_return gone_error();
  http2::HeaderList list = http2::HeaderList::response(status, fields, kUnknownLength);
  const int rv = nghttp2_submit_headers(conn_.session(), NGHTTP2_FLAG_NONE, stream_->id, nullptr,
                                        list.data(), list.size(), nullptr);
  if (rv != 0) co_return to_std(asio::error::invalid_argument);
  conn_.wake_writer();
  co_return std::error_code{};
}

asio::awaitable<Exchange::Switched> Http2Exchange::switch_protocols(Response) {
  // Upgrade is a connection-specific field on HTTP/2 (RFC 9113 §8.2.2): no request asks for it.
  co_return Switched{to_std(asio::error::operation_not_supported), nullptr, {}};
}

void Http2Exchange::frame_sent(std::size_t bytes, bool data) {
  if (data) stream_->batched_body += bytes;
  notify_client_write(bytes);
}

}  // namespace sluice::detail
