#include "support/memory_stream.hpp"

#include <algorithm>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>
#include <cstdint>
#include <cstring>
#include <limits>
#include <list>
#include <set>

namespace sluice::test {

namespace asio = boost::asio;
using boost::system::error_code;

// Both ends' state. ends[i] is end i's: what it has to read (written by end 1 - i), its flags,
// and its pending operations. Every operation is tried against this state at once; a pending one
// is tried again after each change (settle), so a write by one end completes a read of the other.
struct MemoryStream::Shared : std::enable_shared_from_this<Shared> {
  enum class Kind { read_some, write_some, wait_read, wait_write, wait_peer };
  // Built with its handler: Boost 1.81's any_completion_handler can be move-constructed but not
  // move-assigned (its operator= copies from an lvalue, which recurses without end).
  struct Op {
    Op(Kind k, ReadHandler h) : kind(k), read_handler(std::move(h)) {}
    Op(Kind k, WaitHandler h) : kind(k), wait_handler(std::move(h)) {}
    std::uint64_t id = 0;
    Kind kind;
    asio::mutable_buffer into;                 // read_some
    std::span<const asio::const_buffer> data;  // write_some (the caller keeps it valid)
    ReadHandler read_handler;                  // read_some, write_some
    WaitHandler wait_handler;                  // the waits
  };
  struct End {
    std::string inbox;  // written by the peer, not read yet
    std::size_t inbox_capacity = std::numeric_limits<std::size_t>::max();
    bool open = true;
    bool write_shut = false;   // shutdown_write: nothing more from this end
    bool read_shut = false;    // shutdown_both: this end reads eof
    bool peer_closed = false;  // the peer shut its write side or closed: eof after the inbox
    bool peer_reset = false;   // the peer reset: every read and write fails
    std::list<Op> ops;
  };

  explicit Shared(asio::any_io_executor ex);
  ~Shared();

  bool readable(int s) const {
    const End& me = ends[s];
    return !me.inbox.empty() || me.peer_closed || me.peer_reset || me.read_shut;
  }
  bool writable(int s) const {
    const End& me = ends[s];
    const End& peer = ends[1 - s];
    return me.write_shut || me.peer_reset || !peer.open || peer.read_shut ||
           peer.inbox.size() < peer.inbox_capacity;
  }

  std::size_t read(int s, asio::mutable_buffer into, error_code& ec, bool consume) {
    End& me = ends[s];
    ec = {};
    if (!me.open) {
      ec = asio::error::bad_descriptor;
    } else if (me.peer_reset) {
      ec = asio::error::connection_reset;
    } else if (into.size() == 0) {
      return 0;  // as a socket: an empty read completes at once
    } else if (!me.inbox.empty()) {
      const std::size_t n = std::min(into.size(), me.inbox.size());
      std::memcpy(into.data(), me.inbox.data(), n);
      if (consume) me.inbox.erase(0, n);
      return n;
    } else if (me.peer_closed || me.read_shut) {
      ec = asio::error::eof;
    } else {
      ec = asio::error::would_block;
    }
    return 0;
  }

  std::size_t write(int s, std::span<const asio::const_buffer> data, error_code& ec) {
    End& me = ends[s];
    End& peer = ends[1 - s];
    ec = {};
    if (!me.open) {
      ec = asio::error::bad_descriptor;
    } else if (me.peer_reset) {
      ec = asio::error::connection_reset;
    } else if (me.write_shut || !peer.open || peer.read_shut) {
      ec = asio::error::broken_pipe;
    } else if (asio::buffer_size(data) == 0) {
      return 0;
    } else if (peer.inbox.size() >= peer.inbox_capacity) {
      ec = asio::error::would_block;
    } else {
      std::size_t room = peer.inbox_capacity - peer.inbox.size();
      std::size_t n = 0;
      for (const auto& b : data) {
        const std::size_t take = std::min(room, b.size());
        peer.inbox.append(static_cast<const char*>(b.data()), take);
        room -= take;
        n += take;
      }
      return n;
    }
    return 0;
  }

  // Performs `op` if it would not block now: true with its results.
  bool try_complete(int s, Op& op, error_code& ec, std::size_t& n) {
    switch (op.kind) {
      case Kind::read_some:
        if (!readable(s) && op.into.size() > 0) return false;
        n = read(s, op.into, ec, /*consume=*/true);
        return true;
      case Kind::write_some:
        if (!writable(s) && asio::buffer_size(op.data) > 0) return false;
        n = write(s, op.data, ec);
        return true;
      case Kind::wait_read: return readable(s);
      case Kind::wait_write: return writable(s);
      case Kind::wait_peer: {
        // As TcpStream's one-byte MSG_PEEK: no error for a byte, else eof or the reset.
        if (!readable(s)) return false;
        char byte;
        read(s, asio::buffer(&byte, 1), ec, /*consume=*/false);
        return true;
      }
    }
    return false;
  }

