// SPEC A (request path, client -> backend), the behaviours that depend on the routing hooks:
// 7 (X-Forwarded-Host/-Proto, Rewrite-mode stripping), 8 (Rewrite vs Director), 9 (Host),
// 10-11 (path joining, query merging), 12 (query parameter smuggling) and 16 (the inbound
// request is never mutated). Wire-level behaviours are in request_path_test.cpp.
#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/proxy_request.hpp"
#include "sluice/reverse_proxy.hpp"
#include "sluice/server.hpp"
#include "sluice/url.hpp"
#include "support/fake_upstream.hpp"
#include "support/proxy_harness.hpp"
#include "support/test_client.hpp"

namespace sluice::test {
namespace {

// Sends `raw` on a fresh client connection, takes the request the upstream receives on a newly
// accepted upstream connection, answers it 200 "ok" and reads the client's response.
testing::AssertionResult forward(FakeUpstream& upstream, ProxyHarness& proxy, std::string_view raw,
                                 RecordedRequest& got) {
  std::unique_ptr<TestClient> client;
  if (auto r = TestClient::connect(proxy.port(), client); !r) return r;
  if (!client->send(raw)) return testing::AssertionFailure() << "client could not send the request";
  std::shared_ptr<UpstreamConn> conn;
  if (auto r = upstream.accept(conn); !r) return r;
  if (auto r = conn->read_request(got); !r) return r;
  if (!conn->send(response(200, {}, "ok"))) {
    return testing::AssertionFailure() << "upstream could not send the response";
  }
  ParsedResponse res;
  if (auto r = client->read_response(res); !r) return r;
  if (res.status != 200 || res.body != "ok") {
    return testing::AssertionFailure() << "client got status " << res.status << " body \""
                                       << printable(res.body) << "\", want 200 \"ok\"";
  }
  return testing::AssertionSuccess();
}

// Sends `raw` and expects the proxy to answer it itself (no upstream connection at all).
testing::AssertionResult answered_locally(FakeUpstream& upstream, ProxyHarness& proxy,
                                          std::string_view raw, ParsedResponse& res) {
  std::unique_ptr<TestClient> client;
  if (auto r = TestClient::connect(proxy.port(), client); !r) return r;
  if (!client->send(raw)) return testing::AssertionFailure() << "client could not send the request";
  if (auto r = client->read_response(res); !r) return r;
  if (upstream.accepted_count() != 0) {
    return testing::AssertionFailure()
           << "the upstream got " << upstream.accepted_count() << " connection(s)";
  }
  return testing::AssertionSuccess();
}

Url parse_url(const std::string& text) {
  auto url = Url::parse(text);
  if (!url) throw std::invalid_argument("bad url " + text);
  return *url;
}

// A rewrite-mode proxy (the harness's single-host director removed).
ProxyHarness::Configure with_rewrite(std::function<void(ProxyRequest&)> hook) {
  return [hook = std::move(hook)](ReverseProxy& p) {
    p.director = nullptr;
    p.rewrite = hook;
  };
}

// A value handed from a hook (worker thread) to the test thread.
template <typename T>
class Captured {
 public:
  void set(T value) {
    std::lock_guard lock(mutex_);
    value_ = std::move(value);
  }
  std::optional<T> get() const {
    std::lock_guard lock(mutex_);
    return value_;
  }

 private:
  mutable std::mutex mutex_;
  std::optional<T> value_;
};

using FieldList = std::vector<std::pair<std::string, std::string>>;

FieldList fields_of(const Fields& fields) {
  FieldList out;
  for (const auto& f : fields)
    out.emplace_back(std::string(f.name_string()), std::string(f.value()));
  return out;
}

// Everything of a Request a hook could be tempted to change, copied.
struct Snapshot {
  std::string method;
  unsigned version = 0;
  std::string scheme, url_host, port, raw_path, raw_query;
  std::string host;
  FieldList header;
  std::int64_t content_length = 0;
  std::string remote;
  bool omit_x_forwarded_for = false;

