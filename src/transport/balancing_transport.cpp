#include "transport/balancing_transport.hpp"

#include <algorithm>
#include <array>
#include <boost/container/small_vector.hpp>
#include <span>
#include <string_view>
#include <utility>

#include "sluice/error.hpp"
#include "transport/retry_budget.hpp"
#include "transport/round_trip.hpp"

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// At most 1 + the config's largest `retries` (10) servers are tried for one request.
constexpr std::size_t kMaxAttempts = 11;

std::uint64_t hash_text(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a; the balancer mixes it further
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::optional<std::string_view> cookie_value(const Fields& header, std::string_view name) {
  const auto [first, last] = header.equal_range(boost::beast::http::field::cookie);
  for (auto it = first; it != last; ++it) {
    std::string_view rest = it->value();
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
    }
  }
  return std::nullopt;
}

// Failures that say the server is at fault (passive ejection): not the client's, not a stop.
bool blames_server(std::error_code ec) {
  return ec == errc::upstream_connect_failed || ec == errc::upstream_connect_timeout ||
         ec == errc::upstream_header_timeout || ec == errc::upstream_closed ||
         ec == errc::upstream_bad_response || ec == errc::upstream_write_failed;
}

// The request body as the chosen server's transport reads it, noting whether any of it was
// read: from then on the request can never be sent to another server.
class WatchedBody final : public BodySource {
 public:
  explicit WatchedBody(BodySource* inner) : inner_(inner) {}
  asio::awaitable<std::pair<std::error_code, std::size_t>> read(asio::mutable_buffer buf) override {
    started_ = true;
    co_return co_await inner_->read(buf);
  }
  bool started() const { return started_; }

 private:
  BodySource* inner_;
  bool started_ = false;
};

// A member's upload still sending the request body (HTTP/2) reads the WatchedBody of the round
// trip that has returned: it keeps it until the proxy has stopped the upload.
class UploadHolding final : public RequestUpload {
 public:
  UploadHolding(std::shared_ptr<RequestUpload> inner, std::shared_ptr<WatchedBody> body)
      : inner_(std::move(inner)), body_(std::move(body)) {}
  asio::awaitable<void> stop_and_wait() override { co_await inner_->stop_and_wait(); }

 private:
  std::shared_ptr<RequestUpload> inner_;
  std::shared_ptr<WatchedBody> body_;
};

// Holds one count up until destroyed (or moved from).
class Counted {
 public:
  explicit Counted(std::atomic<std::uint64_t>& n) : n_(&n) { n_->fetch_add(1); }
  Counted(Counted&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
  Counted& operator=(Counted&&) = delete;
  ~Counted() {
    if (n_) n_->fetch_sub(1);
  }

 private:
  std::atomic<std::uint64_t>* n_;
};

// One request active on a server, from the pick until destroyed (or moved from): however the
// round trip ends, a throw or a frame destroyed at a forced stop included, the count drops once.
class ServerLease {
 public:
  // Takes over a count begun with try_begin_request().
  explicit ServerLease(std::shared_ptr<UpstreamServer> begun) : server_(std::move(begun)) {}
  ServerLease(ServerLease&& o) noexcept = default;
  ServerLease& operator=(ServerLease&&) = delete;
  ~ServerLease() {
    if (server_) server_->end_request();
  }

 private:
  std::shared_ptr<UpstreamServer> server_;
};

// The response body of the chosen server, which counts as an active request on it (and in its
// pool, the retry budget's base) until the body is destroyed: the stream, the tunnel or the
// download is over.
class CountedBody final : public ResponseBody {
 public:
  CountedBody(std::unique_ptr<ResponseBody> inner, ServerLease lease, Counted in_pool)
      : inner_(std::move(inner)), lease_(std::move(lease)), in_pool_(std::move(in_pool)) {}
  ~CountedBody() override {
    inner_.reset();  // closes or pools the connection before the counts drop
  }
  std::size_t read_some(asio::mutable_buffer into, std::error_code& ec) override {
    return inner_->read_some(into, ec);
  }
  std::size_t buffered_bytes() const override { return inner_->buffered_bytes(); }
  bool done() const override { return inner_->done(); }
  Fields trailers() override { return inner_->trailers(); }
  void finish(bool reusable) override { inner_->finish(reusable); }
  detail::SpliceSource* splice_source() override { return inner_->splice_source(); }
  Upgraded upgraded() override { return inner_->upgraded(); }

