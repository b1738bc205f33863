// make_http2_transport(): HTTP/2 with prior knowledge to the upstream
// (include/sluice/transport.hpp), and the HTTP/2 half of the auto transport (http2_transport.hpp).
// Per worker, an Asio service keeps each transport's connections by
// server; a round trip takes a usable one (or connects), opens a stream on it, sends the request
// body from a coroutine of its own (full duplex: the response may stream back meanwhile), and waits
// for the final head.
#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/execution/context.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <charconv>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "common/nothrow.hpp"
#include "net/race.hpp"
#include "net/tls_stream.hpp"
#include "sluice/error.hpp"
#include "sluice/transport.hpp"
#include "transport/http2_transport.hpp"
#include "transport/http2_upstream.hpp"
#include "transport/upstream_connection.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<std::uint64_t> next_transport_id{1};

// Request body bytes an upload hands to a stream before it waits for them to leave.
constexpr std::size_t kUploadBufferBytes = 64 * 1024;
// Go's transport accepts at most 5 informational responses before the final one.
constexpr int kMaxInformational = 5;
// Attempts of a request whose stream the server refused unprocessed.
constexpr int kMaxAttempts = 3;

// The connections of every HTTP/2 transport on one worker, by transport and server. Closed with
// the io_context (shutdown), as the HTTP/1 pools are.
class Http2PoolService : public asio::execution_context::service {
 public:
  using key_type = Http2PoolService;
  static asio::execution_context::id id;
  explicit Http2PoolService(asio::execution_context& ctx) : service(ctx) {}

  std::shared_ptr<Http2UpstreamConnection> usable(std::uint64_t transport,
                                                  const std::string& server) {
    auto& list = pools_[transport][server];
    std::shared_ptr<Http2UpstreamConnection> found;
    // Drop what is dead; keep the first that takes a stream.
    for (auto it = list.begin(); it != list.end();) {
      if ((*it)->dead()) {
        it = list.erase(it);
        continue;
      }
      if (!found && (*it)->usable()) found = *it;
      ++it;
    }
    return found;
  }
  void add(std::uint64_t transport, const std::string& server,
           std::shared_ptr<Http2UpstreamConnection> conn) {
    // Dead connections of every server go here too, so none stays after its transport is gone.
    for (auto& [t, servers] : pools_) {
      for (auto& [name, list] : servers) {
        std::erase_if(list, [](const auto& c) { return c->dead(); });
      }
    }
    pools_[transport][server].push_back(std::move(conn));
  }

  // A connect in progress to a server: the requests that arrive meanwhile wait for it instead
  // of each opening a connection of their own.
  struct Connecting {
    explicit Connecting(const asio::any_io_executor& ex) : done(ex) {
      done.expires_at(Clock::time_point::max());
    }
    asio::steady_timer done;  // cancelled when the connect ended, however
  };
  std::shared_ptr<Connecting> connecting(std::uint64_t transport, const std::string& server) {
    auto& slot = connecting_[transport][server];
    return slot;
  }
  std::shared_ptr<Connecting> begin_connect(std::uint64_t transport, const std::string& server,
                                            const asio::any_io_executor& ex) {
    auto c = std::make_shared<Connecting>(ex);
    connecting_[transport][server] = c;
    return c;
  }
  // Ends `mine`: its waiters wake; the slot is cleared only if it is still `mine`.
  void end_connect(std::uint64_t transport, const std::string& server,
                   const std::shared_ptr<Connecting>& mine) {
    mine->done.cancel();
    auto& slot = connecting_[transport][server];
    if (slot == mine) slot.reset();
  }

  // The servers that chose http/1.1 by ALPN when offered both (the auto transport), until
  // when that is believed: then a new connection asks again.
  bool speaks_http1(std::uint64_t transport, const std::string& server) const {
    const auto it = http1_.find(transport);
    if (it == http1_.end()) return false;
    const auto found = it->second.find(server);
    return found != it->second.end() && Clock::now() < found->second;
  }
  void learned_http1(std::uint64_t transport, const std::string& server, Clock::time_point until) {
    // What expired goes, of every transport (retired ones' too): bounded by the servers.
    const auto now = Clock::now();
    for (auto it = http1_.begin(); it != http1_.end();) {
      std::erase_if(it->second, [now](const auto& entry) { return entry.second <= now; });
      it = it->second.empty() ? http1_.erase(it) : std::next(it);
    }
    http1_[transport][server] = until;
  }

