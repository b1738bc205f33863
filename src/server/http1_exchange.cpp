// The HTTP/1.1 exchange: response framing toward the client and the streamed request body
// (SPEC 14, 19, 21, 22, 33, 34). See include/sluice/exchange.hpp for the contract.
#include "server/http1_exchange.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <cerrno>

#include "common/http_syntax.hpp"
#include "common/nothrow.hpp"
#include "http1/request_validation.hpp"
#include "http1/wire.hpp"
#include "net/bounded_io.hpp"
#include "sluice/error.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// The fields the exchange frames itself: never copied from a Response.
constexpr auto kFramingFields = {http::field::content_length, http::field::transfer_encoding,
                                 http::field::connection};

}  // namespace

Http1Exchange::Http1Exchange(SessionIo& io, Request&& request)
    : Exchange(std::move(request)), io_(io) {
  out_.reserve(kInitialOutputBytes);
}

asio::any_io_executor Http1Exchange::executor() const { return io_.stream.get_executor(); }

// ---- Request body --------------------------------------------------------------------------

bool Http1Exchange::request_body_read() const {
  return io_.parser->is_done() || (direct_ && direct_left_ == 0);
}

asio::awaitable<std::pair<std::error_code, std::size_t>> Http1Exchange::read_body(
    asio::mutable_buffer buf) {
  auto [ec, n] = co_await read_body_raw(buf);
  body_bytes_received_ += n;
  if (!ec) co_return std::pair{ec, n};
  // A parse error is the client's malformed framing (SPEC R17-R21: 400); anything else (reset,
  // EOF mid-body, timeout) is a client that went away (R46: no answer).
  if (ec == to_std(http::error::body_limit))
    co_return std::pair{make_error_code(errc::client_body_too_large), n};
  const bool malformed = ec.category() == to_std(http::error::bad_chunk).category() &&
                         ec != to_std(http::error::partial_message);
  co_return std::pair{
      make_error_code(malformed ? errc::client_body_invalid : errc::client_body_failed), n};
}

