// Server: workers, acceptors, and the stop sequence (drain -> grace -> cut -> join).
#include "sluice/server.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/nothrow.hpp"
#include "common/worker_slot.hpp"
#include "net/tcp_stream.hpp"
#include "server/session.hpp"

namespace sluice {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// One io_context, one thread, one acceptor: nothing here is touched by another worker.
// Member order matters: sessions and env outlive the io_context (frames destroyed with it
// unregister through them), and the acceptor dies before the io_context it uses.
struct Worker {
  std::list<detail::SessionIo*> sessions;
  std::optional<detail::IdleSessions> idle;
  std::optional<detail::SessionEnv> env;
  asio::io_context ctx{1};
  std::optional<tcp::acceptor> acceptor;
  // max_connections: the accept loop waits on it while the listener is full; a session that
  // ends cancels it (posted to this worker), and so does the drain.
  std::optional<asio::steady_timer> slot_wait;
  std::thread thread;
  std::atomic<std::uint64_t>* accepted = nullptr;  // this worker's count, in Impl
  // Destroyed first (members go in reverse order): the idle timer must go before the context.
  struct IdleTimerCloser {
    std::optional<detail::IdleSessions>& idle;
    ~IdleTimerCloser() {
      if (idle) idle->close();
    }
  } idle_timer_closer{idle};
};

}  // namespace

struct Server::Impl {
  ServerOptions options;
  Handler handler;
  std::vector<std::unique_ptr<Worker>> workers;
  tcp::endpoint bound;
  std::atomic<std::int64_t> live{0};
  // Accepted connections per worker, on cache lines of their own. Kept after stop() (which
  // destroys the workers) so that a scrape may read them at any time after start().
  struct alignas(64) Count {
    std::atomic<std::uint64_t> n{0};
  };
  std::unique_ptr<Count[]> accepted;  // options.threads of them, from start()
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  bool started = false;
  std::atomic<bool> stopped{false};

  void count_session(int delta) {
    const std::int64_t now = live.fetch_add(delta) + delta;
    if (now == 0) {
      std::lock_guard lock(mu);
      cv.notify_all();
    }
    // A full listener got a free place: every worker's accept loop looks again (posted: each
    // timer belongs to its worker's thread).
    const std::int64_t max = options.max_connections;
    if (delta < 0 && max > 0 && now < max && now - delta >= max) {
      for (auto& w : workers) {
        asio::post(w->ctx, [worker = w.get()] {
          if (worker->slot_wait) worker->slot_wait->cancel();
        });
      }
    }
  }

  // max_connections: while the listener is full, new clients wait in the kernel's accept
  // backlog (and time out there, or get refused once it overflows) instead of being accepted.
  asio::awaitable<void> wait_for_slot(Worker& w) {
    const std::int64_t max = options.max_connections;
    while (max > 0 && live.load() >= max && w.acceptor->is_open()) {
      w.slot_wait->expires_at(asio::steady_timer::time_point::max());
      co_await w.slot_wait->async_wait(use_nothrow);
    }
  }

