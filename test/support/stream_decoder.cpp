#include "support/stream_decoder.hpp"

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdint>

namespace sluice::test {

namespace {

class GzipDecoder final : public StreamDecoder {
 public:
  GzipDecoder() { ok_ = inflateInit2(&z_, 15 + 16) == Z_OK; }  // + 16: gzip only
  ~GzipDecoder() override { inflateEnd(&z_); }
  bool decode(std::span<const char> in, std::string& out) override {
    if (!ok_) return false;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    char buf[4096];
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(buf);
      z_.avail_out = sizeof buf;
      const int rc = inflate(&z_, Z_SYNC_FLUSH);
      out.append(buf, sizeof buf - z_.avail_out);
      if (rc == Z_STREAM_END) {
        done_ = true;
        return z_.avail_in == 0;  // nothing may follow the trailer
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
      if (z_.avail_in == 0 && z_.avail_out != 0) return true;
    }
  }
  bool finished() const override { return done_; }

 private:
  z_stream z_{};
  bool ok_ = false;
  bool done_ = false;
};

class BrotliDecoder final : public StreamDecoder {
 public:
  BrotliDecoder() : state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {}
  ~BrotliDecoder() override { BrotliDecoderDestroyInstance(state_); }
  bool decode(std::span<const char> in, std::string& out) override {
    std::size_t avail_in = in.size();
    const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
    for (;;) {
      std::uint8_t buf[4096];
      std::size_t avail_out = sizeof buf;
      std::uint8_t* next_out = buf;
      const BrotliDecoderResult r = BrotliDecoderDecompressStream(state_, &avail_in, &next_in,
                                                                  &avail_out, &next_out, nullptr);
      out.append(reinterpret_cast<const char*>(buf), sizeof buf - avail_out);
      if (r == BROTLI_DECODER_RESULT_SUCCESS) {
        done_ = true;
        return avail_in == 0;
      }
      // All input taken is not all output given: the decoder may still hold some.
      if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT && !BrotliDecoderHasMoreOutput(state_))
        return true;
      if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT) continue;
      if (r != BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) return false;
    }
  }
  bool finished() const override { return done_; }

 private:
  BrotliDecoderState* state_;
  bool done_ = false;
};

class ZstdDecoder final : public StreamDecoder {
 public:
  ZstdDecoder() : dctx_(ZSTD_createDCtx()) {}
  ~ZstdDecoder() override { ZSTD_freeDCtx(dctx_); }
  bool decode(std::span<const char> in, std::string& out) override {
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    char buf[4096];
    for (;;) {
      ZSTD_outBuffer dst{buf, sizeof buf, 0};
      const std::size_t hint = ZSTD_decompressStream(dctx_, &dst, &src);
      if (ZSTD_isError(hint)) return false;
      out.append(buf, dst.pos);
      if (hint == 0) {  // a frame ended; the encoder writes one
        done_ = true;
        return src.pos == src.size;
      }
      if (src.pos == src.size && dst.pos < dst.size) return true;
    }
  }
  bool finished() const override { return done_; }

 private:
  ZSTD_DCtx* dctx_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<StreamDecoder> make_stream_decoder(ContentCoding coding) {
  switch (coding) {
    case ContentCoding::gzip: return std::make_unique<GzipDecoder>();
    case ContentCoding::br: return std::make_unique<BrotliDecoder>();
    case ContentCoding::zstd: return std::make_unique<ZstdDecoder>();
  }
  return nullptr;
}

}  // namespace sluice::test
