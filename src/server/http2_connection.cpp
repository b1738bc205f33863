#include "server/http2_connection.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "common/nothrow.hpp"
#include "http2/frame_io.hpp"
#include "net/bounded_io.hpp"
#include "net/race.hpp"
#include "server/handler_call.hpp"
#include "server/http2_exchange.hpp"
#include "server/request_record.hpp"
#include "sluice/log.hpp"

namespace sluice::detail {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// DATA frames without payload or END_STREAM a stream may send (they cost work and carry nothing).
constexpr std::uint32_t kMaxEmptyDataFrames = 64;

Http2Connection& conn_of(void* user) { return *static_cast<Http2Connection*>(user); }

int begin_headers_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return conn_of(user).on_begin_headers(*frame);
}
int header_cb(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* user) {
  return conn_of(user).on_header(*frame,
                                 std::string_view(reinterpret_cast<const char*>(name), namelen),
                                 std::string_view(reinterpret_cast<const char*>(value), valuelen));
}
int invalid_header_cb(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t*,
                      std::size_t, const std::uint8_t*, std::size_t, std::uint8_t, void* user) {
  return conn_of(user).on_invalid_header(*frame);
}
int frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return conn_of(user).on_frame_recv(*frame);
}
int data_chunk_cb(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                  std::size_t len, void* user) {
  return conn_of(user).on_data_chunk(stream_id, data, len);
}
int frame_send_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return conn_of(user).on_frame_send(*frame);
}
int stream_close_cb(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code,
                    void* user) {
  return conn_of(user).on_stream_close(stream_id, error_code);
}

Http2Stream* stream_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session, id));
}

std::uint32_t connection_window(const ServerOptions& o) {
  if (o.h2_connection_window > 0) return o.h2_connection_window;
  const std::uint64_t product =
      static_cast<std::uint64_t>(o.h2_max_concurrent_streams) * o.h2_stream_window;
  return static_cast<std::uint32_t>(std::min<std::uint64_t>(product, NGHTTP2_MAX_WINDOW_SIZE));
}

}  // namespace

Http2Connection::Http2Connection(SessionIo& io, SessionEnv& env, asio::ip::tcp::endpoint remote)
    : io_(io),
      env_(env),
      remote_(remote),
      writer_wake_(io.stream.get_executor()),
      conn_wake_(io.stream.get_executor()) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, begin_headers_cb);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, header_cb);
  nghttp2_session_callbacks_set_on_invalid_header_callback(callbacks, invalid_header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, data_chunk_cb);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, frame_send_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, stream_close_cb);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  // Window updates follow the handler's reads (read_body), not nghttp2's receipt.
  nghttp2_option_set_no_auto_window_update(option, 1);
  // What the client may keep open, counted by nghttp2 for streams it still sees open; sluice
  // also counts reset streams whose handler runs on (on_begin_headers).
  nghttp2_option_set_max_reserved_remote_streams(option, 0);
  nghttp2_session_server_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
}

Http2Connection::~Http2Connection() { nghttp2_session_del(session_); }

// ---- nghttp2's callbacks ----------------------------------------------------------------------

int Http2Connection::on_begin_headers(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS || frame.headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const std::int32_t id = frame.hd.stream_id;
  const ServerOptions& o = io_.options;
  // Streams still counted: those with a running handler (also after the client reset them:
  // their upstream work goes on until the handler sees it) and those whose head is arriving.
  if (goaway_sent_ || handlers_ + collecting_ >= o.h2_max_concurrent_streams) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    count_reset();
    return 0;  // its header block is still decoded (HPACK state), into nothing
  }
  http2::HeadLimits limits{o.max_request_header_bytes, o.max_header_count, o.max_uri_bytes,
                           o.max_body_bytes};
  auto stream = std::make_shared<Http2Stream>(id, io_.stream.get_executor(), limits);
  nghttp2_session_set_stream_user_data(session_, id, stream.get());
  streams_.emplace(id, std::move(stream));
  ++collecting_;
  return 0;
}

int Http2Connection::on_header(const nghttp2_frame& frame, std::string_view name,
                               std::string_view value) {
  Http2Stream* s = stream_of(session_, frame.hd.stream_id);
  // Request trailers (a second header block) are not forwarded: an HTTP/1 upstream would need
  // them chunked after a body it may already have framed with a length.
  if (s == nullptr || s->handler_started) return 0;
  s->head.add(name, value);
  return 0;
}

