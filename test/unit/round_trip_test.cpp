// The HTTP/1 client codec (src/transport/round_trip.hpp, http1_response_body.hpp) over an
// in-memory connection: the request bytes the upstream reads, the response head and body as the
// proxy gets them, and when the connection goes back to the pool (SPEC 14, 19, 21, 23, 33, R37,
// R44, L6). The round trip finds the connection idle in its pool, so it never connects; the test
// plays the upstream on the other end.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/nothrow.hpp"
#include "sluice/error.hpp"
#include "support/memory_stream.hpp"
#include "support/run_io.hpp"
#include "transport/round_trip.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;

// What a transport may know of the client: here, nothing to watch (these tests are about the
// upstream side), and a stop signal that never fires.
class FakeContext final : public RequestContext {
 public:
  explicit FakeContext(asio::any_io_executor ex) : executor_(ex), stop_(ex) {}
  asio::any_io_executor executor() const override { return executor_; }
  StopSignal& stop_signal() override { return stop_; }
  bool server_stopping() const override { return false; }
  bool client_watchable() const override { return false; }
  bool client_gone_now() override { return false; }

 protected:
  void start_wait_client(WaitHandler handler) override {
    ADD_FAILURE() << "waited on a client that cannot be watched";
    asio::post(executor_, [h = std::move(handler)]() mutable {
      std::move(h)(asio::error::operation_aborted);
    });
  }

 private:
  asio::any_io_executor executor_;
  StopSignal stop_;
};

// A request body given in pieces, each returned by one read (as a client's arrives).
class PiecesBody final : public BodySource {
 public:
  explicit PiecesBody(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {}
  asio::awaitable<std::pair<std::error_code, std::size_t>> read(asio::mutable_buffer buf) override {
    if (next_ == pieces_.size()) co_return std::pair{std::error_code{}, std::size_t{0}};
    const std::string& piece = pieces_[next_++];
    const std::size_t n = std::min(piece.size(), buf.size());
    std::memcpy(buf.data(), piece.data(), n);
    co_return std::pair{std::error_code{}, n};
  }

 private:
  std::vector<std::string> pieces_;
  std::size_t next_ = 0;
};

struct Informational {
  unsigned status;
  std::string link;
};

asio::awaitable<std::error_code> note_informational(std::vector<Informational>* seen,
                                                    std::error_code answer, unsigned status,
                                                    Fields fields) {
  seen->push_back({status, std::string(fields["Link"])});
  co_return answer;
}

struct BodyRead {
  std::error_code ec;
  std::string bytes;
};

// Reads a response body to its end or its error, as the proxy's pump does: what is there at once
// (read_some), else a wait (async_read_some). A small buffer, so that chunks span reads. A body
// that stops progressing (no byte, no error, not done, round after round) ends with io_error
// rather than spin here, where no deadline can stop it.
asio::awaitable<BodyRead> read_all(ResponseBody* body) {
  BodyRead r;
  std::array<char, 7> buf;
  for (int stalled = 0; !body->done();) {
    if (stalled == 100) {
      r.ec = std::make_error_code(std::errc::io_error);
      break;
    }
    std::error_code ec;
    std::size_t n = body->read_some(asio::buffer(buf), ec);
    r.bytes.append(buf.data(), n);
    if (would_block(ec)) {
      auto [aec, got] = co_await body->async_read_some(asio::buffer(buf), use_nothrow);
      r.bytes.append(buf.data(), got);
      ec = aec;
      n += got;
    }
    if (ec && !would_block(ec)) {
      r.ec = ec;
      break;
    }
    stalled = n > 0 ? 0 : stalled + 1;
  }
  co_return r;
}

class RoundTripTest : public testing::Test {
 protected:
  RoundTripTest() {
    out.method = "GET";
    out.url.scheme = "http";
    out.url.host = "upstream.test";
    // Port 0: a connect (the retry after a stale pooled connection) fails at once, without a
    // socket or a DNS lookup, so a test sees whether a retry was made.
    out.url.port = "0";
    out.url.raw_path = "/path";
    out.url.raw_query = "q=1";
    out.host = "example.test";
  }
  // Ends what still runs (a test that stopped at the request, or failed half-way) before the
  // pool it leases from goes: the stop signal ends a round trip, the close a body read.
  void TearDown() override {
    context.stop_signal().fire();
    if (upstream) upstream->close();
    EXPECT_TRUE(run_until(ctx, [&] { return running == 0; }));
  }

  // Pools an idle connection to out's upstream; `upstream` is the upstream's end of it.
  void pool_connection() {
    auto [mine, theirs] = MemoryStream::pair(ctx.get_executor());
    upstream = std::move(theirs);
    pool.put_idle(std::make_unique<UpstreamConnection>(std::move(mine), pool_key(out)));
  }

