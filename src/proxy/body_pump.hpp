#pragma once
// Copies one upstream response body to the client through a fixed buffer (SPEC L5): the next
// upstream read happens only after the previous bytes were handed to the FlushWriter, so a
// client that stops reading stops the upstream read too (backpressure).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <system_error>

#include "proxy/flush_writer.hpp"
#include "proxy/sse_gate.hpp"
#include "sluice/exchange.hpp"
#include "sluice/transport.hpp"

namespace sluice {

enum class PumpEnd { complete, upstream_error, upstream_timeout, client_gone, shutdown };

struct PumpResult {
  PumpEnd end;
  std::error_code ec;  // what failed: the upstream's error (or the client write's)
};

// Shared by the copy pump and the splice relay: the idle limit of the next wait, with
// flush.timer() armed for it or for a flush (or an SSE heartbeat) falling due first.
std::chrono::steady_clock::time_point arm_wait(FlushWriter& flush,
                                               std::chrono::nanoseconds idle_timeout,
                                               std::chrono::steady_clock::time_point last_progress,
                                               const SseGate* sse = nullptr);
// After the timer woke a wait: flushes (or sends the heartbeat) that fell due. A result when
// the pump must end (the client is gone, or the idle limit passed).
boost::asio::awaitable<std::optional<PumpResult>> after_timer(
    FlushWriter& flush, std::chrono::steady_clock::time_point idle_deadline,
    SseGate* sse = nullptr);

// `buffer` is the copy buffer (the BufferPool's, or one of the caller's); it must not be empty.
// `idle_timeout`: the longest wait for the next upstream byte (SPEC L7, R39). `sse`: the SSE
// features of an event stream, or null; the bytes then go through it to `flush`.
boost::asio::awaitable<PumpResult> pump_body(Exchange& ex, ResponseBody& body, FlushWriter& flush,
                                             std::chrono::nanoseconds idle_timeout,
                                             std::span<char> buffer, SseGate* sse = nullptr);

}  // namespace sluice