int Http2Connection::on_invalid_header(const nghttp2_frame& frame) {
  // RFC 9113 §8.2.1, §8.2.2: an uppercase or invalid name, or a connection-specific field, makes
  // the request malformed: a stream error, never a request (nghttp2 alone would drop the field).
  Http2Stream* s = stream_of(session_, frame.hd.stream_id);
  if (s == nullptr || s->handler_started) return 0;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, frame.hd.stream_id,
                            NGHTTP2_PROTOCOL_ERROR);
  nghttp2_session_set_stream_user_data(session_, frame.hd.stream_id, nullptr);
  --collecting_;
  streams_.erase(frame.hd.stream_id);
  return 0;
}

int Http2Connection::on_frame_recv(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_RST_STREAM) count_reset();
  Http2Stream* s = frame.hd.stream_id != 0 ? stream_of(session_, frame.hd.stream_id) : nullptr;
  if (s == nullptr) return 0;
  const bool end_stream = (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame.hd.type == NGHTTP2_HEADERS) {
    if (!s->handler_started && frame.headers.cat == NGHTTP2_HCAT_REQUEST) {
      start_stream(*s, end_stream);
    } else if (end_stream) {
      s->body_ended = true;
      s->body_wake.cancel();
    }
  } else if (frame.hd.type == NGHTTP2_DATA) {
    if (end_stream) {
      s->body_ended = true;
      s->body_wake.cancel();
    } else if (frame.hd.length == frame.data.padlen &&
               ++s->empty_data_frames > kMaxEmptyDataFrames) {
      // An empty-DATA flood (padding only counts as empty): work for nothing (CVE-2019-9518).
      terminate(NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }
  return 0;
}

int Http2Connection::on_data_chunk(std::int32_t stream_id, const std::uint8_t* data,
                                   std::size_t len) {
  Http2Stream* s = stream_of(session_, stream_id);
  if (s == nullptr) {
    // A refused stream's body: nobody reads it, so it is consumed at once.
    nghttp2_session_consume(session_, stream_id, len);
    return 0;
  }
  // At most the stream's window: nothing is granted back until the handler reads.
  s->body.append(reinterpret_cast<const char*>(data), len);
  s->body_wake.cancel();
  return 0;
}

int Http2Connection::on_frame_send(const nghttp2_frame& frame) {
  if (frame.hd.stream_id == 0) return 0;
  Http2Stream* s = stream_of(session_, frame.hd.stream_id);
  if (s == nullptr) return 0;
  const bool data = frame.hd.type == NGHTTP2_DATA;
  if (!data && frame.hd.type != NGHTTP2_HEADERS) return 0;
  s->last_batch = batch_;
  if ((frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) s->end_sent = true;
  if (s->exchange != nullptr) s->exchange->frame_sent(frame.hd.length, data);
  return 0;
}

int Http2Connection::on_stream_close(std::int32_t stream_id, std::uint32_t error_code) {
  Http2Stream* s = stream_of(session_, stream_id);
  if (s == nullptr) return 0;
  s->closed = true;
  if (!s->handler_started) --collecting_;
  // Request body bytes nobody will read: their share of the connection window comes back.
  if (s->unread_body() > 0) nghttp2_session_consume_connection(session_, s->unread_body());
  if (!s->end_sent || error_code != NGHTTP2_NO_ERROR) client_reset(*s);
  s->wake_all();
  streams_.erase(stream_id);  // the handler, if any, holds it on
  return 0;
}

// ---- Streams ------------------------------------------------------------------------------------

void Http2Connection::client_reset(Http2Stream& s) {
  if (s.gone.fired()) return;
  s.gone.fire();
}

void Http2Connection::count_reset() {
  // Rapid reset (CVE-2023-44487): RST_STREAM frames from the client and streams refused, per
  // second. The concurrency limit already bounds the work in flight; this ends a connection
  // made of them.
  const auto now = Clock::now();
  if (now - reset_window_ > std::chrono::seconds(1)) {
    reset_window_ = now;
    resets_in_window_ = 0;
  }
  const std::uint32_t budget =
      std::max<std::uint32_t>(200, 2 * io_.options.h2_max_concurrent_streams);
  if (++resets_in_window_ > budget) terminate(NGHTTP2_ENHANCE_YOUR_CALM);
}

void Http2Connection::terminate(std::uint32_t code) {
  if (terminating_) return;
  terminating_ = true;
  // GOAWAY, after which nghttp2 ignores the client: no stream hears from it again, so every
  // handler is told now rather than at its next timeout (its upstream work stops with it).
  nghttp2_session_terminate_session(session_, code);
  for (auto& [id, s] : streams_) {
    s->gone.fire();
    s->wake_all();
  }
  wake_writer();
  wake_connection();
}

void Http2Connection::start_stream(Http2Stream& s, bool end_stream) {
  --collecting_;
  s.handler_started = true;
  if (end_stream) s.body_ended = true;
  ++handlers_;
  auto owner = streams_.at(s.id);
  asio::co_spawn(io_.stream.get_executor(), serve_stream(std::move(owner), end_stream),
                 [this](std::exception_ptr e) {
                   --handlers_;
                   last_activity_ = Clock::now();  // idle_timeout counts from the last stream
                   wake_connection();
                   if (e) write_log_line(env_.options.log, "HTTP/2 stream handler bug");
                 });
}

asio::awaitable<void> Http2Connection::serve_stream(std::shared_ptr<Http2Stream> stream,
                                                    bool head_ended_stream) {
  // Starts after nghttp2_session_mem_recv returned, never inside its callback.
  co_await asio::post(io_.stream.get_executor(), asio::use_awaitable);
  // Reset by the client (or the connection ended) before its handler could start: HEADERS and
  // RST_STREAM in one read, which is how rapid reset (CVE-2023-44487) comes. Nobody is left to
  // answer, so no upstream work is started for it (nginx and HAProxy forward none either).
  if (stream->gone.fired()) co_return;
  const ServerOptions& opts = env_.options;
  const auto start = Clock::now();
  // Whether END_STREAM came with the head, not whether the body has ended by now.
  auto head = stream->head.finish(head_ended_stream, remote_, io_.tls);
  stream->head = http2::RequestHead({});  // its strings are no longer needed
  if (auto* refusal = std::get_if<http2::HeadRefusal>(&head)) {
    Request none;
    none.version = 20;
    none.remote = remote_;
    Http2Exchange ex(*this, stream, std::move(none));
    Fields fields;
    fields.set("content-type", "text/plain");
    // Named: a temporary with a destructor inside co_await breaks GCC 12's coroutines.
    SimpleResponse answer{refusal->status, std::move(fields), refusal->reason + "\n"};
    co_await ex.respond(std::move(answer));
    record_refused(
        env_, RefusedRequest{remote_, refusal->status, refusal->reason, start, {}, {}, "HTTP/2.0"});
  } else {
    Http2Exchange ex(*this, stream, std::move(std::get<Request>(head)));
    ex.report().want_names = opts.access_log == AccessLog::json;
    ActiveRequest active(opts.metrics.get());
    co_await call_handler(env_, ex);
    record_served(env_, ex, start);
  }
  Http2Stream& s = *stream;
  if (!s.closed) {
    // RFC 9113 §8.1: a complete response ends the stream even while the client still sends;
    // RST_STREAM(NO_ERROR) tells it to stop. Unread body bytes give their window back.
    if (s.unread_body() > 0) {
      nghttp2_session_consume(session_, s.id, s.unread_body());
      s.body.clear();
      s.body_read = 0;
    }
    if (!s.body_ended && !s.gone.fired() && !s.reset_submitted) {
      s.reset_submitted = true;
      nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_NO_ERROR);
    }
    wake_writer();
  }
}

// ---- The connection
// ------------------------------------------------------------------------------

bool Http2Connection::receive(const std::uint8_t* data, std::size_t n) {
  const auto rv = nghttp2_session_mem_recv(session_, data, n);
  // A fatal error (bad preface, flood, out of memory). For a protocol error nghttp2 queues
  // GOAWAY itself and ignores the rest: finished() then holds once the GOAWAY is out.
  return rv >= 0;
}

Clock::time_point Http2Connection::next_deadline() const {
  const ServerOptions& o = io_.options;
  if (collecting_ > 0) {
    auto oldest = Clock::time_point::max();
    for (const auto& [id, s] : streams_) {
      if (!s->handler_started) oldest = std::min(oldest, s->head_started);
    }
    if (oldest != Clock::time_point::max()) return oldest + o.header_timeout;
  }
  // Idle: no stream for idle_timeout (control frames such as PING do not count).
  if (handlers_ == 0) return last_activity_ + o.idle_timeout;
  return Clock::time_point::max();
}

bool Http2Connection::finished() const {
  if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
    return true;
  }
  return goaway_sent_ && handlers_ == 0 && collecting_ == 0;
}

