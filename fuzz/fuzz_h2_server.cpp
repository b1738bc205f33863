// fuzz_h2_server: arbitrary client bytes (after the preface and an empty SETTINGS frame) into a
// server-side HTTP/2 connection: the real session path (src/server/session.cpp detects the
// preface, src/server/http2_connection.cpp drives nghttp2, src/http2/request_head.cpp builds each
// Request) over an in-memory stream, with a handler that checks every request it is given and
// answers it. Invariants:
//   - every request a handler sees is a valid Request: a token method (never CONNECT), an
//     origin-form path (or "*" for OPTIONS) without whitespace or control bytes, a non-empty
//     Host without them, version 20, and only lowercase token field names with valid values,
//     none of them connection-specific; the head within max_request_header_bytes and
//     max_header_count;
//   - handlers in flight never exceed h2_max_concurrent_streams (memory per connection stays
//     bounded: each stream holds at most its window and its head);
//   - a request body never grows past what the stream window allows ahead of the reads;
//   - the connection ends once the client's bytes end: every handler and the writer finish
//     (no hang), and ASan's leak check sees nothing left.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>

#include "common/http_syntax.hpp"
#include "fuzz_common.hpp"
#include "http2/header_list.hpp"
#include "server/idle_sessions.hpp"
#include "server/session.hpp"
#include "sluice/exchange.hpp"
#include "support/memory_stream.hpp"

namespace {

constexpr std::uint32_t kMaxStreams = 8;
constexpr std::uint32_t kHeaderBytes = 4096;
constexpr std::uint32_t kHeaderCount = 32;
constexpr std::uint32_t kStreamWindow = 16 * 1024;

bool lowercase_token(std::string_view s) {
  if (!sluice::is_token(s)) return false;
  for (const char c : s) {
    if (c >= 'A' && c <= 'Z') return false;
  }
  return true;
}

void check_request(const sluice::Request& r) {
  FUZZ_CHECK(r.version == 20);
  FUZZ_CHECK(sluice::is_token(r.method));
  FUZZ_CHECK(r.method != "CONNECT");
  const std::string target = r.url.request_target();
  FUZZ_CHECK(sluice::is_wire_word(target));
  FUZZ_CHECK(!target.empty() &&
             (target.front() == '/' || (target == "*" && r.method == "OPTIONS")));
  FUZZ_CHECK(sluice::is_wire_word(r.host));
  std::size_t fields = 0;
  std::size_t bytes = 0;
  for (const auto& f : r.header) {
    const std::string_view name(f.name_string().data(), f.name_string().size());
    const std::string_view value(f.value().data(), f.value().size());
    FUZZ_CHECK(lowercase_token(name));
    FUZZ_CHECK(sluice::is_field_value(value));
    FUZZ_CHECK(!sluice::http2::is_connection_specific(name) ||
               (name == "te" && value == "trailers"));
    FUZZ_CHECK(name != "host");
    ++fields;
    bytes += name.size() + value.size();
  }
  FUZZ_CHECK(fields <= kHeaderCount);
  FUZZ_CHECK(bytes <= kHeaderBytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace asio = boost::asio;
  using namespace sluice;
  asio::io_context io;
  ServerOptions options;
  options.h2_max_concurrent_streams = kMaxStreams;
  options.h2_stream_window = kStreamWindow;
  options.max_request_header_bytes = kHeaderBytes;
  options.max_header_count = kHeaderCount;
  options.access_log = AccessLog::off;
  options.log = [](std::string_view) {};

  std::uint32_t in_flight = 0;
  Handler handler = [&in_flight](Exchange& ex) -> asio::awaitable<void> {
    ++in_flight;
    FUZZ_CHECK(in_flight <= kMaxStreams);
    check_request(ex.request());
    // Read the body (bounded by the stream's flow control, so by the input), then answer.
    char buf[4096];
    std::uint64_t total = 0;
    for (int round = 0; round < 4096; ++round) {
      auto [ec, n] = co_await ex.read_body(asio::buffer(buf));
      if (ec || n == 0) break;
      FUZZ_CHECK(n <= sizeof buf);
      total += n;
    }
    FUZZ_CHECK(total == ex.body_bytes_received());
    SimpleResponse res{200, {}, "ok\n"};
    co_await ex.respond(std::move(res));
    --in_flight;
  };

  std::list<detail::SessionIo*> registry;
  detail::IdleSessions idle(io.get_executor(), options.idle_timeout, options.header_timeout);
  int sessions = 0;
  detail::SessionEnv env{options, handler, registry, idle,
                         [&sessions](int delta) { sessions += delta; }};
  idle.attach(env);

  auto [server_end, client_end] = test::MemoryStream::pair(io.get_executor());
  // The client preface and an empty SETTINGS frame, then the fuzzer's bytes.
  std::string bytes = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  bytes += std::string("\0\0\0\x04\0\0\0\0\0", 9);
  bytes.append(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  const std::array<asio::const_buffer, 1> out{asio::buffer(bytes)};
  client_end->write_some(out, ec);
  FUZZ_CHECK(!ec);
  detail::spawn_session(std::move(server_end), env, {}, detail::SessionStart{});

  // Run what is ready (pending waits are not io_context work here, but timers are: poll).
  auto settle = [&io] {
    for (int i = 0; i < 100000 && io.poll() > 0; ++i) {
      io.restart();
    }
    io.restart();
  };
  settle();
  // The client goes: every stream ends, then the connection.
  client_end->close();
  settle();
  FUZZ_CHECK(sessions == 0);
  FUZZ_CHECK(in_flight == 0);
  return 0;
}
