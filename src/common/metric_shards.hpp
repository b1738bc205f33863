#pragma once
// The recording side of Metrics: one shard of counters per worker thread, each a flat array of
// relaxed atomics laid out once from the MetricsLayout. A worker only ever adds to its own shard
// (no cache line is written by two workers; the atomics are for the scrape reading it and for
// the shared shard of non-worker threads). The scrape sums the shards.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sluice/events.hpp"
#include "sluice/metrics.hpp"

namespace sluice::detail {

class MetricShards {
 public:
  explicit MetricShards(MetricsLayout layout);

  const MetricsLayout& layout() const { return layout_; }

  // ---- Recording: any thread, into that thread's shard. Out-of-range indexes are ignored.
  // A request answered (by a route, or refused: kNoRoute): its status, how long it took from
  // its head to its end, and the body bytes each way.
  void request_done(std::size_t route, unsigned status, std::chrono::nanoseconds duration,
                    std::uint64_t bytes_received, std::uint64_t bytes_sent);
  void add_active_requests(std::int64_t delta) { add(active_requests_, delta); }
  void add_flush_timers(std::int64_t delta) { add(flush_timers_, delta); }
  // One forwarded body chunk: from its upstream read to the client write that carried it.
  void added_latency(std::chrono::nanoseconds d);
  void upstream_first_byte(std::size_t route, std::chrono::nanoseconds d);
  void upstream_connect(std::size_t upstream, std::chrono::nanoseconds d);
  void upstream_request(std::size_t upstream, std::size_t server);
  void response_end(std::size_t route, ResponseOutcome outcome);
  // One attempt to resume an SSE stream on a new upstream response.
  void sse_resume(std::size_t route, SseResumeResult result);
  void config_reload(bool success);

  // ---- Reading (the scrape).
  std::int64_t active_requests() const { return signed_sum(active_requests_); }
  std::int64_t flush_timers() const { return signed_sum(flush_timers_); }
  // sluice's own families, in the text format.
  void write(std::string& out) const;

 private:
  using Cell = std::atomic<std::uint64_t>;
  struct Histogram {
    std::span<const std::int64_t> bounds;
    std::size_t offset;  // bounds.size() + 1 buckets (the last is +Inf), then the sum in ns
    std::size_t cells() const { return bounds.size() + 2; }
  };

  Cell* shard() const;
  void add(std::size_t offset, std::int64_t delta) const;
  void observe(const Histogram& h, std::size_t index, std::chrono::nanoseconds d) const;
  std::uint64_t sum(std::size_t offset) const;
  std::int64_t signed_sum(std::size_t offset) const;
  std::size_t route_slot(std::size_t route) const;  // 0: kNoRoute, r + 1: route r
  void write_histogram(std::string& out, std::string_view name, const Histogram& h,
                       std::size_t index, const std::string& labels) const;
  std::string route_labels(std::size_t slot) const;

  static constexpr unsigned kFirstStatus = 100;
  static constexpr unsigned kStatuses = 500;  // 100..599

  MetricsLayout layout_;
  std::vector<std::size_t> server_base_;  // per upstream: its first server's counter
  std::size_t requests_ = 0;              // (routes + 1) x kStatuses
  Histogram duration_{};                  // x (routes + 1)
  Histogram first_byte_{};                // x routes
  Histogram connect_{};                   // x upstreams
  Histogram added_latency_{};             // x 1
  std::size_t endings_ = 0;               // routes x kOutcomes
  std::size_t sse_resumes_ = 0;           // routes x (resumed, failed)
  std::size_t upstream_requests_ = 0;     // every server of every upstream
  std::size_t bytes_received_ = 0;
  std::size_t bytes_sent_ = 0;
  std::size_t active_requests_ = 0;
  std::size_t flush_timers_ = 0;
  std::size_t reloads_ = 0;  // success, failure
  std::size_t cells_ = 0;
  std::vector<std::unique_ptr<Cell[]>> shards_;  // workers + 1
};

}  // namespace sluice::detail
