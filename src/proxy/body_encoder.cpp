#include "proxy/body_encoder.hpp"

// const next_in in z_stream, so the input needs no const_cast.
#define ZLIB_CONST
#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>

namespace sluice {
namespace {

// The live heap bytes of one library instance, counted through the library's allocation hooks
// (zlib's zalloc/zfree, brotli's alloc_func/free_func). Neither free hook is told the block's
// size, so it is kept in a header in front of the block; the header is a max_align_t wide so the
// block keeps malloc's alignment.
class CountingHeap {
 public:
  void* allocate(std::size_t size) noexcept {
    if (size > SIZE_MAX - kHeader) return nullptr;
    void* raw = std::malloc(kHeader + size);
    if (raw == nullptr) return nullptr;
    std::memcpy(raw, &size, sizeof size);
    live_ += size;
    return static_cast<char*>(raw) + kHeader;
  }
  void release(void* block) noexcept {
    if (block == nullptr) return;
    void* raw = static_cast<char*>(block) - kHeader;
    std::size_t size = 0;
    std::memcpy(&size, raw, sizeof size);
    live_ -= size;
    std::free(raw);
  }
  std::size_t live() const { return live_; }

 private:
  static constexpr std::size_t kHeader = alignof(std::max_align_t);
  std::size_t live_ = 0;
};

// The output space offered to a library call: about what the pending input could expand to, at
// least enough for a flush marker or a trailer, at most 64 KiB (the loops below call again while
// the library has more). `out` grows by this and shrinks back to what was written.
std::size_t output_room(std::size_t pending_in) {
  return std::clamp<std::size_t>(pending_in + pending_in / 8 + 64, 512, 64 * 1024);
}

// gzip (RFC 1952) through zlib's deflate. Memory (zlib's zconf.h): about
// 2^(windowBits+2) + 2^(memLevel+9) + 6 KiB.
class GzipEncoder final : public BodyEncoder {
 public:
  ~GzipEncoder() override {
    if (ready_) deflateEnd(&z_);
  }

  bool init(const EncoderTuning& t) {
    z_.zalloc = [](voidpf heap, uInt items, uInt size) -> voidpf {
      return static_cast<CountingHeap*>(heap)->allocate(std::size_t{items} * size);
    };
    z_.zfree = [](voidpf heap, voidpf block) { static_cast<CountingHeap*>(heap)->release(block); };
    z_.opaque = &heap_;
    // windowBits + 16: a gzip header and trailer instead of zlib's.
    ready_ = deflateInit2(&z_, t.level, Z_DEFLATED, t.window_log + 16, t.hash_log - 7,
                          Z_DEFAULT_STRATEGY) == Z_OK;
    return ready_;
  }

  bool encode(std::span<const char> in, Op op, std::string& out) override {
    if (finished_) return false;
    const int mode = op == Op::write ? Z_NO_FLUSH : op == Op::flush ? Z_SYNC_FLUSH : Z_FINISH;
    // zlib counts in uInt: a larger span goes in slices, the flush or finish with the last.
    constexpr std::size_t kSlice = std::size_t{1} << 30;
    do {
      const std::size_t n = std::min(in.size(), kSlice);
      if (!deflate_all(in.first(n), n == in.size() ? mode : Z_NO_FLUSH, out)) return false;
      in = in.subspan(n);
    } while (!in.empty());
    finished_ = op == Op::finish;
    return true;
  }

  std::size_t state_bytes() const override { return heap_.live(); }

 private:
  bool deflate_all(std::span<const char> in, int mode, std::string& out) {
    z_.next_in = reinterpret_cast<const Bytef*>(in.data());
    z_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      const std::size_t used = out.size();
      const std::size_t room = output_room(z_.avail_in);
      out.resize(used + room);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      z_.avail_out = static_cast<uInt>(room);
      const int rc = deflate(&z_, mode);
      out.resize(used + room - z_.avail_out);
      if (rc == Z_STREAM_END) return true;  // Z_FINISH done
      // Z_BUF_ERROR only says there was nothing to do (a flush right after a flush).
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
      // zlib: output space left over means it has written all it had.
      const bool drained = z_.avail_in == 0 && z_.avail_out != 0;
      if (drained && mode != Z_FINISH) return true;
      if (drained && rc == Z_BUF_ERROR) return false;  // Z_FINISH that cannot progress
    }
  }

