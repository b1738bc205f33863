// The sluice binary: parse the command line (config.cpp), start the proxy (and, for `sluice
// demo`, the built-in upstream of demo_upstream.cpp), then wait for SIGINT/SIGTERM and stop
// gracefully.
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <exception>
#include <optional>
#include <string>
#include <variant>

#include "admin_listener.hpp"
#include "config.hpp"
#include "demo_upstream.hpp"
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

int run(sluice::app::Config& config) {
  // Blocked before any thread exists: every worker inherits the mask, so SIGINT/SIGTERM stay
  // pending until the sigwait() below takes them, on this thread, outside any signal handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A reader of stderr that goes away must not kill the proxy in the middle of a log line.
  std::signal(SIGPIPE, SIG_IGN);

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
      metrics = std::make_shared<sluice::Metrics>(sluice::single_route_layout(
          target.scheme + "://" + target.authority(), config.server.threads));
      config.server.metrics = metrics;
    }

    auto proxy = sluice::single_host(target);
    proxy->flush_interval = config.flush_interval;
    proxy->transport = sluice::make_http1_transport(config.transport);
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
    sluice::app::notify_stopping();
    say(std::string("sluice: ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
        ", stopping (in-flight responses get up to 5s)");
    if (admin) admin->begin_stop();  // /ready: 503 while the in-flight responses finish
    if (demo) demo->begin_stop();    // endless demo streams end now instead of at the grace
    server.stop(kStopGrace);
    if (admin) admin->stop();
    if (demo) demo->stop(kStopGrace);
    sluice::flush_log(kLogFlushLimit);
    return 0;
  } catch (const std::exception& e) {
    // Server::start: "cannot listen on 127.0.0.1:8080: Address already in use".
    say(std::string("sluice: ") + e.what());
    sluice::flush_log(kLogFlushLimit);
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  auto parsed = sluice::app::parse_config(argc, argv);
  if (const int* status = std::get_if<int>(&parsed)) return *status;
  return run(std::get<sluice::app::Config>(parsed));
}