void Http2Connection::fail() {
  if (failed_) return;
  failed_ = true;
  for (auto& [id, s] : streams_) {
    s->gone.fire();
    s->wake_all();
  }
  wake_writer();
  wake_connection();
}

void Http2Connection::collect_output() {
  ++batch_;
  if (!http2::take_output(session_, out_)) fail();
}

asio::awaitable<void> Http2Connection::write_loop() {
  asio::steady_timer never(io_.stream.get_executor());
  never.expires_at(asio::steady_timer::time_point::max());
  // Each round writes one batch or waits once; the connection's end bounds it.
  for (;;) {
    if (io_.stopping || failed_) break;
    collect_output();
    if (failed_) break;
    if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
      wake_connection();  // after a GOAWAY of ours: the reader ends the connection
    }
    if (out_.empty()) {
      if (reading_done_ && handlers_ == 0) break;
      if (out_.capacity() > http2::kBatchBytes / 4)
        out_ = std::string();  // an idle connection holds none
      writer_wake_.expires_at(asio::steady_timer::time_point::max());
      co_await race(never, io_.stop_signal, writer_wake_.async_wait(asio::deferred));
      continue;
    }
    const std::array<asio::const_buffer, 1> data{asio::buffer(out_)};
    auto [ec, n] =
        co_await write_within(io_.stream, data, io_.options.write_timeout, io_.stop_signal);
    out_.clear();
    if (ec) {
      fail();
      break;
    }
    written_batch_ = batch_;
    for (auto& [id, s] : streams_)
      s->out_wake.cancel();
  }
}