 private:
  void shutdown() override {
    for (auto& [t, servers] : pools_) {
      for (auto& [server, list] : servers) {
        for (auto& conn : list)
          conn->close();
      }
    }
    pools_.clear();
    connecting_.clear();
    http1_.clear();
  }
  std::map<std::uint64_t,
           std::map<std::string, std::vector<std::shared_ptr<Http2UpstreamConnection>>>>
      pools_;
  std::map<std::uint64_t, std::map<std::string, std::shared_ptr<Connecting>>> connecting_;
  std::map<std::uint64_t, std::map<std::string, Clock::time_point>> http1_;
};
asio::execution_context::id Http2PoolService::id;

// The response body of one stream: bytes as they arrived, granted back to the server as read.
class Http2ResponseBody final : public ResponseBody {
 public:
  Http2ResponseBody(std::shared_ptr<Http2UpstreamConnection> conn,
                    std::shared_ptr<Http2UpstreamStream> stream)
      : conn_(std::move(conn)), s_(std::move(stream)) {}
  ~Http2ResponseBody() override { finish(false); }

  std::size_t read_some(asio::mutable_buffer into, std::error_code& ec) override {
    ec = {};
    Http2UpstreamStream& s = *s_;
    if (s.unread() > 0 && into.size() > 0) {
      const std::size_t n = std::min(into.size(), s.unread());
      std::memcpy(into.data(), s.body.data() + s.body_read, n);
      s.body_read += n;
      conn_->consume(s, n);
      return n;
    }
    if (s.body_ended && s.unread() == 0) return 0;
    if (s.closed || conn_->dead()) {
      // Reset by the server, or the connection went: the body is cut.
      ec = make_error_code(errc::upstream_closed);
      return 0;
    }
    ec = to_std(asio::error::would_block);
    return 0;
  }
  std::size_t buffered_bytes() const override { return s_->unread(); }
  bool done() const override { return s_->body_ended && s_->unread() == 0; }
  Fields trailers() override { return std::move(s_->trailers); }
  void finish(bool) override {
    if (finished_) return;
    finished_ = true;
    // Not read to its end: the server stops sending (the proxy's client went, or it cut).
    if (!s_->closed && !done()) conn_->reset(*s_, NGHTTP2_CANCEL);
  }

 protected:
  void start_read_some(asio::mutable_buffer into, ReadHandler handler) override {
    std::error_code ec;
    std::size_t n = read_some(into, ec);
    if (!would_block(ec)) {
      asio::post(conn_->executor(), [h = std::move(handler), ec, n]() mutable { h(ec, n); });
      return;
    }
    // Woken by a frame of this stream (or cancelled): whatever arrived is read then, so a
    // cancelled wait may still hand over bytes, which the pump counts whichever racer won;
    // woken with nothing, it completes with no error and no byte (transport.hpp allows it).
    s_->wake.expires_at(Clock::time_point::max());
    auto slot = asio::get_associated_cancellation_slot(handler);
    s_->wake.async_wait(asio::bind_cancellation_slot(
        slot, [this, into, h = std::move(handler)](boost::system::error_code) mutable {
          std::error_code rec;
          const std::size_t got = read_some(into, rec);
          if (would_block(rec)) rec = {};  // woken with nothing: call read_some again
          h(rec, got);
        }));
  }

 private:
  std::shared_ptr<Http2UpstreamConnection> conn_;
  std::shared_ptr<Http2UpstreamStream> s_;
  bool finished_ = false;
};

// The request body, sent from a coroutine of its own while the response streams.
class Http2Upload final : public RequestUpload, public std::enable_shared_from_this<Http2Upload> {
 public:
  Http2Upload(std::shared_ptr<Http2UpstreamConnection> conn,
              std::shared_ptr<Http2UpstreamStream> stream, BodySource& source,
              std::chrono::nanoseconds timeout)
      : conn_(std::move(conn)),
        s_(std::move(stream)),
        source_(source),
        timeout_(timeout),
        stop_(conn_->executor()),
        done_wake_(conn_->executor()) {}

