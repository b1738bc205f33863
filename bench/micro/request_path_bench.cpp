// The request side of one proxied request, step by step and whole, on three realistic heads:
//
//   check_raw_head        src/http1/request_validation.cpp, over the buffered head (session)
//   parse                 Beast's request_parser<buffer_body>, set up and fed as the session does
//   validate_request_head src/http1/request_validation.cpp, over the parsed head
//   request_from_parser   src/server/request_from_parser.cpp: the Request the proxy sees
//   strip_hop_by_hop      src/proxy/hop_by_hop.cpp: remove_hop_by_hop on the outbound copy
//   x_forwarded_for       src/proxy/forwarded.cpp: client_ip + append_x_forwarded_for
//   build_outbound        copy in -> out, director or rewrite, strip, TE, XFF
//   (outbound_request.cpp) serialize             serialize_request_head
//   (src/transport/round_trip.cpp): the bytes sent total                 all of the above in order,
//   plus round_trip's pool key
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common.hpp"
#include "http1/request_validation.hpp"
#include "proxy/forwarded.hpp"
#include "proxy/hop_by_hop.hpp"
#include "proxy/outbound_request.hpp"
#include "server/request_from_parser.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/reverse_proxy.hpp"
#include "transport/round_trip.hpp"

namespace {

namespace http = boost::beast::http;
using sluice::Request;
using sluice::ReverseProxy;
using sluice_bench::AllocCounter;
using sluice_bench::Parser;

// build_outbound is the library's own (src/proxy/outbound_request.cpp); true when it succeeded.
bool outbound_ok(const ReverseProxy& p, const Request& in, Request& out) {
  return !sluice::build_outbound(p, in, out);
}

// The binary's proxy: single_host(--upstream), i.e. Go's NewSingleHostReverseProxy director.
std::unique_ptr<ReverseProxy> director_proxy() {
  return sluice::single_host(sluice_bench::upstream_url());
}

// The README's embedding example: rewrite with set_url + set_x_forwarded.
std::unique_ptr<ReverseProxy> rewrite_proxy() {
  auto proxy = std::make_unique<ReverseProxy>();
  proxy->rewrite = [target = sluice_bench::upstream_url()](sluice::ProxyRequest& pr) {
    pr.set_url(target);
    pr.set_x_forwarded();
  };
  return proxy;
}

// The inbound Request for `head`; marks the benchmark failed if the head does not parse.
std::optional<Request> inbound_or_fail(benchmark::State& state, std::string_view head) {
  auto in = sluice_bench::inbound_request(head);
  if (!in) state.SkipWithError("the input head does not parse");
  return in;
}

void BM_CheckRawHead(benchmark::State& state, std::string_view head) {
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(head);  // opaque input: the scan cannot be hoisted out of the loop
    auto verdict = sluice::detail::check_raw_head(head);
    benchmark::DoNotOptimize(verdict);
  }
  allocs.report(state);
}

void BM_Parse(benchmark::State& state, std::string_view head) {
  std::optional<Parser> parser;
  sluice_bench::reset_parser(parser);
  if (!sluice_bench::put_head(*parser, head)) {
    state.SkipWithError("the input head does not parse");
    return;
  }
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(head);
    sluice_bench::reset_parser(parser);  // destroys the previous request's parser, as the session
    const bool done = sluice_bench::put_head(*parser, head);
    benchmark::DoNotOptimize(done);
    benchmark::DoNotOptimize(*parser);
  }
  allocs.report(state);
}

void BM_ValidateHead(benchmark::State& state, std::string_view head) {
  std::optional<Parser> parser;
  sluice_bench::reset_parser(parser);
  if (!sluice_bench::put_head(*parser, head)) {
    state.SkipWithError("the input head does not parse");
    return;
  }
  if (sluice::detail::validate_request_head(parser->get())) {
    state.SkipWithError("the input head is rejected");
    return;
  }
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(*parser);
    auto verdict = sluice::detail::validate_request_head(parser->get());
    benchmark::DoNotOptimize(verdict);
  }
  allocs.report(state);
}

void BM_RequestFromParser(benchmark::State& state, std::string_view head) {
  std::optional<Parser> parser;
  sluice_bench::reset_parser(parser);
  if (!sluice_bench::put_head(*parser, head)) {
    state.SkipWithError("the input head does not parse");
    return;
  }
  const auto remote = sluice_bench::client_endpoint();
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(*parser);
    Request in = sluice::detail::request_from_parser(*parser, remote);
    benchmark::DoNotOptimize(in);
  }  // `in` destroyed each iteration, as the Exchange is after the response
  allocs.report(state);
}

// The deep copy alone (SPEC 16, `out = in` in build_outbound), for scale: it dominates the steps
// that follow it.
void BM_CopyRequest(benchmark::State& state, std::string_view head) {
  const auto in = inbound_or_fail(state, head);
  if (!in) return;
  AllocCounter allocs;
  for (auto _ : state) {
    Request out;
    out = *in;
    benchmark::DoNotOptimize(out);
  }
  allocs.report(state);
}