  bool wait_sessions_zero(std::chrono::nanoseconds limit) const {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, limit, [&] { return live.load() == 0; });
  }

  // Connections the kernel has queued are taken up to this many per wake; the rest wait for
  // the next turn of the loop, so a flood of connects cannot starve the worker's sessions.
  static constexpr int kAcceptBatch = 64;

  asio::awaitable<void> accept_loop(Worker& w) {
    asio::steady_timer backoff(w.ctx);
    const std::int64_t max = options.max_connections;
    // accept4() on the listener itself: a new connection is a bare descriptor first, and joins
    // Asio's reactor only when its bytes are there (a silent one never does, IdleSessions).
    boost::system::error_code nb_ec;
    w.acceptor->non_blocking(true, nb_ec);
    for (;;) {
      co_await wait_for_slot(w);
      if (!w.acceptor->is_open()) co_return;
      auto [ec] = co_await w.acceptor->async_wait(tcp::acceptor::wait_read, use_nothrow);
      if (ec == asio::error::operation_aborted || !w.acceptor->is_open()) co_return;
      for (int taken = 0; taken < kAcceptBatch; ++taken) {
        if (max > 0 && live.load() >= max) break;  // wait_for_slot, above
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        const int fd = ::accept4(w.acceptor->native_handle(), reinterpret_cast<sockaddr*>(&peer),
                                 &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
          const int err = errno;
          if (err == EAGAIN || err == EWOULDBLOCK) break;
          // A connection that reset while queued, a signal: the next one.
          if (err == ECONNABORTED || err == EINTR || err == EPROTO) continue;
          // Out of descriptors and the like: log, breathe, go on (the listener must not die).
          write_log_line(options.log, "accept failed: " + std::system_category().message(err));
          backoff.expires_after(std::chrono::milliseconds(50));
          co_await backoff.async_wait(use_nothrow);
          break;
        }
        // Accepted as the server began to stop (the acceptor closed meanwhile): not served.
        if (!w.acceptor->is_open()) {
          ::close(fd);
          co_return;
        }
        serve_accepted(w, fd, peer, peer_len);
      }
    }
  }

  void serve_accepted(Worker& w, int fd, const sockaddr_storage& peer, socklen_t peer_len) {
    w.accepted->fetch_add(1, std::memory_order_relaxed);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tcp::endpoint remote;
    if (peer_len <= remote.capacity()) {
      std::memcpy(remote.data(), &peer, peer_len);
      remote.resize(peer_len);
    }
    // Bytes already there (a request, a ClientHello that came with the connect): the session
    // starts now; else the connection waits parked for them, holding no session. A TLS
    // connection gets its SSL object (kilobytes) only once its ClientHello comes.
    const auto accepted_at = std::chrono::steady_clock::now();
    int waiting = 0;
    if (::ioctl(fd, FIONREAD, &waiting) == 0 && waiting == 0) {
      w.idle->park_fresh(fd, remote, accepted_at);
      return;
    }
    tcp::socket socket(w.ctx);
    boost::system::error_code ec;
    socket.assign(remote.protocol(), fd, ec);
    if (ec) {
      ::close(fd);
      return;
    }
    std::unique_ptr<ByteStream> stream = detail::client_stream(std::move(socket), options);
    if (!stream) return;  // out of memory for the SSL object: the socket closed with it
    detail::SessionStart start;
    start.readable = true;
    start.first_deadline = accepted_at + options.header_timeout;
    detail::spawn_session(std::move(stream), *w.env, remote, start);
  }

  // Runs on each worker's thread: stop accepting, close sessions waiting for a request.
  static void drain(Worker& w) {
    boost::system::error_code ignored;
    if (w.acceptor) w.acceptor->close(ignored);
    if (w.slot_wait) w.slot_wait->cancel();
    if (w.idle) w.idle->close_all();
    for (auto* s : w.sessions) {
      s->draining = true;
      if (s->on_drain) s->on_drain();
      if (s->idle) {
        s->stream.cancel();
        s->stream.shutdown_both();
      }
    }
  }

  // Runs on each worker's thread: cut whatever is still running.
  static void cut(Worker& w) {
    if (w.idle) w.idle->close_all();
    for (auto* s : w.sessions) {
      s->stopping = true;
      // Fired, the signal also wakes waits that start after this moment: a session between
      // two waits cannot miss the stop.
      s->stop_signal.fire();
      s->stream.cancel();
      s->stream.shutdown_both();
    }
  }
};

Server::Server(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  if (impl_->options.threads == 0) impl_->options.threads = 1;
}

Server::~Server() { stop(std::chrono::seconds(0)); }

