// The access log's two formats (src/server/access_log.hpp): the exact text lines, and JSON that
// a strict parser (support/json_check.hpp) accepts whatever bytes the client sent.
#include "server/access_log.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>

#include "support/json_check.hpp"

namespace sluice::detail {
namespace {

using namespace std::chrono_literals;
using boost::asio::ip::make_address;
using boost::asio::ip::tcp;

// ---- The strict JSON reader of support/json_check.hpp, under short names.
using Object = test::JsonObject;

Object parse(const std::string& line) {
  Object o;
  EXPECT_TRUE(test::parse_json_object(line, o));
  return o;
}

std::string str(const Object& o, const std::string& key) { return test::json_string(o, key); }
std::string num(const Object& o, const std::string& key) { return test::json_number(o, key); }
bool is_null(const Object& o, const std::string& key) { return test::json_null(o, key); }

// ---- Entries.

std::chrono::system_clock::time_point at(std::chrono::sys_days day, std::chrono::nanoseconds t) {
  return std::chrono::system_clock::time_point(day) +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(t);
}

AccessEntry normal_entry() {
  AccessEntry e;
  e.time = at(std::chrono::sys_days{std::chrono::year{2026} / 12 / 6},
              12h + 40min + 26s + 123456us + 789ns);
  e.client = tcp::endpoint(make_address("127.0.0.1"), 53412);
  e.method = "GET";
  e.target = "/x";
  e.protocol = "HTTP/1.1";
  e.status = 200;
  e.bytes_sent = 13;
  e.bytes_received = 0;
  e.route = "api";
  e.upstream = "backend";
  e.server = "http://10.0.0.7:9000";
  e.upstream_first_byte = 412us;
  e.upstream_total = 498us + 900ns;
  e.total = 612us;
  e.ending = "complete";
  e.flushes = 2;
  return e;
}

AccessEntry refused_entry() {
  AccessEntry e;
  e.client = tcp::endpoint(make_address("127.0.0.1"), 40000);
  e.status = 408;
  e.total = 10s;
  e.ending = "refused";
  e.refused = "request head not received in time";
  return e;
}

AccessEntry error_entry() {
  AccessEntry e = normal_entry();
  e.status = 502;
  e.bytes_sent = 0;
  e.upstream_first_byte.reset();
  e.upstream_total.reset();
  e.upstream_connect.reset();
  e.total = 1234us;
  e.ending = "error_response";
  e.error = "upstream connect 127.0.0.1:9: Connection refused";
  return e;
}

// ---- Text.

TEST(AccessLogText, NormalRequest) {
  EXPECT_EQ(format_text(normal_entry()),
            R"(127.0.0.1 "GET /x HTTP/1.1" 200 13 upstream=0.4ms total=0.6ms)");
}

TEST(AccessLogText, RefusedRequestWithoutAHead) {
  EXPECT_EQ(format_text(refused_entry()), R"(127.0.0.1 "- - -" 408 0 upstream=- total=10000.0ms )"
                                          R"(refused="request head not received in time")");
}

TEST(AccessLogText, ErrorResponse) {
  EXPECT_EQ(format_text(error_entry()),
            R"(127.0.0.1 "GET /x HTTP/1.1" 502 0 upstream=- total=1.2ms ending=error_response )"
            R"(error="upstream connect 127.0.0.1:9: Connection refused")");
}

TEST(AccessLogText, OtherEndingsAreShown) {
  AccessEntry e = normal_entry();
  e.ending = "client_gone";
  e.client = tcp::endpoint(make_address("::1"), 1);
  EXPECT_EQ(format_text(e),
            R"(::1 "GET /x HTTP/1.1" 200 13 upstream=0.4ms total=0.6ms ending=client_gone)");
}

TEST(AccessLogText, UntrustedBytesAreEscapedSoOneRequestIsOneLine) {
  AccessEntry e = refused_entry();
  e.method = "G\"T";
  e.target = std::string_view("/a\nb\\c\x01\xff\0", 9);
  e.protocol = "HTTP/1.1\r";
  e.refused = "bad \"head\"";
  EXPECT_EQ(format_text(e), R"(127.0.0.1 "G\x22T /a\x0ab\x5cc\x01\xff\x00 HTTP/1.1\x0d" 408 0 )"
                            R"(upstream=- total=10000.0ms refused="bad \x22head\x22")");
}

// ---- JSON.

TEST(AccessLogJson, NormalRequestHasEveryKey) {
  const std::string line = format_json(normal_entry());
  const Object o = parse(line);
  EXPECT_EQ(o.size(), 19u) << line;
  EXPECT_EQ(str(o, "time"), "2026-12-06T12:40:26.123456Z");
  EXPECT_EQ(str(o, "client"), "127.0.0.1:53412");
  EXPECT_EQ(str(o, "method"), "GET");
  EXPECT_EQ(str(o, "target"), "/x");
  EXPECT_EQ(str(o, "protocol"), "HTTP/1.1");
  EXPECT_EQ(num(o, "status"), "200");
  EXPECT_EQ(num(o, "bytes_sent"), "13");
  EXPECT_EQ(num(o, "bytes_received"), "0");
  EXPECT_EQ(str(o, "route"), "api");
  EXPECT_EQ(str(o, "upstream"), "backend");
  EXPECT_EQ(str(o, "server"), "http://10.0.0.7:9000");
  EXPECT_TRUE(is_null(o, "upstream_connect_ms"));
  EXPECT_EQ(num(o, "upstream_first_byte_ms"), "0.412");
  EXPECT_EQ(num(o, "upstream_total_ms"), "0.498");
  EXPECT_EQ(num(o, "total_ms"), "0.612");
  EXPECT_EQ(str(o, "ending"), "complete");
  EXPECT_EQ(str(o, "error"), "");
  EXPECT_EQ(str(o, "refused"), "");
  EXPECT_EQ(num(o, "flushes"), "2");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(AccessLogJson, AbsentDurationsAreNullAndMissingStringsEmpty) {
  const Object o = parse(format_json(refused_entry()));
  EXPECT_TRUE(is_null(o, "upstream_connect_ms"));
  EXPECT_TRUE(is_null(o, "upstream_first_byte_ms"));
  EXPECT_TRUE(is_null(o, "upstream_total_ms"));
  EXPECT_EQ(num(o, "total_ms"), "10000.000");
  EXPECT_EQ(str(o, "method"), "");
  EXPECT_EQ(str(o, "target"), "");
  EXPECT_EQ(str(o, "refused"), "request head not received in time");
}

TEST(AccessLogJson, Ipv6ClientIsBracketed) {
  AccessEntry e = normal_entry();
  e.client = tcp::endpoint(make_address("::1"), 53412);
  EXPECT_EQ(str(parse(format_json(e)), "client"), "[::1]:53412");
  e.client = tcp::endpoint(make_address("2001:db8::7"), 8080);
  EXPECT_EQ(str(parse(format_json(e)), "client"), "[2001:db8::7]:8080");
}

TEST(AccessLogJson, AnyBytesMakeValidAsciiJsonThatDecodesBack) {
  std::string every_byte;
  for (int b = 0; b < 256; ++b)
    every_byte += static_cast<char>(b);
  const std::string nasty[] = {
      "\"",         "\\",        "\"\\\"",  "\\u0041", "\xff\xfe", "\x7f", std::string("a\0b", 3),
      "\n\r\t\b\f", "</script>", every_byte};
  for (const std::string& s : nasty) {
    AccessEntry e = normal_entry();
    e.method = s;
    e.target = s;
    e.protocol = s;
    e.route = s;
    e.upstream = s;
    e.server = s;
    e.ending = s;
    e.error = s;
    e.refused = s;
    const std::string line = format_json(e);
    const Object o = parse(line);
    for (const char* key : {"method", "target", "protocol", "route", "upstream", "server", "ending",
                            "error", "refused"}) {
      EXPECT_EQ(str(o, key), s) << key << " in " << line;
    }
    EXPECT_EQ(line.find('\n'), std::string::npos);
  }
}

TEST(AccessLogJson, TimeIsRfc3339UtcWithMicroseconds) {
  const std::regex rfc3339(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)");
  AccessEntry e = normal_entry();
  e.time = std::chrono::system_clock::now();
  EXPECT_TRUE(std::regex_match(str(parse(format_json(e)), "time"), rfc3339));

  e.time = at(std::chrono::sys_days{std::chrono::year{2024} / 2 / 29}, 0ns);
  EXPECT_EQ(str(parse(format_json(e)), "time"), "2024-02-29T00:00:00.000000Z");
  e.time = std::chrono::system_clock::time_point{} - 1us;  // before the epoch: floors, not rounds
  EXPECT_EQ(str(parse(format_json(e)), "time"), "1969-12-31T23:59:59.999999Z");
}

TEST(AccessLogJson, DurationsHaveThreeDecimals) {
  AccessEntry e = normal_entry();
  e.upstream_connect = 0ns;
  e.upstream_first_byte = 999ns;  // below the microsecond: truncated
  e.upstream_total = 1s + 5us;
  e.total = 3723s + 45ms;
  const Object o = parse(format_json(e));
  EXPECT_EQ(num(o, "upstream_connect_ms"), "0.000");
  EXPECT_EQ(num(o, "upstream_first_byte_ms"), "0.000");
  EXPECT_EQ(num(o, "upstream_total_ms"), "1000.005");
  EXPECT_EQ(num(o, "total_ms"), "3723045.000");
}

}  // namespace
}  // namespace sluice::detail
