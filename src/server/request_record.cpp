#include "server/request_record.hpp"

#include <string>

#include "common/metric_shards.hpp"
#include "server/access_log.hpp"
#include "sluice/log.hpp"

namespace sluice::detail {

using Clock = std::chrono::steady_clock;

namespace {

std::string access_line(const ServerOptions& opts, const AccessEntry& e) {
  return opts.access_log == AccessLog::json ? format_json(e) : format_text(e);
}

}  // namespace

std::string_view protocol_of(unsigned version) {
  return version >= 20 ? "HTTP/2.0" : version >= 11 ? "HTTP/1.1" : "HTTP/1.0";
}

void record_refused(const SessionEnv& env, const RefusedRequest& r) {
  const ServerOptions& opts = env.options;
  const auto took = Clock::now() - r.started;
  if (opts.metrics) opts.metrics->shards().request_done(kNoRoute, r.status, took, 0, 0);
  if (opts.access_log == AccessLog::off) return;
  AccessEntry e;
  e.time = std::chrono::system_clock::now();
  e.client = r.remote;
  e.method = r.method;
  e.target = r.target;
  e.protocol = r.protocol;
  e.status = r.status;
  e.total = took;
  e.ending = "refused";
  e.refused = r.reason;
  write_log_line(opts.log, access_line(opts, e));
}

void record_served(const SessionEnv& env, const Exchange& ex, Clock::time_point start) {
  const ServerOptions& opts = env.options;
  const auto took = Clock::now() - start;
  const Exchange::Report& report = ex.report();
  if (opts.metrics) {
    opts.metrics->shards().request_done(report.route, ex.status(), took, ex.body_bytes_received(),
                                        ex.body_bytes_delivered());
  }
  if (opts.access_log == AccessLog::off) return;
  const Request& r = ex.request();
  const std::string target = r.url.request_target();
  AccessEntry e;
  e.time = std::chrono::system_clock::now();
  e.client = r.remote;
  e.method = r.method;
  e.target = target;
  e.protocol = protocol_of(r.version);
  e.status = ex.status();
  e.bytes_sent = ex.body_bytes_delivered();  // what reached the client, not what was queued
  e.bytes_received = ex.body_bytes_received();
  e.route = report.route_name;
  e.upstream = report.upstream_name;
  e.server = report.server;
  e.upstream_connect = report.upstream_connect;
  e.upstream_first_byte = report.upstream_first_byte;
  e.upstream_total = report.upstream_total;
  e.total = took;
  e.ending = report.outcome ? to_string(*report.outcome) : ex.aborted() ? "aborted" : "complete";
  e.error = report.error;
  e.flushes = ex.client_writes();
  write_log_line(opts.log, access_line(opts, e));
}

}  // namespace sluice::detail