  CountingHeap heap_;
  z_stream z_{};
  bool ready_ = false;
  bool finished_ = false;
};

// br (RFC 7932). The library's own quality and window decide its table sizes; the text mode
// tunes its literal model for UTF-8.
class BrotliEncoder final : public BodyEncoder {
 public:
  ~BrotliEncoder() override {
    if (state_ != nullptr) BrotliEncoderDestroyInstance(state_);
  }

  bool init(const EncoderTuning& t) {
    state_ = BrotliEncoderCreateInstance(
        [](void* heap, std::size_t size) {
          return static_cast<CountingHeap*>(heap)->allocate(size);
        },
        [](void* heap, void* block) { static_cast<CountingHeap*>(heap)->release(block); }, &heap_);
    return state_ != nullptr &&
           BrotliEncoderSetParameter(state_, BROTLI_PARAM_QUALITY,
                                     static_cast<std::uint32_t>(t.level)) &&
           BrotliEncoderSetParameter(state_, BROTLI_PARAM_LGWIN,
                                     static_cast<std::uint32_t>(t.window_log)) &&
           BrotliEncoderSetParameter(state_, BROTLI_PARAM_MODE, BROTLI_MODE_TEXT);
  }

  bool encode(std::span<const char> in, Op op, std::string& out) override {
    if (finished_) return false;
    const BrotliEncoderOperation mode = op == Op::write   ? BROTLI_OPERATION_PROCESS
                                        : op == Op::flush ? BROTLI_OPERATION_FLUSH
                                                          : BROTLI_OPERATION_FINISH;
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    // The encoder's documented loop: call until the input is consumed and it holds no more
    // output; a flush or finish completes within those calls (mode and input unchanged).
    for (;;) {
      const std::size_t used = out.size();
      const std::size_t room = output_room(avail_in);
      out.resize(used + room);
      std::size_t avail_out = room;
      auto* next_out = reinterpret_cast<std::uint8_t*>(out.data() + used);
      const bool ok = BrotliEncoderCompressStream(state_, mode, &avail_in, &next_in, &avail_out,
                                                  &next_out, nullptr) != BROTLI_FALSE;
      out.resize(used + room - avail_out);
      if (!ok) return false;
      if (avail_in != 0 || BrotliEncoderHasMoreOutput(state_) != BROTLI_FALSE) continue;
      if (op == Op::finish && BrotliEncoderIsFinished(state_) == BROTLI_FALSE) continue;
      break;
    }
    finished_ = op == Op::finish;
    return true;
  }

  std::size_t state_bytes() const override { return heap_.live(); }

 private:
  CountingHeap heap_;
  BrotliEncoderState* state_ = nullptr;
  bool finished_ = false;
};

// zstd (RFC 8878). The workspace is allocated by the first compressStream2 call and sized by
// windowLog (input buffer of window + block), hashLog and chainLog; RFC 8878 §3.1.1.1.2 asks
// HTTP encoders for windows of 8 MiB or less, far above what is used here.
class ZstdEncoder final : public BodyEncoder {
 public:
  ~ZstdEncoder() override { ZSTD_freeCCtx(cctx_); }

  bool init(const EncoderTuning& t) {
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) return false;
    // Explicit table sizes: for a stream of unknown size zstd would otherwise take the level's
    // large-input values (hashLog 17 at level 3), whatever windowLog says.
    const auto set = [this](ZSTD_cParameter p, int v) {
      return ZSTD_isError(ZSTD_CCtx_setParameter(cctx_, p, v)) == 0;
    };
    return set(ZSTD_c_compressionLevel, t.level) && set(ZSTD_c_windowLog, t.window_log) &&
           set(ZSTD_c_hashLog, t.hash_log) && set(ZSTD_c_chainLog, t.hash_log);
  }

  bool encode(std::span<const char> in, Op op, std::string& out) override {
    if (finished_) return false;
    const ZSTD_EndDirective mode = op == Op::write   ? ZSTD_e_continue
                                   : op == Op::flush ? ZSTD_e_flush
                                                     : ZSTD_e_end;
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    for (;;) {
      const std::size_t used = out.size();
      const std::size_t room = output_room(src.size - src.pos);
      out.resize(used + room);
      ZSTD_outBuffer dst{out.data() + used, room, 0};
      const std::size_t left = ZSTD_compressStream2(cctx_, &dst, &src, mode);
      out.resize(used + dst.pos);
      if (ZSTD_isError(left) != 0) return false;
      // continue: done once the input is taken; flush and end: once nothing is left to write.
      if (mode == ZSTD_e_continue ? src.pos == src.size : left == 0) break;
    }
    finished_ = op == Op::finish;
    return true;
  }

