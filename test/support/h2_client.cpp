#include "support/h2_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::test {

using Clock = std::chrono::steady_clock;

namespace {

H2Client& client_of(void* user) { return *static_cast<H2Client*>(user); }

std::string find_in(const H2Fields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return "";
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
              std::size_t namelen, const std::uint8_t* value, std::size_t valuelen, std::uint8_t,
              void* user) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto& s = client_of(user).stream(frame->hd.stream_id);
  const std::string n(reinterpret_cast<const char*>(name), namelen);
  const std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (s.final_seen) {  // a header block after the final head: the trailer section
    s.response.trailers.emplace_back(n, v);
    return 0;
  }
  if (n == ":status") {
    const int status = std::stoi(v);
    s.in_informational = status < 200;
    if (s.in_informational) {
      s.response.informational.push_back(status);
    } else {
      s.response.status = status;
    }
    return 0;
  }
  if (!s.in_informational) s.response.headers.emplace_back(n, v);
  return 0;
}

int on_data(nghttp2_session* session, std::uint8_t, std::int32_t id, const std::uint8_t* data,
            std::size_t len, void* user) {
  auto& s = client_of(user).stream(id);
  s.response.body.append(reinterpret_cast<const char*>(data), len);
  s.response.chunks.emplace_back(Clock::now(), len);
  if (s.paused) {
    s.unconsumed += len;
  } else {
    nghttp2_session_consume(session, id, len);
  }
  return 0;
}

int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto& c = client_of(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c.on_goaway(frame->goaway.error_code, frame->goaway.last_stream_id);
    return 0;
  }
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK) != 0) {
    c.on_ping_ack();
    return 0;
  }
  if (frame->hd.stream_id == 0) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    auto& st = c.stream(frame->hd.stream_id);
    if (!st.in_informational && st.response.status != 0 && !st.final_seen) {
      st.final_seen = true;
      st.response.head_ended_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    }
    st.in_informational = false;
  }
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) &&
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) {
    c.stream(frame->hd.stream_id).response.ended = true;
  }
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    auto& r = c.stream(frame->hd.stream_id).response;
    r.reset = true;
    r.reset_code = frame->rst_stream.error_code;
  }
  return 0;
}

int on_stream_close(nghttp2_session*, std::int32_t id, std::uint32_t code, void* user) {
  auto& r = client_of(user).stream(id).response;
  r.closed = true;
  if (code != NGHTTP2_NO_ERROR && !r.ended) {
    r.reset = true;
    r.reset_code = code;
  }
  return 0;
}

ssize_t read_upload(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* flags, nghttp2_data_source*, void* user) {
  auto& s = client_of(user).stream(id);
  const std::size_t n = std::min(length, s.upload.size() - s.upload_sent);
  std::memcpy(buf, s.upload.data() + s.upload_sent, n);
  s.upload_sent += n;
  if (s.upload_sent == s.upload.size() && s.upload_done) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

}  // namespace

std::string H2Response::header(std::string_view name) const { return find_in(headers, name); }
std::string H2Response::trailer(std::string_view name) const { return find_in(trailers, name); }

std::string h2_frame(std::uint8_t type, std::uint8_t flags, std::int32_t stream_id,
                     std::string_view payload) {
  std::string f;
  const auto len = static_cast<std::uint32_t>(payload.size());
  f += static_cast<char>((len >> 16) & 0xff);
  f += static_cast<char>((len >> 8) & 0xff);
  f += static_cast<char>(len & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  const auto id = static_cast<std::uint32_t>(stream_id) & 0x7fffffffu;
  f += static_cast<char>((id >> 24) & 0xff);
  f += static_cast<char>((id >> 16) & 0xff);
  f += static_cast<char>((id >> 8) & 0xff);
  f += static_cast<char>(id & 0xff);
  f.append(payload);
  return f;
}

H2Client::H2Client(Pipe pipe, H2ClientOptions options) : pipe_(std::move(pipe)) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_client_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  {  // nghttp2 sends the client magic itself, then these
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options.stream_window},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                          static_cast<std::int32_t>(options.connection_window));
  }
}

