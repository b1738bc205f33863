#pragma once
// What the micro-benchmarks share: realistic request heads, the upstream target, parsing a head
// the way the session does, and a loop that runs an in-place step on fresh copies of a request.
#include <benchmark/benchmark.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "alloc_counter.hpp"
#include "server/request_from_parser.hpp"
#include "sluice/message.hpp"
#include "sluice/url.hpp"

namespace sluice_bench {

// A browser navigation: 10 fields including Host, long User-Agent/Accept/Cookie values, a query.
inline constexpr std::string_view kBrowserGet =
    "GET /app/dashboard?tab=overview&range=7d HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Cache-Control: max-age=0\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "*/*;q=0.8\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Referer: https://www.example.com/app/\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=9f86d081884c7d659a2feaa0c55ad015; theme=dark; "
    "_ga=GA1.2.1234567890.1700000000\r\n"
    "\r\n";

// Connection names two extra fields (SPEC 2), plus Keep-Alive, Proxy-Authorization and TE:
// trailers (SPEC 1, 3) and a client X-Forwarded-For to append to (SPEC 6).
inline constexpr std::string_view kConnectionNamed =
    "GET /api/v1/items?page=2&per_page=50 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: curl/8.5.0\r\n"
    "Accept: application/json\r\n"
    "Connection: keep-alive, X-Debug-Token, X-Hop-Trace\r\n"
    "Keep-Alive: timeout=5, max=100\r\n"
    "X-Debug-Token: 4f1c2a\r\n"
    "X-Hop-Trace: edge-1\r\n"
    "Proxy-Authorization: Basic dXNlcjpwYXNz\r\n"
    "TE: trailers\r\n"
    "X-Forwarded-For: 198.51.100.23\r\n"
    "X-Request-Id: 7d3c6c2e-51a4-4c0e-9a53-0d6b1c1f6a55\r\n"
    "\r\n";

// A small JSON API call (head only; the 87-byte body would stream through separately).
inline constexpr std::string_view kApiPost =
    "POST /api/v1/orders HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: python-requests/2.31.0\r\n"
    "Accept-Encoding: gzip, deflate\r\n"
    "Accept: application/json\r\n"
    "Connection: keep-alive\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 87\r\n"
    "\r\n";

// The README's example upstream: a path to join and a query to merge.
inline constexpr std::string_view kUpstream = "http://127.0.0.1:9000/base?x=1";

inline sluice::Url upstream_url() { return *sluice::Url::parse(kUpstream); }

inline boost::asio::ip::tcp::endpoint client_endpoint() {
  return {boost::asio::ip::make_address("203.0.113.7"), 51234};
}

using Parser = boost::beast::http::request_parser<boost::beast::http::buffer_body>;

// A fresh parser for the next request, set up as run_session does (src/server/session.cpp).
inline void reset_parser(std::optional<Parser>& parser) {
  parser.emplace();
  parser->header_limit(64 * 1024);  // ServerOptions::max_request_header_bytes default
  parser->body_limit(boost::none);
}

// Feeds the whole head in one put(), as read_head does when the head arrived in one read.
// True when the parser consumed all of it and the header is done.
inline bool put_head(Parser& parser, std::string_view head) {
  boost::system::error_code ec;
  const std::size_t used = parser.put(boost::asio::const_buffer(head.data(), head.size()), ec);
  return !ec && used == head.size() && parser.is_header_done();
}

// The Request the session hands to the proxy for `head` (nullopt if it does not parse).
inline std::optional<sluice::Request> inbound_request(std::string_view head) {
  std::optional<Parser> parser;
  reset_parser(parser);
  if (!put_head(*parser, head)) return std::nullopt;
  return sluice::detail::request_from_parser(*parser, client_endpoint());
}

// Runs `step(copy)` on fresh copies of `in`, kBatch at a time. Making the copies is excluded from
// the time (PauseTiming, amortised over the batch) and from the allocation count, so what is
// measured is the step alone on a request in the state the proxy would hand it over.
inline constexpr int kBatch = 64;

template <typename Step>
void run_on_copies(benchmark::State& state, const sluice::Request& in, Step step) {
  std::vector<sluice::Request> batch(kBatch);
  AllocCounter allocs;
  while (state.KeepRunningBatch(kBatch)) {
    allocs.pause();  // outside Pause/ResumeTiming: whatever they do is not counted either
    state.PauseTiming();
    for (auto& r : batch)
      r = in;
    state.ResumeTiming();
    allocs.resume();
    for (auto& r : batch) {
      step(r);
      benchmark::DoNotOptimize(r);
    }
    benchmark::ClobberMemory();
  }
  allocs.report(state);
}

}  // namespace sluice_bench
