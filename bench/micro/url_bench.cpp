// URL work per request (src/common/url.cpp, src/proxy/proxy_request.cpp):
//
//   parse_target          request-target -> escaped path + query (+ authority in absolute-form)
//   single_joining_slash  target path + request path, one '/' at the junction (SPEC 10)
//   merge_query           target query & request query (SPEC 11)
//   clean_query           SPEC 12: returned as is unless it has ';' or a bad %-escape
//   director              single_host()'s director (direct_to: join + merge, scheme/host/port)
//   request_target        Url::request_target + Url::authority, as serialize_request_head uses
#include <memory>
#include <string>
#include <string_view>

#include "common.hpp"
#include "sluice/proxy_request.hpp"
#include "sluice/reverse_proxy.hpp"

namespace {

using sluice_bench::AllocCounter;

void BM_ParseTarget(benchmark::State& state, std::string_view target) {
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(target);
    auto parsed = sluice::parse_target(target);
    benchmark::DoNotOptimize(parsed);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_ParseTarget, root, std::string_view("/"));
BENCHMARK_CAPTURE(BM_ParseTarget, path_query,
                  std::string_view("/app/dashboard?tab=overview&range=7d"));
BENCHMARK_CAPTURE(BM_ParseTarget, absolute_form,
                  std::string_view("http://www.example.com/app/dashboard?tab=overview&range=7d"));

void BM_SingleJoiningSlash(benchmark::State& state, std::string_view a, std::string_view b) {
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
    auto joined = sluice::single_joining_slash(a, b);
    benchmark::DoNotOptimize(joined);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_SingleJoiningSlash, base_path, std::string_view("/base"),
                  std::string_view("/app/dashboard"));
BENCHMARK_CAPTURE(BM_SingleJoiningSlash, no_target_path, std::string_view(""),
                  std::string_view("/app/dashboard"));
BENCHMARK_CAPTURE(BM_SingleJoiningSlash, short_result, std::string_view("/v1"),
                  std::string_view("/items"));

void BM_MergeQuery(benchmark::State& state, std::string_view target_query,
                   std::string_view request_query) {
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(target_query);
    benchmark::DoNotOptimize(request_query);
    auto merged = sluice::merge_query(target_query, request_query);
    benchmark::DoNotOptimize(merged);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_MergeQuery, both, std::string_view("x=1"),
                  std::string_view("tab=overview&range=7d"));
BENCHMARK_CAPTURE(BM_MergeQuery, request_only, std::string_view(""),
                  std::string_view("tab=overview&range=7d"));
BENCHMARK_CAPTURE(BM_MergeQuery, neither, std::string_view(""), std::string_view(""));

void BM_CleanQuery(benchmark::State& state, std::string_view query) {
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(query);
    auto cleaned = sluice::clean_query(query);
    benchmark::DoNotOptimize(cleaned);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_CleanQuery, clean, std::string_view("tab=overview&range=7d&q=caf%C3%A9"));
BENCHMARK_CAPTURE(BM_CleanQuery, semicolon, std::string_view("tab=overview;range=7d&page=2"));
BENCHMARK_CAPTURE(BM_CleanQuery, bad_escape, std::string_view("tab=overview&q=100%&page=2"));

// The binary's director on a fresh copy of the inbound request (run_on_copies excludes the copy).
void BM_Director(benchmark::State& state, std::string_view upstream) {
  const auto target = sluice::Url::parse(upstream);
  const auto in = sluice_bench::inbound_request(sluice_bench::kBrowserGet);
  if (!target || !in) {
    state.SkipWithError("bad input");
    return;
  }
  const auto proxy = sluice::single_host(*target);
  sluice_bench::run_on_copies(state, *in, [&proxy](sluice::Request& out) { proxy->director(out); });
}
BENCHMARK_CAPTURE(BM_Director, base_and_query, sluice_bench::kUpstream);
BENCHMARK_CAPTURE(BM_Director, bare_host, std::string_view("http://127.0.0.1:9000"));

// What serialize_request_head asks of the outbound URL: the target and (Host empty) the authority.
void BM_RequestTarget(benchmark::State& state, std::string_view path, std::string_view query) {
  sluice::Url url = sluice_bench::upstream_url();
  url.raw_path = std::string(path);
  url.raw_query = std::string(query);
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(url);
    auto target = url.request_target();
    auto authority = url.authority();
    benchmark::DoNotOptimize(target);
    benchmark::DoNotOptimize(authority);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_RequestTarget, browser_get, std::string_view("/base/app/dashboard"),
                  std::string_view("x=1&tab=overview&range=7d"));
BENCHMARK_CAPTURE(BM_RequestTarget, short_path, std::string_view("/health"), std::string_view(""));

}  // namespace
