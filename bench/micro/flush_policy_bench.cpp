// Flush policy per response (src/proxy/flush_policy.cpp, SPEC 24-27): flush_interval_for picks
// "after every write" for text/event-stream and unknown lengths, else the configured interval;
// media_type is the Content-Type parse it relies on.
#include <chrono>
#include <string_view>

#include "common.hpp"
#include "proxy/flush_policy.hpp"

namespace {

using namespace std::chrono_literals;
using sluice_bench::AllocCounter;

void BM_MediaType(benchmark::State& state, std::string_view content_type) {
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(content_type);
    auto type = sluice::media_type(content_type);
    benchmark::DoNotOptimize(type);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_MediaType, html, std::string_view("text/html; charset=utf-8"));
BENCHMARK_CAPTURE(BM_MediaType, json, std::string_view("application/json"));
BENCHMARK_CAPTURE(BM_MediaType, sse, std::string_view("text/event-stream"));
BENCHMARK_CAPTURE(BM_MediaType, sse_mixed_case_params,
                  std::string_view("Text/Event-Stream; charset=UTF-8"));

// A response head as a typical upstream sends it, after hop-by-hop stripping (to_response).
sluice::Response response(std::string_view content_type, std::int64_t content_length) {
  sluice::Response res;
  res.status = 200;
  res.header.insert("Date", "Mon, 15 Jan 2024 10:00:00 GMT");
  res.header.insert("Server", "gunicorn");
  if (!content_type.empty()) res.header.insert("Content-Type", content_type);
  if (content_length >= 0) res.header.insert("Content-Length", std::to_string(content_length));
  res.header.insert("Cache-Control", "no-cache");
  res.header.insert("Vary", "Accept-Encoding");
  res.header.insert("X-Request-Id", "7d3c6c2e-51a4-4c0e-9a53-0d6b1c1f6a55");
  res.content_length = content_length;
  return res;
}

void BM_FlushIntervalFor(benchmark::State& state, std::string_view content_type,
                         std::int64_t content_length, std::chrono::nanoseconds expected) {
  const sluice::Response res = response(content_type, content_length);
  constexpr std::chrono::nanoseconds configured = 100ms;
  if (sluice::flush_interval_for(res, configured) != expected) {
    state.SkipWithError("unexpected interval");
    return;
  }
  AllocCounter allocs;
  for (auto _ : state) {
    benchmark::DoNotOptimize(res);
    auto interval = sluice::flush_interval_for(res, configured);
    benchmark::DoNotOptimize(interval);
  }
  allocs.report(state);
}
BENCHMARK_CAPTURE(BM_FlushIntervalFor, html_known_length, "text/html; charset=utf-8", 5120, 100ms);
BENCHMARK_CAPTURE(BM_FlushIntervalFor, json_known_length, "application/json", 87, 100ms);
BENCHMARK_CAPTURE(BM_FlushIntervalFor, sse, "text/event-stream", sluice::kUnknownLength, -1ns);
BENCHMARK_CAPTURE(BM_FlushIntervalFor, json_chunked, "application/json", sluice::kUnknownLength,
                  -1ns);
BENCHMARK_CAPTURE(BM_FlushIntervalFor, no_type_known_length, "", 0, 100ms);

}  // namespace
