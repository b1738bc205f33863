#pragma once
// SseEventTracker: where the events of a text/event-stream end, and the ID an EventSource would
// send as Last-Event-ID (issue 14: heartbeats only between events; resume on a new upstream).
//
// It follows the WHATWG grammar (HTML §9.2.5 "Parsing an event stream", §9.2.6 "Interpreting an
// event stream") as far as these two questions need, byte by byte, so chunk splits anywhere
// (inside a CRLF, inside the BOM) give the same answers as one chunk. It keeps no line but an `id`
// line, and that only up to kMaxIdBytes: one tracker per stream, thousands of streams.
//
// Event boundary. A position is a boundary when the client's parser, having read the stream up
// to it, is at the start of a line and holds nothing of an unfinished event: every line since
// the last dispatch (the last empty line) was a comment. So the end of a comment line between
// events is a boundary too — an upstream's own ":keepalive\n" is not held back waiting for the
// next event — but the end of a comment inside an event ("data: x\n:c\n") is not.
//
// A trailing CR. A CR ends its line at once, so after "...\n\r" (the CR ends an empty line) the
// stream is at a boundary. If the next byte is LF it belongs to the same CRLF and ends nothing.
// When a heartbeat ":\n\n" goes out between the CR and that LF, the client sees the LF alone, as
// one more empty line: it dispatches an event with no data, which fires nothing and sets the
// last event ID string to the buffer it already equals. So the boundary is reported without
// waiting for the next byte — a CR-only stream, idle, would otherwise never get a heartbeat —
// and it does not matter whether the caller feeds its heartbeats to the tracker: the states
// before and after that LF are both boundaries with the same last_event_id().
//
// A leading UTF-8 BOM (EF BB BF) of the stream is ignored, as EventSource's decoder does; while
// the first bytes may still be one, the stream is not at a boundary.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice {

class SseEventTracker {
 public:
  // The longest `id` value tracked. A longer one makes last_event_id_known() false (below).
  static constexpr std::size_t kMaxIdBytes = 1024;

  // Feeds the next bytes of the stream as the client receives them. Returns the largest n ≥ 1
  // such that bytes[0, n) ends at an event boundary, or 0 when no position inside `bytes` is one:
  // bytes[0, n) complete whole events (and comments), bytes[n, size) begin an event not finished
  // yet. For a non-empty `bytes`, at_event_boundary() afterwards is (n == bytes.size()).
  // Works in time linear in bytes.size().
  std::size_t feed(std::string_view bytes);

  // True when everything fed so far ends at an event boundary, or nothing was fed: a heartbeat
  // comment inserted now cannot join an event (see "A trailing CR" above).
  bool at_event_boundary() const;

  // The ID EventSource would send as Last-Event-ID if the stream broke now: its last event ID
  // buffer as of the last dispatch. An `id` in an event not dispatched yet does not count yet.
  const std::string& last_event_id() const { return last_event_id_; }

  // False when the buffer as of the last dispatch was set by an `id` longer than kMaxIdBytes:
  // the ID is not known, so resuming must not be attempted. It stays false through later events
  // without an `id` (the client keeps that ID too) until an event with a valid `id` (or an empty
  // `id:`) is dispatched. An `id` holding a NUL is ignored, as the client ignores it.
  bool last_event_id_known() const { return last_event_id_known_; }

 private:
  // Where the parser is in the current line.
  enum class Line : std::uint8_t {
    kStart,         // nothing of the line yet
    kComment,       // the line began with ':'
    kOtherField,    // a field whose name is not "id"
    kNameI,         // "i" so far
    kNameId,        // "id" so far
    kIdValueStart,  // "id:"; one space right here is dropped
    kIdValue,       // inside the value of an `id` field
  };

  std::size_t step(std::string_view rest);
  void take_content(std::string_view run);
  void take_name_byte(char c);
  void take_id_value(std::string_view value);
  void end_line();
  void dispatch();

  std::uint8_t bom_matched_ = 0;  // leading bytes of the stream that match the BOM so far
  bool bom_decided_ = false;      // the stream's first bytes were or were not a BOM
  Line line_ = Line::kStart;
  bool after_cr_ = false;       // the last byte was a CR: an LF now ends nothing
  bool event_pending_ = false;  // a field line since the last dispatch
  bool id_has_nul_ = false;     // of the current `id` line
  bool id_overlong_ = false;    // of the current `id` line
  std::string id_value_;        // of the current `id` line, up to kMaxIdBytes
  std::string id_buffer_;       // EventSource's "last event ID buffer"
  bool id_buffer_known_ = true;
  std::string last_event_id_;  // the buffer as of the last dispatch
  bool last_event_id_known_ = true;
};

// LeadingBomFilter: drops a UTF-8 BOM at the start of a NEW upstream's event stream that is
// spliced into a client stream already under way after a resume. There the client's decoder does
// not strip it: it would become part of the first field name, and the first event would be lost.
//
// The BOM may be split across chunks, so up to two bytes are held while they might begin one.
// Bytes that turn out not to be a BOM are handed back, never lost: filter() returns them as
// `held`, which the caller writes before `rest`. `held` is always a prefix of the BOM itself, in
// static storage, so neither view needs a copy; `rest` is a part of the chunk given.
class LeadingBomFilter {
 public:
  struct Output {
    std::string_view held;  // bytes of earlier chunks that were not a BOM after all; goes first
    std::string_view rest;  // the part of this chunk to pass on
  };

  Output filter(std::string_view chunk);

  // At the end of the stream: the bytes still held (a stream that ended inside "EF BB"). After
  // it, filter() passes everything on.
  std::string_view finish();

 private:
  std::uint8_t matched_ = 0;  // BOM bytes held from earlier chunks
  bool decided_ = false;      // the stream's first bytes were or were not a BOM
};

}  // namespace sluice