asio::awaitable<void> Http2Connection::read_loop(std::string_view received) {
  last_activity_ = Clock::now();
  if (!received.empty() &&
      !receive(reinterpret_cast<const std::uint8_t*>(received.data()), received.size())) {
    co_return;
  }
  wake_writer();
  asio::steady_timer deadline(io_.stream.get_executor());
  // Each round reads what is there (at most http2::kReadsPerWake reads) or waits once.
  for (;;) {
    if (failed_ || io_.stopping) co_return;
    if (io_.draining && !goaway_sent_) {
      // Graceful stop: the streams it has seen finish; no new one starts.
      goaway_sent_ = true;
      nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                            nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                            nullptr, 0);
      wake_writer();
    }
    if (finished()) co_return;
    bool read_any = false;
    for (int i = 0; i < http2::kReadsPerWake; ++i) {
      boost::system::error_code rec;
      const auto scratch = http2::read_scratch();
      const std::size_t n = io_.stream.read_some(asio::buffer(scratch.data(), scratch.size()), rec);
      if (would_block(rec)) break;
      if (rec) {
        fail();  // the client closed or reset the connection
        co_return;
      }
      read_any = true;
      if (!receive(scratch.data(), n)) {
        wake_writer();
        co_return;
      }
    }
    if (read_any) {
      wake_writer();
      co_await asio::post(io_.stream.get_executor(), asio::use_awaitable);
      continue;
    }
    deadline.expires_at(next_deadline());
    conn_wake_.expires_at(Clock::time_point::max());
    auto [order, rec, wec, dec, sec] = co_await race(
        deadline, io_.stop_signal, io_.stream.async_wait(ByteStream::Ready::read, asio::deferred),
        conn_wake_.async_wait(asio::deferred));
    const Winner w = winner_of(order);
    if (w.stop()) co_return;
    if (w.deadline()) {
      if (collecting_ > 0) {
        // A header block not whole within header_timeout (HTTP/1 answers 408 and closes).
        terminate(NGHTTP2_PROTOCOL_ERROR);
      } else if (!goaway_sent_ && handlers_ == 0) {
        // Idle for idle_timeout with no stream: GOAWAY, then close.
        goaway_sent_ = true;
        nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                              nullptr, 0);
        wake_writer();
      }
    }
  }
}

asio::awaitable<void> Http2Connection::run(std::string_view received) {
  const ServerOptions& o = io_.options;
  io_.idle = false;  // the server's drain sends GOAWAY through on_drain instead
  io_.on_drain = [this] { wake_connection(); };
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, o.h2_max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, o.h2_stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, o.max_request_header_bytes},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<std::int32_t>(connection_window(o)));

  writer_running_ = true;
  asio::co_spawn(io_.stream.get_executor(), write_loop(), [this](std::exception_ptr e) {
    writer_running_ = false;
    wake_connection();
    if (e) write_log_line(env_.options.log, "HTTP/2 writer bug");
  });
  co_await read_loop(received);
  reading_done_ = true;
  // Whatever ended the reading, no stream hears from the client again.
  for (auto& [id, s] : streams_) {
    s->gone.fire();
    s->wake_all();
  }
  wake_writer();
  // The frame owns the session: it ends only after every coroutine that touches it.
  while (handlers_ > 0 || writer_running_) {
    conn_wake_.expires_at(Clock::time_point::max());
    co_await conn_wake_.async_wait(use_nothrow);
    wake_writer();
  }
  io_.on_drain = nullptr;
}

}  // namespace sluice::detail
