#include "admin_listener.hpp"

#include "sluice/admin.hpp"
#include "sluice/version.hpp"

namespace sluice::app {

namespace {

ServerOptions admin_options(boost::asio::ip::tcp::endpoint listen) {
  ServerOptions opts;
  opts.listen = listen;
  opts.threads = 1;
  opts.access_log = AccessLog::off;  // scrapes and probes every few seconds: noise in the log
  opts.header_timeout = std::chrono::seconds(5);
  opts.write_timeout = std::chrono::seconds(10);
  return opts;
}

}  // namespace

AdminListener::AdminListener(boost::asio::ip::tcp::endpoint listen,
                             std::shared_ptr<Metrics> metrics)
    : server_(admin_options(listen),
              make_admin_handler(
                  AdminOptions{std::move(metrics), [s = stopping_] { return !s->load(); }})) {}

void AdminListener::start() { server_.start(); }

void append_listener_families(std::string& out, const std::vector<ListenerView>& listeners) {
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    double (*read)(const Server&);
  };
  static constexpr Family kFamilies[] = {
      {"sluice_connections_accepted_total", "counter", "Client connections accepted, by listener.",
       [](const Server& s) { return static_cast<double>(s.accepted_connections()); }},
      {"sluice_connections_open", "gauge",
       "Client connections open now (parked ones included), by listener.",
       [](const Server& s) { return static_cast<double>(s.live_sessions()); }},
      {"sluice_connections_parked", "gauge",
       "Idle keep-alive client connections parked (no session running).",
       [](const Server& s) { return static_cast<double>(s.parked_sessions()); }},
  };
  for (const Family& f : kFamilies) {
    append_metric_header(out, f.name, f.type, f.help);
    for (const ListenerView& l : listeners) {
      append_sample(out, f.name, "listener=\"" + escape_label_value(l.url) + "\"",
                    f.read(*l.server));
    }
  }
}

void add_binary_collectors(Metrics& metrics, const Server& proxy, std::string listener,
                           const Transport& transport) {
  metrics.add_collector([one = std::vector<ListenerView>{{std::move(listener), &proxy}}](
                            std::string& out) { append_listener_families(out, one); });
  metrics.add_collector([&transport](std::string& out) {
    const TransportCounts c = transport.counts();
    append_metric_header(out, "sluice_upstream_connections", "gauge",
                         "Upstream connections: busy (serving a request) or idle (pooled).");
    append_sample(out, "sluice_upstream_connections", R"(upstream="default",state="busy")",
                  static_cast<double>(c.busy));
    append_sample(out, "sluice_upstream_connections", R"(upstream="default",state="idle")",
                  static_cast<double>(c.idle));
  });
  metrics.add_collector([](std::string& out) {
    append_metric_header(out, "sluice_build_info", "gauge", "The running sluice's version.");
    append_sample(out, "sluice_build_info", "version=\"" SLUICE_VERSION "\"", 1);
  });
}

}  // namespace sluice::app