  bool operator==(const Snapshot&) const = default;
};

Snapshot snapshot(const Request& r) {
  Snapshot s;
  s.method = r.method;
  s.version = r.version;
  s.scheme = r.url.scheme;
  s.url_host = r.url.host;
  s.port = r.url.port;
  s.raw_path = r.url.raw_path;
  s.raw_query = r.url.raw_query;
  s.host = r.host;
  s.header = fields_of(r.header);
  s.content_length = r.content_length;
  s.remote = r.remote.address().to_string();
  s.omit_x_forwarded_for = r.omit_x_forwarded_for;
  return s;
}

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  os << s.method << " " << s.raw_path << "?" << s.raw_query << " v" << s.version
     << " host=" << s.host << " url=" << s.scheme << "://" << s.url_host << ":" << s.port
     << " cl=" << s.content_length << " remote=" << s.remote << " omit=" << s.omit_x_forwarded_for
     << " {";
  for (const auto& [n, v] : s.header)
    os << n << ": " << v << "; ";
  return os << "}";
}

// ---- SPEC 7 -----------------------------------------------------------------------------------

constexpr std::string_view kClientForwarded =
    "Forwarded: for=192.0.2.60;proto=https;by=203.0.113.43\r\n"
    "X-Forwarded-For: 192.0.2.60\r\n"
    "X-Forwarded-Host: original.example\r\n"
    "X-Forwarded-Proto: https\r\n";

TEST(RequestPath, Spec07_DirectorPassesClientForwardedHeaders) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());  // NewSingleHostReverseProxy: Director mode
  RecordedRequest req;
  ASSERT_TRUE(forward(
      upstream, proxy,
      "GET / HTTP/1.1\r\nHost: front.example\r\n" + std::string(kClientForwarded) + "\r\n", req));
  EXPECT_EQ(req.values("Forwarded"),
            std::vector<std::string>{"for=192.0.2.60;proto=https;by=203.0.113.43"});
  EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"192.0.2.60, 127.0.0.1"});
  EXPECT_EQ(req.values("X-Forwarded-Host"), std::vector<std::string>{"original.example"});
  EXPECT_EQ(req.values("X-Forwarded-Proto"), std::vector<std::string>{"https"});
}

TEST(RequestPath, Spec07_DirectorNeverSetsForwardedHostOrProto) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET / HTTP/1.1\r\nHost: front.example\r\n\r\n", req));
  EXPECT_EQ(req.count("X-Forwarded-Host"), 0u) << printable(req.raw);
  EXPECT_EQ(req.count("X-Forwarded-Proto"), 0u) << printable(req.raw);
  EXPECT_EQ(req.count("Forwarded"), 0u) << printable(req.raw);
}

TEST(RequestPath, Spec07_RewriteStripsForwarded) {
  // Go's TestReverseProxyRewriteStripsForwarded: SetURL only, no SetXForwarded.
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(),
                     with_rewrite([target](ProxyRequest& pr) { pr.set_url(target); }));
  RecordedRequest req;
  ASSERT_TRUE(forward(
      upstream, proxy,
      "GET / HTTP/1.1\r\nHost: front.example\r\n" + std::string(kClientForwarded) + "\r\n", req));
  for (const char* name :
       {"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}) {
    EXPECT_EQ(req.count(name), 0u) << name << " reached the upstream:\n" << printable(req.raw);
  }
}

