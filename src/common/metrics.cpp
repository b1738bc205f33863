// Metrics: the public face of MetricShards (recording) and the exposition (reading).
#include "sluice/metrics.hpp"

#include <charconv>
#include <cmath>
#include <mutex>

#include "common/metric_shards.hpp"
#include "common/process_metrics.hpp"
#include "sluice/log.hpp"

namespace sluice {

// Added before serving, read at each scrape: one lock, never taken on a worker.
struct Metrics::Collectors {
  std::mutex mutex;
  std::vector<std::function<void(std::string&)>> list;
};

MetricsLayout single_route_layout(std::string server_url, unsigned workers) {
  MetricsLayout layout;
  layout.upstreams.push_back({"default", {std::move(server_url)}});
  layout.routes.push_back({"default", 0});
  layout.workers = workers;
  return layout;
}

Metrics::Metrics(MetricsLayout layout)
    : shards_(std::make_unique<detail::MetricShards>(std::move(layout))),
      collectors_(std::make_unique<Collectors>()) {}

Metrics::~Metrics() = default;

const MetricsLayout& Metrics::layout() const { return shards_->layout(); }

std::int64_t Metrics::active_requests() const { return shards_->active_requests(); }
std::int64_t Metrics::flush_timers_active() const { return shards_->flush_timers(); }
void Metrics::count_config_reload(bool success) { shards_->config_reload(success); }

std::string Metrics::expose() const {
  std::string out;
  out.reserve(16 * 1024);
  shards_->write(out);
  append_metric_header(out, "sluice_log_dropped_total", "counter",
                       "Log lines dropped because the log queue was full (stderr too slow).");
  append_sample(out, "sluice_log_dropped_total", "", static_cast<double>(log_lines_dropped()));
  {
    std::lock_guard lock(collectors_->mutex);
    for (const auto& collect : collectors_->list)
      collect(out);
  }
  detail::write_process_metrics(out);
  return out;
}

void Metrics::add_collector(std::function<void(std::string& out)> collect) {
  std::lock_guard lock(collectors_->mutex);
  collectors_->list.push_back(std::move(collect));
}

void append_metric_header(std::string& out, std::string_view name, std::string_view type,
                          std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  // HELP text escapes only backslash and newline (format 0.0.4).
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void append_sample(std::string& out, std::string_view name, std::string_view labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
    out += std::to_string(static_cast<long long>(value));
  } else {
    char buf[32];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, ec == std::errc{} ? end : buf);
  }
  out += '\n';
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace sluice
