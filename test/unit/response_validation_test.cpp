// SPEC K (R40-R43): validate_response_head, on heads Boost.Beast 1.81's parser accepts (the ones
// it refuses never reach the validation) and, with a hand-built parsed head, on raw syntax that
// Beast already refuses today (defence in depth if the parser ever gets more lenient).
#include "http1/response_validation.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace sluice {
namespace {

namespace http = boost::beast::http;

// Parses the head of `bytes` as read_head does (one put may stop early: loop until the header is
// done) and validates it. nullopt when Beast itself refuses the head.
std::optional<ResponseDefect> check(std::string_view bytes) {
  http::response_parser<http::empty_body> parser;
  parser.body_limit(boost::none);
  std::string raw;
  while (!parser.is_header_done()) {
    boost::system::error_code ec;
    const auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
    raw.append(bytes.substr(0, used));
    bytes.remove_prefix(used);
    if (ec == http::error::need_more && used > 0) continue;
    if (ec) return std::nullopt;
  }
  return validate_response_head(raw, parser.get());
}

// A parsed head built by hand: `raw` then goes through the syntax checks alone.
ResponseDefect check_raw(std::string_view raw) {
  http::response_header<> head;
  head.result(200);
  head.version(11);
  return validate_response_head(raw, head);
}

TEST(ResponseValidation, WellFormedHeadsPass) {
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), ResponseDefect::none);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), ResponseDefect::none);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nTransfer-Encoding:  CHUNKED \r\n\r\n"), ResponseDefect::none);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\n\r\n"), ResponseDefect::none);  // close-delimited (R44)
  EXPECT_EQ(check("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), ResponseDefect::none);
  EXPECT_EQ(check("HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"),
            ResponseDefect::none);
  EXPECT_EQ(check("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello"),
            ResponseDefect::none);  // R43: framed by the status, the 5 bytes are not a body
  EXPECT_EQ(check("HTTP/1.1 999 Whatever\r\nX-A: \xe9t\xe9\r\n\r\n"), ResponseDefect::none);
  EXPECT_EQ(check("HTTP/1.1 200 \r\nX-Empty:\r\n\r\n"), ResponseDefect::none);
}

TEST(ResponseValidation, R40_StatusBelow100Refused) {
  EXPECT_EQ(check("HTTP/1.1 000 OK\r\nContent-Length: 0\r\n\r\n"), ResponseDefect::bad_status_line);
  EXPECT_EQ(check("HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n"), ResponseDefect::bad_status_line);
}

TEST(ResponseValidation, R40_GarbageNeverAHead) {
  // Beast refuses these itself; the raw check refuses them too.
  EXPECT_EQ(check("SURPRISE this is not HTTP\r\n\r\n"), std::nullopt);
  EXPECT_EQ(check_raw("SURPRISE this is not HTTP\r\n\r\n"), ResponseDefect::bad_status_line);
  EXPECT_EQ(check_raw("<html>hello</html>\r\n\r\n"), ResponseDefect::bad_status_line);
  EXPECT_EQ(check_raw("HTTP/2.0 200 OK\r\n\r\n"), ResponseDefect::bad_status_line);
  EXPECT_EQ(check_raw("HTTP/1.1 20 OK\r\n\r\n"), ResponseDefect::bad_status_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 O\x01K\r\n\r\n"), ResponseDefect::bad_status_line);
  EXPECT_EQ(check_raw(""), ResponseDefect::bad_status_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK"), ResponseDefect::bad_status_line);
}

TEST(ResponseValidation, R41_DuplicateContentLengthRefused) {
  // Beast 1.81 accepts both (it refuses only differing values).
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
            ResponseDefect::duplicate_content_length);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello"),
            ResponseDefect::duplicate_content_length);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
            std::nullopt);
}

TEST(ResponseValidation, R41_InvalidContentLengthRefused) {
  for (const char* value : {"+5", "-1", "abc", "0x5", "5 5", ""}) {
    EXPECT_EQ(check(std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + value + "\r\n\r\n"),
              std::nullopt)
        << value;
  }
  // Fits Beast's uint64 but not sluice's signed length: refused rather than wrapped.
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"),
            ResponseDefect::bad_content_length);
}

TEST(ResponseValidation, R41_TransferEncodingWithContentLengthRefused) {
  // Beast frames this one by Content-Length: the TE.CL desync.
  EXPECT_EQ(
      check("HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\nContent-Length: 5\r\n\r\nhello"),
      ResponseDefect::transfer_encoding_with_content_length);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
            std::nullopt);
}

TEST(ResponseValidation, R41_TransferEncodingOtherThanChunkedRefused) {
  for (const char* te : {"gzip", "chunked, gzip", "gzip, chunked", "", "chunked, chunked"}) {
    EXPECT_EQ(check(std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: ") + te + "\r\n\r\n"),
              ResponseDefect::unsupported_transfer_encoding)
        << te;
  }
  EXPECT_EQ(check("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ResponseDefect::transfer_encoding_in_http10);
}

TEST(ResponseValidation, R42_ObsFoldRefused) {
  // Beast joins the lines into "a b": only the raw bytes show the fold.
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 0\r\n\r\n"),
            ResponseDefect::obs_fold);
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nX-Folded: a\r\n\tb\r\nContent-Length: 0\r\n\r\n"),
            ResponseDefect::obs_fold);
  EXPECT_EQ(check("HTTP/1.1 103 Early Hints\r\nLink: </a>,\r\n </b>\r\n\r\n"),
            ResponseDefect::obs_fold);
}

TEST(ResponseValidation, R42_SpaceBeforeColonRefused) {
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nX-Spaced : bar\r\n\r\n"), std::nullopt);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\nX-Spaced : bar\r\n\r\n"), ResponseDefect::bad_field_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\nX-Spaced\t: bar\r\n\r\n"),
            ResponseDefect::bad_field_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\n: bar\r\n\r\n"), ResponseDefect::bad_field_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n"), ResponseDefect::bad_field_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\nX-A: b\x01\r\n\r\n"), ResponseDefect::bad_field_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\nX-A: b\nX-B: c\r\n\r\n"), ResponseDefect::bad_field_line);
  EXPECT_EQ(check_raw("HTTP/1.1 200 OK\r\nX-A: b"), ResponseDefect::bad_field_line);
}

TEST(ResponseValidation, DefectsHaveNames) {
  EXPECT_EQ(to_string(ResponseDefect::obs_fold), "obs-fold in a field");
  EXPECT_EQ(to_string(ResponseDefect::none), "none");
}

}  // namespace
}  // namespace sluice