  void start() {
    asio::co_spawn(conn_->executor(), run(shared_from_this()),
                   [self = shared_from_this()](std::exception_ptr) {
                     self->done_ = true;
                     self->done_wake_.cancel();
                     self->s_->wake.cancel();
                   });
  }
  bool done() const { return done_; }
  std::error_code error() const { return error_; }
  // A byte of the client's body was read: the request can no longer be sent again.
  bool read_any() const { return read_any_; }

  asio::awaitable<void> stop_and_wait() override {
    stop_.fire();
    // Bounded: the upload races stop_, so it ends within a turn of the event loop.
    while (!done_) {
      done_wake_.expires_at(Clock::time_point::max());
      co_await done_wake_.async_wait(use_nothrow);
    }
  }

 private:
  asio::awaitable<void> run(std::shared_ptr<Http2Upload> /*alive while it runs*/) {
    const auto executor = conn_->executor();
    std::array<char, 16 * 1024> buf;
    asio::steady_timer deadline(executor);
    Http2UpstreamStream& s = *s_;
    bool complete = false;
    // Each round waits for room once or reads the client once: the body bounds it.
    for (;;) {
      if (stop_.fired() || s.closed || conn_->dead()) break;
      if (s.upload_pending() >= kUploadBufferBytes) {
        // The server's window is shut: wait for it to take bytes, within the idle timeout.
        deadline.expires_after(timeout_);
        s.upload_wake.expires_at(Clock::time_point::max());
        auto [order, uec, dec, sec] =
            co_await race(deadline, stop_, s.upload_wake.async_wait(asio::deferred));
        if (winner_of(order).deadline()) {
          error_ = make_error_code(errc::upstream_write_failed);
          break;
        }
        continue;
      }
      // From here a byte may be taken from the client even if the stop wins the race: the
      // request can no longer be sent again.
      read_any_ = true;
      // The client's read races the stop: a stopped upload leaves the body source at once.
      auto [order, eptr, result, sec] =
          co_await asio::experimental::make_parallel_group(
              asio::co_spawn(executor, source_.read(asio::buffer(buf)), asio::deferred),
              stop_.async_wait(asio::deferred))
              .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
      if (order[0] == 1 || eptr) break;
      const auto [rec, n] = result;
      if (rec) {
        error_ = rec;  // the client's body failed: the server must not see it end cleanly
        break;
      }
      if (n == 0) {
        s.upload_eof = true;
        conn_->resume_upload(s);
        s.wake.cancel();  // the head's deadline starts now (wait_for_head)
        complete = true;
        break;
      }
      s.upload.append(buf.data(), n);
      conn_->resume_upload(s);
    }
    if (!complete) conn_->reset(s, NGHTTP2_CANCEL);
  }

  std::shared_ptr<Http2UpstreamConnection> conn_;
  std::shared_ptr<Http2UpstreamStream> s_;
  BodySource& source_;
  std::chrono::nanoseconds timeout_;
  StopSignal stop_;
  asio::steady_timer done_wake_;
  bool done_ = false;
  bool read_any_ = false;
  std::error_code error_;
};

// The system CA bundle is read here, when the transport is made, never on a request's path.
TransportOptions with_tls(TransportOptions options) {
  if (!options.tls) {
    static const std::shared_ptr<UpstreamTls> system_default = UpstreamTls::load();
    options.tls = system_default;
  }
  return options;
}

std::int64_t length_of(const Fields& header) {
  const auto it = header.find(boost::beast::http::field::content_length);
  if (it == header.end()) return kUnknownLength;
  std::int64_t n = 0;
  const std::string_view v(it->value().data(), it->value().size());
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc{} && ptr == v.data() + v.size() && n >= 0 ? n : kUnknownLength;
}

class Http2Transport final : public detail::Http2OrHttp1 {
 public:
  Http2Transport(TransportOptions options, bool offer_http1)
      : id_(next_transport_id.fetch_add(1)),
        options_(with_tls(std::move(options))),
        offer_http1_(offer_http1) {}