asio::awaitable<std::pair<std::error_code, std::size_t>> Http1Exchange::read_body_raw(
    asio::mutable_buffer buf) {
  auto& parser = *io_.parser;
  if (parser.is_done() || body_complete_ || buf.size() == 0) {
    co_return std::pair{std::error_code{}, std::size_t{0}};
  }
  if (!last_chunk_hook_) {
    // SPEC R22: notes the last chunk, so that a trailer section Beast refuses (it applies its
    // Content-Length rules to trailer fields) is known to come after a complete body.
    last_chunk_hook_ = [this](std::uint64_t size, std::string_view, boost::beast::error_code&) {
      if (size == 0) last_chunk_seen_ = true;
    };
    parser.on_chunk_header(last_chunk_hook_);
  }

  // RFC 9110 §10.1.1: a client that waits for 100 Continue gets it when the body is wanted.
  if (!continue_sent_ && request_.version >= 11) {
    continue_sent_ = true;
    auto it = request_.header.find(http::field::expect);
    if (it != request_.header.end() && boost::beast::iequals(it->value(), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      const std::array<asio::const_buffer, 1> data{asio::buffer(kContinue)};
      auto [ec, n] =
          co_await write_within(io_.stream, data, io_.options.write_timeout, io_.stop_signal);
      if (ec) co_return std::pair{to_std(ec), std::size_t{0}};
    }
  }

  // Direct mode: once the parser has consumed everything buffered, the rest of a Content-Length
  // body is read from the socket straight into `buf`, bounded by what remains (nothing past the
  // body is read), without the parser's copy.
  if (!direct_ && parser.is_header_done() && !parser.chunked() && io_.buffer.size() == 0) {
    if (const auto left = parser.content_length_remaining(); left && *left > 0) {
      direct_ = true;
      direct_left_ = *left;
    }
  }
  if (direct_) {
    if (direct_left_ == 0) co_return std::pair{std::error_code{}, std::size_t{0}};
    const auto into = asio::buffer(
        buf.data(), static_cast<std::size_t>(std::min<std::uint64_t>(direct_left_, buf.size())));
    // Each read must progress within write_timeout: a client that stalls mid-body is cut.
    auto [rec, n] =
        co_await read_within(io_.stream, into, io_.options.write_timeout, io_.stop_signal);
    if (rec == asio::error::eof)
      co_return std::pair{to_std(http::error::partial_message), std::size_t{0}};
    if (rec) co_return std::pair{to_std(rec), std::size_t{0}};
    direct_left_ -= n;
    co_return std::pair{std::error_code{}, n};
  }

  // Parses what is buffered, else reads once more. Beast's own read loop is not used: it keeps
  // reading while the parser waits for a CRLF, and a chunk line ended by a bare LF never gets
  // one (SPEC R18). Each round consumes or reads input; the read buffer's size bounds a chunk
  // line (R21). A read adds bytes until the buffer is full; a parse that consumed bytes but
  // yielded no data (chunk headers only) counts toward the bound.
  for (int empty_parses = 0; empty_parses < 1024;) {
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    parser.get().body().more = true;
    if (io_.buffer.size() > 0) {
      boost::beast::error_code ec;
      const std::size_t used = parser.put(io_.buffer.data(), ec);
      io_.buffer.consume(used);
      const std::size_t got = buf.size() - parser.get().body().size;
      if (ec == http::error::need_buffer) ec = {};
      if (ec == http::error::need_more) {
        ec = {};
        const std::string_view stalled(static_cast<const char*>(io_.buffer.data().data()),
                                       io_.buffer.size());
        if (stalled_chunk_line_invalid(stalled)) ec = http::error::bad_chunk;
      }
      if (ec && last_chunk_seen_) {
        // SPEC R22: the body is complete; only its trailer section failed. Request trailers
        // are never forwarded (and never merged into the head), so drop the section, whole:
        // Beast parses it only once its final CRLF is buffered. The parser is left failed, so
        // the connection closes after this exchange.
        const std::string_view rest(static_cast<const char*>(io_.buffer.data().data()),
                                    io_.buffer.size());
        const auto end = rest.find("\r\n\r\n");
        if (end == std::string_view::npos) co_return std::pair{to_std(ec), got};
        io_.buffer.consume(end + 4);
        body_complete_ = true;
        co_return std::pair{std::error_code{}, got};
      }
      if (ec) co_return std::pair{to_std(ec), got};
      if (got > 0 || parser.is_done()) co_return std::pair{std::error_code{}, got};
      if (used > 0) {
        ++empty_parses;
        continue;
      }
    }
    if (io_.buffer.size() >= io_.buffer.max_size()) {
      co_return std::pair{to_std(http::error::buffer_overflow), std::size_t{0}};
    }
    const std::size_t room =
        std::min<std::size_t>(64 * 1024, io_.buffer.max_size() - io_.buffer.size());
    // Each read must progress within write_timeout: a client that stalls mid-body is cut.
    const auto into = io_.buffer.prepare(room);
    auto [rec, n] =
        co_await read_within(io_.stream, into, io_.options.write_timeout, io_.stop_signal);
    io_.buffer.commit(n);
    if (rec == asio::error::eof)
      co_return std::pair{to_std(http::error::partial_message), std::size_t{0}};
    if (rec) co_return std::pair{to_std(rec), std::size_t{0}};
  }
  co_return std::pair{to_std(http::error::bad_chunk), std::size_t{0}};
}

// ---- Response --------------------------------------------------------------------------------

void Http1Exchange::append_head(const Response& res,
                                const std::vector<std::string>& trailer_names) {
  const bool head_request = request_.method == "HEAD";
  const bool no_body =
      head_request || res.status / 100 == 1 || res.status == 204 || res.status == 304;
  // The connection ends after this response when the client asked for it, spoke HTTP/1.0
  // (sluice does not keep 1.0 connections alive), the server is stopping, or the request body
  // was not read to its end (its unread bytes would be taken for the next request).
  will_close_ = !io_.parser->keep_alive() || request_.version < 11 || io_.draining ||
                io_.stopping || !request_body_read();

  // As Go's server: the standard phrase for the status, so a status changed by a hook never
  // carries a stale phrase; `reason` is used only for codes without one.
  http1::append_status_line(out_, res.status, res.reason);
  http1::append_fields(out_, res.header, kFramingFields);

  if (no_body) {
    framing_ = Framing::none;
    // HEAD and 304 describe the representation: its length passes through (SPEC 19).
    if ((head_request || res.status == 304) && res.content_length >= 0) {
      out_ += "Content-Length: " + std::to_string(res.content_length) + "\r\n";
    }
  } else if (res.content_length >= 0) {
    framing_ = Framing::length;
    declared_length_ = res.content_length;
    out_ += "Content-Length: " + std::to_string(res.content_length) + "\r\n";
  } else if (request_.version >= 11) {
    framing_ = Framing::chunked;
    out_ += "Transfer-Encoding: chunked\r\n";
    if (!trailer_names.empty()) {
      std::string joined;
      for (const auto& name : trailer_names) {
        if (!is_token(name)) continue;
        if (!joined.empty()) joined += ", ";
        joined += name;
      }
      if (!joined.empty()) out_ += "Trailer: " + joined + "\r\n";
    }
  } else {
    // RFC 9112 §6.3: an HTTP/1.0 client reads an unknown-length body until the close.
    framing_ = Framing::close_delimited;
    will_close_ = true;
  }
  if (will_close_) out_ += "Connection: close\r\n";
  out_ += "\r\n";
}

void Http1Exchange::begin_response(const Response& res,
                                   const std::vector<std::string>& trailer_names) {
  if (started_) return;
  started_ = true;
  status_ = res.status;
  append_head(res, trailer_names);
}

void Http1Exchange::discard_response() {
  if (head_sent_) return;
  out_.clear();
  started_ = false;
  ended_ = false;
  framing_ = Framing::none;
  status_ = 0;
  body_bytes_ = 0;
  body_delivered_ = 0;
  declared_length_ = kUnknownLength;
}

asio::awaitable<std::error_code> Http1Exchange::write_out(
    std::span<const asio::const_buffer> extra) {
  // The held bytes, then `extra` (body bytes too large to hold, sent from the caller's buffer
  // without a copy): one gathered write.
  std::array<asio::const_buffer, 4> bufs;
  std::size_t count = 0;
  if (!out_.empty()) bufs[count++] = asio::buffer(out_);
  for (const auto& b : extra) {
    if (b.size() > 0 && count < bufs.size()) bufs[count++] = b;
  }
  if (count == 0) co_return std::error_code{};
  if (io_.stopping) co_return aborted_error();
  // Each write of at most one output buffer must progress within write_timeout (SPEC L7): a
  // client that stops reading is cut, it cannot pin the proxy.
  const std::span<const asio::const_buffer> data(bufs.data(), count);
  auto [ec, sent] =
      co_await write_within(io_.stream, data, io_.options.write_timeout, io_.stop_signal);
  if (sent > 0) {
    head_sent_ = true;
    notify_client_write(sent);
  }
  out_.clear();
  // A failed write leaves the response cut: the connection must not carry another one (over
  // TLS, OpenSSL still holds the unsent record and would put it in front of the next write).
  if (ec) {
    aborted_ = true;
  } else {
    body_delivered_ = body_bytes_;  // everything held, and `extra`, went out
  }
  co_return to_std(ec);
}

asio::awaitable<std::error_code> Http1Exchange::write_body(asio::const_buffer data) {
  if (!started_ || ended_ || aborted_) co_return to_std(asio::error::not_connected);
  if (data.size() == 0 || framing_ == Framing::none) co_return std::error_code{};
  if (framing_ == Framing::length &&
      body_bytes_ + data.size() > static_cast<std::uint64_t>(declared_length_)) {
    // More bytes than Content-Length announced would run into the next response.
    abort();
    co_return to_std(http::error::body_limit);
  }
  if (out_.size() + data.size() + 32 > kOutputBufferBytes) {
    // Too much to hold: what is held and this write go out together, the write uncopied.
    static constexpr char kCrlf[] = "\r\n";
    body_bytes_ += data.size();
    if (framing_ == Framing::chunked) {
      http1::append_hex(out_, data.size());
      out_ += "\r\n";
      const std::array<asio::const_buffer, 2> extra{data, asio::buffer(kCrlf, 2)};
      co_return co_await write_out(extra);
    }
    const std::array<asio::const_buffer, 1> extra{data};
    co_return co_await write_out(extra);
  }
  if (framing_ == Framing::chunked) {
    http1::append_hex(out_, data.size());
    out_ += "\r\n";
  }
  out_.append(static_cast<const char*>(data.data()), data.size());
  if (framing_ == Framing::chunked) out_ += "\r\n";
  body_bytes_ += data.size();
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Http1Exchange::flush() {
  if (aborted_) co_return to_std(asio::error::not_connected);
  co_return co_await write_out();
}

bool Http1Exchange::accepts_spliced_body() const {
  return started_ && !ended_ && !aborted_ && framing_ == Framing::length;
}

asio::awaitable<std::error_code> Http1Exchange::write_body_spliced(int pipe_fd, std::size_t n) {
  if (!accepts_spliced_body()) co_return to_std(asio::error::not_connected);
  if (body_bytes_ + n > static_cast<std::uint64_t>(declared_length_)) {
    abort();  // more than Content-Length announced would run into the next response
    co_return to_std(http::error::body_limit);
  }
  if (!out_.empty()) {
    const auto ec = co_await write_out();
    if (ec) co_return ec;
  }
  const int client_fd = io_.stream.native_fd();
  // Each round moves bytes or waits (at most write_timeout) for room: bounded by `n`.
  while (n > 0) {
    if (io_.stopping) co_return aborted_error();
    const ssize_t moved =
        ::splice(pipe_fd, nullptr, client_fd, nullptr, n, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (moved > 0) {
      const auto m = static_cast<std::size_t>(moved);
      n -= m;
      body_bytes_ += m;
      body_delivered_ += m;
      head_sent_ = true;
      notify_client_write(m);
      continue;
    }
    if (moved < 0 && errno == EINTR) continue;
    if (moved < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto ec =
          co_await wait_writable_within(io_.stream, io_.options.write_timeout, io_.stop_signal);
      if (ec) co_return ec;
      continue;
    }
    // 0: the pipe is empty although `n` said otherwise (a caller bug): fail, never spin.
    co_return moved == 0 ? to_std(asio::error::broken_pipe)
                         : std::error_code(errno, std::system_category());
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Http1Exchange::end_response(const Fields* trailers) {
  if (!started_ || aborted_) co_return to_std(asio::error::not_connected);
  if (framing_ == Framing::length && body_bytes_ != static_cast<std::uint64_t>(declared_length_)) {
    abort();  // short body: cut the connection rather than leave the client waiting for bytes
    co_return to_std(http::error::partial_message);
  }
  if (!ended_) {
    ended_ = true;
    if (framing_ == Framing::chunked) {
      out_ += "0\r\n";
      if (trailers != nullptr) {
        http1::append_fields(out_, *trailers, kFramingFields);
      }
      out_ += "\r\n";
    }
  }
  co_return co_await write_out();
}

asio::awaitable<Exchange::Switched> Http1Exchange::switch_protocols(Response res) {
  if (started_) co_return Switched{to_std(asio::error::already_started), nullptr, {}};
  started_ = true;
  ended_ = true;
  upgraded_ = true;
  status_ = 101;
  http1::append_status_line(out_, 101);
  http1::append_fields(out_, res.header, kFramingFields);
  out_ += "Connection: Upgrade\r\n\r\n";
  const auto ec = co_await write_out();
  if (ec) co_return Switched{ec, nullptr, {}};
  // Bytes the client sent after its request head belong to the tunnel now.
  std::string buffered(static_cast<const char*>(io_.buffer.data().data()), io_.buffer.size());
  io_.buffer.consume(io_.buffer.size());
  co_return Switched{{}, &io_.stream, std::move(buffered)};
}

asio::awaitable<std::error_code> Http1Exchange::write_informational(unsigned status,
                                                                    Fields fields) {
  if (started_) co_return to_std(asio::error::already_started);
  if (status < 100 || status > 199 || status == 101)
    co_return to_std(asio::error::invalid_argument);
  // RFC 9110 §15.2: a server must not send a 1xx to an HTTP/1.0 client.
  if (request_.version < 11) co_return std::error_code{};
  if (io_.stopping) co_return aborted_error();
  std::string head;
  http1::append_status_line(head, status, "Informational");
  http1::append_fields(head, fields, kFramingFields);
  head += "\r\n";
  // Its own write, outside out_: the final response's head is not started, and a 1xx does not
  // make head_sent() true (an error response may still replace the final one).
  const std::array<asio::const_buffer, 1> data{asio::buffer(head)};
  auto [ec, n] =
      co_await write_within(io_.stream, data, io_.options.write_timeout, io_.stop_signal);
  if (n > 0) notify_client_write(n);
  co_return to_std(ec);
}

bool Http1Exchange::continue_sent() const {
  if (!continue_sent_) return false;  // read_body not called yet, or an HTTP/1.0 client
  const auto it = request_.header.find(http::field::expect);
  return it != request_.header.end() && boost::beast::iequals(it->value(), "100-continue");
}

void Http1Exchange::abort() {
  aborted_ = true;
  out_.clear();
}

bool Http1Exchange::keep_alive() const {
  return started_ && ended_ && !aborted_ && !upgraded_ && !will_close_ && !io_.draining &&
         !io_.stopping && request_body_read();
}

// ---- Client liveness -------------------------------------------------------------------------

void Http1Exchange::start_wait_client(WaitHandler handler) {
  io_.stream.async_wait_peer(std::move(handler));
}

bool Http1Exchange::client_watchable() const {
  return !pipelined_ && io_.buffer.size() == 0 && request_body_read();
}

bool Http1Exchange::client_gone_now() {
  if (io_.buffer.size() > 0) {
    pipelined_ = true;
    return false;
  }
  char byte;
  boost::system::error_code ec;
  const std::size_t n = io_.stream.peek(asio::buffer(&byte, 1), ec);
  if (n > 0) {
    pipelined_ = true;
    return false;
  }
  return ec && !would_block(ec);  // closed (eof) or reset
}

SpliceSink* Http1Exchange::splice_sink() { return io_.stream.native_fd() >= 0 ? this : nullptr; }

}  // namespace sluice::detail
