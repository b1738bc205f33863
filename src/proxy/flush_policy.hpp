#pragma once
// Which flush interval applies to one response (SPEC 24-27; Go's ReverseProxy.flushInterval).
#include <chrono>
#include <string>
#include <string_view>

#include "sluice/message.hpp"

namespace sluice {

// The media type of a Content-Type value without parameters, lower-cased and trimmed:
// "Text/Event-Stream; charset=utf-8" -> "text/event-stream". "" when there is none.
std::string media_type(std::string_view content_type);

// -1ns (flush after every write) for text/event-stream (parameters ignored) and for responses of
// unknown length (content_length == kUnknownLength); otherwise `configured`.
std::chrono::nanoseconds flush_interval_for(const Response& res,
                                            std::chrono::nanoseconds configured);

}  // namespace sluice