  // Its connections end as their last stream does (idle ones at once), as the HTTP/1 pools'
  // do: a server a reload removed keeps no connection open. A connection that is gone (its
  // io_context ended, which ends every connection on it) is not reached.
  ~Http2Transport() override {
    std::lock_guard lock(live_mutex_);
    for (const auto& weak : live_) {
      if (auto conn = weak.lock()) asio::post(conn->executor(), [conn] { conn->retire(); });
    }
  }

  TransportCounts counts() const override {
    return TransportCounts{counts_->busy.load(std::memory_order_relaxed),
                           counts_->idle.load(std::memory_order_relaxed)};
  }

  const TransportOptions& options() const override { return options_; }

  asio::awaitable<UpstreamResponse> round_trip(RoundTripRequest rq) override {
    std::optional<UpstreamResponse> result = co_await exchange(rq, nullptr);
    co_return std::move(*result);  // never nullopt without `adopt`
  }

  asio::awaitable<std::optional<UpstreamResponse>> round_trip_unless_http1(
      RoundTripRequest& rq, const AdoptHttp1& adopt) override {
    return exchange(rq, &adopt);
  }

 private:
  // The round trip; nullopt when `adopt` is given and the server chose http/1.1 (see
  // round_trip_unless_http1).
  asio::awaitable<std::optional<UpstreamResponse>> exchange(RoundTripRequest& rq,
                                                            const AdoptHttp1* adopt) {
    UpstreamResponse result;
    Request& out = rq.out;
    RequestContext& ctx = rq.context;
    // RFC 9113 §8.2.2, §8.5: no Upgrade (a WebSocket needs RFC 8441, not built) and no
    // CONNECT over this transport.
    if (out.method == "CONNECT" ||
        out.header.find(boost::beast::http::field::upgrade) != out.header.end()) {
      result.ec = make_error_code(errc::upstream_protocol_switch);
      result.error_detail = "a protocol upgrade or CONNECT cannot go to an HTTP/2 upstream";
      co_return result;
    }
    const auto executor = ctx.executor();
    const std::string key = out.url.origin();
    std::shared_ptr<Http2UpstreamConnection> conn;
    std::shared_ptr<Http2UpstreamStream> stream;
    bool informed = false;  // a 1xx went to the client: the request is not sent again
    // RFC 9113 §8.7: a stream the server refused (REFUSED_STREAM, or above a GOAWAY's last id)
    // was not processed and goes again, on another connection, while no body byte was sent.
    for (int attempt = 1;; ++attempt) {
      bool http1 = false;
      conn = co_await connection(ctx, out, key, result, adopt, http1);
      if (http1) co_return std::nullopt;
      if (!conn) co_return result;
      stream = std::make_shared<Http2UpstreamStream>(executor);
      const bool with_body = rq.body != nullptr;
      if (!conn->open(out, stream, with_body)) {
        result.ec = make_error_code(errc::upstream_write_failed);
        result.error_detail = "HTTP/2 stream refused by the session to " + key;
        co_return result;
      }
      std::shared_ptr<Http2Upload> upload;
      if (with_body) {
        upload = std::make_shared<Http2Upload>(conn, stream, *rq.body, options_.idle_read_timeout);
        upload->start();
        result.upload = upload;
      }
      std::exception_ptr failure;  // rethrown once the upload stopped: it reads rq.body
      try {
        result.ec = co_await wait_for_head(rq, *conn, *stream, upload.get(), informed);
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure) {
        conn->reset(*stream, NGHTTP2_CANCEL);
        if (upload) co_await upload->stop_and_wait();
        std::rethrow_exception(failure);
      }
      if (!result.ec) break;
      conn->reset(*stream, NGHTTP2_CANCEL);
      if (upload) co_await upload->stop_and_wait();
      // Not processed, so safe to send again: refused by the server, or never written before
      // the connection died; or an idempotent request without a body whose connection died
      // before any of its response came (a pooled connection the server had just closed, as
      // HTTP/1 retries it, SPEC L6).
      const bool died = stream->closed && conn->dead();
      const bool idempotent =
          out.method == "GET" || out.method == "HEAD" || out.method == "OPTIONS";
      const bool unprocessed =
          stream->closed && (stream->close_code == NGHTTP2_REFUSED_STREAM ||
                             (died && (!stream->headers_sent || (idempotent && !upload))));
      const bool nothing_seen = !stream->head_done && !informed;
      if (unprocessed && nothing_seen && attempt < kMaxAttempts &&
          (!upload || !upload->read_any())) {
        result.upload.reset();
        continue;
      }
      if (upload && upload->error() && !stream->head_done) result.ec = upload->error();
      result.error_detail =
          result.ec.message() + " (" + key + ", HTTP/2 stream " + std::to_string(stream->id) + ")";
      co_return result;
    }
    Response& head = result.head;
    head.status = stream->status;
    head.header = std::move(stream->header);
    head.content_length = length_of(head.header);
    if (out.method == "HEAD" || head.status == 304) {
      // The length describes the representation; no body follows.
    } else if (head.status == 204) {
      head.content_length = 0;
    }
    result.body = std::make_unique<Http2ResponseBody>(conn, stream);
    co_return result;
  }

