#pragma once
// Incremental decoders of the content codings sluice produces, as browsers and curl decode them
// (zlib's inflate, brotli's decoder, zstd's): tests feed them what the client received so far
// and check what it decodes to at that moment.
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sluice/content_coding.hpp"

namespace sluice::test {

class StreamDecoder {
 public:
  virtual ~StreamDecoder() = default;
  // Takes the next bytes the client received and appends what they decode to. False when they
  // do not decode, or when bytes follow the end of the coded stream.
  bool feed(std::string_view in, std::string& out) { return decode({in.data(), in.size()}, out); }
  // True once the coding's end (gzip trailer, last meta-block, frame end) was read.
  virtual bool finished() const = 0;

 protected:
  virtual bool decode(std::span<const char> in, std::string& out) = 0;
};

std::unique_ptr<StreamDecoder> make_stream_decoder(ContentCoding coding);

}  // namespace sluice::test