  // Hands the results to the handler, through its executor (never inline): posted to the
  // stream's, then run on the handler's associated one, as Asio's own operations do. `clear_slot`
  // is false when called from the handler's own cancellation slot, which must not destroy itself.
  void complete(Op op, error_code ec, std::size_t n, bool clear_slot = true) {
    if (op.read_handler) {
      auto slot = asio::get_associated_cancellation_slot(op.read_handler);
      if (clear_slot && slot.is_connected()) slot.clear();
      auto ex = asio::get_associated_executor(op.read_handler, executor);
      auto run = [h = std::move(op.read_handler), ec, n]() mutable { std::move(h)(ec, n); };
      asio::post(executor, asio::bind_executor(ex, std::move(run)));
    } else {
      auto slot = asio::get_associated_cancellation_slot(op.wait_handler);
      if (clear_slot && slot.is_connected()) slot.clear();
      auto ex = asio::get_associated_executor(op.wait_handler, executor);
      auto run = [h = std::move(op.wait_handler), ec]() mutable { std::move(h)(ec); };
      asio::post(executor, asio::bind_executor(ex, std::move(run)));
    }
  }

  // Completes every pending operation that can: one completion can enable another (a read makes
  // room for the peer's write), so it goes round until a round completes none. Bounded by the
  // number of pending operations.
  void settle() {
    for (bool progress = true; progress;) {
      progress = false;
      for (int s : {0, 1}) {
        auto& ops = ends[s].ops;
        for (auto it = ops.begin(); it != ops.end();) {
          error_code ec;
          std::size_t n = 0;
          if (!try_complete(s, *it, ec, n)) {
            ++it;
            continue;
          }
          Op op = std::move(*it);
          it = ops.erase(it);
          complete(std::move(op), ec, n);
          progress = true;
        }
      }
    }
  }

  void start(int s, Op op) {
    if (!ends[s].open) {
      complete(std::move(op), asio::error::bad_descriptor, 0);
      return;
    }
    op.id = next_id++;
    auto slot = op.read_handler ? asio::get_associated_cancellation_slot(op.read_handler)
                                : asio::get_associated_cancellation_slot(op.wait_handler);
    if (slot.is_connected()) {
      // Per-operation cancellation (a race's loser): the operation completes aborted, having
      // done nothing. Weak: the slot may be emitted after both ends are gone.
      slot.assign([weak = weak_from_this(), s, id = op.id](asio::cancellation_type_t type) {
        if (type == asio::cancellation_type::none) return;
        if (auto self = weak.lock()) self->abort_one(s, id);
      });
    }
    ends[s].ops.push_back(std::move(op));
    settle();
  }

  void abort_one(int s, std::uint64_t id) {
    auto& ops = ends[s].ops;
    const auto it =
        std::find_if(ops.begin(), ops.end(), [id](const Op& op) { return op.id == id; });
    if (it == ops.end()) return;  // already completed
    Op op = std::move(*it);
    ops.erase(it);
    complete(std::move(op), asio::error::operation_aborted, 0, /*clear_slot=*/false);
  }

  void abort_all(int s) {
    std::list<Op> ops = std::move(ends[s].ops);
    ends[s].ops.clear();
    for (auto& op : ops) {
      complete(std::move(op), asio::error::operation_aborted, 0);
    }
  }

  void close(int s, bool reset) {
    End& me = ends[s];
    if (!me.open) return;
    me.open = false;
    me.inbox.clear();
    if (reset) {
      ends[1 - s].peer_reset = true;
      ends[1 - s].inbox.clear();  // an RST discards what the peer had not read
    } else {
      ends[1 - s].peer_closed = true;
    }
    abort_all(s);
    settle();
  }

  asio::any_io_executor executor;
  End ends[2];
  std::uint64_t next_id = 1;
  class Registry;
  // The registry's list of live pairs, weak: services are destroyed in turn, and one destroyed
  // after the registry (a connection pool) may still hold a stream.
  std::weak_ptr<std::set<Shared*>> live;
};

// The io_context's list of live MemoryStream pairs. A pending operation is held by its pair, not
// by the io_context, so a coroutine suspended on one (a test that failed half-way) would own the
// end that owns it: a cycle that outlives the io_context. As for a socket's pending operation,
// the io_context's shutdown destroys them (unrun), which ends those coroutines.
class MemoryStream::Shared::Registry : public asio::execution_context::service {
 public:
  using key_type = Registry;
  static inline asio::execution_context::id id;
  explicit Registry(asio::execution_context& ctx) : asio::execution_context::service(ctx) {}
  const std::shared_ptr<std::set<Shared*>> live = std::make_shared<std::set<Shared*>>();