 protected:
  void start_read_some(asio::mutable_buffer into, ReadHandler handler) override {
    inner_->async_read_some(into, std::move(handler));
  }

 private:
  std::unique_ptr<ResponseBody> inner_;
  ServerLease lease_;
  Counted in_pool_;
};

bool was_tried(std::span<const UpstreamServer* const> tried, const UpstreamServer* server) {
  return std::find(tried.begin(), tried.end(), server) != tried.end();
}

}  // namespace

std::optional<std::uint64_t> request_hash_key(const HashKey& key, const Request& out) {
  switch (key.kind) {
    case HashKey::Kind::header: {
      const auto it = out.header.find(key.name);
      if (it == out.header.end()) return std::nullopt;
      return hash_text(it->value());
    }
    case HashKey::Kind::cookie: {
      const auto value = cookie_value(out.header, key.name);
      if (!value) return std::nullopt;
      return hash_text(*value);
    }
    case HashKey::Kind::client_ip: {
      const auto [first, last] = out.header.equal_range("X-Forwarded-For");
      if (first == last) return std::nullopt;
      std::string_view all;
      for (auto it = first; it != last; ++it)
        all = it->value();  // the last line
      const std::size_t comma = all.rfind(',');
      const std::string_view ip =
          trim(comma == std::string_view::npos ? all : all.substr(comma + 1));
      if (ip.empty()) return std::nullopt;
      return hash_text(ip);
    }
  }
  return std::nullopt;
}

BalancingTransport::BalancingTransport(BalancingOptions options, std::vector<PoolMember> members)
    : options_(std::move(options)),
      transport_options_(options_.transport ? *options_.transport
                                            : members.at(0).transport->options()),
      members_(std::make_shared<const std::vector<PoolMember>>(std::move(members))),
      balancer_(options_.policy),
      fallback_(BalancePolicy::round_robin) {
  if (!options_.counters) options_.counters = std::make_shared<PoolCounters>();
}

void BalancingTransport::set_members(std::vector<PoolMember> members) {
  auto next = std::make_shared<const std::vector<PoolMember>>(std::move(members));
  std::lock_guard lock(members_mutex_);
  members_.swap(next);
}  // the old list is released here, outside the lock

std::shared_ptr<const std::vector<PoolMember>> BalancingTransport::members() const {
  std::lock_guard lock(members_mutex_);
  return members_;
}

const TransportOptions& BalancingTransport::options() const { return transport_options_; }

TransportCounts BalancingTransport::counts() const {
  TransportCounts sum;
  for (const PoolMember& m : *members()) {
    const TransportCounts c = m.transport->counts();
    sum.busy += c.busy;
    sum.idle += c.idle;
  }
  return sum;
}

const UpstreamServer* BalancingTransport::server_named(const std::vector<PoolMember>& members,
                                                       std::string_view url) {
  if (url.empty()) return nullptr;
  for (const PoolMember& m : members) {  // only on a resume: the allocations do not matter
    if (m.url.origin() == url) return m.server.get();
  }
  return nullptr;
}

std::optional<std::size_t> BalancingTransport::pick(const std::vector<PoolMember>& members,
                                                    const Request& out,
                                                    std::span<const UpstreamServer* const> tried) {
  if (members.empty()) return std::nullopt;
  // Reused per thread: no allocation per request once a thread saw its largest pool.
  thread_local std::vector<BalancerServer> view;
  view.clear();
  const auto now = Clock::now();
  for (std::size_t i = 0; i < members.size(); ++i) {
    const PoolMember& m = members[i];
    // By server, not by index: two entries may name one server.
    const bool tried_before = was_tried(tried, m.server.get());
    // Weights in hundredths, so that a slow start can scale a weight of 1. Not for hash: a
    // changing weight would move keys back and forth while the server warms up.
    std::uint32_t weight = m.weight;
    if (options_.policy != BalancePolicy::hash) {
      weight = std::max<std::uint32_t>(
          1, static_cast<std::uint32_t>(m.weight * 100 * m.server->warmth(now)));
    }
    view.push_back(BalancerServer{m.server->id(), weight, m.server->active(),
                                  !tried_before && m.server->available(now)});
  }
  std::optional<std::uint64_t> key;
  if (options_.policy == BalancePolicy::hash) key = request_hash_key(options_.hash_key, out);
  std::lock_guard lock(balancer_mutex_);
  if (options_.policy == BalancePolicy::hash && !key) return fallback_.pick(view);
  return balancer_.pick(view, key.value_or(0));
}

