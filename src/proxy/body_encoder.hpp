#pragma once
// One response's streaming compressor (issue 14). The proxy feeds it the upstream's body as it
// arrives and flushes it at every proxy flush, so that compression never delays a byte: every
// byte the flush policy would have delivered uncompressed is, at the same moment, decodable by
// the client from what was sent. Its state is bounded, chosen per coding by measurement (gzip
// 55 KiB, zstd 114 KiB, br 322-581 KiB; see default_tuning): sluice holds thousands of event
// streams at once.
#include <cstddef>
#include <memory>
#include <span>
#include <string>

#include "sluice/content_coding.hpp"

namespace sluice {

// The knobs of one coding. make(coding) uses default_tuning(coding), chosen by measurement
// (bench/micro/compression_bench.cpp); other values exist for that benchmark.
struct EncoderTuning {
  int level = 0;       // zlib level 1-9, brotli quality 0-11, zstd level 1-19
  int window_log = 0;  // log2 of how far back a match may reach: zlib windowBits 9-15, brotli
                       // lgwin 10-24, zstd windowLog 10-27
  int hash_log = 0;    // log2 of the match finder's table: zlib memLevel + 7 (8-16), zstd hashLog
                       // and chainLog (6-27); brotli ignores it (its quality sizes its tables)
};

class BodyEncoder {
 public:
  enum class Op { write, flush, finish };

  // The defaults of make(coding), and why they were chosen, are in body_encoder.cpp.
  static EncoderTuning default_tuning(ContentCoding coding);
  // A fresh stream of `coding`; nullptr when the library refuses the tuning or cannot allocate.
  static std::unique_ptr<BodyEncoder> make(ContentCoding coding);
  static std::unique_ptr<BodyEncoder> make(ContentCoding coding, const EncoderTuning& tuning);

  BodyEncoder(const BodyEncoder&) = delete;
  BodyEncoder& operator=(const BodyEncoder&) = delete;
  virtual ~BodyEncoder() = default;

  // Consumes all of `in` and appends the compressed output produced so far to `out`.
  // Op::write may keep input back inside the library (that is where the compression comes from);
  // Op::flush makes every byte fed so far decodable by the client from what was appended (zlib
  // Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, ZSTD_e_flush); a flush with nothing new to flush
  // appends little or nothing. Op::finish ends the stream (the gzip trailer, brotli's last
  // meta-block, zstd's last block); nothing may be fed after it.
  // Returns false on a library error, or when called after finish: the response must be cut.
  virtual bool encode(std::span<const char> in, Op op, std::string& out) = 0;

  // The heap bytes the library holds for this stream now (windows, hash tables, buffers): what
  // one compressed stream costs besides its socket buffers. The libraries allocate lazily, so
  // this grows during the first writes and then stays.
  virtual std::size_t state_bytes() const = 0;

 protected:
  BodyEncoder() = default;
};

}  // namespace sluice