 private:
  void shutdown() override {
    // Collected first: destroying a handler may destroy a stream, and with it a Shared.
    std::list<Op> doomed;
    for (Shared* shared : *live) {
      for (auto& end : shared->ends) {
        doomed.splice(doomed.end(), end.ops);
      }
    }
    doomed.clear();
  }
};

MemoryStream::Shared::Shared(asio::any_io_executor ex) : executor(std::move(ex)) {
  auto& registry = asio::use_service<Registry>(asio::query(executor, asio::execution::context));
  registry.live->insert(this);
  live = registry.live;
}

MemoryStream::Shared::~Shared() {
  if (auto set = live.lock()) set->erase(this);
}

// ---- MemoryStream --------------------------------------------------------------------------

std::pair<std::unique_ptr<MemoryStream>, std::unique_ptr<MemoryStream>> MemoryStream::pair(
    asio::any_io_executor executor) {
  auto shared = std::make_shared<Shared>(std::move(executor));
  return {std::unique_ptr<MemoryStream>(new MemoryStream(shared, 0)),
          std::unique_ptr<MemoryStream>(new MemoryStream(shared, 1))};
}

MemoryStream::MemoryStream(std::shared_ptr<Shared> shared, int side)
    : shared_(std::move(shared)), side_(side) {}

MemoryStream::~MemoryStream() { close(); }

asio::any_io_executor MemoryStream::get_executor() { return shared_->executor; }

std::size_t MemoryStream::read_some(asio::mutable_buffer into, error_code& ec) {
  const std::size_t n = shared_->read(side_, into, ec, /*consume=*/true);
  shared_->settle();  // room for the peer's pending write
  return n;
}

std::size_t MemoryStream::write_some(std::span<const asio::const_buffer> data, error_code& ec) {
  const std::size_t n = shared_->write(side_, data, ec);
  shared_->settle();  // bytes for the peer's pending read
  return n;
}

std::size_t MemoryStream::peek(asio::mutable_buffer into, error_code& ec) {
  return shared_->read(side_, into, ec, /*consume=*/false);
}

void MemoryStream::shutdown_write() {
  auto& me = shared_->ends[side_];
  if (!me.open) return;
  me.write_shut = true;
  shared_->ends[1 - side_].peer_closed = true;
  shared_->settle();
}

void MemoryStream::shutdown_both() {
  auto& me = shared_->ends[side_];
  if (!me.open) return;
  me.read_shut = true;
  shutdown_write();  // settles: this end's waits wake too
}

void MemoryStream::cancel() { shared_->abort_all(side_); }

void MemoryStream::close() { shared_->close(side_, /*reset=*/false); }

bool MemoryStream::is_open() const { return shared_->ends[side_].open; }

void MemoryStream::reset() { shared_->close(side_, /*reset=*/true); }

void MemoryStream::set_send_capacity(std::size_t bytes) {
  shared_->ends[1 - side_].inbox_capacity = bytes;
  shared_->settle();
}

std::size_t MemoryStream::available() const { return shared_->ends[side_].inbox.size(); }

std::string MemoryStream::read_available() {
  std::string bytes = std::move(shared_->ends[side_].inbox);
  shared_->ends[side_].inbox.clear();
  shared_->settle();
  return bytes;
}

bool MemoryStream::send(std::string_view bytes) {
  error_code ec;
  const asio::const_buffer buf = asio::buffer(bytes);
  const std::size_t n = write_some(std::span<const asio::const_buffer>(&buf, 1), ec);
  return !ec && n == bytes.size();
}

std::size_t MemoryStream::pending_operations() const { return shared_->ends[side_].ops.size(); }

void MemoryStream::start_read_some(asio::mutable_buffer into, ReadHandler handler) {
  Shared::Op op(Shared::Kind::read_some, std::move(handler));
  op.into = into;
  shared_->start(side_, std::move(op));
}

void MemoryStream::start_write_some(std::span<const asio::const_buffer> data, ReadHandler handler) {
  Shared::Op op(Shared::Kind::write_some, std::move(handler));
  op.data = data;
  shared_->start(side_, std::move(op));
}

void MemoryStream::start_wait(Ready what, WaitHandler handler) {
  const auto kind = what == Ready::read ? Shared::Kind::wait_read : Shared::Kind::wait_write;
  shared_->start(side_, Shared::Op(kind, std::move(handler)));
}

void MemoryStream::start_wait_peer(WaitHandler handler) {
  shared_->start(side_, Shared::Op(Shared::Kind::wait_peer, std::move(handler)));
}

}  // namespace sluice::test