void BM_StripHopByHop(benchmark::State& state, std::string_view head) {
  const auto in = inbound_or_fail(state, head);
  if (!in) return;
  sluice_bench::run_on_copies(state, *in,
                              [](Request& out) { sluice::remove_hop_by_hop(out.header); });
}

void BM_XForwardedFor(benchmark::State& state, std::string_view head) {
  const auto in = inbound_or_fail(state, head);
  if (!in) return;
  sluice_bench::run_on_copies(state, *in, [&in](Request& out) {
    sluice::append_x_forwarded_for(out.header, sluice::client_ip(in->remote));
  });
}

// Floor of run_on_copies: what the batching itself costs per element (step does nothing).
void BM_CopiesBaseline(benchmark::State& state, std::string_view head) {
  const auto in = inbound_or_fail(state, head);
  if (!in) return;
  sluice_bench::run_on_copies(state, *in, [](Request&) {});
}

void BM_BuildOutbound(benchmark::State& state, std::string_view head, bool rewrite) {
  const auto in = inbound_or_fail(state, head);
  if (!in) return;
  const auto proxy = rewrite ? rewrite_proxy() : director_proxy();
  {
    Request out;
    if (!outbound_ok(*proxy, *in, out)) {
      state.SkipWithError("build_outbound failed");
      return;
    }
  }
  AllocCounter allocs;
  for (auto _ : state) {
    Request out;
    const bool ok = outbound_ok(*proxy, *in, out);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(out);
  }
  allocs.report(state);
}

void BM_Serialize(benchmark::State& state, std::string_view head) {
  const auto in = inbound_or_fail(state, head);
  if (!in) return;
  const auto proxy = director_proxy();
  Request out;
  if (!outbound_ok(*proxy, *in, out) || !sluice::serialize_request_head(out)) {
    state.SkipWithError("no outbound head");
    return;
  }
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(out);
    auto wire = sluice::serialize_request_head(out);
    benchmark::DoNotOptimize(wire);
  }
  allocs.report(state);
}

// Everything the proxy does to a request head before the first byte goes upstream, in order:
// session (raw check, parse, validate, Request), serve (build_outbound, director mode as in the
// binary), round_trip (pool key, serialized head). Not included: check_limits (session.cpp, a
// field count), the Exchange and coroutine frames, the socket I/O.
void BM_Total(benchmark::State& state, std::string_view head) {
  const auto proxy = director_proxy();
  const auto remote = sluice_bench::client_endpoint();
  std::optional<Parser> parser;
  std::size_t failures = 0;
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(head);
    sluice_bench::reset_parser(parser);
    if (sluice::detail::check_raw_head(head)) ++failures;
    if (!sluice_bench::put_head(*parser, head)) ++failures;
    if (sluice::detail::validate_request_head(parser->get())) ++failures;
    const Request in = sluice::detail::request_from_parser(*parser, remote);
    Request out;
    if (!outbound_ok(*proxy, in, out)) ++failures;
    const std::string key = out.url.host + ":" + out.url.connect_port();
    auto wire = sluice::serialize_request_head(out);
    benchmark::DoNotOptimize(key);
    benchmark::DoNotOptimize(wire);
  }
  allocs.report(state);
  if (failures != 0) state.SkipWithError("a step refused the input");
}

using sluice_bench::kApiPost;
using sluice_bench::kBrowserGet;
using sluice_bench::kConnectionNamed;

#define SLUICE_REQUEST_BENCH(fn)                             \
  BENCHMARK_CAPTURE(fn, browser_get, kBrowserGet);           \
  BENCHMARK_CAPTURE(fn, connection_named, kConnectionNamed); \
  BENCHMARK_CAPTURE(fn, api_post, kApiPost)

SLUICE_REQUEST_BENCH(BM_CheckRawHead);
SLUICE_REQUEST_BENCH(BM_Parse);
SLUICE_REQUEST_BENCH(BM_ValidateHead);
SLUICE_REQUEST_BENCH(BM_RequestFromParser);
SLUICE_REQUEST_BENCH(BM_CopyRequest);
SLUICE_REQUEST_BENCH(BM_StripHopByHop);
SLUICE_REQUEST_BENCH(BM_XForwardedFor);
BENCHMARK_CAPTURE(BM_CopiesBaseline, browser_get, kBrowserGet);
BENCHMARK_CAPTURE(BM_BuildOutbound, director / browser_get, kBrowserGet, false);
BENCHMARK_CAPTURE(BM_BuildOutbound, director / connection_named, kConnectionNamed, false);
BENCHMARK_CAPTURE(BM_BuildOutbound, director / api_post, kApiPost, false);
BENCHMARK_CAPTURE(BM_BuildOutbound, rewrite / browser_get, kBrowserGet, true);
BENCHMARK_CAPTURE(BM_BuildOutbound, rewrite / connection_named, kConnectionNamed, true);
BENCHMARK_CAPTURE(BM_BuildOutbound, rewrite / api_post, kApiPost, true);
SLUICE_REQUEST_BENCH(BM_Serialize);
SLUICE_REQUEST_BENCH(BM_Total);

}  // namespace
