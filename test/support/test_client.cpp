#include "support/test_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "support/read_until.hpp"

namespace sluice::test {

using detail::Clock;
using detail::format_ms;
using detail::Io;
using detail::MessageParser;

namespace {

void copy_message(detail::ParsedMessage&& msg, ParsedResponse& out) {
  out.status = msg.status;
  out.reason = std::move(msg.reason);
  out.version = std::move(msg.version);
  out.headers = std::move(msg.headers);
  out.body = std::move(msg.body);
  out.chunked = msg.chunked;
  out.trailers = std::move(msg.trailers);
}

bool is_informational(int status) { return status / 100 == 1 && status != 101; }

}  // namespace

ParsedResponse parse_response_prefix(std::string_view bytes) {
  ParsedResponse out;
  while (true) {
    MessageParser parser(MessageParser::Kind::response);
    const auto status = parser.advance(bytes, true);
    if (status == MessageParser::Status::complete && is_informational(parser.message().status)) {
      out.informational.push_back(parser.message().status);
      bytes.remove_prefix(parser.consumed());
      continue;
    }
    copy_message(std::move(parser.message()), out);
    out.complete = status == MessageParser::Status::complete;
    if (status == MessageParser::Status::error) out.error = parser.error();
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// TestClient

TestClient::TestClient(int fd) : socket_(fd, nullptr) {}

TestClient::~TestClient() = default;

testing::AssertionResult TestClient::connect(std::uint16_t port, std::unique_ptr<TestClient>& out) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return testing::AssertionFailure() << "socket: " << std::strerror(errno);
  // Owned from here on, so every early return closes it.
  std::unique_ptr<TestClient> client(new TestClient(fd));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS) {
      return testing::AssertionFailure()
             << "connect 127.0.0.1:" << port << ": " << std::strerror(errno);
    }
    if (const Io io = client->socket_.wait(POLLOUT, Clock::now() + kDeadline); io != Io::ok) {
      return testing::AssertionFailure()
             << "connect 127.0.0.1:" << port << ": " << client->socket_.describe(io);
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return testing::AssertionFailure()
             << "connect 127.0.0.1:" << port << ": " << std::strerror(err);
    }
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  out = std::move(client);
  return testing::AssertionSuccess();
}

bool TestClient::send(std::string_view bytes, std::chrono::milliseconds deadline) {
  return socket_.write_all(bytes, Clock::now() + deadline) == Io::ok;
}

testing::AssertionResult TestClient::read_until(std::function<bool(std::string_view)> pred,
                                                std::chrono::milliseconds deadline) {
  return detail::read_until_on(socket_, pred, deadline, "read_until");
}

testing::AssertionResult TestClient::read_response(ParsedResponse& out,
                                                   std::chrono::milliseconds deadline,
                                                   bool head_request) {
  out = ParsedResponse{};
  const auto until = Clock::now() + deadline;
  auto& buffer = socket_.buffer();
  while (true) {  // one round per message: the 1xx ones, then the final one
    MessageParser parser(MessageParser::Kind::response, head_request);
    while (true) {
      const auto status = parser.advance(buffer, socket_.peer_gone());
      if (status == MessageParser::Status::complete) break;
      if (status == MessageParser::Status::error) {
        copy_message(std::move(parser.message()), out);
        return testing::AssertionFailure()
               << "malformed response: " << parser.error() << "\nbytes received:\n"
               << printable(buffer);
      }
      const Io io = socket_.peer_gone() ? Io::eof : socket_.fill(until);
      if (io == Io::ok) continue;
      // A close-delimited body ends at EOF: one more advance() with at_eof settles it.
      if ((io == Io::eof || io == Io::error) &&
          parser.advance(buffer, true) == MessageParser::Status::complete) {
        break;
      }
      copy_message(std::move(parser.message()), out);
      auto failure = testing::AssertionFailure() << "read_response: ";
      if (io == Io::timeout) {
        failure << "no complete response within " << format_ms(deadline);
      } else {
        failure << (parser.head_done() ? "body" : "head")
                << " incomplete: " << socket_.describe(io);
      }
      return failure << "; " << buffer.size() << " bytes received:\n" << printable(buffer);
    }
    const int status = parser.message().status;
    if (is_informational(status)) {
      out.informational.push_back(status);
      buffer.erase(0, parser.consumed());
      continue;
    }
    copy_message(std::move(parser.message()), out);
    out.complete = true;
    buffer.erase(0, parser.consumed());
    return testing::AssertionSuccess();
  }
}

testing::AssertionResult TestClient::wait_closed(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (true) {
    const Io io = socket_.fill(until);
    if (io == Io::eof || io == Io::error) return testing::AssertionSuccess();
    if (io != Io::ok) {
      return testing::AssertionFailure()
             << "wait_closed: peer did not close within " << format_ms(deadline) << " ("
             << socket_.describe(io) << "); " << socket_.buffer().size() << " bytes received:\n"
             << printable(socket_.buffer());
    }
  }
}

bool TestClient::peer_closed_now() { return socket_.peer_closed_now(); }

void TestClient::reset() { socket_.reset(); }

void TestClient::close() { socket_.close_graceful(); }

void TestClient::shutdown_write() { socket_.shutdown_write(); }

std::string TestClient::take() {
  std::string out = std::move(socket_.buffer());
  socket_.buffer().clear();
  return out;
}

// ---------------------------------------------------------------------------------------------

testing::AssertionResult http_get(std::uint16_t port, std::string_view target, ParsedResponse& out,
                                  std::vector<std::pair<std::string, std::string>> extra_headers,
                                  std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  std::unique_ptr<TestClient> client;
  if (auto connected = TestClient::connect(port, client); !connected) return connected;
  std::string request =
      "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  for (const auto& [name, value] : extra_headers)
    request += name + ": " + value + "\r\n";
  request += "\r\n";
  if (!client->send(request, deadline)) {
    return testing::AssertionFailure() << "http_get " << target << ": could not send the request";
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
  if (auto got = client->read_response(out, std::max(left, std::chrono::milliseconds{0})); !got) {
    return got << " (http_get " << target << ")";
  }
  return testing::AssertionSuccess();
}

}  // namespace sluice::test
