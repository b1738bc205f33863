// Response compression (src/proxy/body_encoder.cpp, issue 14): what each coding costs at its
// default tuning and at the alternatives it was chosen against. Three shapes of body:
//   Sse/<config>       an LLM token stream as Server-Sent Events, each event written and flushed
//                      on its own, as the proxy does for text/event-stream: the time is per
//                      event (µs/chunk), on one long-lived encoder;
//   Json64k/<config>   a 64 KiB JSON document in one write and finish, a fresh encoder each time
//                      (its set-up included, as for every response);
//   SmallJson/<coding>/<bytes>   short JSON bodies, for CompressOptions::min_bytes.
// Counters: MB/s of input (10^6 bytes), ratio (input / output bytes), state_B (the encoder's
// heap bytes at the end: BodyEncoder::state_bytes(), counted through the libraries' allocation
// hooks for zlib and brotli, ZSTD_sizeof_CCtx for zstd).
// Brotli's per-response times depend on malloc's history: its 0.5 MiB of state is paid for in
// page faults whenever glibc has given the heap's top back to the kernel (it trims above
// 128 KiB until a large mmapped block has been freed, which an earlier benchmark may or may not
// have done). For figures that do not depend on the order the benchmarks run in:
//   GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=33554432
// (warm: the memory is reused); without it, br/default's Json64k takes ~3x longer (cold).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "proxy/body_encoder.hpp"
#include "sluice/content_coding.hpp"

namespace {

using sluice::BodyEncoder;
using sluice::ContentCoding;
using sluice::EncoderTuning;
using Op = BodyEncoder::Op;

// Deterministic pseudo-random numbers (xorshift64): the same corpus on every run.
class Random {
 public:
  std::uint64_t next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_ = 0x2545f4914f6cdd1d;
};

constexpr const char* kWords[] = {
    " the",     " of",       " and",    " to",      " a",        " in",     " is",       " that",
    " for",     " it",       " as",     " with",    " was",      " on",     " be",       " by",
    " this",    " are",      " or",     " from",    " stream",   " proxy",  " token",    " model",
    " request", " response", " server", " client",  " data",     " event",  " flush",    " buffer",
    " latency", " window",   " bytes",  " network", " compress", " answer", " question", " example",
    " however", " because",  ".",       ",",        "\\n",       " I",      " you",      " can",
    " will",    " would",    " should", " which",   " when",     " there",  " their",    " about"};

// An OpenAI-style chat completion stream: one token per event, about 230 bytes an event. 12288
// events, 2.8 MB: the benchmark cycles through them, and a window that reached back to the
// previous cycle (zstd's own 2 MiB) would find whole repeats no real stream has.
std::vector<std::string> sse_events() {
  Random random;
  std::vector<std::string> events;
  for (int i = 0; i < 12288; ++i) {
    std::string e =
        "data: {\"id\":\"chatcmpl-9kX2b7Qz\",\"object\":\"chat.completion.chunk\","
        "\"created\":";
    e += std::to_string(1718000000 + i / 40);
    e += ",\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_d02d531b47\","
         "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"";
    e += kWords[random.below(std::size(kWords))];
    e += "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    events.push_back(std::move(e));
  }
  return events;
}

// An API's list response: objects with ids, names, timestamps, flags and nested tags.
std::string json_document(std::size_t bytes) {
  Random random;
  std::string doc = "{\"items\":[";
  for (std::size_t i = 0; doc.size() < bytes; ++i) {
    doc += "{\"id\":" + std::to_string(100000 + random.below(900000)) + ",\"name\":\"";
    for (int w = 0; w < 3; ++w) {
      doc += kWords[random.below(std::size(kWords))] + 1;  // without the leading space
    }
    doc += "\",\"created_at\":\"2024-06-1" + std::to_string(random.below(10)) + "T1" +
           std::to_string(random.below(10)) + ":0" + std::to_string(random.below(10)) +
           ":00Z\",\"active\":" + (random.below(2) != 0 ? "true" : "false") +
           ",\"score\":" + std::to_string(random.below(10000)) + ",\"tags\":[\"" +
           (kWords[random.below(std::size(kWords))] + 1) + "\"]},";
  }
  doc.resize(bytes - 2);
  doc += "]}";
  return doc;
}

struct Config {
  std::string name;
  ContentCoding coding;
  EncoderTuning tuning;
};

void report(benchmark::State& state, double in, double out, std::size_t state_bytes) {
  state.counters["MB/s"] = benchmark::Counter(in / 1e6, benchmark::Counter::kIsRate);
  state.counters["ratio"] = out > 0 ? in / out : 0;
  state.counters["state_B"] = static_cast<double>(state_bytes);
}

void BM_Sse(benchmark::State& state, const Config& config) {
  static const std::vector<std::string> events = sse_events();
  auto encoder = BodyEncoder::make(config.coding, config.tuning);
  if (!encoder) {
    state.SkipWithError("no encoder");
    return;
  }
  std::string wire;
  double in = 0;
  double out = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& e = events[i++ % events.size()];
    wire.clear();
    if (!encoder->encode({e.data(), e.size()}, Op::flush, wire)) {
      state.SkipWithError("encode failed");
      return;
    }
    in += static_cast<double>(e.size());
    out += static_cast<double>(wire.size());
    benchmark::DoNotOptimize(wire.data());
  }
  report(state, in, out, encoder->state_bytes());
}

