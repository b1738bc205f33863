// The strict request-head checks (SPEC H, R1-R25) on their own: validate_request_head over a parsed
// head, check_raw_head over the bytes Beast would see, stalled_chunk_line_invalid for the body
// reader. `outcome` runs the three layers in the order the session does (raw check, Beast's parser,
// validator) so each row shows which layer answers it.
#include "http1/request_validation.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <string>

namespace sluice::detail {
namespace {

namespace http = boost::beast::http;

// "ok", "beast: <message>" or the status sluice answers with.
std::string outcome(std::string_view bytes) {
  if (auto bad = check_raw_head(bytes)) return std::to_string(bad->status);
  http::request_parser<http::empty_body> parser;
  parser.body_limit(boost::none);  // as the session does
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return "beast: " + ec.message();
  if (!parser.is_header_done()) return "incomplete";
  if (auto bad = validate_request_head(parser.get())) return std::to_string(bad->status);
  return "ok";
}

std::string post(std::string_view fields) {
  return "POST / HTTP/1.1\r\nHost: t\r\n" + std::string(fields) + "\r\n";
}

http::request_header<> head11() {
  http::request_header<> h;
  h.method(http::verb::post);
  h.target("/");
  h.version(11);
  h.set(http::field::host, "t");
  return h;
}

bool rejected_by_beast(const std::string& o) { return o.rfind("beast: ", 0) == 0; }

TEST(RequestValidation, AcceptsOrdinaryRequests) {
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), "ok");
  EXPECT_EQ(outcome("GET /a?b=c HTTP/1.1\r\nHost: [::1]:8080\r\nAccept: */*\r\n\r\n"), "ok");
  EXPECT_EQ(outcome("GET / HTTP/1.0\r\n\r\n"), "ok");  // Host is optional in 1.0
  EXPECT_EQ(outcome(post("Content-Length: 5\r\n")), "ok");
  EXPECT_EQ(outcome(post("Content-Length:  5 \r\n")),
            "ok");  // OWS is not part of the value
  EXPECT_EQ(outcome(post("Transfer-Encoding: chunked\r\n")), "ok");
  EXPECT_EQ(outcome(post("Expect: 100-continue\r\nContent-Length: 5\r\n")),
            "ok");  // R23
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost:\r\n\r\n"),
            "ok");  // empty Host: no authority
}

