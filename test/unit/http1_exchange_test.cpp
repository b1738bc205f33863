// The HTTP/1 server codec (src/server/http1_exchange.hpp) over an in-memory client connection:
// the bytes a client reads for each way a response can be framed, the request body as a handler
// reads it, 1xx and 101 (SPEC 14, 19, 20-23, 33, 36, R17-R22). The session's part is played by
// the test: it parses the request head into the SessionIo, as session.cpp does, and builds the
// exchange on it.
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/error.hpp>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/nothrow.hpp"
#include "server/http1_exchange.hpp"
#include "server/request_from_parser.hpp"
#include "sluice/error.hpp"
#include "support/memory_stream.hpp"
#include "support/run_io.hpp"

namespace sluice::test {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using detail::Http1Exchange;

struct BodyRead {
  std::error_code ec;
  std::string bytes;
};

// Reads the request body to its end or its error, a few bytes at a time.
asio::awaitable<BodyRead> read_request_body(Exchange* ex) {
  BodyRead r;
  std::array<char, 5> buf;
  // Bounded by the body: each read returns bytes, its end, or an error.
  for (;;) {
    auto [ec, n] = co_await ex->read_body(asio::buffer(buf));
    r.bytes.append(buf.data(), n);
    r.ec = ec;
    if (ec || n == 0) break;
  }
  co_return r;
}

Response response(unsigned status, std::int64_t length) {
  Response res;
  res.status = status;
  res.content_length = length;
  return res;
}

class Http1ExchangeTest : public testing::Test {
 protected:
  // The request as the session hands it over: `bytes` (a head, maybe some body after it) read
  // into the connection's buffer, the head parsed, the exchange made. Bytes after the head stay
  // buffered, as bytes that arrived with it would.
  void receive(std::string_view bytes) {
    ex.reset();
    io.parser.emplace();
    io.parser->header_limit(options.max_request_header_bytes);
    io.parser->body_limit(boost::none);
    auto room = io.buffer.prepare(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    io.buffer.commit(bytes.size());
    boost::system::error_code ec;
    io.buffer.consume(io.parser->put(io.buffer.data(), ec));
    ASSERT_TRUE(io.parser->is_header_done()) << ec.message();
    ex.emplace(io, detail::request_from_parser(*io.parser, {}));
  }

  // Runs an exchange operation to its end; `feed` (client bytes...) runs before each io_context
  // round until then. The result lives on the heap: an operation that outlives a failed test
  // completes in TearDown.
  template <typename T>
  T run(asio::awaitable<T> op, std::function<void()> feed = {}) {
    auto out = std::make_shared<std::optional<T>>();
    ++running;
    asio::co_spawn(ctx, std::move(op), [this, out](std::exception_ptr e, T value) {
      --running;
      if (e) {
        ADD_FAILURE() << "an exchange operation threw";
      } else {
        *out = std::move(value);
      }
    });
    EXPECT_TRUE(run_until(ctx, [&] {
      if (feed && !*out) feed();
      return out->has_value();
    }));
    return out->value_or(T{});
  }

  // A feed that sends one more piece of the request each time it runs.
  std::function<void()> trickle(std::vector<std::string> pieces) {
    return [this, pieces = std::move(pieces), next = std::size_t{0}]() mutable {
      if (next < pieces.size()) {
        EXPECT_TRUE(client->send(pieces[next++]));
      }
    };
  }

  void TearDown() override {
    io.stopping = true;
    io.stop_signal.fire();
    client->close();
    EXPECT_TRUE(run_until(ctx, [&] { return running == 0; }));
  }

  std::unique_ptr<ByteStream> connect() {
    auto [server_end, client_end] = MemoryStream::pair(ctx.get_executor());
    client = std::move(client_end);
    server = server_end.get();
    return server_end;
  }

  asio::io_context ctx;  // first: outlives everything below
  ServerOptions options;
  std::unique_ptr<MemoryStream> client;
  MemoryStream* server = nullptr;  // owned by io
  detail::SessionIo io{connect(), options};
  std::optional<Http1Exchange> ex;
  int running = 0;
};

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

TEST_F(Http1ExchangeTest, AKnownLengthGoesOutWithContentLength) {
  receive(kGet);
  Response res = response(200, 5);
  res.header.set("X-A", "1");
  res.header.set("Content-Length", "99");  // the framing is the exchange's own
  res.header.set("Transfer-Encoding", "chunked");
  res.header.set("Connection", "keep-alive");
  ex->begin_response(res);
  EXPECT_FALSE(run(ex->write_body(asio::buffer("hello", 5))));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(),
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_TRUE(ex->head_sent());
  EXPECT_EQ(ex->body_bytes_sent(), 5u);
  EXPECT_TRUE(ex->keep_alive());
}

TEST_F(Http1ExchangeTest, AnUnknownLengthIsChunkedToAnHttp11Client) {
  receive(kGet);
  ex->begin_response(response(200, kUnknownLength));
  EXPECT_FALSE(run(ex->write_body(asio::buffer("hello", 5))));
  EXPECT_FALSE(run(ex->write_body(asio::buffer(" world", 6))));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_TRUE(ex->keep_alive());
}

TEST_F(Http1ExchangeTest, AnUnknownLengthIsCloseDelimitedToAnHttp10Client) {
  receive("GET / HTTP/1.0\r\n\r\n");
  ex->begin_response(response(200, kUnknownLength));
  EXPECT_FALSE(run(ex->write_body(asio::buffer("hello", 5))));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello");
  EXPECT_FALSE(ex->keep_alive());
}

TEST_F(Http1ExchangeTest, HeadAnd204And304CarryNoBody) {
  receive("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  ex->begin_response(response(200, 100));  // the representation's length passes through
  EXPECT_FALSE(run(ex->write_body(asio::buffer("ignored", 7))));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(), "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
  EXPECT_TRUE(ex->keep_alive());

  receive(kGet);
  ex->begin_response(response(204, kUnknownLength));  // not chunked: no body at all
  EXPECT_FALSE(run(ex->write_body(asio::buffer("ignored", 7))));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(), "HTTP/1.1 204 No Content\r\n\r\n");

  receive(kGet);
  ex->begin_response(response(304, 7));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(), "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
}

TEST_F(Http1ExchangeTest, TrailersAreAnnouncedAndFollowTheLastChunk) {
  receive(kGet);
  ex->begin_response(response(200, kUnknownLength), {"X-Sum", "not a token"});
  EXPECT_FALSE(run(ex->write_body(asio::buffer("abc", 3))));
  Fields trailers;
  trailers.set("X-Sum", "42");
  trailers.set("Content-Length", "3");  // framing fields never come as trailers
  EXPECT_FALSE(run(ex->end_response(&trailers)));
  EXPECT_EQ(client->read_available(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
            "3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n");
}

TEST_F(Http1ExchangeTest, AShortBodyIsAbortedNotCompleted) {
  receive(kGet);
  ex->begin_response(response(200, 10));
  EXPECT_FALSE(run(ex->write_body(asio::buffer("abc", 3))));
  EXPECT_FALSE(run(ex->flush()));
  EXPECT_EQ(client->read_available(), "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(run(ex->end_response()), to_std(http::error::partial_message));
  EXPECT_TRUE(ex->aborted());
  EXPECT_FALSE(ex->keep_alive());
  EXPECT_EQ(client->read_available(), "");
}

TEST_F(Http1ExchangeTest, AWriteBeyondContentLengthIsRefused) {
  receive(kGet);
  ex->begin_response(response(200, 3));
  EXPECT_EQ(run(ex->write_body(asio::buffer("hello", 5))), to_std(http::error::body_limit));
  EXPECT_TRUE(ex->aborted());
  EXPECT_TRUE(run(ex->write_body(asio::buffer("h", 1))));
  EXPECT_TRUE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(), "");  // not even the head: it was still held
  EXPECT_FALSE(ex->keep_alive());
}

TEST_F(Http1ExchangeTest, AResponseLargerThanTheClientsWindowGoesOutAsItReads) {
  server->set_send_capacity(16);  // the client reads 16 bytes at a time
  receive(kGet);
  const std::string body(20000, 'b');  // past the exchange's output buffer: written unbuffered
  std::string got;
  ex->begin_response(response(200, static_cast<std::int64_t>(body.size())));
  const auto drain = [&] { got += client->read_available(); };
  EXPECT_FALSE(run(ex->write_body(asio::buffer(body)), drain));
  EXPECT_FALSE(run(ex->end_response(), drain));
  drain();
  EXPECT_EQ(got, "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n" + body);
  EXPECT_EQ(server->pending_operations(), 0u);
}

TEST_F(Http1ExchangeTest, AnInformationalResponseGoesOutAtOnceAndOnlyToHttp11) {
  receive(kGet);
  Fields hints;
  hints.set("Link", "</a.css>");
  EXPECT_FALSE(run(ex->write_informational(103, hints)));
  EXPECT_EQ(client->read_available(), "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
  EXPECT_FALSE(ex->head_sent());  // an error response could still replace the final one
  const Fields none;
  EXPECT_EQ(run(ex->write_informational(101, none)), to_std(asio::error::invalid_argument));
  ex->begin_response(response(200, 0));
  EXPECT_EQ(run(ex->write_informational(100, none)), to_std(asio::error::already_started));

  receive("GET / HTTP/1.0\r\n\r\n");
  EXPECT_FALSE(run(ex->write_informational(103, hints)));
  EXPECT_EQ(client->read_available(), "");  // RFC 9110 §15.2: never to an HTTP/1.0 client
}

TEST_F(Http1ExchangeTest, SwitchingProtocolsHandsOverTheStreamAndWhatFollowedTheHead) {
  receive(
      "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nEARLY");
  Response res = response(101, 0);
  res.header.set("Upgrade", "websocket");
  const auto switched = run(ex->switch_protocols(res));
  ASSERT_FALSE(switched.ec);
  EXPECT_EQ(switched.stream, &io.stream);
  EXPECT_EQ(switched.buffered, "EARLY");
  EXPECT_EQ(
      client->read_available(),
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  EXPECT_FALSE(ex->keep_alive());
  ASSERT_TRUE(client->send("tunnel"));
  std::array<char, 8> buf{};
  boost::system::error_code ec;
  EXPECT_EQ(switched.stream->read_some(asio::buffer(buf), ec), 6u);
}

TEST_F(Http1ExchangeTest, AChunkedRequestBodyIsDecodedAsItArrives) {
  receive("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  const BodyRead body =
      run(read_request_body(&*ex), trickle({"lo\r\n", "6\r\n wor", "ld\r\n0\r\n", "\r\n"}));
  EXPECT_FALSE(body.ec) << body.ec.message();
  EXPECT_EQ(body.bytes, "hello world");
  ex->begin_response(response(200, 0));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_TRUE(ex->keep_alive());  // the body was read to its end
}

TEST_F(Http1ExchangeTest, AContentLengthRequestBodyIsReadToItsEnd) {
  receive("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123");
  bool sent = false;
  const BodyRead body = run(read_request_body(&*ex), [&] {
    if (!std::exchange(sent, true)) {
      EXPECT_TRUE(client->send("456789NEXT"));
    }
  });
  EXPECT_FALSE(body.ec);
  EXPECT_EQ(body.bytes, "0123456789");
  EXPECT_EQ(client->available(), 0u);
  EXPECT_EQ(server->available(), 4u);  // the next request's bytes are never read as body
}

TEST_F(Http1ExchangeTest, MalformedChunkFramingIsClientBodyInvalid) {
  receive("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  EXPECT_EQ(run(read_request_body(&*ex)).ec, errc::client_body_invalid);
}

// SPEC R18: a chunk line ended by a bare LF fails at once (no wait for a CRLF that never comes).
TEST_F(Http1ExchangeTest, AChunkLineEndedByABareLfIsClientBodyInvalid) {
  // Nothing after it: Beast alone would wait for a CRLF (and the client for an answer).
  receive("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello");
  EXPECT_EQ(run(read_request_body(&*ex)).ec, errc::client_body_invalid);
}

TEST_F(Http1ExchangeTest, AClientThatLeavesMidBodyIsClientBodyFailed) {
  receive("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123");
  const BodyRead body = run(read_request_body(&*ex), [&] { client->shutdown_write(); });
  EXPECT_EQ(body.ec, errc::client_body_failed);
  EXPECT_EQ(body.bytes, "0123");
}

TEST_F(Http1ExchangeTest, ExpectContinueIsAnsweredWhenTheBodyIsWanted) {
  receive("PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_FALSE(ex->continue_sent());
  std::string got;
  bool sent = false;
  const BodyRead body = run(read_request_body(&*ex), [&] {
    got += client->read_available();
    if (got == "HTTP/1.1 100 Continue\r\n\r\n" && !std::exchange(sent, true)) {
      EXPECT_TRUE(client->send("hello"));  // the client waited for it
    }
  });
  EXPECT_EQ(body.bytes, "hello");
  EXPECT_TRUE(ex->continue_sent());
}

TEST_F(Http1ExchangeTest, AnUnreadRequestBodyClosesTheConnection) {
  receive("PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n");
  ex->begin_response(response(413, 0));
  EXPECT_FALSE(run(ex->end_response()));
  EXPECT_EQ(client->read_available(),
            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_FALSE(ex->keep_alive());
}

TEST_F(Http1ExchangeTest, TheClientIsGoneWhenItClosesNotWhenItPipelines) {
  receive(kGet);
  EXPECT_TRUE(ex->client_watchable());
  EXPECT_FALSE(ex->client_gone_now());
  ASSERT_TRUE(client->send("GET /next"));  // a next request: says nothing about leaving
  EXPECT_FALSE(ex->client_gone_now());
  EXPECT_FALSE(ex->client_watchable());

  server->read_available();
  receive(kGet);
  bool woke = false;
  ex->async_wait_client([&woke](boost::system::error_code) { woke = true; });
  ctx.poll();
  EXPECT_FALSE(woke);
  client->close();
  EXPECT_TRUE(run_until(ctx, [&] { return woke; }));
  EXPECT_TRUE(ex->client_gone_now());
}

}  // namespace
}  // namespace sluice::test