  // Starts a round trip on a connection pooled for it.
  void start(BodySource* body = nullptr, InformationalHandler on_informational = {}) {
    pool_connection();
    start_again(body, std::move(on_informational));
  }
  // Starts a round trip with what the pool holds (the connection a previous one returned).
  void start_again(BodySource* body = nullptr, InformationalHandler on_informational = {}) {
    result.reset();
    RoundTripRequest rq{out, body, std::move(on_informational), context};
    spawn_into(ctx, round_trip_http1(rq, pool), result, &running);
  }

  // Runs until the upstream received `end` (the end of the request), and returns every byte.
  std::string request_until(std::string_view end) {
    std::string got;
    EXPECT_TRUE(run_until(ctx,
                          [&] {
                            got += upstream->read_available();
                            return got.find(end) != std::string::npos;
                          }))
        << "received: " << got;
    return got;
  }

  // Answers `response` and runs until the round trip has its head (or failed).
  const UpstreamResponse& respond(std::string_view response) {
    EXPECT_TRUE(upstream->send(response));
    EXPECT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
    static const UpstreamResponse kNone{
        std::make_error_code(std::errc::timed_out), {}, nullptr, {}, {}, 0, nullptr};
    return result ? *result : kNone;
  }

  // Reads the body, with `feed` (more upstream bytes, a close...) run before each io_context
  // round until the body ends.
  BodyRead body_of(std::function<void()> feed = {}) {
    read.reset();
    spawn_into(ctx, read_all(result->body.get()), read, &running);
    EXPECT_TRUE(run_until(ctx, [&] {
      if (feed && !read) feed();
      return read.has_value();
    }));
    return read.value_or(BodyRead{});
  }

  // A feed that sends one more piece of the response each time it runs.
  std::function<void()> trickle(std::vector<std::string> pieces) {
    return [this, pieces = std::move(pieces), next = std::size_t{0}]() mutable {
      if (next < pieces.size()) {
        EXPECT_TRUE(upstream->send(pieces[next++]));
      }
    };
  }