  std::size_t state_bytes() const override { return ZSTD_sizeof_CCtx(cctx_); }

 private:
  ZSTD_CCtx* cctx_ = nullptr;
  bool finished_ = false;
};

template <typename Encoder>
std::unique_ptr<BodyEncoder> make_encoder(const EncoderTuning& tuning) {
  auto encoder = std::make_unique<Encoder>();
  if (!encoder->init(tuning)) return nullptr;
  return encoder;
}

}  // namespace

// Measured with bench/micro/compression_bench.cpp (Release; ratios and state sizes are exact,
// times are medians on a shared 2-core machine and move by tens of percent between runs):
// Sse = 230-byte LLM token events each flushed, Json64k = a 64 KiB API document per response.
// The aim: a stream's state well under 256 KiB (thousands of SSE streams per process), bulk
// throughput near 100 MB/s or more per core, and the ratio at the knee of each curve.
// * gzip 5, windowBits 13 (8 KiB), memLevel 5: 55 KiB. Levels 4-9 give the same SSE ratio (18)
//   and level 1 a fifth less (14.5); on the document level 5 is within 3% of level 6's ratio
//   (5.31 vs 5.45) at 1.2-1.4x its speed (~100 MB/s), level 4 loses 7%. windowBits 12 loses 5%
//   on both; 14 gains 3-6% for twice the memory; zlib's own 15/memLevel 8 takes 268 KiB for
//   +10% on SSE. memLevel 6 gives the same ratio as 5 for 16 KiB more.
// * zstd 3 (zstd's own default level), windowLog 13, hashLog = chainLog 12: 114 KiB, the same
//   8 KiB of history as gzip. Levels 1-3 cost the same here (~1 µs an event, ~500 MB/s); level 6
//   gains 10-16% for 2-5x the time. windowLog 12 loses 9% on the document for 44 KiB less;
//   windowLog 14 gains 7% for 202 KiB; zstd's own stream default (windowLog 21) takes 3.9 MiB.
// * br 3, lgwin 14: 322 KiB for an event stream, 581 KiB after large writes, over the aim: it is
//   the floor for brotli that keeps history across flushes. Qualities 0 and 1 compress each
//   flushed piece on its own (SSE ratio 1.15); 2 and up carry a fixed 256 KiB match finder
//   (libbrotlienc 1.0.9's H2/H3), 4 and up 512 KiB or more (732 KiB, 1.6 MiB after a bulk
//   write). Quality 2 halves the SSE ratio (9.7 vs 15.6). Below quality 4 the ring buffer is
//   sized by the 16 KiB input block, so lgwin 14 costs nothing over smaller windows (12: -8%
//   on SSE); 16 adds 100 KiB for +3%. At these settings br is no smaller than gzip and slower
//   (~3 µs an event; a fresh stream's 0.5 MiB costs page faults whenever malloc has returned
//   the memory to the kernel: a 64 KiB document takes 0.3 ms warm, ~1 ms cold): prefer zstd and
//   gzip in CompressOptions::codings when streams dominate.
EncoderTuning BodyEncoder::default_tuning(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::zstd: return {.level = 3, .window_log = 13, .hash_log = 12};
    case ContentCoding::br: return {.level = 3, .window_log = 14, .hash_log = 0};
    case ContentCoding::gzip: return {.level = 5, .window_log = 13, .hash_log = 12};
  }
  return {};
}

std::unique_ptr<BodyEncoder> BodyEncoder::make(ContentCoding coding) {
  return make(coding, default_tuning(coding));
}

std::unique_ptr<BodyEncoder> BodyEncoder::make(ContentCoding coding, const EncoderTuning& tuning) {
  switch (coding) {
    case ContentCoding::zstd: return make_encoder<ZstdEncoder>(tuning);
    case ContentCoding::br: return make_encoder<BrotliEncoder>(tuning);
    case ContentCoding::gzip: return make_encoder<GzipEncoder>(tuning);
  }
  return nullptr;
}

}  // namespace sluice
