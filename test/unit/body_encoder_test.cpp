// The streaming compressor of one response (issue 14): what it writes decodes to what it was fed,
// and at every flush the client can decode every byte fed so far from what was written, with
// the decoders browsers and curl use (zlib's inflate, brotli's decoder, zstd's).
#include "proxy/body_encoder.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "support/stream_decoder.hpp"

namespace sluice {
namespace {

using Op = BodyEncoder::Op;

// Deterministic pseudo-random numbers (xorshift64), so that a failure reproduces.
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
  std::uint64_t state_ = 0x9e3779b97f4a7c15;
};

// An LLM token stream as SSE: small events of varying sizes, now and then a large one.
std::vector<std::string> sse_events(std::size_t count) {
  static const char* const kWords[] = {"the ", "stream ", "token ", "proxy ",       "flush ",
                                       "of ",  "bytes ",  "a ",     "compression ", "window "};
  Random random;
  std::vector<std::string> events;
  for (std::size_t i = 0; i < count; ++i) {
    std::string e = "id: " + std::to_string(i) + "\ndata: {\"choices\":[{\"delta\":{\"content\":\"";
    const std::size_t words = i % 50 == 49 ? 400 : 1 + random.below(4);
    for (std::size_t w = 0; w < words; ++w) {
      e += kWords[random.below(std::size(kWords))];
    }
    e += "\"}}]}\n\n";
    events.push_back(std::move(e));
  }
  return events;
}

std::string json_document(std::size_t bytes) {
  std::string doc = "[";
  for (std::size_t i = 0; doc.size() < bytes; ++i) {
    doc += "{\"id\":" + std::to_string(i) + ",\"name\":\"item " + std::to_string(i * 7919 % 1000) +
           "\",\"tags\":[\"a\",\"b\"],\"price\":" + std::to_string(i % 97) + ".5},";
  }
  doc.back() = ']';
  return doc;
}

std::string random_bytes(std::size_t n) {
  Random random;
  std::string out(n, '\0');
  for (char& c : out) {
    c = static_cast<char>(random.next() >> 56);
  }
  return out;
}

std::span<const char> bytes(const std::string& s) { return {s.data(), s.size()}; }

class BodyEncoderTest : public testing::TestWithParam<ContentCoding> {
 protected:
  void SetUp() override {
    encoder_ = BodyEncoder::make(GetParam());
    ASSERT_NE(encoder_, nullptr);
    decoder_ = test::make_stream_decoder(GetParam());
  }

  // Encodes `in` with `op` and hands only the bytes this call produced to the client's decoder.
  testing::AssertionResult send(const std::string& in, Op op) {
    std::string wire;
    if (!encoder_->encode(bytes(in), op, wire)) {
      return testing::AssertionFailure() << "encode failed";
    }
    wire_bytes_ += wire.size();
    if (!decoder_->feed(wire, decoded_)) {
      return testing::AssertionFailure() << "the decoder rejected the output";
    }
    fed_ += in;
    return testing::AssertionSuccess();
  }

