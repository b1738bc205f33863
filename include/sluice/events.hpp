#pragma once
// Lifecycle events (SPEC L1): the stable observer API that tests and operators use to see what a
// response did, instead of counting threads or sleeping. Every callback is optional and runs on the
// worker thread serving that response, inline: keep it short and thread-safe (workers run in
// parallel), and never call back into the proxy from it. One exception: when Server::stop has to
// tear down responses that outlived its grace period, their last events (flush_timer_stopped with
// `shutdown`, response_end) run on the thread that called stop(). Callbacks must not throw; an
// exception from one is swallowed.
#include <cstddef>
#include <cstdint>
#include <functional>

namespace sluice {

// Unique within a process for the lifetime of the process.
using ResponseId = std::uint64_t;

// Why a response's flush timer stopped. Exactly one `flush_timer_stopped` per
// `flush_timer_started`.
enum class FlushStopReason {
  complete,          // the body was copied to the end (and trailers sent)
  upstream_error,    // reading the upstream body failed: reset, close before the end, bad framing
  upstream_timeout,  // no upstream body byte within the upstream idle timeout
  client_gone,       // the client closed, reset, or stopped reading past the write timeout
  shutdown,          // the server stopped before the response ended
};

// How one proxied exchange ended.
enum class ResponseOutcome {
  complete,        // the upstream response reached the client whole
  error_response,  // the error handler answered (502/504/...); nothing of the upstream was relayed
  truncated,       // the upstream failed after the head was sent; the client sees a cut response
  client_gone,     // the client went away first
  shutdown,        // the server stopped first
  upgraded,        // 101 Switching Protocols: the tunnel ran and has ended
};

// One attempt to continue an SSE stream on a new upstream response (ReverseProxy::sse_resume).
enum class SseResumeResult {
  resumed,  // a 200 text/event-stream response took over; the client's stream goes on
  failed,   // no usable response (an error, or another status or type); after the last
            // attempt, or on a response that is not an event stream, the stream is cut
};

const char* to_string(FlushStopReason reason);
const char* to_string(ResponseOutcome outcome);
const char* to_string(SseResumeResult result);

struct Observer {
  // A flush writer began for this response (flush interval != 0 after SPEC 27 selection).
  std::function<void(ResponseId)> flush_timer_started;
  // It stopped; after this call no byte of this response is written to the client.
  std::function<void(ResponseId, FlushStopReason)> flush_timer_stopped;
  // Bytes of this response were handed to the client socket (head, body, trailers).
  std::function<void(ResponseId, std::size_t bytes)> client_write;
  // The exchange ended, however it ended; always the last event of a response.
  std::function<void(ResponseId, ResponseOutcome)> response_end;
  // An SSE heartbeat comment (ReverseProxy::sse_heartbeat) was handed to the client: the
  // client_write just before it carried the heartbeat, not upstream bytes.
  std::function<void(ResponseId)> sse_heartbeat;
  // An attempt to resume the SSE stream after its upstream failed (ReverseProxy::sse_resume)
  // ended: `attempt` counts the attempts since the client's event ID last moved, from 1.
  std::function<void(ResponseId, SseResumeResult, unsigned attempt)> sse_resume;
};

}  // namespace sluice