TEST(RequestPath, Spec07_RewriteStripsForwardedAndSetXForwarded) {
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(), with_rewrite([target](ProxyRequest& pr) {
                       pr.set_url(target);
                       pr.set_x_forwarded();
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(
      upstream, proxy,
      "GET / HTTP/1.1\r\nHost: front.example:8443\r\n" + std::string(kClientForwarded) + "\r\n",
      req));
  EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(req.values("X-Forwarded-Host"), std::vector<std::string>{"front.example:8443"});
  EXPECT_EQ(req.values("X-Forwarded-Proto"), std::vector<std::string>{"http"});
  EXPECT_EQ(req.count("Forwarded"), 0u) << printable(req.raw);
}

TEST(RequestPath, Spec07_SetXForwardedAppendsToWhatOutCarries) {
  // Go's SetXForwarded: the prior X-Forwarded-For is whatever Out has when it is called, here the
  // client's value the hook chose to copy back from In.
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(), with_rewrite([target](ProxyRequest& pr) {
                       pr.set_url(target);
                       const auto [first, last] = pr.in.header.equal_range("X-Forwarded-For");
                       for (auto it = first; it != last; ++it) {
                         pr.out.header.insert("X-Forwarded-For", it->value());
                       }
                       pr.set_x_forwarded();
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\n"
                      "X-Forwarded-For: 10.0.0.2\r\nX-Forwarded-Host: spoofed\r\n\r\n",
                      req));
  EXPECT_EQ(req.values("X-Forwarded-For"),
            std::vector<std::string>{"10.0.0.1, 10.0.0.2, 127.0.0.1"});
  EXPECT_EQ(req.values("X-Forwarded-Host"), std::vector<std::string>{"h"});
  EXPECT_EQ(req.values("X-Forwarded-Proto"), std::vector<std::string>{"http"});
}

// ---- SPEC 8 -----------------------------------------------------------------------------------

TEST(RequestPath, Spec08_NeitherRewriteNorDirectorIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), [](ReverseProxy& p) {
    p.director = nullptr;
    p.rewrite = nullptr;
  });
  for (int i = 0; i < 2; ++i) {  // every request, not just the first
    ParsedResponse res;
    ASSERT_TRUE(answered_locally(upstream, proxy, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", res));
    EXPECT_EQ(res.status, 502);
    EXPECT_EQ(res.body, "");
  }
}

TEST(RequestPath, Spec08_BothSetIs502) {
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(), [target](ReverseProxy& p) {
    // The harness's director stays; a rewrite is added next to it.
    p.rewrite = [target](ProxyRequest& pr) { pr.set_url(target); };
  });
  for (int i = 0; i < 2; ++i) {
    ParsedResponse res;
    ASSERT_TRUE(answered_locally(upstream, proxy, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", res));
    EXPECT_EQ(res.status, 502);
    EXPECT_EQ(res.body, "");
  }
}

TEST(RequestPath, Spec08_HookThatThrowsIs502) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url(), with_rewrite([](ProxyRequest&) {
                       throw std::runtime_error("no route for you");
                     }));
  ParsedResponse res;
  ASSERT_TRUE(answered_locally(upstream, proxy, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", res));
  EXPECT_EQ(res.status, 502);
}

TEST(RequestPath, Spec08_DirectorHopHeadersAreStrippedAfterIt) {
  FakeUpstream upstream;
  Captured<FieldList> seen_by_director;
  ProxyHarness proxy(upstream.url(), [&seen_by_director](ReverseProxy& p) {
    p.director = [inner = p.director, &seen_by_director](Request& out) {
      seen_by_director.set(fields_of(out.header));  // runs before stripping: the client's fields
      inner(out);
      out.header.insert("Connection", "X-Director-Hop");  // a second line: both are honoured
      out.header.set("X-Director-Hop", "lost");
      out.header.set("Keep-Alive", "timeout=1");
      out.header.set("Proxy-Authorization", "Basic lost");
      out.header.set("Upgrade", "lost");
      out.header.set("X-Director-Normal", "kept");
      out.header.set("From-Director", "1");
    };
  });
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Client-Hop\r\n"
                      "X-Client-Hop: c\r\nKeep-Alive: timeout=9\r\n\r\n",
                      req));
  for (const char* name : {"Connection", "X-Director-Hop", "Keep-Alive", "Proxy-Authorization",
                           "Upgrade", "X-Client-Hop"}) {
    EXPECT_EQ(req.count(name), 0u) << name << " reached the upstream:\n" << printable(req.raw);
  }
  EXPECT_EQ(req.values("X-Director-Normal"), std::vector<std::string>{"kept"});
  EXPECT_EQ(req.values("From-Director"), std::vector<std::string>{"1"});
  const auto seen = seen_by_director.get();
  ASSERT_TRUE(seen.has_value()) << "the director never ran";
  const FieldList want{
      {"Connection", "X-Client-Hop"}, {"X-Client-Hop", "c"}, {"Keep-Alive", "timeout=9"}};
  EXPECT_EQ(*seen, want) << "the director must see the request before hop-by-hop stripping";
}

