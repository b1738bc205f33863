#include "transport/http1_response_body.hpp"

#include <algorithm>
#include <boost/beast/http/error.hpp>

#include "common/nothrow.hpp"
#include "net/handler_adapter.hpp"
#include "sluice/error.hpp"

namespace sluice {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {
constexpr std::size_t kReadChunk = 64 * 1024;
// Parses of buffered bytes that yield no body byte (chunk framing only) before read_some
// returns to its caller; the buffer's size bounds them anyway.
constexpr int kParsesPerRead = 64;
}  // namespace

Http1ResponseBody::~Http1ResponseBody() { finish(false); }

void Http1ResponseBody::start() { parser_->eager(true); }

std::size_t Http1ResponseBody::buffered_bytes() const {
  return direct_ ? 0 : lease_.conn().buffer.size();
}

bool Http1ResponseBody::done() const { return direct_ ? remaining_ == 0 : parser_->is_done(); }

std::size_t Http1ResponseBody::parse_into(asio::mutable_buffer into, std::error_code& ec) {
  auto& buffer = conn().buffer;
  std::size_t total = 0;
  for (int round = 0; round < kParsesPerRead && buffer.size() > 0 && !parser_->is_done(); ++round) {
    auto& b = parser_->get().body();
    b.data = static_cast<char*>(into.data()) + total;
    b.size = into.size() - total;
    b.more = true;
    boost::system::error_code pec;
    const std::size_t used = parser_->put(buffer.data(), pec);
    buffer.consume(used);
    const std::size_t got = (into.size() - total) - parser_->get().body().size;
    total += got;
    if (pec == http::error::need_buffer) pec = {};
    if (pec == http::error::need_more) break;
    if (pec) {
      // SPEC R37: bad framing from the upstream; nothing after it reaches the client.
      ec = errc::upstream_body_invalid;
      return total;
    }
    if (total == into.size() || (used == 0 && got == 0)) break;
  }
  // A Content-Length body with nothing left buffered: the rest is read unparsed.
  if (buffer.size() == 0 && !parser_->is_done() && !parser_->chunked()) {
    if (const auto left = parser_->content_length_remaining(); left && *left > 0) {
      direct_ = true;
      remaining_ = *left;
    }
  }
  return total;
}

std::size_t Http1ResponseBody::after_read(asio::mutable_buffer into, boost::system::error_code rec,
                                          std::size_t n, std::error_code& ec) {
  if (direct_) {
    remaining_ -= n;
    if (n > 0) return n;
  } else if (n > 0) {
    conn().buffer.commit(n);
    return parse_into(into, ec);
  }
  if (rec == asio::error::eof) {
    // A close-delimited body ends here (SPEC R44); any other body was cut short (SPEC 33).
    boost::system::error_code pec;
    if (!direct_) parser_->put_eof(pec);
    if (direct_ || pec) ec = errc::upstream_closed;
    return 0;
  }
  ec = to_std(rec);
  return 0;
}

asio::mutable_buffer Http1ResponseBody::raw_room() {
  auto& buffer = conn().buffer;
  const std::size_t room = std::min(kReadChunk, buffer.max_size() - buffer.size());
  return buffer.prepare(room);
}

std::size_t Http1ResponseBody::read_some(asio::mutable_buffer into, std::error_code& ec) {
  ec = {};
  if (done() || finished_) return 0;
  if (!direct_ && conn().buffer.size() > 0) {
    const std::size_t got = parse_into(into, ec);
    if (got > 0 || ec || done()) return got;
  }
  if (!direct_ && conn().buffer.size() >= conn().buffer.max_size()) {
    ec = errc::upstream_body_invalid;  // a chunk line longer than the buffer
    return 0;
  }
  boost::system::error_code rec;
  std::size_t n = 0;
  if (direct_) {
    n = conn().stream->read_some(
        asio::buffer(into.data(),
                     static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, into.size()))),
        rec);
  } else {
    n = conn().stream->read_some(raw_room(), rec);
  }
  if (would_block(rec)) {
    ec = to_std(rec);
    return 0;
  }
  return after_read(into, rec, n, ec);
}

void Http1ResponseBody::start_read_some(asio::mutable_buffer into, ReadHandler handler) {
  ByteStream& stream = *conn().stream;
  const auto target =
      direct_
          ? asio::buffer(into.data(),
                         static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, into.size())))
          : raw_room();
  stream.async_read_some(
      target,
      adapt_handler(std::move(handler), stream.get_executor(),
                    [this, into](ReadHandler h, boost::system::error_code rec, std::size_t n) {
                      std::error_code ec;
                      std::size_t got = 0;
                      if (rec == asio::error::operation_aborted && n == 0) {
                        ec = to_std(rec);  // lost a race: nothing was read
                      } else {
                        if (rec == asio::error::operation_aborted) rec = {};
                        got = after_read(into, rec, n, ec);
                      }
                      std::move(h)(ec, got);
                    }));
}

Fields Http1ResponseBody::trailers() {
  // The head's fields moved out when the response began: everything the parser holds now came
  // after the body (SPEC 21).
  Fields trailers;
  for (const auto& f : parser_->get())
    trailers.insert(f.name_string(), f.value());
  return trailers;
}

void Http1ResponseBody::finish(bool reusable) {
  if (std::exchange(finished_, true) || !lease_) return;
  // SPEC L6: back to the pool only after a complete, well-framed response with nothing unread,
  // on a request that was sent whole.
  if (reusable && done() && parser_ && parser_->keep_alive() && conn().buffer.size() == 0 &&
      !request_incomplete_) {
    lease_.mark_reusable();
  }
  lease_.release();
}

detail::SpliceSource* Http1ResponseBody::splice_source() {
  if (!direct_ || remaining_ == 0 || finished_ || conn().stream->native_fd() < 0) return nullptr;
  return this;
}

int Http1ResponseBody::fd() const { return lease_.conn().stream->native_fd(); }

void Http1ResponseBody::consumed(std::uint64_t n) { remaining_ -= std::min(n, remaining_); }

ResponseBody::Upgraded Http1ResponseBody::upgraded() {
  auto& buffer = conn().buffer;
  std::string pending(static_cast<const char*>(buffer.data().data()), buffer.size());
  buffer.consume(buffer.size());
  return Upgraded{conn().stream.get(), std::move(pending)};
}

}  // namespace sluice
