#pragma once
// The zero-copy path for the rest of a large known-length response body (issue 4): upstream
// socket -> pipe -> client socket with splice(2), so the body never passes through the proxy's
// memory. The same endings, bounds and events as the copy path in body_pump.cpp: the upstream
// idle timeout, the client leaving, the stop signal, truncation, client_write events; each pass
// is flushed at once, which every flush interval allows (an interval bounds latency; a body
// this large would overflow the output buffer anyway).
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>

#include "common/splice_pipe.hpp"
#include "net/splice.hpp"
#include "proxy/body_pump.hpp"

namespace sluice {

// Bodies with at least this much left are spliced; smaller ones are not worth a pipe.
inline constexpr std::uint64_t kSpliceMinBytes = 256 * 1024;

// Relays the rest of the body (source.remaining() bytes). `pipe` is empty on entry; on a
// complete relay it is empty again (PumpEnd::complete); on any other ending it may hold bytes.
boost::asio::awaitable<PumpResult> splice_body(Exchange& ex, detail::SpliceSink& sink,
                                               detail::SpliceSource& source, FlushWriter& flush,
                                               std::chrono::nanoseconds idle_timeout,
                                               SplicePipe& pipe);

}  // namespace sluice
