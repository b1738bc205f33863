#include "common/metric_shards.hpp"

#include <set>
#include <stdexcept>
#include <string_view>

#include "common/histogram_buckets.hpp"
#include "common/worker_slot.hpp"

namespace sluice::detail {

namespace {

// Padding around each shard's cells, so that two shards never share a cache line.
constexpr std::size_t kPadCells = 64 / sizeof(std::uint64_t);

constexpr ResponseOutcome kEndingOrder[] = {
    ResponseOutcome::complete,    ResponseOutcome::error_response, ResponseOutcome::truncated,
    ResponseOutcome::client_gone, ResponseOutcome::shutdown,       ResponseOutcome::upgraded,
};

std::string seconds_text(std::int64_t ns) {
  // Exact decimal seconds for a bucket bound ("0.000025", "1"), as Prometheus prints them.
  std::string s = std::to_string(ns / 1'000'000'000);
  std::int64_t frac = ns % 1'000'000'000;
  if (frac == 0) return s;
  std::string digits = std::to_string(frac);
  digits.insert(0, 9 - digits.size(), '0');
  while (digits.back() == '0')
    digits.pop_back();
  return s + "." + digits;
}

}  // namespace

MetricShards::MetricShards(MetricsLayout layout) : layout_(std::move(layout)) {
  // Two series with one label set would make the whole exposition invalid.
  auto refuse_duplicates = [](const std::vector<std::string>& names, const std::string& what) {
    std::set<std::string_view> seen;
    for (const auto& n : names) {
      if (!seen.insert(n).second) {
        throw std::invalid_argument("metrics: two " + what + " named \"" + n + "\"");
      }
    }
  };
  std::vector<std::string> names;
  for (const auto& r : layout_.routes) {
    if (r.upstream >= layout_.upstreams.size()) {
      throw std::invalid_argument("metrics: route \"" + r.name + "\" names upstream " +
                                  std::to_string(r.upstream) + ", which does not exist");
    }
    names.push_back(r.name);
  }
  refuse_duplicates(names, "routes");
  names.clear();
  for (const auto& u : layout_.upstreams) {
    names.push_back(u.name);
    refuse_duplicates(u.servers, "servers of upstream " + u.name);
  }
  refuse_duplicates(names, "upstreams");
  if (layout_.workers == 0) layout_.workers = 1;
  const std::size_t routes = layout_.routes.size();
  const std::size_t upstreams = layout_.upstreams.size();
  std::size_t next = kPadCells;
  auto take = [&next](std::size_t n) {
    const std::size_t at = next;
    next += n;
    return at;
  };
  auto histogram = [&take](std::span<const std::int64_t> bounds, std::size_t count) {
    Histogram h{bounds, 0};
    h.offset = take(h.cells() * count);
    return h;
  };
  requests_ = take((routes + 1) * kStatuses);
  duration_ = histogram(kRequestDurationBounds, routes + 1);
  first_byte_ = histogram(kUpstreamBounds, routes);
  connect_ = histogram(kUpstreamBounds, upstreams);
  added_latency_ = histogram(kAddedLatencyBounds, 1);
  endings_ = take(routes * std::size(kEndingOrder));
  sse_resumes_ = take(routes * 2);
  std::size_t servers = 0;
  for (const auto& u : layout_.upstreams) {
    server_base_.push_back(servers);
    servers += u.servers.size();
  }
  upstream_requests_ = take(servers);
  bytes_received_ = take(1);
  bytes_sent_ = take(1);
  active_requests_ = take(1);
  flush_timers_ = take(1);
  reloads_ = take(2);
  cells_ = next + kPadCells;
  for (unsigned i = 0; i <= layout_.workers; ++i) {
    auto cells = std::make_unique<Cell[]>(cells_);  // value-initialized: all zero
    shards_.push_back(std::move(cells));
  }
}

MetricShards::Cell* MetricShards::shard() const {
  const unsigned slot = worker_slot();
  return shards_[slot < layout_.workers ? slot : layout_.workers].get();
}

void MetricShards::add(std::size_t offset, std::int64_t delta) const {
  // Unsigned wrap-around: a gauge's -1 is added as 2^64 - 1 and summed back as signed.
  shard()[offset].fetch_add(static_cast<std::uint64_t>(delta), std::memory_order_relaxed);
}

void MetricShards::observe(const Histogram& h, std::size_t index,
                           std::chrono::nanoseconds d) const {
  Cell* cells = shard() + h.offset + index * h.cells();
  const std::int64_t ns = d.count() < 0 ? 0 : d.count();
  cells[bucket_of(h.bounds, ns)].fetch_add(1, std::memory_order_relaxed);
  cells[h.bounds.size() + 1].fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

std::uint64_t MetricShards::sum(std::size_t offset) const {
  std::uint64_t total = 0;
  for (const auto& s : shards_)
    total += s[offset].load(std::memory_order_relaxed);
  return total;
}

std::int64_t MetricShards::signed_sum(std::size_t offset) const {
  return static_cast<std::int64_t>(sum(offset));
}

std::size_t MetricShards::route_slot(std::size_t route) const {
  return route < layout_.routes.size() ? route + 1 : 0;
}

void MetricShards::request_done(std::size_t route, unsigned status,
                                std::chrono::nanoseconds duration, std::uint64_t bytes_received,
                                std::uint64_t bytes_sent) {
  const std::size_t slot = route_slot(route);
  if (status >= kFirstStatus && status < kFirstStatus + kStatuses) {
    add(requests_ + slot * kStatuses + (status - kFirstStatus), 1);
  }
  observe(duration_, slot, duration);
  if (bytes_received > 0) add(bytes_received_, static_cast<std::int64_t>(bytes_received));
  if (bytes_sent > 0) add(bytes_sent_, static_cast<std::int64_t>(bytes_sent));
}

void MetricShards::added_latency(std::chrono::nanoseconds d) { observe(added_latency_, 0, d); }

void MetricShards::upstream_first_byte(std::size_t route, std::chrono::nanoseconds d) {
  if (route < layout_.routes.size()) observe(first_byte_, route, d);
}

void MetricShards::upstream_connect(std::size_t upstream, std::chrono::nanoseconds d) {
  if (upstream < layout_.upstreams.size()) observe(connect_, upstream, d);
}

void MetricShards::upstream_request(std::size_t upstream, std::size_t server) {
  if (upstream < layout_.upstreams.size() && server < layout_.upstreams[upstream].servers.size())
    add(upstream_requests_ + server_base_[upstream] + server, 1);
}

void MetricShards::response_end(std::size_t route, ResponseOutcome outcome) {
  if (route >= layout_.routes.size()) return;
  for (std::size_t i = 0; i < std::size(kEndingOrder); ++i) {
    if (kEndingOrder[i] == outcome) add(endings_ + route * std::size(kEndingOrder) + i, 1);
  }
}

void MetricShards::sse_resume(std::size_t route, SseResumeResult result) {
  if (route < layout_.routes.size())
    add(sse_resumes_ + route * 2 + (result == SseResumeResult::resumed ? 0 : 1), 1);
}

void MetricShards::config_reload(bool success) { add(reloads_ + (success ? 0 : 1), 1); }

std::string MetricShards::route_labels(std::size_t slot) const {
  if (slot == 0) return R"(route="",upstream="")";
  const auto& r = layout_.routes[slot - 1];
  return "route=\"" + escape_label_value(r.name) + "\",upstream=\"" +
         escape_label_value(layout_.upstreams[r.upstream].name) + "\"";
}

void MetricShards::write_histogram(std::string& out, std::string_view name, const Histogram& h,
                                   std::size_t index, const std::string& labels) const {
  const std::size_t base = h.offset + index * h.cells();
  const std::string prefix = labels.empty() ? "" : labels + ",";
  std::uint64_t cumulative = 0;
  for (std::size_t b = 0; b <= h.bounds.size(); ++b) {
    cumulative += sum(base + b);
    const std::string le = b < h.bounds.size() ? seconds_text(h.bounds[b]) : "+Inf";
    append_sample(out, std::string(name) + "_bucket", prefix + "le=\"" + le + "\"",
                  static_cast<double>(cumulative));
  }
  append_sample(out, std::string(name) + "_sum", labels,
                static_cast<double>(sum(base + h.bounds.size() + 1)) / 1e9);
  append_sample(out, std::string(name) + "_count", labels, static_cast<double>(cumulative));
}

void MetricShards::write(std::string& out) const {
  const std::size_t routes = layout_.routes.size();

  append_metric_header(out, "sluice_requests_total", "counter",
                       "Requests answered, by route, upstream and status code (route=\"\": "
                       "no route took it: refused by the server, e.g. 400, 408, 431, or "
                       "answered by a handler that is not a proxy).");
  for (std::size_t slot = 0; slot <= routes; ++slot) {
    const std::string labels = route_labels(slot);
    for (unsigned s = 0; s < kStatuses; ++s) {
      const std::uint64_t n = sum(requests_ + slot * kStatuses + s);
      if (n == 0) continue;
      append_sample(out, "sluice_requests_total",
                    labels + ",code=\"" + std::to_string(kFirstStatus + s) + "\"",
                    static_cast<double>(n));
    }
  }

  append_metric_header(out, "sluice_request_duration_seconds", "histogram",
                       "From a request's head to the end of its response, by route.");
  for (std::size_t slot = 0; slot <= routes; ++slot)
    write_histogram(out, "sluice_request_duration_seconds", duration_, slot, route_labels(slot));

  append_metric_header(out, "sluice_active_requests", "gauge",
                       "Requests being served now (head read, response not ended).");
  append_sample(out, "sluice_active_requests", "", static_cast<double>(active_requests()));
  append_metric_header(out, "sluice_flush_timers_active", "gauge",
                       "Responses whose flush timer runs now.");
  append_sample(out, "sluice_flush_timers_active", "", static_cast<double>(flush_timers()));

  append_metric_header(out, "sluice_added_latency_seconds", "histogram",
                       "For each forwarded body chunk: from its read from the upstream to the "
                       "end of the client write that carried it (bodies moved by splice(2) are "
                       "not sampled).");
  write_histogram(out, "sluice_added_latency_seconds", added_latency_, 0, "");

  append_metric_header(out, "sluice_upstream_first_byte_seconds", "histogram",
                       "From the request sent upstream to the response head read, by route.");
  for (std::size_t r = 0; r < routes; ++r)
    write_histogram(out, "sluice_upstream_first_byte_seconds", first_byte_, r, route_labels(r + 1));

  append_metric_header(out, "sluice_upstream_connect_seconds", "histogram",
                       "New upstream connections: TCP connect (and TLS handshake), by upstream.");
  for (std::size_t u = 0; u < layout_.upstreams.size(); ++u)
    write_histogram(out, "sluice_upstream_connect_seconds", connect_, u,
                    "upstream=\"" + escape_label_value(layout_.upstreams[u].name) + "\"");

  append_metric_header(out, "sluice_upstream_requests_total", "counter",
                       "Round trips to each upstream server, failed connects included.");
  for (std::size_t u = 0; u < layout_.upstreams.size(); ++u) {
    const auto& up = layout_.upstreams[u];
    for (std::size_t s = 0; s < up.servers.size(); ++s) {
      append_sample(out, "sluice_upstream_requests_total",
                    "upstream=\"" + escape_label_value(up.name) + "\",server=\"" +
                        escape_label_value(up.servers[s]) + "\"",
                    static_cast<double>(sum(upstream_requests_ + server_base_[u] + s)));
    }
  }

  append_metric_header(out, "sluice_responses_total", "counter",
                       "Proxied responses by how they ended: complete, error_response (502/504 "
                       "from sluice), truncated (upstream failed mid-body), client_gone, "
                       "shutdown, upgraded.");
  for (std::size_t r = 0; r < routes; ++r) {
    for (std::size_t i = 0; i < std::size(kEndingOrder); ++i) {
      append_sample(out, "sluice_responses_total",
                    route_labels(r + 1) + ",ending=\"" + to_string(kEndingOrder[i]) + "\"",
                    static_cast<double>(sum(endings_ + r * std::size(kEndingOrder) + i)));
    }
  }

  append_metric_header(out, "sluice_sse_resumes_total", "counter",
                       "Attempts to continue an SSE stream on a new upstream response after its "
                       "upstream failed (sse_resume), by route and result: resumed, or failed "
                       "(no usable response; after the last attempt the stream is cut).");
  for (std::size_t r = 0; r < routes; ++r) {
    const std::string route = "route=\"" + escape_label_value(layout_.routes[r].name) + "\"";
    for (const SseResumeResult result : {SseResumeResult::resumed, SseResumeResult::failed}) {
      append_sample(out, "sluice_sse_resumes_total",
                    route + ",result=\"" + to_string(result) + "\"",
                    static_cast<double>(
                        sum(sse_resumes_ + r * 2 + (result == SseResumeResult::resumed ? 0 : 1))));
    }
  }

  append_metric_header(out, "sluice_client_received_bytes_total", "counter",
                       "Request body bytes read from clients.");
  append_sample(out, "sluice_client_received_bytes_total", "",
                static_cast<double>(sum(bytes_received_)));
  append_metric_header(out, "sluice_client_sent_bytes_total", "counter",
                       "Response body bytes sent to clients.");
  append_sample(out, "sluice_client_sent_bytes_total", "", static_cast<double>(sum(bytes_sent_)));

  append_metric_header(out, "sluice_config_reloads_total", "counter",
                       "Reloads (SIGHUP) by result; a failed one keeps the running config.");
  append_sample(out, "sluice_config_reloads_total", R"(result="success")",
                static_cast<double>(sum(reloads_)));
  append_sample(out, "sluice_config_reloads_total", R"(result="failure")",
                static_cast<double>(sum(reloads_ + 1)));
}

}  // namespace sluice::detail