void BM_Json64k(benchmark::State& state, const Config& config) {
  static const std::string doc = json_document(64 * 1024);
  std::string wire;
  double in = 0;
  double out = 0;
  std::size_t state_bytes = 0;
  for (auto _ : state) {
    auto encoder = BodyEncoder::make(config.coding, config.tuning);
    wire.clear();
    if (!encoder || !encoder->encode({doc.data(), doc.size()}, Op::finish, wire)) {
      state.SkipWithError("encode failed");
      return;
    }
    in += static_cast<double>(doc.size());
    out += static_cast<double>(wire.size());
    state_bytes = encoder->state_bytes();
    benchmark::DoNotOptimize(wire.data());
  }
  report(state, in, out, state_bytes);
}

void BM_SmallJson(benchmark::State& state, ContentCoding coding) {
  const std::string doc = json_document(static_cast<std::size_t>(state.range(0)));
  std::string wire;
  double in = 0;
  double out = 0;
  for (auto _ : state) {
    auto encoder = BodyEncoder::make(coding);
    wire.clear();
    if (!encoder || !encoder->encode({doc.data(), doc.size()}, Op::finish, wire)) {
      state.SkipWithError("encode failed");
      return;
    }
    in += static_cast<double>(doc.size());
    out += static_cast<double>(wire.size());
    benchmark::DoNotOptimize(wire.data());
  }
  report(state, in, out, 0);
  state.counters["saved_B"] = (in - out) / static_cast<double>(state.iterations());
}

// The defaults (BodyEncoder::default_tuning) and the alternatives they were chosen against:
// "lib" is the library's own default (zlib 6/15/memLevel 8, zstd 3 with windowLog 21 for a
// stream of unknown size, brotli 11/22), the rest vary one knob at a time.
std::vector<Config> configs() {
  std::vector<Config> out;
  for (const ContentCoding c : {ContentCoding::zstd, ContentCoding::br, ContentCoding::gzip}) {
    out.push_back(
        {std::string(sluice::to_string(c)) + "/default", c, BodyEncoder::default_tuning(c)});
  }
  const auto add = [&out](ContentCoding c, int level, int window_log, int hash_log) {
    out.push_back({std::string(sluice::to_string(c)) + "/l" + std::to_string(level) + "_w" +
                       std::to_string(window_log) + "_h" + std::to_string(hash_log),
                   c, EncoderTuning{level, window_log, hash_log}});
  };
  // gzip: the level at the default's window and memLevel, then the window and memLevel.
  for (const int level : {1, 4, 6, 9}) {
    add(ContentCoding::gzip, level, 13, 12);
  }
  add(ContentCoding::gzip, 5, 12, 12);
  add(ContentCoding::gzip, 5, 13, 13);
  add(ContentCoding::gzip, 5, 14, 13);
  add(ContentCoding::gzip, 6, 15, 15);  // lib
  // zstd: the level at the default's window and tables, then the window and tables.
  for (const int level : {1, 2, 6}) {
    add(ContentCoding::zstd, level, 13, 12);
  }
  add(ContentCoding::zstd, 3, 12, 11);
  add(ContentCoding::zstd, 3, 14, 13);
  add(ContentCoding::zstd, 3, 16, 14);
  add(ContentCoding::zstd, 3, 21, 17);  // lib
  // brotli: the quality (lgwin 14 costs no more than a smaller one below quality 4), then lgwin.
  add(ContentCoding::br, 1, 14, 0);  // no history across flushes (see body_encoder.cpp)
  add(ContentCoding::br, 2, 14, 0);
  add(ContentCoding::br, 4, 14, 0);
  add(ContentCoding::br, 5, 16, 0);
  add(ContentCoding::br, 3, 12, 0);
  add(ContentCoding::br, 3, 16, 0);
  add(ContentCoding::br, 11, 22, 0);  // lib: far too slow for a proxy; for the ratio
  return out;
}

[[maybe_unused]] const bool registered = [] {
  for (const Config& c : configs()) {
    benchmark::RegisterBenchmark(("BM_Compress_Sse/" + c.name).c_str(), BM_Sse, c)
        ->Unit(benchmark::kMicrosecond);
    benchmark::RegisterBenchmark(("BM_Compress_Json64k/" + c.name).c_str(), BM_Json64k, c)
        ->Unit(benchmark::kMicrosecond);
  }
  for (const ContentCoding c : {ContentCoding::zstd, ContentCoding::br, ContentCoding::gzip}) {
    benchmark::RegisterBenchmark(
        (std::string("BM_Compress_SmallJson/") + sluice::to_string(c)).c_str(), BM_SmallJson, c)
        ->Unit(benchmark::kMicrosecond)
        ->Arg(64)
        ->Arg(128)
        ->Arg(256)
        ->Arg(512)
        ->Arg(1024)
        ->Arg(4096);
  }
  return true;
}();

}  // namespace
