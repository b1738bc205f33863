#include "transport/http2_upstream.hpp"

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>

#include "http2/frame_io.hpp"
#include "http2/header_list.hpp"
#include "net/bounded_io.hpp"
#include "net/race.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Response bytes a stream may have in flight ahead of the proxy's reads: what one stream holds.
constexpr std::uint32_t kStreamWindow = 256 * 1024;
// Large, so that one slow client's stream never stalls the shared connection: each stream is
// bounded by its own window, the connection only by the sum.
constexpr std::int32_t kConnectionWindow = (1 << 30);

Http2UpstreamConnection& conn_of(void* user) {
  return *static_cast<Http2UpstreamConnection*>(user);
}

int header_cb(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* user) {
  return conn_of(user).on_header(*frame,
                                 std::string_view(reinterpret_cast<const char*>(name), namelen),
                                 std::string_view(reinterpret_cast<const char*>(value), valuelen));
}
int frame_recv_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return conn_of(user).on_frame_recv(*frame);
}
int data_chunk_cb(nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* data,
                  std::size_t len, void* user) {
  return conn_of(user).on_data_chunk(id, data, len);
}
int stream_close_cb(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
  return conn_of(user).on_stream_close(id, code);
}
int frame_send_cb(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  return conn_of(user).on_frame_send(*frame);
}

Http2UpstreamStream* stream_of(nghttp2_session* session, std::int32_t id) {
  return static_cast<Http2UpstreamStream*>(nghttp2_session_get_stream_user_data(session, id));
}

// The request body's data provider: what the upload handed over; deferred until there is more.
ssize_t read_upload(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* flags, nghttp2_data_source* source, void*) {
  auto& s = *static_cast<Http2UpstreamStream*>(source->ptr);
  const std::size_t n = std::min(length, s.upload_pending());
  if (n > 0) {
    std::memcpy(buf, s.upload.data() + s.upload_taken, n);
    s.upload_taken += n;
    if (s.upload_taken == s.upload.size()) {
      s.upload.clear();
      s.upload_taken = 0;
    }
    s.upload_wake.cancel();  // room for the upload's next read
  }
  if (s.upload_eof && s.upload_pending() == 0) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    s.deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace

Http2UpstreamConnection::Http2UpstreamConnection(std::unique_ptr<ByteStream> stream,
                                                 std::chrono::nanoseconds io_timeout,
                                                 std::chrono::nanoseconds idle_timeout,
                                                 std::uint32_t max_head_bytes,
                                                 std::shared_ptr<Http2ConnectionCounts> counts)
    : stream_(std::move(stream)),
      io_timeout_(io_timeout),
      idle_timeout_(idle_timeout),
      max_head_bytes_(max_head_bytes),
      counts_(std::move(counts)),
      idle_since_(Clock::now()),
      stop_(stream_->get_executor()),
      writer_wake_(stream_->get_executor()),
      reader_wake_(stream_->get_executor()) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, header_cb);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, frame_recv_cb);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, data_chunk_cb);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, stream_close_cb);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, frame_send_cb);
  nghttp2_option* option = nullptr;
  nghttp2_option_new(&option);
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_session_client_new2(&session_, callbacks, this, option);
  nghttp2_option_del(option);
  nghttp2_session_callbacks_del(callbacks);
}

Http2UpstreamConnection::~Http2UpstreamConnection() {
  count_as(-1);
  nghttp2_session_del(session_);
}

void Http2UpstreamConnection::count_as(int state) {
  if (state == counted_as_ || !counts_) return;
  if (counted_as_ == 0) counts_->idle.fetch_sub(1, std::memory_order_relaxed);
  if (counted_as_ == 1) counts_->busy.fetch_sub(1, std::memory_order_relaxed);
  if (state == 0) counts_->idle.fetch_add(1, std::memory_order_relaxed);
  if (state == 1) counts_->busy.fetch_add(1, std::memory_order_relaxed);
  counted_as_ = state;
}

void Http2UpstreamConnection::start() {
  const std::array<nghttp2_settings_entry, 3> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, max_head_bytes_},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  count_as(0);
  // Each loop holds the connection: it lives while either runs (or a request holds it).
  asio::co_spawn(executor(), read_loop(shared_from_this()), asio::detached);
  asio::co_spawn(executor(), write_loop(shared_from_this()), asio::detached);
}

bool Http2UpstreamConnection::usable() const {
  if (failed_ || goaway_ || retired_) return false;
  // Until the server's SETTINGS arrive nghttp2 assumes no limit; RFC 9113 §6.5.2 recommends
  // at least 100, so no more are opened before the server said how many it takes.
  const auto limit = std::min<std::uint32_t>(
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
      settings_received_ ? UINT32_MAX : 100);
  return streams_.size() < limit && nghttp2_session_check_request_allowed(session_) != 0;
}