  std::unique_ptr<BodyEncoder> encoder_;
  std::unique_ptr<test::StreamDecoder> decoder_;
  std::string fed_;
  std::string decoded_;
  std::size_t wire_bytes_ = 0;
};

TEST_P(BodyEncoderTest, RoundTripsWritesThenFinish) {
  const std::string doc = json_document(64 * 1024);
  for (std::size_t at = 0; at < doc.size(); at += 1000) {
    ASSERT_TRUE(send(doc.substr(at, 1000), Op::write));
  }
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_TRUE(decoder_->finished());
  EXPECT_EQ(decoded_, doc);
  EXPECT_LT(wire_bytes_, doc.size() / 4) << "a repetitive JSON document compresses well";
}

// The promise: at every flush, the client decodes exactly everything fed so far.
TEST_P(BodyEncoderTest, EveryFlushMakesAllBytesSoFarDecodable) {
  const auto events = sse_events(300);
  for (const std::string& event : events) {
    ASSERT_TRUE(send(event, Op::flush));
    ASSERT_EQ(decoded_, fed_) << "after " << fed_.size() << " bytes";
  }
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_TRUE(decoder_->finished());
  EXPECT_EQ(decoded_, fed_);
  EXPECT_LT(wire_bytes_, fed_.size() / 2) << "history across flushes is kept";
}

TEST_P(BodyEncoderTest, WritesHeldBackUntilTheFlushThenAllDecodable) {
  const auto events = sse_events(120);
  for (std::size_t i = 0; i < events.size(); ++i) {
    // Events split in two writes, flushed every third event by an empty flush.
    const std::string& e = events[i];
    ASSERT_TRUE(send(e.substr(0, e.size() / 2), Op::write));
    ASSERT_TRUE(send(e.substr(e.size() / 2), Op::write));
    if (i % 3 == 2) {
      ASSERT_TRUE(send("", Op::flush));
      ASSERT_EQ(decoded_, fed_) << "after event " << i;
    }
  }
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_EQ(decoded_, fed_);
}

TEST_P(BodyEncoderTest, EmptyFlushesAreHarmlessAndSmall) {
  ASSERT_TRUE(send("", Op::flush));  // before any input
  ASSERT_TRUE(send("data: one\n\n", Op::flush));
  for (int i = 0; i < 5; ++i) {
    std::string wire;
    ASSERT_TRUE(encoder_->encode({}, Op::flush, wire));
    EXPECT_LE(wire.size(), 8u) << "an empty flush after a flush writes little or nothing";
    ASSERT_TRUE(decoder_->feed(wire, decoded_));
  }
  EXPECT_EQ(decoded_, fed_);
  ASSERT_TRUE(send("data: two\n\n", Op::flush));
  EXPECT_EQ(decoded_, fed_);
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_TRUE(decoder_->finished());
  EXPECT_EQ(decoded_, "data: one\n\ndata: two\n\n");
}

TEST_P(BodyEncoderTest, LargeIncompressibleInputRoundTrips) {
  const std::string noise = random_bytes(3 * 1024 * 1024 + 17);
  for (std::size_t at = 0; at < noise.size(); at += 64 * 1024) {
    ASSERT_TRUE(send(noise.substr(at, 64 * 1024), Op::write));
  }
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_TRUE(decoder_->finished());
  EXPECT_TRUE(decoded_ == noise) << "decoded " << decoded_.size() << " of " << noise.size();
  EXPECT_LT(wire_bytes_, noise.size() + noise.size() / 100) << "stored blocks, little overhead";
}

TEST_P(BodyEncoderTest, OneLargeFlushedWriteRoundTrips) {
  // More output at once than one library call is offered room for.
  const std::string noise = random_bytes(1024 * 1024);
  ASSERT_TRUE(send(noise, Op::flush));
  EXPECT_TRUE(decoded_ == noise);
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_TRUE(decoded_ == noise);
}

TEST_P(BodyEncoderTest, FinishWithoutInputIsAnEmptyBody) {
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_TRUE(decoder_->finished());
  EXPECT_EQ(decoded_, "");
  EXPECT_GT(wire_bytes_, 0u) << "a complete, empty stream";
}

TEST_P(BodyEncoderTest, FinishWithInputEndsTheStream) {
  ASSERT_TRUE(send("data: last\n\n", Op::finish));
  EXPECT_TRUE(decoder_->finished());
  EXPECT_EQ(decoded_, "data: last\n\n");
}

TEST_P(BodyEncoderTest, NothingMayBeFedAfterFinish) {
  ASSERT_TRUE(send("x", Op::finish));
  std::string wire;
  EXPECT_FALSE(encoder_->encode(bytes(std::string("more")), Op::write, wire));
  EXPECT_FALSE(encoder_->encode({}, Op::finish, wire));
  EXPECT_EQ(wire, "");
}

// Bounded memory per stream: sluice holds thousands of them. The bench has the exact figures
// (bench/micro/compression_bench.cpp, state_B). Brotli's floor is higher: from quality 2 on
// (the lowest that keeps history across flushes) libbrotlienc's match finder alone is a fixed
// 256 KiB, and a large write adds its delayed command buffer (body_encoder.cpp).
std::size_t state_bound(ContentCoding coding) {
  return coding == ContentCoding::br ? 640 * 1024 : 160 * 1024;
}

TEST_P(BodyEncoderTest, StateStaysSmallThroughALongStream) {
  const auto events = sse_events(2000);
  std::size_t peak = 0;
  for (const std::string& event : events) {
    ASSERT_TRUE(send(event, Op::flush));
    peak = std::max(peak, encoder_->state_bytes());
  }
  ASSERT_TRUE(send(json_document(256 * 1024), Op::write));
  peak = std::max(peak, encoder_->state_bytes());
  ASSERT_TRUE(send("", Op::finish));
  EXPECT_EQ(decoded_, fed_);
  EXPECT_GT(peak, 0u);
  EXPECT_LT(peak, state_bound(GetParam())) << to_string(GetParam());
}

INSTANTIATE_TEST_SUITE_P(Codings, BodyEncoderTest,
                         testing::Values(ContentCoding::zstd, ContentCoding::br,
                                         ContentCoding::gzip),
                         [](const testing::TestParamInfo<ContentCoding>& param) {
                           return std::string(to_string(param.param));
                         });

TEST(BodyEncoder, TuningsTheLibraryRefusesMakeNoEncoder) {
  EXPECT_EQ(BodyEncoder::make(ContentCoding::gzip, {.level = 42, .window_log = 15, .hash_log = 15}),
            nullptr);
  EXPECT_EQ(BodyEncoder::make(ContentCoding::zstd, {.level = 3, .window_log = 5, .hash_log = 12}),
            nullptr);
}

TEST(BodyEncoder, EveryCodingHasAnEncoderAtItsDefaults) {
  for (const ContentCoding c : {ContentCoding::zstd, ContentCoding::br, ContentCoding::gzip}) {
    EXPECT_NE(BodyEncoder::make(c), nullptr) << to_string(c);
  }
}

}  // namespace
}  // namespace sluice
