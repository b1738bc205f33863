#include "support/http_wire.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>

namespace sluice::test {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

// Field-value and reason-phrase bytes: HTAB, SP, VCHAR, obs-text. CR, LF, NUL, DEL never.
bool is_field_byte(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Comma-separated list elements of all `values`, trimmed and lower-cased, empty ones dropped.
std::vector<std::string> list_tokens(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& value : values) {
    std::string_view rest = value;
    while (true) {
      const auto comma = rest.find(',');
      auto element = trim_ows(rest.substr(0, comma));
      if (!element.empty()) {
        std::string token(element);
        std::transform(token.begin(), token.end(), token.begin(), lower);
        out.push_back(std::move(token));
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool is_http1_version(std::string_view v) { return v == "HTTP/1.1" || v == "HTTP/1.0"; }

}  // namespace

std::vector<std::string> header_values(const HeaderList& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [field, value] : headers) {
    if (iequals(field, name)) out.push_back(value);
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string printable(std::string_view bytes, std::size_t limit) {
  std::string out;
  const auto shown = bytes.substr(0, limit);
  for (const char c : shown) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20 || u >= 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  if (bytes.size() > shown.size()) {
    out += "... (" + std::to_string(bytes.size() - shown.size()) + " more bytes)";
  }
  return out;
}

namespace detail {

std::string format_ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

// ---------------------------------------------------------------------------------------------
// StopSignal

StopSignal::StopSignal() {
  if (::pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
}

StopSignal::~StopSignal() {
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

void StopSignal::raise() {
  if (raised_.exchange(true)) return;
  const char byte = 1;
  // One byte in a fresh non-blocking pipe cannot block or fail short.
  [[maybe_unused]] const auto n = ::write(pipe_[1], &byte, 1);
}

// ---------------------------------------------------------------------------------------------
// Socket

Socket::Socket(int fd, std::shared_ptr<StopSignal> stop) : fd_(fd), stop_(std::move(stop)) {
  const int flags = ::fcntl(fd_, F_GETFL, 0);
  if (flags >= 0) ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

bool Socket::is_open() const {
  std::lock_guard lock(fd_mutex_);
  return fd_ >= 0;
}

Io Socket::wait(short events, Clock::time_point deadline) {
  while (true) {
    if (fd_ < 0) return Io::closed;
    if (stop_ && stop_->raised()) return Io::stopped;
    pollfd fds[2] = {{fd_, events, 0}, {stop_ ? stop_->fd() : -1, POLLIN, 0}};
    const nfds_t count = stop_ ? 2 : 1;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const int timeout_ms =
        left.count() <= 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), INT_MAX));
    const int ready = ::poll(fds, count, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      last_error_ = errno;
      return Io::error;
    }
    if (count == 2 && fds[1].revents != 0) return Io::stopped;
    if (fds[0].revents != 0) return Io::ok;
    // poll() may wake a little early; only a zero-timeout poll that saw nothing is the deadline.
    if (timeout_ms == 0) return Io::timeout;
  }
}

Io Socket::fill(Clock::time_point deadline) {
  while (true) {
    if (fd_ < 0) return Io::closed;
    if (stop_ && stop_->raised()) return Io::stopped;
    if (peer_gone_) return last_error_ != 0 ? Io::error : Io::eof;
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      return Io::ok;
    }
    if (n == 0) {
      peer_gone_ = true;
      return Io::eof;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      last_error_ = errno;
      peer_gone_ = true;
      return Io::error;
    }
    if (const Io io = wait(POLLIN, deadline); io != Io::ok) return io;
  }
}

Io Socket::write_all(std::string_view bytes, Clock::time_point deadline) {
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    if (fd_ < 0) return Io::closed;
    if (stop_ && stop_->raised()) return Io::stopped;
    const ssize_t n = ::send(fd_, bytes.data() + offset, bytes.size() - offset, MSG_NOSIGNAL);
    if (n > 0) {
      offset += static_cast<std::size_t>(n);
      bytes_sent_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (const Io io = wait(POLLOUT, deadline); io != Io::ok) return io;
      continue;
    }
    last_error_ = n < 0 ? errno : EPIPE;
    return Io::error;
  }
  return Io::ok;
}

bool Socket::peer_closed_now() {
  if (fd_ < 0) return false;
  if (peer_gone_) return true;
  while (true) {
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      peer_gone_ = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    last_error_ = errno;
    peer_gone_ = true;
    return true;
  }
}

void Socket::shutdown_write() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void Socket::close_graceful() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ < 0) return;
  ::shutdown(fd_, SHUT_WR);
  char sink[16 * 1024];
  while (::recv(fd_, sink, sizeof sink, 0) > 0) {
  }
  ::close(fd_);
  fd_ = -1;
}

void Socket::reset() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ < 0) return;
  const linger abortive{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
  ::close(fd_);
  fd_ = -1;
}

void Socket::shutdown_both() {
  std::lock_guard lock(fd_mutex_);
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

std::string Socket::describe(Io io) const {
  switch (io) {
    case Io::ok: return "ok";
    case Io::eof: return "connection closed by the peer (EOF)";
    case Io::error: return std::string("socket error: ") + std::strerror(last_error_);
    case Io::timeout: return "deadline passed";
    case Io::stopped: return "the fake upstream is stopping";
    case Io::closed: return "the socket was already closed on this side";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// MessageParser

MessageParser::Status MessageParser::fail(std::string why) {
  state_ = State::failed;
  error_ = std::move(why);
  return Status::error;
}

std::optional<std::string_view> MessageParser::next_line(std::string_view buf) {
  const auto lf = buf.find('\n', pos_);
  if (lf == std::string_view::npos) return std::nullopt;
  if (lf == pos_ || buf[lf - 1] != '\r') {
    fail("bare LF (line not ended by CRLF) at byte " + std::to_string(lf));
    return std::nullopt;
  }
  const auto line = buf.substr(pos_, lf - 1 - pos_);
  pos_ = lf + 1;
  return line;
}

bool MessageParser::parse_start_line(std::string_view line) {
  const auto quoted = "\"" + printable(line, 200) + "\"";
  if (kind_ == Kind::request) {
    // method SP request-target SP HTTP-version, single spaces (RFC 9112 §3).
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
      fail("request line is not 'method SP target SP version': " + quoted);
      return false;
    }
    msg_.method = line.substr(0, sp1);
    msg_.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    msg_.version = line.substr(sp2 + 1);
    const bool target_ok =
        !msg_.target.empty() && std::all_of(msg_.target.begin(), msg_.target.end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u > 0x20 && u < 0x7f;
        });
    if (!is_token(msg_.method) || !target_ok || !is_http1_version(msg_.version)) {
      fail("bad request line: " + quoted);
      return false;
    }
    return true;
  }
  // HTTP-version SP 3DIGIT SP [reason]; a missing final SP is tolerated (no framing risk).
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (line.size() < 12 || !is_http1_version(line.substr(0, 8)) || line[8] != ' ' ||
      !std::all_of(line.begin() + 9, line.begin() + 12, is_digit) ||
      (line.size() > 12 && line[12] != ' ')) {
    fail("bad status line: " + quoted);
    return false;
  }
  msg_.version = line.substr(0, 8);
  msg_.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  msg_.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  if (!std::all_of(msg_.reason.begin(), msg_.reason.end(), is_field_byte)) {
    fail("control byte in reason phrase: " + quoted);
    return false;
  }
  return true;
}

bool MessageParser::parse_field(std::string_view line, HeaderList& into) {
  const auto quoted = "\"" + printable(line, 200) + "\"";
  if (line.front() == ' ' || line.front() == '\t') {
    fail("obs-fold or whitespace-led field line: " + quoted);
    return false;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    fail("field line without a colon: " + quoted);
    return false;
  }
  const auto name = line.substr(0, colon);
  if (!is_token(name)) {
    fail("field name is not a token (whitespace before the colon?): " + quoted);
    return false;
  }
  const auto value = trim_ows(line.substr(colon + 1));
  if (!std::all_of(value.begin(), value.end(), is_field_byte)) {
    fail("control byte (CR, NUL, ...) in field value: " + quoted);
    return false;
  }
  into.emplace_back(name, value);
  return true;
}

bool MessageParser::parse_chunk_size(std::string_view line) {
  const auto quoted = "\"" + printable(line, 200) + "\"";
  std::size_t digits = 0;
  std::uint64_t size = 0;
  while (digits < line.size() && hex_value(line[digits]) >= 0) {
    // 2^40 bytes is far beyond any test; refusing earlier keeps the shift from overflowing.
    if (size > (std::uint64_t{1} << 40)) {
      fail("chunk size too large: " + quoted);
      return false;
    }
    size = size * 16 + static_cast<std::uint64_t>(hex_value(line[digits]));
    ++digits;
  }
  // chunk-size [ BWS ";" extensions ]: anything else after the digits is malformed.
  const auto rest = trim_ows(line.substr(digits));
  if (digits == 0 || (!rest.empty() && rest.front() != ';') ||
      (rest.empty() && digits != line.size())) {
    fail("bad chunk size line: " + quoted);
    return false;
  }
  if (size == 0) {
    state_ = State::trailer_fields;
  } else {
    remaining_ = size;
    state_ = State::chunk_data;
  }
  return true;
}

bool MessageParser::begin_body() {
  head_done_ = true;
  if (kind_ == Kind::response) {
    const int s = msg_.status;
    if (s / 100 == 1 || s == 204 || s == 304 || head_request_) {
      state_ = State::done;
      return true;
    }
  }
  const auto te = header_values(msg_.headers, "Transfer-Encoding");
  const auto cl = header_values(msg_.headers, "Content-Length");
  if (!te.empty()) {
    if (!cl.empty()) {
      fail("both Transfer-Encoding and Content-Length (RFC 9112 §6.1 smuggling vector)");
      return false;
    }
    const auto codings = list_tokens(te);
    if (kind_ == Kind::request) {
      if (msg_.version != "HTTP/1.1") {
        fail("Transfer-Encoding in an " + msg_.version + " request");
        return false;
      }
      if (codings != std::vector<std::string>{"chunked"}) {
        fail("request Transfer-Encoding is not exactly 'chunked'");
        return false;
      }
    }
    if (!codings.empty() && codings.back() == "chunked") {
      msg_.chunked = true;
      state_ = State::chunk_size;
    } else {
      // RFC 9112 §6.3#4: a response whose final coding is not chunked is close-delimited.
      state_ = State::body_until_close;
    }
    return true;
  }
  if (!cl.empty()) {
    const std::string& value = cl.front();
    if (cl.size() > 1) {
      fail("several Content-Length fields");
      return false;
    }
    if (value.empty() || value.size() > 18 ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail("invalid Content-Length \"" + printable(value, 100) + "\"");
      return false;
    }
    remaining_ = std::stoull(value);
    state_ = remaining_ == 0 ? State::done : State::body_length;
    return true;
  }
  // No framing: a request has no body, a response runs until the connection closes.
  state_ = kind_ == Kind::request ? State::done : State::body_until_close;
  return true;
}

MessageParser::Status MessageParser::advance(std::string_view buf, bool at_eof) {
  while (true) {
    switch (state_) {
      case State::start_line: {
        const auto line = next_line(buf);
        if (!line) return pending();
        if (!parse_start_line(*line)) return Status::error;
        state_ = State::fields;
        break;
      }
      case State::fields: {
        const auto line = next_line(buf);
        if (!line) return pending();
        if (line->empty()) {
          if (!begin_body()) return Status::error;
        } else if (!parse_field(*line, msg_.headers)) {
          return Status::error;
        }
        break;
      }
      case State::body_length:
      case State::chunk_data: {
        const auto take =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, buf.size() - pos_));
        msg_.body.append(buf.substr(pos_, take));
        pos_ += take;
        remaining_ -= take;
        if (remaining_ != 0) return Status::incomplete;
        state_ = state_ == State::chunk_data ? State::chunk_data_end : State::done;
        break;
      }
      case State::chunk_data_end: {
        if (buf.size() - pos_ < 2) return Status::incomplete;
        if (buf.substr(pos_, 2) != "\r\n") return fail("chunk data not followed by CRLF");
        pos_ += 2;
        state_ = State::chunk_size;
        break;
      }
      case State::chunk_size: {
        const auto line = next_line(buf);
        if (!line) return pending();
        if (!parse_chunk_size(*line)) return Status::error;
        break;
      }
      case State::trailer_fields: {
        const auto line = next_line(buf);
        if (!line) return pending();
        if (line->empty()) {
          state_ = State::done;
        } else if (!parse_field(*line, msg_.trailers)) {
          return Status::error;
        }
        break;
      }
      case State::body_until_close: {
        msg_.body.append(buf.substr(pos_));
        pos_ = buf.size();
        if (!at_eof) return Status::incomplete;
        state_ = State::done;
        break;
      }
      case State::done: return Status::complete;
      case State::failed: return Status::error;
    }
  }
}

}  // namespace detail
}  // namespace sluice::test