bool Http2UpstreamConnection::open(const Request& out,
                                   const std::shared_ptr<Http2UpstreamStream>& s, bool with_body) {
  http2::HeaderList list = http2::HeaderList::request(out, "http");
  nghttp2_data_provider provider{};
  provider.source.ptr = s.get();
  provider.read_callback = read_upload;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, list.data(), list.size(),
                                                 with_body ? &provider : nullptr, s.get());
  if (id < 0) return false;
  s->id = id;
  streams_.emplace(id, s);
  count_as(1);
  wake_writer();
  return true;
}

void Http2UpstreamConnection::reset(Http2UpstreamStream& s, std::uint32_t code) {
  if (s.closed || s.reset_sent || failed_) return;
  s.reset_sent = true;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, code);
  wake_writer();
}

void Http2UpstreamConnection::consume(Http2UpstreamStream& s, std::size_t n) {
  if (failed_ || n == 0 || s.window_returned) return;
  if (s.closed) {
    nghttp2_session_consume_connection(session_, n);
  } else {
    nghttp2_session_consume(session_, s.id, n);
  }
  wake_writer();
}

void Http2UpstreamConnection::resume_upload(Http2UpstreamStream& s) {
  if (failed_ || s.closed) return;
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  wake_writer();
}

void Http2UpstreamConnection::close() { fail(); }

void Http2UpstreamConnection::retire() {
  retired_ = true;
  reader_wake_.cancel();  // the reader's idle deadline becomes now once no stream is left
}

void Http2UpstreamConnection::fail() {
  if (failed_) return;
  failed_ = true;
  for (auto& [id, s] : streams_) {
    s->closed = true;
    s->close_code = NGHTTP2_INTERNAL_ERROR;
    s->wake_all();
  }
  streams_.clear();
  count_as(-1);
  stop_.fire();
  stream_->cancel();
  stream_->close();
  writer_wake_.cancel();
  reader_wake_.cancel();
}

// ---- nghttp2's callbacks ----------------------------------------------------------------------

int Http2UpstreamConnection::on_header(const nghttp2_frame& frame, std::string_view name,
                                       std::string_view value) {
  if (frame.hd.type != NGHTTP2_HEADERS) return 0;
  Http2UpstreamStream* s = stream_of(session_, frame.hd.stream_id);
  if (s == nullptr || s->head_too_large) return 0;
  // An HPACK bomb expands a small block into megabytes: counted as RFC 9113 §6.5.2 does, past
  // max_response_header_bytes nothing more is held and the stream is reset (502).
  s->head_bytes += name.size() + value.size() + 32;
  if (s->head_bytes > max_head_bytes_) {
    s->head_too_large = true;
    reset(*s, NGHTTP2_CANCEL);
    s->wake.cancel();
    return 0;
  }
  if (s->head_done) {  // a header block after the final head: the trailer section
    s->trailers.insert(name, value);
    return 0;
  }
  if (name == ":status") {
    unsigned status = 0;
    for (const char c : value)
      status = status * 10 + static_cast<unsigned>(c - '0');  // nghttp2 checked: 3 digits
    if (status < 200) {
      s->pending_1xx = status;
      s->fields_1xx = {};
    } else {
      s->pending_1xx = 0;
      s->status = status;
    }
    return 0;
  }
  if (s->pending_1xx != 0) {
    s->fields_1xx.insert(name, value);
  } else {
    s->header.insert(name, value);
  }
  return 0;
}

