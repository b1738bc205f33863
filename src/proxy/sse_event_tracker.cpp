#include "proxy/sse_event_tracker.hpp"

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <utility>

namespace sluice {

namespace {

// U+FEFF in UTF-8. HTML §9.2.5: the stream is decoded with "UTF-8 decode", which drops one.
constexpr std::string_view kBom = "\xEF\xBB\xBF";

}  // namespace

std::size_t SseEventTracker::feed(std::string_view bytes) {
  std::size_t boundary = 0;
  std::size_t at = 0;
  // step() consumes at least one byte, so this ends after at most bytes.size() rounds.
  while (at < bytes.size()) {
    at += step(bytes.substr(at));
    if (at_event_boundary()) boundary = at;
  }
  return boundary;
}

bool SseEventTracker::at_event_boundary() const {
  const bool bom_open = !bom_decided_ && bom_matched_ > 0;
  return !bom_open && line_ == Line::kStart && !event_pending_;
}

// Consumes the next byte, or a run of line content, of `rest` (not empty); returns how many.
// A run stops before a CR or LF, so every line end is seen by feed() on its own.
std::size_t SseEventTracker::step(std::string_view rest) {
  const char c = rest.front();
  if (!bom_decided_) {
    if (c == kBom[bom_matched_]) {
      bom_decided_ = ++bom_matched_ == kBom.size();
      return 1;
    }
    // Not a BOM after all: the bytes that matched so far began the first line.
    bom_decided_ = true;
    if (bom_matched_ > 0) take_content(kBom.substr(0, bom_matched_));
  }
  if (std::exchange(after_cr_, false) && c == '\n') return 1;  // the LF of a CRLF
  if (c == '\r' || c == '\n') {
    after_cr_ = c == '\r';
    end_line();
    return 1;
  }
  const std::size_t run = std::min(rest.find_first_of("\r\n"), rest.size());
  take_content(rest.substr(0, run));
  return run;
}

// `run`: bytes of one line, no CR or LF among them.
void SseEventTracker::take_content(std::string_view run) {
  std::size_t at = 0;
  // The field name decides what the rest of the line is; it takes at most four bytes ("id: ").
  while (at < run.size() && (line_ == Line::kStart || line_ == Line::kNameI ||
                             line_ == Line::kNameId || line_ == Line::kIdValueStart)) {
    take_name_byte(run[at++]);
  }
  if (line_ == Line::kIdValue) take_id_value(run.substr(at));
  // A comment or another field: its bytes matter to nobody here, so they are not kept.
}

void SseEventTracker::take_name_byte(char c) {
  switch (line_) {
    case Line::kStart:
      if (c == ':') {
        line_ = Line::kComment;
        return;
      }
      event_pending_ = true;
      line_ = c == 'i' ? Line::kNameI : Line::kOtherField;
      return;
    case Line::kNameI: line_ = c == 'd' ? Line::kNameId : Line::kOtherField; return;
    case Line::kNameId:
      if (c != ':') {
        line_ = Line::kOtherField;  // "idx", or "id " (no trimming: the name is "id ")
        return;
      }
      line_ = Line::kIdValueStart;
      id_value_.clear();
      id_has_nul_ = false;
      id_overlong_ = false;
      return;
    case Line::kIdValueStart:
      line_ = Line::kIdValue;
      // "If value starts with a U+0020 SPACE character, remove it from value": one space only.
      if (c != ' ') take_id_value(std::string_view(&c, 1));
      return;
    default: return;
  }
}

void SseEventTracker::take_id_value(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) id_has_nul_ = true;
  if (id_has_nul_ || id_overlong_) return;  // the value will not be used: keep nothing more
  if (id_value_.size() + value.size() > kMaxIdBytes) {
    id_overlong_ = true;
    id_value_.clear();
    return;
  }
  id_value_.append(value);
}

void SseEventTracker::end_line() {
  switch (line_) {
    case Line::kStart:
      dispatch();  // an empty line
      break;
    case Line::kNameId:        // "id": the whole line is the name, the value is empty
    case Line::kIdValueStart:  // "id:"
      id_buffer_.clear();
      id_buffer_known_ = true;
      break;
    case Line::kIdValue:
      // "If the field value does not contain U+0000 NULL, then set the last event ID buffer to
      // the field value. Otherwise, ignore the field."
      if (id_has_nul_) break;
      id_buffer_known_ = !id_overlong_;
      id_buffer_ = id_value_;  // empty when overlong: nothing of it is kept
      break;
    default: break;
  }
  line_ = Line::kStart;
}

void SseEventTracker::dispatch() {
  // "Set the last event ID string of the event source to the value of the last event ID
  // buffer. The buffer does not get reset" — and this happens even when the data buffer is
  // empty and no event fires.
  last_event_id_ = id_buffer_;
  last_event_id_known_ = id_buffer_known_;
  event_pending_ = false;
}

LeadingBomFilter::Output LeadingBomFilter::filter(std::string_view chunk) {
  if (decided_) return {{}, chunk};
  std::size_t at = 0;
  while (at < chunk.size() && matched_ < kBom.size() && chunk[at] == kBom[matched_]) {
    ++at;
    ++matched_;
  }
  if (matched_ == kBom.size()) {
    decided_ = true;  // a whole BOM: dropped
    return {{}, chunk.substr(at)};
  }
  if (at == chunk.size()) return {};  // all of it may still begin a BOM: held
  // A byte that is not the next of the BOM: what matched is passed on, the held part first
  // (a prefix of the BOM, so kBom's own bytes), then the rest of the chunk from where the
  // match began in it.
  decided_ = true;
  const std::size_t held_before = matched_ - at;
  return {kBom.substr(0, held_before), chunk};
}

std::string_view LeadingBomFilter::finish() {
  if (decided_) return {};
  decided_ = true;
  return kBom.substr(0, matched_);
}

}  // namespace sluice
