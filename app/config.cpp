#include "config.hpp"

#include <CLI/CLI.hpp>
#include <boost/system/error_code.hpp>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <system_error>

#include "common/duration.hpp"
#include "http2_settings.hpp"
#include "sluice/version.hpp"

namespace sluice::app {

namespace asio = boost::asio;
using std::chrono::nanoseconds;

namespace {

constexpr std::string_view kDurationHint = "(use 250ms, 5s, 1m)";
constexpr unsigned kMaxThreads = 1024;

// Every value error has the same shape, so that scripts and people can find the culprit:
// sluice: --flag: "value" <problem>
int usage_error(std::ostream& err, std::string_view flag, std::string_view value,
                std::string_view problem) {
  err << "sluice: " << flag << ": \"" << value << "\" " << problem << "\n";
  return kUsageError;
}

// A timeout: a duration > 0. "0" and "-1" are flush-interval spellings, meaningless here.
// Returns the exit status on error.
std::optional<int> parse_timeout(std::ostream& err, std::string_view flag, const std::string& text,
                                 nanoseconds& out) {
  const auto d = parse_duration(text);
  if (!d) return usage_error(err, flag, text, "is not a duration " + std::string(kDurationHint));
  if (d->count() <= 0) {
    return usage_error(err, flag, text, "must be positive " + std::string(kDurationHint));
  }
  out = *d;
  return std::nullopt;
}

}  // namespace

std::optional<asio::ip::tcp::endpoint> parse_listen(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);

  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  const auto addr = asio::ip::make_address(std::string(host), ec);
  // An IPv6 address must be bracketed ("::1:80" is ambiguous) and an IPv4 one must not be.
  if (ec || addr.is_v6() != bracketed) return std::nullopt;

  unsigned port = 0;
  const char* first = port_text.data();
  const char* last = first + port_text.size();
  const auto [ptr, perr] = std::from_chars(first, last, port);
  if (port_text.empty() || perr != std::errc{} || ptr != last || port > 65535) return std::nullopt;
  return asio::ip::tcp::endpoint(addr, static_cast<std::uint16_t>(port));
}

std::string endpoint_text(const asio::ip::tcp::endpoint& ep) {
  const auto addr = ep.address();
  const std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return host + ":" + std::to_string(ep.port());
}

std::string listen_url(const asio::ip::tcp::endpoint& ep, bool tls) {
  return (tls ? "https://" : "http://") + endpoint_text(ep);
}

std::string upstream_display(const Url& url) {
  return url.scheme + "://" + url.authority() + url.raw_path;
}