H2Client::~H2Client() { nghttp2_session_del(session_); }

testing::AssertionResult H2Client::connect(std::uint16_t port, std::unique_ptr<H2Client>& out,
                                           H2ClientOptions options) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return testing::AssertionFailure() << "socket: " << std::strerror(errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    ::close(fd);
    return testing::AssertionFailure() << "connect: " << std::strerror(err);
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto shared_fd = std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
  Pipe pipe;
  pipe.send = [shared_fd](std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(*shared_fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  };
  pipe.receive = [shared_fd](std::string& into, std::chrono::milliseconds wait) {
    pollfd p{*shared_fd, POLLIN, 0};
    const int r = ::poll(&p, 1, static_cast<int>(wait.count()));
    if (r <= 0) return true;
    char buf[16384];
    const ssize_t n = ::recv(*shared_fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    into.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  out.reset(new H2Client(std::move(pipe), options));
  return testing::AssertionSuccess();
}

std::unique_ptr<H2Client> H2Client::over(Pipe pipe, H2ClientOptions options) {
  return std::unique_ptr<H2Client>(new H2Client(std::move(pipe), options));
}

std::int32_t H2Client::submit(std::string method, std::string path, H2Fields fields,
                              std::optional<std::string> body, bool open_body,
                              std::string authority) {
  H2Fields all{
      {":method", method}, {":scheme", "http"}, {":authority", authority}, {":path", path}};
  for (auto& f : fields)
    all.push_back(std::move(f));
  std::vector<nghttp2_nv> nv;
  for (auto& [n, v] : all) {
    nv.push_back(nghttp2_nv{reinterpret_cast<std::uint8_t*>(n.data()),
                            reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                            NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.read_callback = read_upload;
  const bool has_body = body.has_value() || open_body;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                                 has_body ? &provider : nullptr, nullptr);
  if (id > 0) {
    auto& s = streams_[id];
    s.upload = body.value_or("");
    s.upload_done = !open_body;
  }
  return id;
}

void H2Client::send_body(std::int32_t id, std::string bytes, bool end) {
  auto& s = streams_[id];
  s.upload += bytes;
  if (end) s.upload_done = true;
  nghttp2_session_resume_data(session_, id);
}

void H2Client::reset(std::int32_t id, std::uint32_t code) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, code);
}

void H2Client::pause(std::int32_t id, bool paused) {
  auto& s = streams_[id];
  s.paused = paused;
  if (!paused && s.unconsumed > 0) {
    nghttp2_session_consume(session_, id, s.unconsumed);
    s.unconsumed = 0;
  }
}

void H2Client::ping() { nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr); }

bool H2Client::flush() {
  for (;;) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session_, &data);
    if (n <= 0) return n == 0;
    if (!pipe_.send(
            std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n)))) {
      closed_ = true;
      return false;
    }
  }
}

bool H2Client::send_raw(std::string_view bytes) {
  flush();
  return pipe_.send(bytes);
}

testing::AssertionResult H2Client::run_until(const std::function<bool()>& pred,
                                             std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  // Each round sends what is queued and reads once; the deadline bounds it.
  for (;;) {
    if (!closed_) flush();
    if (pred()) return testing::AssertionSuccess();
    if (closed_) return testing::AssertionFailure() << "the connection closed first";
    const auto now = Clock::now();
    if (now >= until) return testing::AssertionFailure() << "deadline passed";
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - now);
    inbox_.clear();
    if (!pipe_.receive(
            inbox_, std::min(left, std::chrono::milliseconds(50)) + std::chrono::milliseconds(1))) {
      closed_ = true;
    }
    if (!inbox_.empty()) {
      const auto rv = nghttp2_session_mem_recv(
          session_, reinterpret_cast<const std::uint8_t*>(inbox_.data()), inbox_.size());
      if (rv < 0) closed_ = true;
    }
  }
}

testing::AssertionResult H2Client::finish(std::int32_t id, std::chrono::milliseconds deadline) {
  return run_until(
      [this, id] {
        const auto& r = streams_[id].response;
        return r.ended || r.reset || r.closed;
      },
      deadline);
}

}  // namespace sluice::test