TEST(RequestValidation, R01_ContentLengthWithTransferEncoding) {
  EXPECT_TRUE(
      rejected_by_beast(outcome(post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"))));
  EXPECT_TRUE(
      rejected_by_beast(outcome(post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"))));
  // Beast frames this one by Content-Length: the TE.TE desync.
  EXPECT_EQ(outcome(post("Transfer-Encoding: xchunked\r\nContent-Length: 5\r\n")), "400");
  EXPECT_EQ(outcome(post("Transfer-Encoding: identity\r\nContent-Length: 5\r\n")), "400");
  EXPECT_TRUE(
      rejected_by_beast(outcome(post("Content-Length: 5\r\nTransfer-Encoding: identity\r\n"))));
  auto h = head11();
  h.set(http::field::content_length, "5");
  h.set(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(validate_request_head(h)->status, 400u);
}

TEST(RequestValidation, R02_ConflictingContentLength) {
  EXPECT_TRUE(rejected_by_beast(outcome(post("Content-Length: 5\r\nContent-Length: 6\r\n"))));
  EXPECT_TRUE(rejected_by_beast(outcome(post("Content-Length: 5, 45\r\n"))));
  auto h = head11();
  h.insert(http::field::content_length, "5");
  h.insert(http::field::content_length, "6");
  EXPECT_EQ(validate_request_head(h)->status, 400u);
}

TEST(RequestValidation, R03_IdenticalDuplicateContentLengthRejected) {
  EXPECT_EQ(outcome(post("Content-Length: 5\r\nContent-Length: 5\r\n")), "400");
  EXPECT_EQ(outcome(post("Content-Length: 5, 5\r\n")), "400");
}

TEST(RequestValidation, R04_InvalidContentLength) {
  for (const char* v : {"+5", "-5", "0x5", "5 5", "5x", "", "18446744073709551621", "1000.1000"}) {
    EXPECT_TRUE(rejected_by_beast(outcome(post(std::string("Content-Length: ") + v + "\r\n"))))
        << v;
  }
  // Fits Beast's uint64 but not the signed length sluice carries.
  EXPECT_EQ(outcome(post("Content-Length: 18446744073709551615\r\n")), "400");
  EXPECT_EQ(outcome(post("Content-Length: 9223372036854775808\r\n")), "400");
  EXPECT_EQ(outcome(post("Content-Length: 9223372036854775807\r\n")), "ok");
  for (const char* v : {"+5", "5x", "", "5 5"}) {
    auto h = head11();
    h.set(http::field::content_length, v);
    EXPECT_EQ(validate_request_head(h)->status, 400u) << v;
  }
}

TEST(RequestValidation, R05_UnknownOrNonFinalTransferEncoding) {
  EXPECT_EQ(outcome(post("Transfer-Encoding: xchunked\r\n")), "501");
  EXPECT_EQ(outcome(post("Transfer-Encoding: identity\r\n")), "501");
  EXPECT_EQ(outcome(post("Transfer-Encoding: gzip\r\n")), "501");
  EXPECT_EQ(outcome(post("Transfer-Encoding: gzip, chunked\r\n")),
            "501");  // Beast: chunked
  EXPECT_EQ(outcome(post("Transfer-Encoding: chunked, gzip\r\n")),
            "400");  // Beast: no body
  EXPECT_EQ(outcome(post("Transfer-Encoding: \"chunked\"\r\n")), "400");
  EXPECT_EQ(outcome(post("Transfer-Encoding: chunked;q=1\r\n")), "400");
  EXPECT_EQ(outcome(post("Transfer-Encoding: chunked,\r\n")), "400");
  EXPECT_EQ(outcome(post("Transfer-Encoding: ,chunked\r\n")), "400");
  EXPECT_TRUE(
      rejected_by_beast(outcome(post("Transfer-Encoding: \x0b"
                                     "chunked\r\n"))));
}

TEST(RequestValidation, R06_ChunkedTwice) {
  EXPECT_TRUE(rejected_by_beast(
      outcome(post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"))));
  EXPECT_EQ(outcome(post("Transfer-Encoding: chunked, chunked\r\n")), "400");
  EXPECT_EQ(outcome(post("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")), "400");
  auto h = head11();
  h.insert(http::field::transfer_encoding, "chunked");
  h.insert(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(validate_request_head(h)->status, 400u);
}

TEST(RequestValidation, R07_WhitespaceBeforeColonRejectedByBeast) {
  EXPECT_TRUE(rejected_by_beast(outcome(post("Transfer-Encoding : chunked\r\n"))));
  EXPECT_TRUE(rejected_by_beast(outcome(post("Transfer-Encoding\t: chunked\r\n"))));
  EXPECT_TRUE(rejected_by_beast(outcome(post("Content-Length : 5\r\n"))));
}

TEST(RequestValidation, R08_ObsFoldRejectedOnRawBytes) {
  // Beast joins the lines, so only the raw bytes show the fold.
  EXPECT_EQ(outcome(post("Transfer-Encoding:\r\n chunked\r\n")), "400");
  EXPECT_EQ(outcome(post("X-Fold: a\r\n b\r\n")), "400");
  EXPECT_EQ(outcome(post("X-Fold: a\r\n\tb\r\n")), "400");
  // Incomplete input with a fold is already refused.
  EXPECT_TRUE(check_raw_head("GET / HTTP/1.1\r\nX: a\r\n b"));
  // Body bytes after the head are never looked at.
  EXPECT_FALSE(check_raw_head("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n\r\n\r\n x\ny"));
  // The scan starts wherever the parser stopped: at a line.
  EXPECT_FALSE(check_raw_head("Host: t\r\n\r\n"));
  EXPECT_TRUE(check_raw_head(" chunked\r\n\r\n"));
}

TEST(RequestValidation, R09_WhitespaceLedFirstHeader) {
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: t\r\n\r\n"), "400");
  EXPECT_EQ(outcome("POST / HTTP/1.1\r\n\tX: y\r\nHost: t\r\n\r\n"), "400");
}

TEST(RequestValidation, R10_BadHeaderNames) {
  EXPECT_TRUE(rejected_by_beast(outcome(post("Transfer- Encoding: chunked\r\n"))));
  EXPECT_TRUE(
      rejected_by_beast(outcome(post("X\x01"
                                     "Foo: a\r\n"))));
  EXPECT_TRUE(rejected_by_beast(outcome(post(": value\r\n"))));
  EXPECT_TRUE(rejected_by_beast(outcome(post("NoColon\r\n"))));
  auto h = head11();
  h.insert("X Foo", "a");
  EXPECT_EQ(validate_request_head(h)->status, 400u);
}

TEST(RequestValidation, R11_NulAndBareCrInValues) {
  EXPECT_TRUE(rejected_by_beast(outcome(post(std::string("X-N: a\0b\r\n", 10)))));
  EXPECT_TRUE(rejected_by_beast(outcome(post("X-Cr: a\rContent-Length: 40\r\n"))));
  auto h = head11();
  h.insert("X-N", std::string("a\0b", 3));
  EXPECT_EQ(validate_request_head(h)->status, 400u);
}

TEST(RequestValidation, R12_BareLfRejected) {
  EXPECT_EQ(outcome("POST / HTTP/1.1\nHost: t\nContent-Length: 5\n\n"), "400");
  EXPECT_EQ(outcome(post("X-A: b\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n")), "400");
  // Beast waits for a CRLF CRLF that never comes: rejected at once instead.
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: t\r\n\n"), "400");
  EXPECT_TRUE(check_raw_head("\nGET / HTTP/1.1\r\n"));
}

TEST(RequestValidation, R13_TransferEncodingInHttp10) {
  EXPECT_EQ(outcome("POST / HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"), "400");
  EXPECT_EQ(outcome("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), "400");
}

TEST(RequestValidation, R14_ChunkedIsCaseInsensitive) {
  EXPECT_EQ(outcome(post("Transfer-Encoding: ChUnKeD\r\n")), "ok");
  EXPECT_EQ(outcome(post("Transfer-Encoding:  CHUNKED \r\n")), "ok");
}

TEST(RequestValidation, R15_HostMissingOrRepeated) {
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"), "400");
  EXPECT_EQ(outcome("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n"), "ok");
}

TEST(RequestValidation, R16_BadRequestLine) {
  EXPECT_TRUE(rejected_by_beast(outcome("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n")));
  EXPECT_TRUE(rejected_by_beast(outcome(std::string("GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n", 30))));
  EXPECT_TRUE(rejected_by_beast(outcome("G\x01T / HTTP/1.1\r\nHost: t\r\n\r\n")));
  EXPECT_TRUE(rejected_by_beast(outcome("GET  / HTTP/1.1\r\nHost: t\r\n\r\n")));
  EXPECT_TRUE(rejected_by_beast(outcome("GET / HTTP/1.1x\r\nHost: t\r\n\r\n")));
  // A well-formed version sluice does not speak: 505 (Beast says "bad version").
  EXPECT_EQ(outcome("GET / HTTP/9.9\r\nHost: t\r\n\r\n"), "505");
  EXPECT_EQ(outcome("GET / HTTP/2.0\r\nHost: t\r\n\r\n"), "505");
  EXPECT_EQ(outcome("GET / HTTP/1.2\r\nHost: t\r\n\r\n"), "505");
  EXPECT_EQ(outcome("GET / HTTP/0.9\r\nHost: t\r\n\r\n"), "505");
  // Decided on the complete request line only.
  EXPECT_FALSE(check_raw_head("GET / HTTP/9.9"));
  auto h = head11();
  h.version(20);
  EXPECT_EQ(validate_request_head(h)->status, 505u);
}

TEST(RequestValidation, R18_StalledChunkLineWithBareLf) {
  EXPECT_TRUE(stalled_chunk_line_invalid("5\nhello\n0\n\n"));
  EXPECT_TRUE(stalled_chunk_line_invalid("\r\n0\n\n"));
  EXPECT_TRUE(stalled_chunk_line_invalid("0\r\nX: a\n"));
  EXPECT_TRUE(stalled_chunk_line_invalid("\n"));
  EXPECT_FALSE(stalled_chunk_line_invalid("5"));
  EXPECT_FALSE(stalled_chunk_line_invalid("\r\n5;a=b\r"));
  EXPECT_FALSE(stalled_chunk_line_invalid("\r\n0\r\nX: a\r\n"));
}

TEST(RequestValidation, ReasonsAreShortAndPrintable) {
  auto v = check_raw_head("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n");
  ASSERT_TRUE(v);
  EXPECT_FALSE(v->reason.empty());
  for (char c : v->reason)
    EXPECT_TRUE(c >= 0x20 && c < 0x7f);
}

}  // namespace
}  // namespace sluice::detail