void Server::start() {
  if (impl_->started) return;
  impl_->started = true;
  auto& opts = impl_->options;
  tcp::endpoint where = opts.listen;
  {
    // SO_REUSEPORT would let a second process join our port silently. Claim the address once
    // without it: a port in use fails here with "Address already in use", and port 0 becomes
    // a real free port that the workers then share.
    asio::io_context probe_ctx;
    tcp::acceptor probe(probe_ctx);
    try {
      probe.open(where.protocol());
      // Lets a restart reuse a port that still has TIME_WAIT connections; on Linux it never
      // lets two sockets listen on one port.
      probe.set_option(tcp::acceptor::reuse_address(true));
      probe.bind(where);
      where = probe.local_endpoint();
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), "cannot listen on " + where.address().to_string() + ":" +
                                            std::to_string(where.port()));
    }
  }
  impl_->accepted = std::make_unique<Impl::Count[]>(opts.threads);
  for (unsigned i = 0; i < opts.threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->accepted = &impl_->accepted[i].n;
    w->idle.emplace(w->ctx.get_executor(), opts.idle_timeout, opts.header_timeout);
    w->env.emplace(detail::SessionEnv{opts, impl_->handler, w->sessions, *w->idle,
                                      [impl = impl_.get()](int d) { impl->count_session(d); }});
    w->idle->attach(*w->env);
    w->acceptor.emplace(w->ctx);
    w->slot_wait.emplace(w->ctx);
    try {
      w->acceptor->open(where.protocol());
      w->acceptor->set_option(tcp::acceptor::reuse_address(true));
      // One acceptor per worker on one port: the kernel spreads connections (SO_REUSEPORT).
      using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
      w->acceptor->set_option(reuse_port(true));
      w->acceptor->bind(where);
      w->acceptor->listen(asio::socket_base::max_listen_connections);
    } catch (const boost::system::system_error& e) {
      throw std::system_error(e.code(), "cannot listen on " + where.address().to_string() + ":" +
                                            std::to_string(where.port()));
    }
    if (i == 0) {
      impl_->bound = w->acceptor->local_endpoint();
      where = impl_->bound;  // port 0 became a real port: the other workers share it
    }
    impl_->workers.push_back(std::move(w));
  }
  for (unsigned i = 0; i < impl_->workers.size(); ++i) {
    Worker* w = impl_->workers[i].get();
    asio::co_spawn(w->ctx, impl_->accept_loop(*w), asio::detached);
    w->thread = std::thread([ctx = &w->ctx, i] {
      detail::set_worker_slot(i);  // this worker's metrics shard
      // splice(2) into a socket whose peer left raises SIGPIPE (it has no MSG_NOSIGNAL, which
      // every send here uses): blocked on the worker thread, the signal stays pending there and
      // the call fails with EPIPE, as a send would.
      sigset_t pipe_signal;
      sigemptyset(&pipe_signal);
      sigaddset(&pipe_signal, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
      ctx->run();
    });
  }
}

tcp::endpoint Server::local_endpoint() const { return impl_->bound; }

std::int64_t Server::live_sessions() const { return impl_->live.load(); }

std::uint64_t Server::accepted_connections() const {
  std::uint64_t n = 0;
  if (!impl_->accepted) return 0;  // not started
  for (unsigned i = 0; i < impl_->options.threads; ++i)
    n += impl_->accepted[i].n.load(std::memory_order_relaxed);
  return n;
}

std::int64_t Server::parked_sessions() const {
  std::lock_guard lock(impl_->mu);  // stop() destroys the workers under it
  std::int64_t parked = 0;
  for (const auto& w : impl_->workers) {
    if (w->idle) parked += w->idle->parked_count();
  }
  return parked;
}

bool Server::wait_for_no_sessions(std::chrono::nanoseconds limit) const {
  return impl_->wait_sessions_zero(limit);
}

void Server::stop(std::chrono::nanoseconds grace) {
  if (!impl_->started || impl_->stopped.exchange(true)) return;
  for (auto& w : impl_->workers)
    asio::post(w->ctx, [w = w.get()] { Impl::drain(*w); });
  if (!impl_->wait_sessions_zero(grace)) {
    for (auto& w : impl_->workers)
      asio::post(w->ctx, [w = w.get()] { Impl::cut(*w); });
    impl_->wait_sessions_zero(std::chrono::seconds(2));
  }
  // Sessions are gone; what remains (pool timers, idle upstream connections) ends with the
  // io_context: stopping it and destroying it closes them.
  for (auto& w : impl_->workers)
    w->ctx.stop();
  for (auto& w : impl_->workers) {
    if (w->thread.joinable()) w->thread.join();
  }
  // Taken out under the lock (parked_sessions() reads the list from other threads), destroyed
  // outside it: frames destroyed with an io_context unregister through count_session, which
  // takes the same lock.
  std::vector<std::unique_ptr<Worker>> gone;
  {
    std::lock_guard lock(impl_->mu);
    gone.swap(impl_->workers);
  }
}

}  // namespace sluice