int Http2UpstreamConnection::on_frame_recv(const nghttp2_frame& frame) {
  if (frame.hd.type == NGHTTP2_SETTINGS && (frame.hd.flags & NGHTTP2_FLAG_ACK) == 0) {
    settings_received_ = true;
    return 0;
  }
  if (frame.hd.type == NGHTTP2_GOAWAY) {
    goaway_ = true;  // no new stream here; those above its last id are closed by nghttp2
    return 0;
  }
  if (frame.hd.stream_id == 0) return 0;
  Http2UpstreamStream* s = stream_of(session_, frame.hd.stream_id);
  if (s == nullptr) return 0;
  if (frame.hd.type == NGHTTP2_HEADERS) {
    if (s->pending_1xx != 0) {
      s->informational.emplace_back(s->pending_1xx, std::move(s->fields_1xx));
      s->pending_1xx = 0;
      s->fields_1xx = {};
      s->head_bytes = 0;  // each head is held to the limit on its own
    } else if (s->status != 0 && !s->head_done) {
      s->head_done = true;
      s->head_bytes = 0;  // the trailer section has the limit again
    }
  }
  if ((frame.hd.type == NGHTTP2_HEADERS || frame.hd.type == NGHTTP2_DATA) &&
      (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    s->body_ended = true;
  }
  s->wake.cancel();
  return 0;
}

int Http2UpstreamConnection::on_frame_send(const nghttp2_frame& frame) {
  if (frame.hd.type != NGHTTP2_HEADERS || frame.hd.stream_id == 0) return 0;
  if (Http2UpstreamStream* s = stream_of(session_, frame.hd.stream_id)) s->headers_sent = true;
  return 0;
}

int Http2UpstreamConnection::on_data_chunk(std::int32_t id, const std::uint8_t* data,
                                           std::size_t len) {
  Http2UpstreamStream* s = stream_of(session_, id);
  if (s == nullptr) {
    nghttp2_session_consume(session_, id, len);
    return 0;
  }
  // Compact first: the server refills what the proxy read.
  if (s->body_read > 0 && 2 * s->body_read >= s->body.size()) {
    s->body.erase(0, s->body_read);
    s->body_read = 0;
  }
  s->body.append(reinterpret_cast<const char*>(data), len);
  s->wake.cancel();
  return 0;
}

int Http2UpstreamConnection::on_stream_close(std::int32_t id, std::uint32_t code) {
  Http2UpstreamStream* s = stream_of(session_, id);
  if (s == nullptr) return 0;
  s->closed = true;
  s->close_code = code;
  // Bytes not read yet: the closed stream cannot grant them, so their share of the connection
  // window comes back now (the proxy may still read them; that grants nothing more).
  if (s->unread() > 0) nghttp2_session_consume_connection(session_, s->unread());
  s->window_returned = true;
  s->wake_all();
  streams_.erase(id);  // the request, if any, holds it on
  if (streams_.empty()) {
    idle_since_ = Clock::now();
    if (!failed_) count_as(0);
  }
  reader_wake_.cancel();
  return 0;
}

// ---- Loops ------------------------------------------------------------------------------------

asio::awaitable<void> Http2UpstreamConnection::write_loop(
    std::shared_ptr<Http2UpstreamConnection> /*alive while it runs*/) {
  asio::steady_timer never(executor());
  never.expires_at(Clock::time_point::max());
  // Each round writes one batch or waits once; the connection's end bounds it.
  while (!failed_) {
    if (!http2::take_output(session_, out_)) {
      fail();
      co_return;
    }
    if (out_.empty()) {
      if (nghttp2_session_want_read(session_) == 0 && nghttp2_session_want_write(session_) == 0) {
        fail();  // both sides said GOAWAY and every stream is done
        co_return;
      }
      if (out_.capacity() > http2::kBatchBytes / 4) out_ = std::string();
      writer_wake_.expires_at(Clock::time_point::max());
      co_await race(never, stop_, writer_wake_.async_wait(asio::deferred));
      continue;
    }
    const std::array<asio::const_buffer, 1> data{asio::buffer(out_)};
    auto [ec, n] = co_await write_within(*stream_, data, io_timeout_, stop_);
    out_.clear();
    if (ec) {
      fail();
      co_return;
    }
  }
}

asio::awaitable<void> Http2UpstreamConnection::read_loop(
    std::shared_ptr<Http2UpstreamConnection> /*alive while it runs*/) {
  asio::steady_timer deadline(executor());
  // Each round hands what is there to nghttp2 (at most http2::kReadsPerWake reads) or waits once.
  while (!failed_) {
    bool read_any = false;
    for (int i = 0; i < http2::kReadsPerWake; ++i) {
      boost::system::error_code rec;
      const auto scratch = http2::read_scratch();
      const std::size_t n = stream_->read_some(asio::buffer(scratch.data(), scratch.size()), rec);
      if (would_block(rec)) break;
      if (rec || nghttp2_session_mem_recv(session_, scratch.data(), n) < 0) {
        fail();  // closed, reset, or a connection error (nghttp2 queued GOAWAY: not sent now)
        co_return;
      }
      read_any = true;
    }
    if (read_any) {
      wake_writer();  // WINDOW_UPDATE, SETTINGS ACK, PING ACK
      co_await asio::post(executor(), asio::use_awaitable);
      continue;
    }
    // Idle (no stream) for idle_timeout, or at all once retired: closed, as an idle HTTP/1
    // connection is.
    auto idle_end = retired_ ? idle_since_ : idle_since_ + idle_timeout_;
    deadline.expires_at(streams_.empty() ? idle_end : Clock::time_point::max());
    reader_wake_.expires_at(Clock::time_point::max());
    auto [order, wec, rwec, dec, sec] =
        co_await race(deadline, stop_, stream_->async_wait(ByteStream::Ready::read, asio::deferred),
                      reader_wake_.async_wait(asio::deferred));
    const Winner w = winner_of(order);
    if (w.stop()) co_return;
    if (w.deadline() && streams_.empty()) {
      fail();
      co_return;
    }
  }
}

}  // namespace sluice