asio::awaitable<UpstreamResponse> BalancingTransport::round_trip(RoundTripRequest rq) {
  PoolCounters& counters = *options_.counters;
  Counted active(counters.active);
  // This request's servers, kept to its end even if DNS changes the pool meanwhile.
  const std::shared_ptr<const std::vector<PoolMember>> members = this->members();
  Request& out = rq.out;
  // Shared: an HTTP/2 member's upload reads it after this round trip returned (UploadHolding).
  std::shared_ptr<WatchedBody> body;
  if (rq.body) body = std::make_shared<WatchedBody>(rq.body);
  // A 1xx forwarded to the client is a response byte that reached it: no retry after one.
  bool informed = false;
  InformationalHandler on_informational;
  if (rq.on_informational) {
    on_informational = [&informed, &rq](unsigned status, Fields fields) {
      informed = true;
      return rq.on_informational(status, std::move(fields));
    };
  }

  // Servers this request may not take: those it tried, and those that reached max_requests
  // between the pick and the lease (another thread took the last place).
  boost::container::small_vector<const UpstreamServer*, kMaxAttempts> excluded;
  // The server to avoid is excluded until no other can be had.
  const UpstreamServer* avoided = server_named(*members, rq.avoid);
  if (avoided) excluded.push_back(avoided);
  std::optional<Counted> retrying;
  UpstreamResponse last;
  for (std::size_t attempt = 0; attempt <= options_.retries && attempt < kMaxAttempts; ++attempt) {
    std::optional<ServerLease> lease;
    const PoolMember* chosen = nullptr;
    for (int pass = 0; pass < 2 && !lease; ++pass) {
      while (!lease) {  // at most once per server: each turn excludes one
        const auto index = pick(*members, out, excluded);
        if (!index) break;
        chosen = &(*members)[*index];
        excluded.push_back(chosen->server.get());
        if (chosen->server->try_begin_request()) lease.emplace(chosen->server);
      }
      if (lease || !avoided) break;
      // Nothing else: the avoided server after all.
      excluded.erase(std::remove(excluded.begin(), excluded.end(), avoided), excluded.end());
      avoided = nullptr;
    }
    if (!lease) {
      if (attempt > 0) break;  // every server was tried: the last failure stands
      counters.unavailable.fetch_add(1, std::memory_order_relaxed);
      UpstreamResponse none;
      none.ec = errc::no_upstream_available;
      none.error_detail = "upstream " + options_.upstream + ": no server is available";
      none.server = static_cast<std::size_t>(-1);  // no server's metrics
      co_return none;
    }
    if (attempt > 0) {
      if (!retry_allowed(counters.active.load(), counters.active_retries.load())) {
        counters.retries_refused.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      counters.retries.fetch_add(1, std::memory_order_relaxed);
      if (!retrying) retrying.emplace(counters.active_retries);
    }
    const PoolMember& member = *chosen;
    out.url.scheme = member.url.scheme;
    out.url.host = member.url.host;
    out.url.port = member.url.port;
    // Named, not a temporary in the co_await (docs/architecture.md, coroutine conventions).
    RoundTripRequest attempt_request{
        out, body ? &*body : nullptr,
        rq.on_informational ? on_informational : InformationalHandler{}, rq.context};
    UpstreamResponse up = co_await member.transport->round_trip(std::move(attempt_request));
    up.server = member.metrics_server;
    if (!up.ec) {
      up.body =
          std::make_unique<CountedBody>(std::move(up.body), std::move(*lease), std::move(active));
      if (up.upload) up.upload = std::make_shared<UploadHolding>(std::move(up.upload), body);
      co_return up;
    }
    if (blames_server(up.ec)) member.server->request_failed(Clock::now());
    const bool connect_failure =
        up.ec == errc::upstream_connect_failed || up.ec == errc::upstream_connect_timeout;
    const bool body_read = body && body->started();
    const bool replayable =
        blames_server(up.ec) && !informed && !body_read &&
        (connect_failure || (idempotent(out.method) && out.content_length == 0));
    last = std::move(up);
    if (!replayable) break;
  }
  co_return last;
}

}  // namespace sluice
