#include "proxy/sse_gate.hpp"

#include <algorithm>

#include <string_view>
#include "http1/wire.hpp"
#include "proxy/flush_policy.hpp"

namespace sluice {

namespace asio = boost::asio;

bool sse_uncoded_event_stream(const Response& res) {
  const auto type = res.header.find("Content-Type");
  if (type == res.header.end() || media_type(type->value()) != "text/event-stream") return false;
  const auto coding = res.header.find("Content-Encoding");
  return coding == res.header.end() ||
         http1::iequals(http1::trim_element(coding->value()), "identity");
}

SseGate::SseGate(FlushWriter& flush, std::chrono::nanoseconds heartbeat, bool hold_events)
    : flush_(flush), heartbeat_(heartbeat), hold_(hold_events) {}

bool SseGate::client_at_boundary() const {
  return hold_ ? !partial_forwarded_ : tracker_.at_event_boundary();
}

asio::awaitable<std::error_code> SseGate::forward(std::string_view bytes,
                                                  Clock::time_point read_at) {
  if (bytes.empty()) co_return std::error_code{};
  last_forward_ = Clock::now();
  co_return co_await flush_.write(asio::buffer(bytes.data(), bytes.size()), read_at);
}

asio::awaitable<std::error_code> SseGate::write(asio::const_buffer data,
                                                Clock::time_point read_at) {
  std::string_view bytes(static_cast<const char*>(data.data()), data.size());
  std::string unmarked;  // only when the filter hands back bytes it held: rare
  const LeadingBomFilter::Output out = bom_.filter(bytes);
  bytes = out.rest;
  if (!out.held.empty()) bytes = unmarked.assign(out.held).append(out.rest);
  const std::size_t whole = tracker_.feed(bytes);
  if (!hold_) co_return co_await forward(bytes, read_at);

  std::string_view rest = bytes;
  if (whole > 0) {
    // Events ended in these bytes: the held start of the first one and everything up to the
    // last boundary go out in one write.
    std::string_view events = bytes.substr(0, whole);
    if (!held_.empty()) {
      joined_.assign(held_).append(events);
      held_.clear();
      events = joined_;
    }
    partial_forwarded_ = false;
    rest = bytes.substr(whole);
    const auto ec = co_await forward(events, read_at);
    release_oversized();
    if (ec) co_return ec;
  }
  if (partial_forwarded_) co_return co_await forward(rest, read_at);  // the client is inside it
  held_.append(rest);
  if (held_.size() <= kMaxHeldBytes) co_return std::error_code{};
  partial_forwarded_ = true;
  joined_.swap(held_);
  held_.clear();
  const auto ec = co_await forward(joined_, read_at);
  release_oversized();
  co_return ec;
}

void SseGate::release_oversized() {
  // An event longer than the hold grew these; the stream's next events are likely small again.
  if (joined_.capacity() > kMaxHeldBytes) std::string().swap(joined_);
  if (held_.capacity() > kMaxHeldBytes) std::string().swap(held_);
}

asio::awaitable<std::error_code> SseGate::release() {
  // A body that ended inside what might have been a BOM: those bytes were data after all.
  if (const std::string_view partial = bom_.finish(); !partial.empty()) {
    const auto ec = co_await write(asio::buffer(partial.data(), partial.size()), Clock::now());
    if (ec) co_return ec;
  }
  if (held_.empty()) co_return std::error_code{};
  joined_.swap(held_);
  held_.clear();
  co_return co_await forward(joined_, Clock::now());
}

std::optional<SseGate::Clock::time_point> SseGate::heartbeat_due() const {
  if (heartbeat_.count() <= 0 || !client_at_boundary()) return std::nullopt;
  return last_forward_ + heartbeat_;
}

asio::awaitable<std::error_code> SseGate::heartbeat() {
  last_forward_ = Clock::now();
  co_return co_await flush_.heartbeat();
}

bool SseGate::resumable() const {
  if (!hold_ || partial_forwarded_ || !tracker_.last_event_id_known()) return false;
  const std::string& id = tracker_.last_event_id();
  // It goes upstream as a field value: an ID with a control character cannot (RFC 9110 §5.5),
  // and one with spaces around it would arrive trimmed, naming another event.
  if (id.empty() || id.front() == ' ' || id.front() == '\t' || id.back() == ' ' ||
      id.back() == '\t') {
    return false;
  }
  return std::none_of(id.begin(), id.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

void SseGate::restart() {
  if (!held_.empty() || !tracker_.at_event_boundary()) {
    // The tracker saw the dropped bytes; the client did not. Start it again where the client
    // is: at a boundary, with the same event ID.
    std::string primed = "id: ";
    primed.append(tracker_.last_event_id()).append("\n\n");
    tracker_ = SseEventTracker{};
    tracker_.feed(primed);
  }
  held_.clear();
  partial_forwarded_ = false;
  bom_ = LeadingBomFilter{};
}

}  // namespace sluice