std::variant<Config, int> parse_config(int argc, const char* const* argv, std::ostream& out,
                                       std::ostream& err) {
  Config config;  // its members hold the library defaults, which --help shows
  const auto dflt = [](nanoseconds d) { return format_duration(d); };

  // Every value is taken as text and converted below, so that each error names its flag and
  // value in one format (CLI11's own conversion messages differ from flag to flag).
  std::string listen = endpoint_text(config.server.listen);
  std::string upstream;
  std::string flush_interval = dflt(config.flush_interval);
  std::string threads = std::to_string(config.server.threads);
  std::string connect_timeout = dflt(config.transport.connect_timeout);
  std::string response_header_timeout = dflt(config.transport.response_header_timeout);
  std::string upstream_idle_timeout = dflt(config.transport.idle_read_timeout);
  std::string header_timeout = dflt(config.server.header_timeout);
  std::string idle_timeout = dflt(config.server.idle_timeout);
  std::string access_log = "text";
  std::string upstream_protocol = "auto";
  std::string admin_listen;
  std::string write_timeout = dflt(config.server.write_timeout);
  std::string tunnel_idle_timeout = dflt(config.transport.tunnel_idle_timeout);
  std::string max_header_bytes = std::to_string(config.server.max_request_header_bytes);
  std::string max_uri_bytes = std::to_string(config.server.max_uri_bytes);
  std::string max_header_count = std::to_string(config.server.max_header_count);
  std::string max_body_bytes = std::to_string(config.server.max_body_bytes);
  std::string max_response_header_bytes =
      std::to_string(config.transport.max_response_header_bytes);
  std::string max_idle_upstream = std::to_string(config.transport.max_idle_connections);
  std::string h2_max_streams = std::to_string(config.server.h2_max_concurrent_streams);
  std::string h2_stream_window = std::to_string(config.server.h2_stream_window);
  std::string h2_connection_window = std::to_string(config.server.h2_connection_window);
  std::vector<std::string> tls_certs;
  std::vector<std::string> tls_keys;
  std::string upstream_ca;
  std::string config_file;
  std::string check_file;
  std::string sse_heartbeat = "0";
  bool sse_resume = false;
  std::string sse_resume_attempts = std::to_string(config.streaming.sse_resume_attempts);
  std::string compress;
  bool version = false;

  CLI::App app("sluice " SLUICE_VERSION ": a streaming HTTP/1 reverse proxy.", "sluice");
  app.get_formatter()->column_width(38);
  app.set_help_flag("-h,--help", "Print this help and exit");
  app.add_flag("--version", version, "Print the version and exit");
  app.add_option("--listen", listen,
                 "Address to accept clients on, e.g. 127.0.0.1:8080\n"
                 "or [::1]:8080 (IP literals; port 0 = any free port).\n"
                 "Default: " +
                     listen)
      ->type_name("HOST:PORT");
  app.add_option("--config", config_file,
                 "Run from a YAML configuration file: listeners,\n"
                 "routes, upstream pools (docs/config.md). SIGHUP\n"
                 "reloads it. No other option may be given with it.")
      ->type_name("FILE");
  app.add_option("--upstream", upstream,
                 "Where requests go, e.g. http://127.0.0.1:9000/base?x=1\n"
                 "Its path is joined with the request path and its\n"
                 "query merged with the request query. https:// means\n"
                 "TLS to the upstream, verified against the system CA\n"
                 "bundle (and --upstream-ca) and the URL's host name.\n"
                 "Required, except with `demo`.")
      ->type_name("URL");
  app.add_option("--tls-cert", tls_certs,
                 "Serve HTTPS (TLS 1.2 and 1.3, ALPN http/1.1) with this\n"
                 "certificate chain (PEM, leaf first), with --tls-key.\n"
                 "Repeat both for more certificates: the first pair is\n"
                 "the default, the others are chosen by SNI from their\n"
                 "DNS names. SIGHUP re-reads them.")
      ->type_name("FILE");
  app.add_option("--tls-key", tls_keys,
                 "The private key (PEM) of the --tls-cert at the same\n"
                 "position.")
      ->type_name("FILE");
  app.add_option("--upstream-ca", upstream_ca,
                 "PEM bundle of CA certificates trusted for https://\n"
                 "upstreams, besides the system CA bundle.")
      ->type_name("FILE");
  app.add_option("--flush-interval", flush_interval,
                 "How long response bytes may wait in the output buffer:\n"
                 "  0    no periodic flush: bytes go out when 16 KiB\n"
                 "       are buffered and when the response ends\n"
                 "  -1   flush after every write\n"
                 "  >0   the most a written byte waits, e.g. 100ms\n"
                 "SSE (text/event-stream) and unknown-length (chunked)\n"
                 "responses always flush immediately. Default: " +
                     flush_interval)
      ->type_name("DURATION");
  app.add_option("--sse-heartbeat", sse_heartbeat,
                 "On an SSE (text/event-stream) response that forwarded\n"
                 "nothing for this long, write the comment \":\" at an\n"
                 "event boundary, so idle streams are not cut on the\n"
                 "way. 0 = off, else at least 100ms. Default: 0, e.g. 15s")
      ->type_name("DURATION");
  app.add_flag("--sse-resume", sse_resume,
               "When the upstream of an SSE stream (GET) fails\n"
               "mid-stream, send the request again with Last-Event-ID\n"
               "and continue the same client response: events reach\n"
               "the client whole, none twice. Default: off");
  app.add_option("--sse-resume-attempts", sse_resume_attempts,
                 "Attempts per upstream failure (--sse-resume), since\n"
                 "the client's event ID last changed. Default: " +
                     sse_resume_attempts)
      ->type_name("N");
  app.add_option("--compress", compress,
                 "Compress responses the client accepts, in this order\n"
                 "of preference, e.g. zstd,br,gzip (any of them): text,\n"
                 "JSON, NDJSON, SSE, JavaScript, XML, SVG. Flushed with\n"
                 "every flush: never later than uncompressed.\n"
                 "Default: off")
      ->type_name("LIST");
  app.add_option("--threads", threads,
                 "Worker threads, each with its own event loop and\n"
                 "upstream connection pool. Default: " +
                     threads)
      ->type_name("N");
  app.add_option("--connect-timeout", connect_timeout,
                 "Limit for connecting to the upstream (then 504).\n"
                 "Default: " +
                     connect_timeout)
      ->type_name("DURATION");
  app.add_option("--response-header-timeout", response_header_timeout,
                 "Limit from request sent to upstream response head\n"
                 "received (then 504). Default: " +
                     response_header_timeout)
      ->type_name("DURATION");
  app.add_option("--upstream-idle-timeout", upstream_idle_timeout,
                 "Longest wait for the next upstream body byte; after\n"
                 "it the response is cut. Default: " +
                     upstream_idle_timeout)
      ->type_name("DURATION");
  app.add_option("--header-timeout", header_timeout,
                 "A client's request head must arrive within this\n"
                 "(then 408). Default: " +
                     header_timeout)
      ->type_name("DURATION");
  app.add_option("--idle-timeout", idle_timeout,
                 "How long a keep-alive client connection may wait\n"
                 "for its next request. Default: " +
                     idle_timeout)
      ->type_name("DURATION");
  app.add_option("--write-timeout", write_timeout,
                 "Each write to a client (at most 16 KiB) must finish\n"
                 "within this; a client that stops reading is cut.\n"
                 "Also bounds each request-body read. Default: " +
                     write_timeout)
      ->type_name("DURATION");
  app.add_option("--tunnel-idle-timeout", tunnel_idle_timeout,
                 "An upgraded connection (WebSocket...) with no byte\n"
                 "either way for this long is closed. Default: " +
                     tunnel_idle_timeout)
      ->type_name("DURATION");
  app.add_option("--max-header-bytes", max_header_bytes,
                 "Largest request head (request line + fields);\n"
                 "larger gets 431. Default: " +
                     max_header_bytes)
      ->type_name("BYTES");
  app.add_option("--max-uri-bytes", max_uri_bytes,
                 "Longest request target; longer gets 414.\n"
                 "Default: " +
                     max_uri_bytes)
      ->type_name("BYTES");
  app.add_option("--max-header-count", max_header_count,
                 "Most field lines in a request head; more gets 431.\n"
                 "Default: " +
                     max_header_count)
      ->type_name("N");
  app.add_option("--max-body-bytes", max_body_bytes,
                 "Largest request body (413 beyond it); 0 = no limit:\n"
                 "bodies stream through, never held whole. Default: " +
                     max_body_bytes)
      ->type_name("BYTES");
  app.add_option("--max-response-header-bytes", max_response_header_bytes,
                 "Largest upstream response head; larger gets 502.\n"
                 "Default: " +
                     max_response_header_bytes)
      ->type_name("BYTES");
  app.add_option("--max-idle-upstream", max_idle_upstream,
                 "Idle keep-alive upstream connections kept per thread;\n"
                 "a burst's surplus closes after 1s idle. Default: " +
                     max_idle_upstream)
      ->type_name("N");
  app.add_option("--h2-max-concurrent-streams", h2_max_streams,
                 "HTTP/2 streams a client may have in flight per connection\n"
                 "(a stream it reset counts until its upstream work stopped).\n"
                 "Default: " +
                     h2_max_streams)
      ->type_name("N");
  app.add_option("--h2-stream-window", h2_stream_window,
                 "HTTP/2 request body bytes a stream may send ahead of the\n"
                 "upstream taking them. Default: " +
                     h2_stream_window)
      ->type_name("BYTES");
  app.add_option("--h2-connection-window", h2_connection_window,
                 "The same for all streams of a connection; at least streams\n"
                 "x stream window; 0 = exactly that. Default: " +
                     h2_connection_window)
      ->type_name("BYTES");
  app.add_option("--upstream-protocol", upstream_protocol,
                 "How to speak to the upstream: auto (HTTP/1.1 to\n"
                 "http://; to https://, h2 or http/1.1 as the server\n"
                 "chooses by ALPN), h1 (HTTP/1.1 only) or h2 (HTTP/2:\n"
                 "prior knowledge to\n"
                 "http://, ALPN h2 to https://; many requests share\n"
                 "one connection).\n"
                 "Default: " +
                     upstream_protocol)
      ->type_name("auto|h1|h2");
  app.add_option("--access-log", access_log,
                 "One line per request on stderr, refused ones too:\n"
                 "text, json (one object per line) or off (`on` is\n"
                 "text). Lines never block the proxy: when stderr\n"
                 "cannot keep up they are dropped and counted\n"
                 "(sluice_log_dropped_total). Default: " +
                     access_log)
      ->type_name("off|text|json");
  app.add_option("--admin-listen", admin_listen,
                 "Serve GET /metrics (Prometheus), /healthz and /ready\n"
                 "(503 once a graceful stop begins) on this address,\n"
                 "e.g. 127.0.0.1:9901, apart from --listen. Unset: no\n"
                 "admin listener and no metrics.")
      ->type_name("HOST:PORT");
  CLI::App* check = app.add_subcommand("check",
                                       "Check a configuration file as `--config` would at\n"
                                       "start, without binding anything: prints ok and\n"
                                       "exits 0, or one FILE:LINE:COL: message line per\n"
                                       "error and exits 1.");
  check->add_option("FILE", check_file, "The configuration file")->required();
  // Options after `demo` fall through to the main command, so `sluice demo --listen ...` works
  // with the same --listen (and the other server options) as the proxy.
  CLI::App* demo = app.add_subcommand("demo",
                                      "Run a built-in streaming upstream (/, /events, /slow,\n"
                                      "/big) in this process, behind the proxy on --listen.\n"
                                      "Takes the options above, except --upstream (see\n"
                                      "sluice demo --help).");
  demo->fallthrough();
  demo->footer(
      "Every option of `sluice --help` except --upstream may follow `demo`, e.g.\n"
      "  sluice demo --listen 127.0.0.1:8080 --access-log off");
  app.footer(
      "Durations: 250ms, 5s, 1m, 1m30s, 1.5s (units ns, us, ms, s, m, h).\n"
      "Timeouts must be positive; 0 and -1 are for --flush-interval only.\n"
      "SIGINT or SIGTERM stops gracefully: /ready (--admin-listen) answers 503 at\n"
      "once, and in-flight responses get 5s to finish.\n"
      "SIGHUP re-reads the --tls-cert/--tls-key files (a bad one keeps the old), or\n"
      "the --config file (a bad one keeps the old configuration).\n"
      "Errors in flags or values exit with status 2.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    err << "sluice: " << e.what() << "\nRun 'sluice --help' for usage.\n";
    return kUsageError;
  }
  if (version) {
    out << "sluice " SLUICE_VERSION "\n";
    return 0;
  }

  if (*check) {
    if (argc > 3) {
      err << "sluice: check takes the configuration file and nothing else\n"
             "Run 'sluice --help' for usage.\n";
      return kUsageError;
    }
    config.check_file = check_file;
    return config;
  }
  if (app.count("--config") > 0) {
    // The file holds every setting; a flag beside it would be a second source of truth.
    for (const CLI::Option* option : app.get_options()) {
      if (option->get_name() == "--config" || option->count() == 0) continue;
      return usage_error(err, option->get_name(), option->as<std::string>(),
                         "cannot be used with --config (set it in the file)");
    }
    if (*demo) {
      err << "sluice: demo cannot be used with --config\nRun 'sluice --help' for usage.\n";
      return kUsageError;
    }
    config.config_file = config_file;
    return config;
  }

  config.demo = static_cast<bool>(*demo);
  if (auto ep = parse_listen(listen)) {
    config.server.listen = *ep;
  } else {
    return usage_error(err, "--listen", listen,
                       "is not an address (use 127.0.0.1:8080 or [::1]:8080)");
  }
  if (app.count("--admin-listen") > 0) {
    config.admin_listen = parse_listen(admin_listen);
    if (!config.admin_listen) {
      return usage_error(err, "--admin-listen", admin_listen,
                         "is not an address (use 127.0.0.1:9901 or [::1]:9901)");
    }
    if (*config.admin_listen == config.server.listen && config.admin_listen->port() != 0) {
      return usage_error(err, "--admin-listen", admin_listen,
                         "is the --listen address (the admin listener needs its own)");
    }
  }
  if (config.demo) {
    if (app.count("--upstream") > 0) {
      return usage_error(err, "--upstream", upstream,
                         "cannot be used with demo (it runs its own upstream)");
    }
  } else {
    if (app.count("--upstream") == 0) {
      err << "sluice: --upstream is required (or run `sluice demo`)\n"
             "Run 'sluice --help' for usage.\n";
      return kUsageError;
    }
    config.upstream = Url::parse(upstream);
    if (!config.upstream) {
      return usage_error(err, "--upstream", upstream,
                         "is not an http or https URL (use http://host[:port][/path][?query])");
    }
  }

  // The flush interval takes 0 and -1 on top of positive durations; other negative values
  // would mean "every write" too, but only -1 is documented, so they are refused.
  if (const auto d = parse_duration(flush_interval); !d) {
    return usage_error(err, "--flush-interval", flush_interval,
                       "is not a duration (use 0, -1, or e.g. 100ms)");
  } else if (d->count() < 0 && flush_interval != "-1") {
    return usage_error(err, "--flush-interval", flush_interval,
                       "is negative (use -1 to flush after every write)");
  } else {
    config.flush_interval = *d;
  }

  if (const auto d = parse_duration(sse_heartbeat); !d || d->count() < 0) {
    return usage_error(err, "--sse-heartbeat", sse_heartbeat,
                       "is not a duration (use 0 for off, or e.g. 15s)");
  } else if (d->count() > 0 && *d < kMinSseHeartbeat) {
    return usage_error(err, "--sse-heartbeat", sse_heartbeat,
                       "is under 100ms (use 0 for off, or e.g. 15s)");
  } else {
    config.streaming.sse_heartbeat = *d;
  }
  config.streaming.sse_resume = sse_resume;
  {
    unsigned n = 0;
    const char* last = sse_resume_attempts.data() + sse_resume_attempts.size();
    const auto [ptr, ec] = std::from_chars(sse_resume_attempts.data(), last, n);
    if (sse_resume_attempts.empty() || ec != std::errc{} || ptr != last || n == 0 ||
        n > kMaxSseResumeAttempts) {
      return usage_error(err, "--sse-resume-attempts", sse_resume_attempts,
                         "is not a number from 1 to " + std::to_string(kMaxSseResumeAttempts));
    }
    if (!sse_resume && app.count("--sse-resume-attempts") > 0) {
      return usage_error(err, "--sse-resume-attempts", sse_resume_attempts,
                         "needs --sse-resume (resume is off)");
    }
    config.streaming.sse_resume_attempts = n;
  }
  if (app.count("--compress") > 0) {
    std::string problem;
    auto codings = parse_coding_list(compress, problem);
    if (!codings) return usage_error(err, "--compress", compress, problem);
    config.streaming.compress = std::move(*codings);
  }

  {
    unsigned n = 0;
    const char* last = threads.data() + threads.size();
    const auto [ptr, ec] = std::from_chars(threads.data(), last, n);
    if (threads.empty() || ec != std::errc{} || ptr != last || n == 0 || n > kMaxThreads) {
      return usage_error(err, "--threads", threads,
                         "is not a thread count (use 1 to " + std::to_string(kMaxThreads) + ")");
    }
    config.server.threads = n;
  }

  struct Timeout {
    std::string_view flag;
    const std::string& text;
    nanoseconds& out;
  };
  for (const Timeout& t : {
           Timeout{"--connect-timeout", connect_timeout, config.transport.connect_timeout},
           Timeout{"--response-header-timeout", response_header_timeout,
                   config.transport.response_header_timeout},
           Timeout{"--upstream-idle-timeout", upstream_idle_timeout,
                   config.transport.idle_read_timeout},
           Timeout{"--header-timeout", header_timeout, config.server.header_timeout},
           Timeout{"--idle-timeout", idle_timeout, config.server.idle_timeout},
           Timeout{"--write-timeout", write_timeout, config.server.write_timeout},
           Timeout{"--tunnel-idle-timeout", tunnel_idle_timeout,
                   config.transport.tunnel_idle_timeout},
       }) {
    if (const auto status = parse_timeout(err, t.flag, t.text, t.out)) return *status;
  }

  // Sizes and counts: plain decimal numbers within [min, max].
  struct Limit {
    std::string_view flag;
    const std::string& text;
    std::uint64_t min;
    std::uint64_t max;
    std::uint64_t value = 0;
  };
  constexpr std::uint64_t k32 = std::numeric_limits<std::uint32_t>::max();
  Limit limits[] = {
      {"--max-header-bytes", max_header_bytes, 1024, 64u << 20},
      {"--max-uri-bytes", max_uri_bytes, 16, k32},
      {"--max-header-count", max_header_count, 1, k32},
      {"--max-body-bytes", max_body_bytes, 0, std::numeric_limits<std::int64_t>::max()},
      {"--max-response-header-bytes", max_response_header_bytes, 1024, 64u << 20},
      {"--max-idle-upstream", max_idle_upstream, 0, 65536},
      {"--h2-max-concurrent-streams", h2_max_streams, 1, 65536},
      {"--h2-stream-window", h2_stream_window, 1024, kMaxH2Window},
      {"--h2-connection-window", h2_connection_window, 0, kMaxH2Window},
  };
  for (Limit& l : limits) {
    const char* last = l.text.data() + l.text.size();
    const auto [ptr, ec] = std::from_chars(l.text.data(), last, l.value);
    if (l.text.empty() || ec != std::errc{} || ptr != last || l.value < l.min || l.value > l.max) {
      return usage_error(
          err, l.flag, l.text,
          "is not a number from " + std::to_string(l.min) + " to " + std::to_string(l.max));
    }
  }
  config.server.max_request_header_bytes = static_cast<std::uint32_t>(limits[0].value);
  config.server.max_uri_bytes = static_cast<std::uint32_t>(limits[1].value);
  config.server.max_header_count = static_cast<std::uint32_t>(limits[2].value);
  config.server.max_body_bytes = limits[3].value;
  config.transport.max_response_header_bytes = static_cast<std::uint32_t>(limits[4].value);
  config.transport.max_idle_connections = static_cast<std::size_t>(limits[5].value);
  config.server.h2_max_concurrent_streams = static_cast<std::uint32_t>(limits[6].value);
  config.server.h2_stream_window = static_cast<std::uint32_t>(limits[7].value);
  config.server.h2_connection_window = static_cast<std::uint32_t>(limits[8].value);
  if (const auto why = check_h2_windows(config.server)) {
    return usage_error(err, "--h2-connection-window", h2_connection_window, *why);
  }

  // TLS last: the files are read only once every other flag is known to be good.
  if (tls_certs.size() != tls_keys.size()) {
    err << "sluice: --tls-cert and --tls-key: each certificate needs its key (got "
        << tls_certs.size() << " --tls-cert and " << tls_keys.size() << " --tls-key)\n";
    return kUsageError;
  }
  if (!tls_certs.empty()) {
    std::vector<CertificateFiles> pairs;
    for (std::size_t i = 0; i < tls_certs.size(); ++i)
      pairs.push_back({tls_certs[i], tls_keys[i]});
    try {
      config.server.tls = ServerTls::load(std::move(pairs));
    } catch (const TlsConfigError& e) {
      err << "sluice: --tls-cert/--tls-key: " << e.what() << "\n";
      return kUsageError;
    }
  }
  if (app.count("--upstream-ca") > 0) {
    try {
      UpstreamTlsOptions upstream_tls;
      upstream_tls.ca_file = upstream_ca;
      config.transport.tls = UpstreamTls::load(std::move(upstream_tls));
    } catch (const TlsConfigError& e) {
      err << "sluice: --upstream-ca: " << e.what() << "\n";
      return kUsageError;
    }
  }

  if (access_log == "text" || access_log == "on") {
    config.server.access_log = AccessLog::text;
  } else if (access_log == "json") {
    config.server.access_log = AccessLog::json;
  } else if (access_log == "off") {
    config.server.access_log = AccessLog::off;
  } else {
    return usage_error(err, "--access-log", access_log, "is not off, text or json");
  }
  if (upstream_protocol == "auto") {
    config.upstream_protocol = UpstreamProtocol::automatic;
  } else if (upstream_protocol == "h1") {
    config.upstream_protocol = UpstreamProtocol::h1;
  } else if (upstream_protocol == "h2") {
    config.upstream_protocol = UpstreamProtocol::h2;
  } else {
    return usage_error(err, "--upstream-protocol", upstream_protocol, "is not auto, h1 or h2");
  }
  return config;
}

}  // namespace sluice::app
