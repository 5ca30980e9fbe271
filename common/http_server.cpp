// HTTP/1.1 server: its threads, start, stop (with a grace period for requests in flight), stats and
// pause. The connections are in http_connection.cpp.
#include "common/http_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <latch>
#include <stdexcept>
#include <system_error>

#include "common/http_server_internal.h"

namespace stampede::http {

using detail::connection;
using detail::server_state;
using steady = std::chrono::steady_clock;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

struct server::impl : server_state {
  using server_state::server_state;
};

// ---- server ------------------------------------------------------------------------------------------
server::server(server_options options, handler h)
    : impl_(std::make_unique<impl>(std::move(options), std::move(h), nullptr)) {
  if (!impl_->sync) throw std::invalid_argument("http::server: empty handler");
}

server::server(server_options options, async_handler h)
    : impl_(std::make_unique<impl>(std::move(options), nullptr, std::move(h))) {
  if (!impl_->async) throw std::invalid_argument("http::server: empty handler");
}

server::server(server_options options, handler sync, async_handler async, handler_choice choose)
    : impl_(std::make_unique<impl>(std::move(options), std::move(sync), std::move(async), std::move(choose))) {
  if (!impl_->sync || !impl_->async || !impl_->choose) throw std::invalid_argument("http::server: empty handler");
}

server::~server() { stop(); }

void server::start() {
  std::lock_guard lock(impl_->mutex);
  if (impl_->started) throw std::logic_error("http::server: start() called twice");
  const auto& o = impl_->options;
  error_code ec;
  const auto address = asio::ip::make_address(o.address, ec);
  if (ec) throw std::system_error(ec, "http::server: invalid listen address '" + o.address + "'");
  const tcp::endpoint endpoint(address, o.port);
  auto& acceptor = impl_->acceptor;
  const std::string where = o.address + ":" + std::to_string(o.port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) throw std::system_error(ec, "http::server: cannot open socket for " + where);
  acceptor.bind(endpoint, ec);
  if (ec) throw std::system_error(ec, "http::server: cannot bind " + where);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::system_error(ec, "http::server: cannot listen on " + where);
  impl_->bound_port = acceptor.local_endpoint().port();
  impl_->started = true;

  asio::co_spawn(impl_->acceptor_executor, impl_->accept_loop(), [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);  // a bug, not an I/O error: fail loudly
  });
  for (int i = 0; i < o.threads; ++i) impl_->threads.emplace_back([this] { impl_->ctx.run(); });
}

uint16_t server::port() const noexcept { return impl_->bound_port; }

void server::stop(std::chrono::milliseconds grace) {
  impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopped || s.stopping.exchange(true)) return;
  }
  asio::post(s.acceptor_executor, [&s] {
    error_code ignored;
    s.acceptor.close(ignored);
  });
  s.for_each_connection(
      [](const std::shared_ptr<connection>& c) { asio::post(c->executor(), [c] { c->on_stop(); }); });
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait_for(lock, grace, [&s] { return s.connections.empty(); });
  }
  s.for_each_connection(
      [](const std::shared_ptr<connection>& c) { asio::post(c->executor(), [c] { c->close(); }); });
  {
    std::unique_lock lock(s.mutex);
    s.changed.wait_for(lock, std::chrono::seconds{2}, [&s] { return s.connections.empty(); });
  }
  s.ctx.stop();
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
  {
    std::lock_guard lock(s.mutex);
    s.stopped = true;
  }
  s.changed.notify_all();
}

void server::wait() {
  std::unique_lock lock(impl_->mutex);
  impl_->changed.wait(lock, [this] { return impl_->stopped || !impl_->started; });
}

server_stats server::stats() const noexcept {
  const impl& s = *impl_;
  server_stats st;
  st.connections_accepted = s.accepted.load(std::memory_order_relaxed);
  st.connections_active = s.active.load(std::memory_order_relaxed);
  st.connections_rejected = s.rejected.load(std::memory_order_relaxed);
  st.requests = s.requests.load(std::memory_order_relaxed);
  st.bad_requests = s.bad_requests.load(std::memory_order_relaxed);
  st.timeouts = s.timeouts.load(std::memory_order_relaxed);
  return st;
}

void server::pause(std::chrono::nanoseconds duration) {
  impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (!s.started || s.stopping.load()) return;
  }
  struct pause_state {
    explicit pause_state(int n) : arrived(n + 1) {}
    std::latch arrived;  // every server thread + the caller
    std::once_flag once;
    steady::time_point until;
  };
  const int n = s.options.threads;
  auto st = std::make_shared<pause_state>(n);
  // Each task parks one thread: a thread that holds one cannot pick up another, so n tasks park n threads.
  for (int i = 0; i < n; ++i) {
    asio::post(s.ctx, [st, duration] {
      st->arrived.arrive_and_wait();
      std::call_once(st->once, [&] { st->until = steady::now() + duration; });
      std::this_thread::sleep_until(st->until);
    });
  }
  st->arrived.arrive_and_wait();
}

}  // namespace stampede::http
