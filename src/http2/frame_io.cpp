#include "http2/frame_io.hpp"

#include <array>

namespace sluice::http2 {

std::span<std::uint8_t> read_scratch() {
  thread_local std::array<std::uint8_t, 16 * 1024> scratch;
  return scratch;
}

bool take_output(nghttp2_session* session, std::string& out) {
  while (out.size() < kBatchBytes) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session, &data);
    if (n < 0) return false;
    if (n == 0) return true;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace sluice::http2