TEST(RequestPath, Spec08_RewriteRunsAfterStripping) {
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  Captured<FieldList> out_seen;
  Captured<FieldList> in_seen;
  ProxyHarness proxy(upstream.url(), with_rewrite([&, target](ProxyRequest& pr) {
                       out_seen.set(fields_of(pr.out.header));
                       in_seen.set(fields_of(pr.in.header));
                       pr.set_url(target);
                       // Added after stripping: nothing removes it again.
                       pr.out.header.set("Proxy-Authorization", "Basic from-rewrite");
                       pr.out.header.set("X-From-Rewrite", "1");
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n"
                      "Keep-Alive: timeout=9\r\nTE: deflate, trailers\r\nProxy-Connection: x\r\n"
                      "X-Forwarded-For: 10.1.1.1\r\nX-End: e\r\n\r\n",
                      req));
  const auto out = out_seen.get();
  ASSERT_TRUE(out.has_value()) << "the rewrite hook never ran";
  // What the hook got as `out`: hop-by-hop gone, TE re-added as exactly "trailers", client
  // X-Forwarded-* gone; the end-to-end field kept.
  const FieldList want_out{{"X-End", "e"}, {"TE", "trailers"}};
  EXPECT_EQ(*out, want_out);
  const FieldList want_in{{"Connection", "keep-alive, X-Hop"},
                          {"X-Hop", "1"},
                          {"Keep-Alive", "timeout=9"},
                          {"TE", "deflate, trailers"},
                          {"Proxy-Connection", "x"},
                          {"X-Forwarded-For", "10.1.1.1"},
                          {"X-End", "e"}};
  EXPECT_EQ(*in_seen.get(), want_in) << "`in` must be the request as the client sent it";
  EXPECT_EQ(req.values("Proxy-Authorization"), std::vector<std::string>{"Basic from-rewrite"});
  EXPECT_EQ(req.values("X-From-Rewrite"), std::vector<std::string>{"1"});
  EXPECT_EQ(req.values("TE"), std::vector<std::string>{"trailers"});
  EXPECT_EQ(req.count("X-Hop"), 0u);
}

TEST(RequestPath, Spec08_RewriteMayReplaceOut) {
  // Go's TestReverseProxyRewriteReplacesOut: `r.Out, _ = http.NewRequest("GET", backend.URL, nil)`.
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url("/replaced?by=rewrite"));
  ProxyHarness proxy(upstream.url(), with_rewrite([target](ProxyRequest& pr) {
                       Request fresh;
                       fresh.method = "GET";
                       fresh.url = target;
                       fresh.header.set("X-Fresh", "yes");
                       pr.out = std::move(fresh);
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(
      upstream, proxy,
      "GET /original?q=1 HTTP/1.1\r\nHost: front\r\nX-Client: c\r\nTE: trailers\r\n\r\n", req));
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/replaced?by=rewrite");
  EXPECT_EQ(req.header("Host"), "127.0.0.1:" + std::to_string(upstream.port()));
  EXPECT_EQ(req.values("X-Fresh"), std::vector<std::string>{"yes"});
  for (const char* name : {"X-Client", "TE", "X-Forwarded-For"}) {
    EXPECT_EQ(req.count(name), 0u) << name << " reached the upstream:\n" << printable(req.raw);
  }
}

// ---- SPEC 9 -----------------------------------------------------------------------------------

TEST(RequestPath, Spec09_SingleHostKeepsInboundHost) {
  FakeUpstream upstream;
  ProxyHarness proxy(upstream.url());
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET / HTTP/1.1\r\nHost: some-name\r\n\r\n", req));
  EXPECT_EQ(req.values("Host"), std::vector<std::string>{"some-name"});
}

TEST(RequestPath, Spec09_SetUrlUsesTargetHost) {
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(),
                     with_rewrite([target](ProxyRequest& pr) { pr.set_url(target); }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET / HTTP/1.1\r\nHost: some-name\r\n\r\n", req));
  EXPECT_EQ(req.values("Host"),
            std::vector<std::string>{"127.0.0.1:" + std::to_string(upstream.port())});
}

TEST(RequestPath, Spec09_RewriteMayChooseHost) {
  // After set_url a hook may still pick the Host to send (Go: r.Out.Host = r.In.Host).
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(), with_rewrite([target](ProxyRequest& pr) {
                       pr.set_url(target);
                       pr.out.host = pr.in.host;
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET / HTTP/1.1\r\nHost: some-name\r\n\r\n", req));
  EXPECT_EQ(req.values("Host"), std::vector<std::string>{"some-name"});
}

// ---- SPEC 10 ----------------------------------------------------------------------------------

struct JoinCase {
  const char* base;     // upstream URL path (and query)
  const char* request;  // client request-target
  const char* want;     // upstream request-target
};

// Runs every case through both routings that join paths: single_host (Director) and set_url.
void check_joins(const std::vector<JoinCase>& cases) {
  for (const auto& c : cases) {
    for (const bool rewrite : {false, true}) {
      SCOPED_TRACE(std::string(rewrite ? "set_url" : "single_host") + ": base \"" + c.base +
                   "\" + \"" + c.request + "\"");
      FakeUpstream upstream;
      ProxyHarness::Configure configure;
      if (rewrite)
        configure = with_rewrite(
            [t = parse_url(upstream.url(c.base))](ProxyRequest& pr) { pr.set_url(t); });
      ProxyHarness proxy(upstream.url(c.base), configure);
      RecordedRequest req;
      ASSERT_TRUE(forward(upstream, proxy,
                          "GET " + std::string(c.request) + " HTTP/1.1\r\nHost: h\r\n\r\n", req));
      EXPECT_EQ(req.target, c.want);
    }
  }
}

TEST(RequestPath, Spec10_PathJoinedWithOneSlash) {
  check_joins({
      {"/base", "/dir", "/base/dir"},
      {"/base/", "/dir", "/base/dir"},
      {"/base/", "/dir/", "/base/dir/"},
      {"/base", "/", "/base/"},
      {"", "/x", "/x"},
      {"", "/", "/"},
      {"/", "/x/y", "/x/y"},
  });
}

TEST(RequestPath, Spec10_EncodedSlashPreserved) {
  check_joins({
      {"", "/a%2Fb", "/a%2Fb"},
      {"/base", "/a%2Fb", "/base/a%2Fb"},
      {"/x%2Fy", "/c", "/x%2Fy/c"},
      {"/x%2Fy/", "/c%2Fd", "/x%2Fy/c%2Fd"},
      {"/a%2Fb%2F", "/c", "/a%2Fb%2F/c"},  // Go's TestJoinURLPath: an encoded slash is no slash
  });
}

// ---- SPEC 11 ----------------------------------------------------------------------------------

TEST(RequestPath, Spec11_QueryMerged) {
  // Go's TestReverseProxyQuery table, plus a base path.
  check_joins({
      {"?x=1", "/?y=2", "/?x=1&y=2"},
      {"", "/", "/"},
      {"?sta=tic", "/?us=er", "/?sta=tic&us=er"},
      {"", "/?us=er", "/?us=er"},
      {"?sta=tic", "/", "/?sta=tic"},
      {"/base?x=1", "/dir?y=2&z=3", "/base/dir?x=1&y=2&z=3"},
  });
}

// ---- SPEC 12 ----------------------------------------------------------------------------------

TEST(RequestPath, Spec12_DirectorForwardsRawQueryVerbatim) {
  // ...QueryParameterSmugglingDirectorDoesNotParseForm: the raw query goes up untouched.
  for (const char* query : {"a=1&a=2;b=3", "a=1&a=%zz&b=3"}) {
    SCOPED_TRACE(query);
    FakeUpstream upstream;
    ProxyHarness proxy(upstream.url());
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET /?" + std::string(query) + " HTTP/1.1\r\nHost: h\r\n\r\n", req));
    EXPECT_EQ(req.target, "/?" + std::string(query));
  }
}

TEST(RequestPath, Spec12_RewriteCleansUnparsableQuery) {
  // ...QueryParameterSmugglingRewrite: the hook already gets the cleaned query.
  const std::pair<const char*, const char*> cases[] = {
      {"a=1&a=2;b=3", "a=1"},
      {"a=1&a=%zz&b=3", "a=1&b=3"},
  };
  for (const auto& [query, want] : cases) {
    SCOPED_TRACE(query);
    FakeUpstream upstream;
    const Url target = parse_url(upstream.url());
    Captured<std::pair<std::string, std::string>> seen;  // {in, out} raw queries in the hook
    ProxyHarness proxy(upstream.url(), with_rewrite([&seen, target](ProxyRequest& pr) {
                         seen.set({pr.in.url.raw_query, pr.out.url.raw_query});
                         pr.set_url(target);
                       }));
    RecordedRequest req;
    ASSERT_TRUE(forward(upstream, proxy,
                        "GET /p?" + std::string(query) + " HTTP/1.1\r\nHost: h\r\n\r\n", req));
    EXPECT_EQ(req.target, "/p?" + std::string(want));
    const auto s = seen.get();
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->first, query) << "in.url.raw_query must stay as sent";
    EXPECT_EQ(s->second, want) << "the hook must get the cleaned query";
  }
}

TEST(RequestPath, Spec12_RewritePreservesParsableRawQuery) {
  // A query without ';' or bad escapes is not re-encoded: order, escapes and '+' stay as sent.
  const char* query = "b=2&a=1&c=%41%2f&d=x+y&e&=f&a=0";
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(),
                     with_rewrite([target](ProxyRequest& pr) { pr.set_url(target); }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy,
                      "GET /p?" + std::string(query) + " HTTP/1.1\r\nHost: h\r\n\r\n", req));
  EXPECT_EQ(req.target, "/p?" + std::string(query));
}

TEST(RequestPath, Spec12_RewriteMayRestoreRawQueryFromIn) {
  // ...QueryParameterSmugglingRewritePreservesRawQuery: a hook that wants the raw query back
  // takes it from `in`.
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url());
  ProxyHarness proxy(upstream.url(), with_rewrite([target](ProxyRequest& pr) {
                       pr.set_url(target);
                       pr.out.url.raw_query = pr.in.url.raw_query;
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, "GET /?a=1&a=2;b=3 HTTP/1.1\r\nHost: h\r\n\r\n", req));
  EXPECT_EQ(req.target, "/?a=1&a=2;b=3");
}

// ---- SPEC 16 ----------------------------------------------------------------------------------

constexpr std::string_view kMutationRequest =
    "GET /orig/path?a=1&b=%20 HTTP/1.1\r\n"
    "Host: front.example\r\n"
    "Connection: keep-alive, X-Hop\r\n"
    "X-Hop: hop\r\n"
    "TE: gzip, trailers\r\n"
    "X-Forwarded-For: 10.0.0.9\r\n"
    "X-Multi: one\r\n"
    "X-Multi: two\r\n"
    "User-Agent: ua/1\r\n"
    "\r\n";

Snapshot expected_inbound() {
  Snapshot s;
  s.method = "GET";
  s.version = 11;
  s.raw_path = "/orig/path";
  s.raw_query = "a=1&b=%20";
  s.host = "front.example";
  s.header = {{"Connection", "keep-alive, X-Hop"},
              {"X-Hop", "hop"},
              {"TE", "gzip, trailers"},
              {"X-Forwarded-For", "10.0.0.9"},
              {"X-Multi", "one"},
              {"X-Multi", "two"},
              {"User-Agent", "ua/1"}};
  s.content_length = 0;
  s.remote = "127.0.0.1";
  return s;
}

TEST(RequestPath, Spec16_InboundRequestNotMutated) {
  FakeUpstream upstream;
  const Url target = parse_url(upstream.url("/elsewhere?t=1"));
  Captured<Snapshot> before;
  Captured<Snapshot> after;
  ProxyHarness proxy(upstream.url(), with_rewrite([&, target](ProxyRequest& pr) {
                       before.set(snapshot(pr.in));
                       // Modify `out` in every way a hook can.
                       pr.set_url(target);
                       pr.set_x_forwarded();
                       pr.out.method = "PUT";
                       pr.out.url.raw_query += "&added=1";
                       pr.out.host = "changed.example";
                       pr.out.header.erase("X-Multi");
                       pr.out.header.erase("User-Agent");
                       pr.out.header.set("X-Hop", "re-added");
                       pr.out.header.insert("X-New", "1");
                       pr.out.header.set("TE", "other");
                       pr.out.omit_x_forwarded_for = true;
                       after.set(snapshot(pr.in));
                     }));
  RecordedRequest req;
  ASSERT_TRUE(forward(upstream, proxy, kMutationRequest, req));
  // The changes took effect upstream ...
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.target, "/elsewhere/orig/path?t=1&a=1&b=%20&added=1");
  EXPECT_EQ(req.header("Host"), "changed.example");
  EXPECT_EQ(req.values("X-New"), std::vector<std::string>{"1"});
  // ... and `in` saw none of them, before or after.
  const auto b = before.get();
  const auto a = after.get();
  ASSERT_TRUE(b.has_value() && a.has_value()) << "the rewrite hook never ran";
  EXPECT_EQ(*b, expected_inbound());
  EXPECT_EQ(*a, expected_inbound());
}

TEST(RequestPath, Spec16_ExchangeRequestUnchangedAfterServe) {
  // Go's TestServeHTTPDeepCopy / TestClonesRequestHeaders: a handler wrapping the proxy sees the
  // inbound request unchanged after ServeHTTP, though the Director added a field, the proxy
  // appended X-Forwarded-For, stripped hop-by-hop fields and joined the path.
  FakeUpstream upstream;
  auto proxy = single_host(parse_url(upstream.url("/prefix")));
  proxy->director = [inner = proxy->director](Request& out) {
    inner(out);
    out.header.set("From-Director", "1");
  };
  proxy->error_log = [](std::string_view) {};
  Captured<Snapshot> before;
  Captured<Snapshot> after;
  ServerOptions options;
  options.listen = {boost::asio::ip::make_address("127.0.0.1"), 0};
  options.access_log = AccessLog::off;
  options.log = [](std::string_view) {};
  Server server(options, [&](Exchange& ex) -> boost::asio::awaitable<void> {
    before.set(snapshot(ex.request()));
    co_await proxy->serve(ex);
    after.set(snapshot(ex.request()));
  });
  server.start();

  std::unique_ptr<TestClient> client;
  ASSERT_TRUE(TestClient::connect(server.local_endpoint().port(), client));
  ASSERT_TRUE(client->send(kMutationRequest));
  std::shared_ptr<UpstreamConn> conn;
  ASSERT_TRUE(upstream.accept(conn));
  RecordedRequest req;
  ASSERT_TRUE(conn->read_request(req));
  EXPECT_EQ(req.values("From-Director"), std::vector<std::string>{"1"});
  EXPECT_EQ(req.values("X-Forwarded-For"), std::vector<std::string>{"10.0.0.9, 127.0.0.1"});
  EXPECT_EQ(req.target, "/prefix/orig/path?a=1&b=%20");
  ASSERT_TRUE(conn->send(response(200, {}, "ok")));
  ParsedResponse res;
  ASSERT_TRUE(client->read_response(res));
  EXPECT_EQ(res.body, "ok");
  // The handler stores `after` once serve() returned, which may be just after the client got the
  // response: stop the server (joining its workers) before looking.
  server.stop();
  const auto b = before.get();
  const auto a = after.get();
  ASSERT_TRUE(b.has_value() && a.has_value()) << "the handler did not run to its end";
  EXPECT_EQ(*b, expected_inbound());
  EXPECT_EQ(*a, expected_inbound());
}

}  // namespace
}  // namespace sluice::test
