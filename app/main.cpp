// The sluice binary: parse the command line (config.cpp), start the proxy (and, for `sluice
// demo`, the built-in upstream of demo_upstream.cpp; for `--config`, the fleet of
// fleet_service.cpp), then wait for SIGINT/SIGTERM and stop gracefully. `sluice check FILE`
// checks a configuration file and exits.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <variant>

#include "admin_listener.hpp"
#include "config.hpp"
#include "demo_upstream.hpp"
#include "fleet_service.hpp"
#include "service_notify.hpp"
#include "sluice/sluice.hpp"

namespace {

using namespace std::chrono_literals;

// How long in-flight responses may run on after a stop signal before they are cut.
constexpr auto kStopGrace = 5s;
// How long the exit waits for queued log lines to reach stderr (a stalled reader cannot hold
// the process).
constexpr auto kLogFlushLimit = 1s;

// Everything the binary says goes through the log queue to stderr, like the access log, so that
// its lines never interleave with the workers' and keep their order.
void say(const std::string& text) { sluice::write_log_line({}, text); }

// SIGINT/SIGTERM took the main thread out of its wait: systemd and the log are told first.
void announce_stop(int sig) {
  sluice::app::notify_stopping();
  say(std::string("sluice: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
      ", stopping (in-flight responses get up to 5s)");
}

// What could not start: said, flushed, exit status 1.
int failed(const std::exception& e) {
  say(std::string("sluice: ") + e.what());
  sluice::flush_log(kLogFlushLimit);
  return 1;
}

// Blocked before any thread exists: every worker inherits the mask, so SIGINT/SIGTERM/SIGHUP
// stay pending until a sigwait() takes them, on the main thread, outside any signal handler.
sigset_t block_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A reader of stderr that goes away must not kill the proxy in the middle of a log line.
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

// `sluice check FILE`: the start-up checks, nothing bound. Exit 0 with "ok", else 1 with one
// FILE:LINE:COL: message line per error.
int check(const std::string& file) {
  auto text = sluice::app::read_config_file(file);
  if (text.index() == 1) {
    std::cerr << "sluice: " << std::get<1>(text) << "\n";
    return 1;
  }
  const auto checked =
      sluice::app::check_fleet_config(std::get<0>(text), std::filesystem::path(file).parent_path());
  if (const auto* errors = std::get_if<std::vector<sluice::app::ConfigError>>(&checked)) {
    for (const auto& e : *errors)
      std::cerr << sluice::app::format_config_error(file, e) << "\n";
    return 1;
  }
  std::cout << "ok\n";
  return 0;
}

// `sluice --config FILE`: the fleet, until SIGINT/SIGTERM; SIGHUP reloads the file.
int run_fleet(const std::string& file) {
  sigset_t signals = block_signals();
  try {
    sluice::app::FleetService fleet(file);
    try {
      fleet.start();
    } catch (const sluice::app::FleetStartError& e) {
      for (const auto& line : e.lines())
        say(line);
      say("sluice: " + file + ": not started");
      sluice::flush_log(kLogFlushLimit);
      return 1;
    }
    for (const auto& line : fleet.take_start_notes())
      say(line);
    const std::string status = "listening on " + fleet.listening();
    say("sluice: " + status + " (" + file + ")");
    if (auto admin = fleet.admin_url())
      say("sluice: admin on " + *admin + " (/metrics, /healthz, /ready)");
    sluice::app::notify_ready(status);
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      sluice::app::notify_reloading();
      for (const auto& line : fleet.reload())
        say(line);
      sluice::app::notify_ready("listening on " + fleet.listening());
    }
    announce_stop(sig);
    fleet.begin_stop();
    fleet.stop(kStopGrace);
    sluice::flush_log(kLogFlushLimit);
    return 0;
  } catch (const std::exception& e) {
    return failed(e);  // a bind: "cannot listen on 127.0.0.1:8080: Address already in use"
  }
}

int run(sluice::app::Config& config) {
  sigset_t stop_signals = block_signals();

  try {
    // Declared first, destroyed last: the proxy server in front must be gone before it.
    std::optional<sluice::app::DemoUpstream> demo;
    if (config.demo) {
      demo.emplace();
      demo->start();
      config.upstream = demo->url();
    }

    // Metrics only with an admin listener to read them: without it nothing is recorded.
    std::shared_ptr<sluice::Metrics> metrics;
    const sluice::Url& target = *config.upstream;
    if (config.admin_listen) {
      metrics = std::make_shared<sluice::Metrics>(
          sluice::single_route_layout(target.origin(), config.server.threads));
      config.server.metrics = metrics;
    }

    auto proxy = sluice::single_host(target);
    proxy->flush_interval = config.flush_interval;
    sluice::app::apply_stream_features(config.streaming, *proxy);
    proxy->transport = sluice::app::make_transport(config.upstream_protocol, config.transport);
    proxy->metrics = metrics;
    sluice::Server server(config.server,
                          [p = proxy.get()](sluice::Exchange& ex) { return p->serve(ex); });
    server.start();

    const auto& tls = config.server.tls;
    const std::string here = sluice::app::listen_url(server.local_endpoint(), tls != nullptr);
    // Declared after the proxy server: destroyed (stopped) first, so no scrape outlives what
    // its collectors read.
    std::optional<sluice::app::AdminListener> admin;
    if (metrics) {
      sluice::app::add_binary_collectors(*metrics, server, here, *proxy->transport);
      admin.emplace(*config.admin_listen, metrics);
      admin->start();
    }
    say("sluice: listening on " + here + " -> " + sluice::app::upstream_display(target) +
        (tls ? " (" + tls->data_path() + ")" : ""));
    if (admin) {
      say("sluice: admin on " + sluice::app::listen_url(admin->local_endpoint()) +
          " (/metrics, /healthz, /ready)");
    }
    if (demo) say(sluice::app::demo_usage(here));
    // Every listener is bound and accepting: a systemd unit (Type=notify) becomes active now.
    const std::string status = "listening on " + here;
    sluice::app::notify_ready(status);

    int sig = 0;
    // SIGHUP re-reads the certificates, here on the main thread: no file is read by a worker.
    while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
      sluice::app::notify_reloading();
      if (!tls) {
        say("sluice: SIGHUP: nothing to reload (no --tls-cert)");
      } else if (auto failed = tls->reload()) {
        if (metrics) metrics->count_config_reload(false);
        say("sluice: SIGHUP: certificates not reloaded, the old ones keep serving: " + *failed);
      } else {
        if (metrics) metrics->count_config_reload(true);
        say("sluice: SIGHUP: certificates reloaded; new connections use them");
      }
      sluice::app::notify_ready(status);
    }
    announce_stop(sig);
    if (admin) admin->begin_stop();  // /ready: 503 while the in-flight responses finish
    if (demo) demo->begin_stop();    // endless demo streams end now instead of at the grace
    server.stop(kStopGrace);
    if (admin) admin->stop();
    if (demo) demo->stop(kStopGrace);
    sluice::flush_log(kLogFlushLimit);
    return 0;
  } catch (const std::exception& e) {
    return failed(e);  // Server::start: "cannot listen on 127.0.0.1:8080: Address already in use"
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = sluice::app::parse_config(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  auto& config = std::get<sluice::app::Config>(parsed);
  if (config.check_file) return check(*config.check_file);
  if (config.config_file) return run_fleet(*config.config_file);
  return run(config);
}