  bool upstream_closed() {
    char byte;
    boost::system::error_code ec;
    upstream->peek(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof;
  }

  asio::io_context ctx;  // first: outlives everything below
  FakeContext context{ctx.get_executor()};
  std::shared_ptr<PoolShared> shared = std::make_shared<PoolShared>(TransportOptions{});
  ConnectionPool pool{ctx.get_executor(), shared};
  std::unique_ptr<MemoryStream> upstream;
  Request out;
  int running = 0;  // coroutines not finished yet
  std::optional<BodyRead> read;
  std::optional<UpstreamResponse> result;  // last: its body holds a lease on `pool`
};

TEST(PoolKey, SchemeAndSniNameKeepCleartextAndTlsConnectionsApart) {
  Request http_out;
  http_out.url = *Url::parse("http://127.0.0.1:9443/x");
  Request https_out;
  https_out.url = *Url::parse("https://127.0.0.1:9443/x");
  const auto tls = UpstreamTls::load();
  UpstreamTlsOptions named;
  named.server_name = "api.internal";
  const auto tls_named = UpstreamTls::load(named);
  const std::string plain = pool_key(http_out, tls.get());
  const std::string secure = pool_key(https_out, tls.get());
  const std::string secure_named = pool_key(https_out, tls_named.get());
  EXPECT_NE(plain, secure);
  EXPECT_NE(secure, secure_named);
  EXPECT_NE(secure.find("sni=127.0.0.1"), std::string::npos) << secure;
  EXPECT_NE(secure_named.find("sni=api.internal"), std::string::npos) << secure_named;
  EXPECT_EQ(pool_key(http_out, tls.get()), pool_key(http_out, tls_named.get()))
      << "an SNI name means nothing to a cleartext connection";
}

TEST_F(RoundTripTest, AGetIsSentOnThePooledConnectionAndItIsReusedAfter) {
  out.header.set("Accept", "*/*");
  out.header.set("Content-Length", "99");  // framing is sluice's to decide, never a header's
  start();
  EXPECT_EQ(request_until("\r\n\r\n"),
            "GET /path?q=1 HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n");
  const auto& res = respond("HTTP/1.1 200 OK\r\nX-Up: 1\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_FALSE(res.ec) << res.ec.message();
  EXPECT_EQ(res.head.status, 200u);
  EXPECT_EQ(res.head.reason, "OK");
  EXPECT_EQ(res.head.header["X-Up"], "1");
  EXPECT_EQ(res.head.content_length, 5);
  EXPECT_EQ(shared->busy, 1);
  const BodyRead body = body_of();
  EXPECT_FALSE(body.ec);
  EXPECT_EQ(body.bytes, "hello");
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 1u);
  EXPECT_EQ(shared->busy, 0);
  EXPECT_EQ(shared->idle, 1);
  EXPECT_FALSE(upstream_closed());

  // The next request goes out on the same connection.
  start_again();
  EXPECT_EQ(request_until("\r\n\r\n"),
            "GET /path?q=1 HTTP/1.1\r\nHost: example.test\r\nAccept: */*\r\n\r\n");
  EXPECT_EQ(shared->idle, 0);
  ASSERT_FALSE(respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").ec);
  EXPECT_EQ(body_of().bytes, "ok");
}

TEST_F(RoundTripTest, AnUnknownLengthBodyIsSentChunked) {
  out.method = "POST";
  out.content_length = kUnknownLength;
  PiecesBody body({"hello", " world"});
  start(&body);
  EXPECT_EQ(request_until("0\r\n\r\n"),
            "POST /path?q=1 HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  const auto& res = respond("HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_FALSE(res.ec);
  EXPECT_EQ(res.head.content_length, 0);
  EXPECT_TRUE(res.body->done());
}

TEST_F(RoundTripTest, AKnownLengthBodyIsSentWithContentLength) {
  out.method = "PUT";
  out.content_length = 5;
  PiecesBody body({"hel", "lo"});
  start(&body);
  EXPECT_EQ(request_until("hello"),
            "PUT /path?q=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\n\r\nhello");
}

TEST_F(RoundTripTest, AnEmptyPostSaysContentLengthZero) {
  out.method = "POST";
  start();
  EXPECT_EQ(request_until("\r\n\r\n"),
            "POST /path?q=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 0\r\n\r\n");
}

TEST_F(RoundTripTest, InformationalResponsesArePassedOnInOrder) {
  std::vector<Informational> seen;
  start(nullptr, [&seen](unsigned status, Fields fields) {
    return note_informational(&seen, {}, status, std::move(fields));
  });
  request_until("\r\n\r\n");
  const auto& res = respond(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  ASSERT_FALSE(res.ec);
  EXPECT_EQ(res.head.status, 200u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].status, 100u);
  EXPECT_EQ(seen[1].status, 103u);
  EXPECT_EQ(seen[1].link, "</style.css>");
  EXPECT_FALSE(res.head.header.count("Link"));  // the 1xx's fields stay the 1xx's
  EXPECT_EQ(body_of().bytes, "ok");
}

TEST_F(RoundTripTest, AnInformationalTheClientCannotTakeEndsTheRoundTrip) {
  std::vector<Informational> seen;
  start(nullptr, [&seen](unsigned status, Fields fields) {
    return note_informational(&seen, make_error_code(errc::client_gone), status, std::move(fields));
  });
  request_until("\r\n\r\n");
  const auto& res = respond("HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\n\r\n");
  EXPECT_EQ(res.ec, errc::client_gone);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(upstream_closed());
}

TEST_F(RoundTripTest, AChunkedBodyIsDecodedWithItsTrailers) {
  start();
  request_until("\r\n\r\n");
  const auto& res =
      respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhel");
  ASSERT_FALSE(res.ec);
  EXPECT_EQ(res.head.content_length, kUnknownLength);
  // The rest arrives while the body is read: one piece per io_context round.
  const BodyRead body =
      body_of(trickle({"lo\r\n", "6\r\n world\r", "\n0\r\nX-Sum: 42\r\n", "\r\n"}));
  EXPECT_FALSE(body.ec) << body.ec.message();
  EXPECT_EQ(body.bytes, "hello world");
  EXPECT_TRUE(result->body->done());
  EXPECT_EQ(result->body->trailers()["X-Sum"], "42");
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 1u);
}

TEST_F(RoundTripTest, AContentLengthBodyIsReadAsItArrives) {
  start();
  request_until("\r\n\r\n");
  const auto& res = respond("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhel");
  ASSERT_FALSE(res.ec);
  const BodyRead body = body_of(trickle({"lo", " wor", "ld"}));
  EXPECT_FALSE(body.ec);
  EXPECT_EQ(body.bytes, "hello world");
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 1u);
}

TEST_F(RoundTripTest, ACloseDelimitedBodyEndsAtTheCloseAndIsNotPooled) {
  start();
  request_until("\r\n\r\n");
  const auto& res = respond("HTTP/1.1 200 OK\r\n\r\nabc");
  ASSERT_FALSE(res.ec);
  EXPECT_EQ(res.head.content_length, kUnknownLength);
  const BodyRead body = body_of([&] { upstream->shutdown_write(); });
  EXPECT_FALSE(body.ec) << body.ec.message();
  EXPECT_EQ(body.bytes, "abc");
  result->body->finish(true);  // complete, but the connection ends with it
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(RoundTripTest, BadChunkFramingIsUpstreamBodyInvalid) {
  start();
  request_until("\r\n\r\n");
  const auto& res =
      respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
  ASSERT_FALSE(res.ec);
  const BodyRead body = body_of();
  EXPECT_EQ(body.ec, errc::upstream_body_invalid);
  EXPECT_EQ(body.bytes, "abc");  // what came before the bad framing
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(upstream_closed());
}

TEST_F(RoundTripTest, AContentLengthBodyCutShortIsUpstreamClosedAndNotPooled) {
  start();
  request_until("\r\n\r\n");
  const auto& res = respond("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  ASSERT_FALSE(res.ec);
  const BodyRead body = body_of([&] { upstream->close(); });
  EXPECT_EQ(body.ec, errc::upstream_closed);
  EXPECT_EQ(body.bytes, "abc");
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_EQ(shared->busy, 0);
  EXPECT_EQ(shared->idle, 0);
}

TEST_F(RoundTripTest, AChunkedBodyCutShortIsUpstreamClosedAndNotPooled) {
  start();
  request_until("\r\n\r\n");
  const auto& res = respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  ASSERT_FALSE(res.ec);
  const BodyRead body = body_of([&] { upstream->shutdown_write(); });
  EXPECT_EQ(body.ec, errc::upstream_closed);
  EXPECT_EQ(body.bytes, "abc");
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(RoundTripTest, OnlyAFinishedKeepAliveResponseReturnsTheConnection) {
  // Not read to its end.
  start();
  request_until("\r\n\r\n");
  ASSERT_FALSE(respond("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab").ec);
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(upstream_closed());

  // Read to its end, but the caller says no (the client went away).
  start();
  request_until("\r\n\r\n");
  ASSERT_FALSE(respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab").ec);
  EXPECT_EQ(body_of().bytes, "ab");
  result->body->finish(false);
  result->body->finish(true);  // idempotent: the first word counts
  EXPECT_EQ(pool.idle_count(), 0u);

  // Read to its end, but the upstream closes the connection after it.
  start();
  request_until("\r\n\r\n");
  ASSERT_FALSE(respond("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nab").ec);
  EXPECT_EQ(body_of().bytes, "ab");
  result->body->finish(true);
  EXPECT_EQ(pool.idle_count(), 0u);

  // Destroyed without finish: closed.
  start();
  request_until("\r\n\r\n");
  ASSERT_FALSE(respond("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab").ec);
  EXPECT_EQ(body_of().bytes, "ab");
  result.reset();
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(upstream_closed());
  EXPECT_EQ(shared->busy, 0);
}

TEST_F(RoundTripTest, AHeadResponseHasNoBodyButKeepsItsLength) {
  out.method = "HEAD";
  start();
  request_until("\r\n\r\n");
  const auto& res = respond("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  ASSERT_FALSE(res.ec);
  EXPECT_EQ(res.head.content_length, 100);
  EXPECT_TRUE(res.body->done());
  res.body->finish(true);
  EXPECT_EQ(pool.idle_count(), 1u);
}

TEST_F(RoundTripTest, AMalformedHeadIsUpstreamBadResponse) {
  start();
  request_until("\r\n\r\n");
  EXPECT_EQ(respond("HTTP/1.1 2x0 OK\r\n\r\n").ec, errc::upstream_bad_response);
  EXPECT_EQ(pool.idle_count(), 0u);
  EXPECT_TRUE(upstream_closed());
}

// SPEC L6 / R45: a pooled connection the upstream closed before answering is retried once on a
// fresh connection for an idempotent request (here the connect fails: port 0), never for a POST.
TEST_F(RoundTripTest, AStaleConnectionIsRetriedOnlyForAnIdempotentRequest) {
  start();
  request_until("\r\n\r\n");
  upstream->close();
  ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
  EXPECT_EQ(result->ec, errc::upstream_connect_failed);  // the retry's

  out.method = "POST";
  start();
  request_until("\r\n\r\n");
  upstream->close();
  ASSERT_TRUE(run_until(ctx, [&] { return result.has_value(); }));
  EXPECT_EQ(result->ec, errc::upstream_closed);
  EXPECT_EQ(shared->busy, 0);
}

}  // namespace
}  // namespace sluice::test
