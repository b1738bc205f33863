// Exchange: what every protocol's exchange shares (see include/sluice/exchange.hpp).
#include "sluice/exchange.hpp"

#include <atomic>

namespace sluice {

namespace {
std::atomic<ResponseId> next_response_id{1};
}  // namespace

Exchange::Exchange(Request&& request)
    : request_(std::move(request)), id_(next_response_id.fetch_add(1)) {}

Exchange::~Exchange() = default;

boost::asio::awaitable<std::error_code> Exchange::respond(SimpleResponse res) {
  Response head;
  head.status = res.status;
  head.header = std::move(res.header);
  head.content_length = static_cast<std::int64_t>(res.body.size());
  begin_response(head);
  const auto ec = co_await write_body(boost::asio::buffer(res.body));
  if (ec) co_return ec;
  co_return co_await end_response();
}

void Exchange::notify_client_write(std::size_t bytes) const {
  ++client_writes_;
  if (!observer_ || !observer_->client_write) return;
  try {
    observer_->client_write(id_, bytes);
  } catch (...) {  // events.hpp: an observer's exception is swallowed, never unwinds a response
  }
}

}  // namespace sluice
