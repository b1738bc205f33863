#pragma once
// What both ends of sluice's HTTP/2 connections (the server's, src/server/http2_connection, and
// the upstream transport's, src/transport/http2_upstream) share between a socket and nghttp2.
#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace sluice::http2 {

// Reads handed to nghttp2 per wake-up before a reader yields to its writer and the streams.
inline constexpr int kReadsPerWake = 8;
// What a writer sends in one write: large enough to coalesce many streams' frames.
inline constexpr std::size_t kBatchBytes = 64 * 1024;

// One per worker thread: every HTTP/2 connection of the worker reads into it and hands what it
// read to nghttp2 before anything else runs, so no connection keeps a read buffer of its own.
std::span<std::uint8_t> read_scratch();

// Appends the frames nghttp2 has ready to `out`, until it holds kBatchBytes or none is left
// (what the streams released and their windows allow). False on a fatal session error.
bool take_output(nghttp2_session* session, std::string& out);

}  // namespace sluice::http2