  // A connection to `key` that takes a stream: a pooled one, the one another request is
  // connecting, or a new one. Null with result.ec set when connecting failed, or with `http1`
  // set when `adopt` is given and the server chose http/1.1 by ALPN (now: its connection went
  // to `adopt`; or before, on this worker).
  asio::awaitable<std::shared_ptr<Http2UpstreamConnection>> connection(
      RequestContext& ctx, const Request& out, const std::string& key, UpstreamResponse& result,
      const AdoptHttp1* adopt, bool& http1) {
    const auto executor = ctx.executor();
    auto& service =
        asio::use_service<Http2PoolService>(asio::query(executor, asio::execution::context));
    if (adopt && service.speaks_http1(id_, key)) {
      http1 = true;
      co_return nullptr;
    }
    std::shared_ptr<Http2UpstreamConnection> conn = service.usable(id_, key);
    if (auto pending = service.connecting(id_, key); !conn && pending) {
      asio::steady_timer deadline(executor);
      deadline.expires_after(options_.connect_timeout);
      co_await race(deadline, ctx.stop_signal(), pending->done.async_wait(asio::deferred));
      if (ctx.stop_signal().fired()) {
        result.ec = aborted_error();
        co_return nullptr;
      }
      if (adopt && service.speaks_http1(id_, key)) {  // what that connect learned
        http1 = true;
        co_return nullptr;
      }
      conn = service.usable(id_, key);
    }
    if (conn) co_return conn;
    const auto started = Clock::now();
    const auto mine = service.begin_connect(id_, key, executor);
    // Over TLS only "h2" is offered, or "h2" then "http/1.1" for the auto transport: a server
    // that does not agree by ALPN is not spoken to, or is handed over to HTTP/1.
    const bool tls = out.url.scheme == "https";
    std::string_view alpn;
    if (tls) alpn = offer_http1_ ? std::string_view("\x02h2\x08http/1.1", 12) : "\x02h2";
    ConnectResult connected = co_await connect_upstream(
        ctx, out.url.host, out.url.connect_port(), options_.connect_timeout,
        tls ? options_.tls.get() : nullptr, key + (offer_http1_ ? " auto" : " h2"), alpn);
    if (!connected.ec && tls) {
      auto* stream = dynamic_cast<TlsStream*>(connected.conn->stream.get());
      const bool h2 = stream != nullptr && stream->alpn() == "h2";
      if (!h2 && adopt && offer_http1_) {
        // No ALPN at all is an HTTP/1.1 server too (RFC 7301 §3.2: the server did not take
        // part). The connection is fresh and idle: the first HTTP/1 request takes it.
        // Believed as long as an idle connection is kept: then a new connection asks again, so
        // a server that turns HTTP/2 on is spoken HTTP/2 without a restart.
        service.learned_http1(id_, key, Clock::now() + options_.pool_idle_timeout);
        service.end_connect(id_, key, mine);
        (*adopt)(std::move(connected.conn), Clock::now() - started);
        http1 = true;
        co_return nullptr;
      }
      if (!h2) {
        connected.ec = make_error_code(errc::upstream_connect_failed);
        connected.detail = "TLS handshake with " + key + ": the server did not choose h2 by ALPN";
        connected.conn.reset();
      }
    }
    if (connected.ec) {
      service.end_connect(id_, key, mine);
      result.ec = connected.ec;
      result.error_detail = std::move(connected.detail);
      co_return nullptr;
    }
    result.connect_time = Clock::now() - started;
    conn = std::make_shared<Http2UpstreamConnection>(
        std::move(connected.conn->stream), options_.idle_read_timeout, options_.pool_idle_timeout,
        options_.max_response_header_bytes, counts_);
    conn->start();
    {
      // Once per connection, not per request.
      std::lock_guard lock(live_mutex_);
      std::erase_if(live_, [](const auto& weak) { return weak.expired(); });
      live_.push_back(conn);
    }
    service.add(id_, key, conn);
    service.end_connect(id_, key, mine);
    co_return conn;
  }

