#pragma once
// SseGate: the streaming features of one text/event-stream response, between the body pump and
// the FlushWriter (ReverseProxy::sse_heartbeat, sse_resume).
//
// It follows the stream as the client's EventSource parses it (SseEventTracker), so it knows
// whether the client is at an event boundary and which event ID the client would send back.
// - Heartbeat: when nothing reached the client for the interval and the client is at a
//   boundary, a comment line goes out; a comment inside an event could never be mistaken for
//   data, but one inside a half-sent line would corrupt it.
// - Hold (for resume): only whole events are forwarded; the bytes of an unfinished event wait
//   for its end, so that a failed upstream leaves the client at a boundary and a new upstream
//   can continue after the last event ID without duplicating or halving an event.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <system_error>

#include "proxy/flush_writer.hpp"
#include "proxy/sse_event_tracker.hpp"
#include "sluice/message.hpp"

namespace sluice {

// A text/event-stream response whose body is text as the client's parser reads it: no
// Content-Encoding (or identity). A heartbeat or a second upstream's events can join only that.
bool sse_uncoded_event_stream(const Response& res);

class SseGate {
 public:
  using Clock = std::chrono::steady_clock;

  // An event longer than this is forwarded as it comes (memory per stream stays bounded); the
  // stream cannot be resumed until that event ends.
  static constexpr std::size_t kMaxHeldBytes = 64 * 1024;

  // `heartbeat`: 0 for none. `hold_events`: forward whole events only (resume is on).
  SseGate(FlushWriter& flush, std::chrono::nanoseconds heartbeat, bool hold_events);

  // The next upstream body bytes, in order.
  boost::asio::awaitable<std::error_code> write(boost::asio::const_buffer data,
                                                Clock::time_point read_at);
  // The upstream body ended cleanly: what it sent of an unfinished event goes out as it is.
  boost::asio::awaitable<std::error_code> release();

  // When a heartbeat falls due, if one can (an interval is set, the client is at a boundary).
  std::optional<Clock::time_point> heartbeat_due() const;
  boost::asio::awaitable<std::error_code> heartbeat();

  // A failed upstream can be replaced: events are held, the client is at a boundary, and it has
  // a (known, non-empty) event ID to send.
  bool resumable() const;
  const std::string& last_event_id() const { return tracker_.last_event_id(); }
  // Forgets the failed upstream's unfinished event; the next bytes are a new upstream body.
  void restart();

 private:
  bool client_at_boundary() const;
  void release_oversized();
  boost::asio::awaitable<std::error_code> forward(std::string_view bytes,
                                                  Clock::time_point read_at);

  FlushWriter& flush_;
  std::chrono::nanoseconds heartbeat_;
  bool hold_;
  SseEventTracker tracker_;
  // A BOM is dropped at the start of every upstream body: the client strips only one at the
  // very start of its stream, and a heartbeat or an earlier upstream's events may come first.
  LeadingBomFilter bom_;
  std::string held_;
  std::string joined_;              // held bytes plus the end of their event, reused
  bool partial_forwarded_ = false;  // the client got part of an event (one longer than the hold)
  Clock::time_point last_forward_ = Clock::now();
};

}  // namespace sluice
