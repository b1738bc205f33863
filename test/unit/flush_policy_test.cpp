// Which flush interval applies to a response (SPEC 24-27).
#include "proxy/flush_policy.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sluice {
namespace {

using std::chrono::nanoseconds;

constexpr nanoseconds kImmediately{-1};

Response make_response(std::optional<std::string> content_type, std::int64_t content_length) {
  Response res;
  if (content_type) res.header.insert("Content-Type", *content_type);
  res.content_length = content_length;
  return res;
}

struct SelectCase {
  std::string name;
  std::optional<std::string> content_type;
  std::int64_t content_length;
  nanoseconds configured;
  nanoseconds want;
};

// Go's TestSelectFlushInterval. Go's zero http.Response has ContentLength 0 (known, empty).
TEST(FlushPolicy, Spec27_SelectFlushInterval) {
  const std::vector<SelectCase> cases = {
      {"default", std::nullopt, 0, nanoseconds{123}, nanoseconds{123}},
      {"server-sent events overrides non-zero", "text/event-stream", 0, nanoseconds{123},
       kImmediately},
      {"server-sent events overrides zero", "text/event-stream", 0, nanoseconds{0}, kImmediately},
      {"server-sent events with media-type parameters overrides non-zero",
       "text/event-stream;charset=utf-8", 0, nanoseconds{123}, kImmediately},
      {"server-sent events with media-type parameters overrides zero",
       "text/event-stream;charset=utf-8", 0, nanoseconds{0}, kImmediately},
      {"Content-Length: -1, overrides non-zero", std::nullopt, kUnknownLength, nanoseconds{123},
       kImmediately},
      {"Content-Length: -1, overrides zero", std::nullopt, kUnknownLength, nanoseconds{0},
       kImmediately},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(flush_interval_for(make_response(c.content_type, c.content_length), c.configured),
              c.want)
        << c.name;
  }
}

TEST(FlushPolicy, Spec27_EventStreamWithParametersFlushesImmediately) {
  const Response res = make_response("Text/Event-Stream; charset=utf-8", 1000);
  EXPECT_EQ(flush_interval_for(res, nanoseconds{5'000'000'000}), kImmediately);
}

TEST(FlushPolicy, Spec27_OnlyTheExactEventStreamTypeOverrides) {
  for (const std::string type : {"text/event-streams", "text/plain", "application/json",
                                 "text/event-stream x", "text/eventstream", ""}) {
    EXPECT_EQ(flush_interval_for(make_response(type, 10), nanoseconds{123}), nanoseconds{123})
        << '"' << type << '"';
  }
}

TEST(FlushPolicy, Spec27_OnlyTheFirstContentTypeLineCounts) {
  // Go's Header.Get reads the first value.
  Response res = make_response("application/json", 10);
  res.header.insert("Content-Type", "text/event-stream");
  EXPECT_EQ(flush_interval_for(res, nanoseconds{123}), nanoseconds{123});

  Response sse = make_response("text/event-stream", 10);
  sse.header.insert("Content-Type", "application/json");
  EXPECT_EQ(flush_interval_for(sse, nanoseconds{123}), kImmediately);
}

TEST(FlushPolicy, Spec24_ZeroIntervalKeptForKnownLength) {
  EXPECT_EQ(flush_interval_for(make_response("text/html", 4096), nanoseconds{0}), nanoseconds{0});
  EXPECT_EQ(flush_interval_for(make_response(std::nullopt, 0), nanoseconds{0}), nanoseconds{0});
}

TEST(FlushPolicy, Spec25_NegativeIntervalKept) {
  EXPECT_EQ(flush_interval_for(make_response("text/html", 4096), nanoseconds{-1}), kImmediately);
  EXPECT_EQ(flush_interval_for(make_response("text/html", 4096), nanoseconds{-7}), nanoseconds{-7});
}

TEST(FlushPolicy, Spec26_PositiveIntervalKeptForKnownLength) {
  const nanoseconds interval{250'000'000};
  EXPECT_EQ(flush_interval_for(make_response("application/octet-stream", 1 << 20), interval),
            interval);
}

struct MediaCase {
  std::string content_type;
  std::string want;
};

TEST(FlushPolicy, Spec27_MediaTypeIgnoresParametersAndCase) {
  const std::vector<MediaCase> cases = {
      {"text/event-stream", "text/event-stream"},
      {"Text/Event-Stream; charset=utf-8", "text/event-stream"},
      {"text/event-stream;charset=utf-8", "text/event-stream"},
      {"  TEXT/HTML  ; q=1", "text/html"},
      {"\ttext/plain\t", "text/plain"},
      {"text/event-stream; garbage", "text/event-stream"},  // bad parameters do not matter
      {"text/event-stream;;;", "text/event-stream"},
      {"application/vnd.api+json", "application/vnd.api+json"},
      {"text", "text"},  // Go accepts a bare token
      {"", ""},
      {"   ", ""},
      {";charset=utf-8", ""},
      {"text/", ""},
      {"/plain", ""},
      {"text/event-stream x", ""},  // malformed: not a media type
      {"text/event/stream", ""},
      {"te xt/plain", ""},
      {"text/pl@in", ""},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(media_type(c.content_type), c.want) << '"' << c.content_type << '"';
  }
}

}  // namespace
}  // namespace sluice