  // Forwards 1xx heads and waits for the final one, within response_header_timeout, racing the
  // stop and the client leaving.
  // response_header_timeout counts from the request sent whole, as on HTTP/1: while the body
  // still uploads, the upload's own timeouts bound the wait (it resets the stream).
  asio::awaitable<std::error_code> wait_for_head(RoundTripRequest& rq,
                                                 Http2UpstreamConnection& conn,
                                                 Http2UpstreamStream& s, const Http2Upload* upload,
                                                 bool& informed) {
    RequestContext& ctx = rq.context;
    asio::steady_timer deadline(ctx.executor());
    deadline.expires_at(Clock::time_point::max());
    bool armed = false;
    int informational = 0;
    // Each round forwards what arrived or waits once: the deadline (or the upload's) bounds it.
    for (;;) {
      if (!armed && (upload == nullptr || upload->done() || s.upload_eof)) {
        deadline.expires_after(options_.response_header_timeout);
        armed = true;
      }
      if (s.head_too_large) co_return make_error_code(errc::upstream_bad_response);
      while (!s.informational.empty()) {
        auto [status, fields] = std::move(s.informational.front());
        s.informational.erase(s.informational.begin());
        if (++informational > kMaxInformational)
          co_return make_error_code(errc::upstream_bad_response);
        if (rq.on_informational) {
          informed = true;
          const auto ec = co_await rq.on_informational(status, std::move(fields));
          if (ec) co_return make_error_code(errc::client_gone);
        }
      }
      if (s.head_done) co_return std::error_code{};
      if (s.closed || conn.dead()) co_return make_error_code(errc::upstream_closed);
      s.wake.expires_at(Clock::time_point::max());
      if (ctx.client_watchable()) {
        auto [order, wec, cec, dec, sec] =
            co_await race(deadline, ctx.stop_signal(), s.wake.async_wait(asio::deferred),
                          ctx.async_wait_client(asio::deferred));
        const Winner w = winner_of(order);
        if (w.deadline()) co_return make_error_code(errc::upstream_header_timeout);
        if (w.stop()) co_return aborted_error();
        if (w.is(1) && ctx.client_gone_now()) co_return make_error_code(errc::client_gone);
      } else {
        auto [order, wec, dec, sec] =
            co_await race(deadline, ctx.stop_signal(), s.wake.async_wait(asio::deferred));
        const Winner w = winner_of(order);
        if (w.deadline()) co_return make_error_code(errc::upstream_header_timeout);
        if (w.stop()) co_return aborted_error();
      }
    }
  }

  const std::uint64_t id_;
  const TransportOptions options_;
  const bool offer_http1_;
  // Every connection this transport made, on any worker, for the destructor.
  std::mutex live_mutex_;
  std::vector<std::weak_ptr<Http2UpstreamConnection>> live_;
  // Shared with its connections, which may outlive the transport.
  const std::shared_ptr<Http2ConnectionCounts> counts_ = std::make_shared<Http2ConnectionCounts>();
};

}  // namespace

std::shared_ptr<Transport> make_http2_transport(TransportOptions options) {
  return std::make_shared<Http2Transport>(std::move(options), false);
}

std::shared_ptr<detail::Http2OrHttp1> detail::make_http2_transport_offering_http1(
    TransportOptions options) {
  return std::make_shared<Http2Transport>(std::move(options), true);
}

}  // namespace sluice
