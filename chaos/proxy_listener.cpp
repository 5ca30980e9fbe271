#include "chaos/proxy_listener.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdio>
#include <future>

#include "chaos/connection.h"
#include "chaos/endpoints.h"

namespace stampede::chaos {

using namespace std::chrono_literals;

proxy_listener::proxy_listener(std::shared_ptr<proxy_shared> shared, proxy_config config)
    : shared_(std::move(shared)), config_(std::move(config)), strand_(asio::make_strand(*shared_->io)) {
  config_.max_connections = shared_->max_connections.load();
}

std::optional<tcp::endpoint> proxy_listener::listen_endpoint() const {
  if (bound_) return bound_;
  try {
    auto endpoint = resolve(*shared_->io, config_.listen, "listen address").front();
    if (endpoint.port() != 0) return endpoint;
  } catch (const chaos_error&) {
  }
  return std::nullopt;
}

// Opened and bound here, so that errors reach the caller; but closed (deregistered) only on the
// strand: with one io thread the reactor runs without per-descriptor locks, and a socket closed on
// another thread while the io thread handles its events is a data race.
void proxy_listener::retire(std::shared_ptr<tcp::acceptor> acceptor) {
  asio::post(strand_, [acceptor = std::move(acceptor)] {
    boost::system::error_code ignored;
    acceptor->close(ignored);
  });
  shared_->kick();
}

std::shared_ptr<tcp::acceptor> proxy_listener::bind(const tcp::endpoint& ep) {
  auto acceptor = std::make_shared<tcp::acceptor>(strand_);
  boost::system::error_code ec;
  acceptor->open(ep.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(ep, ec);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    retire(std::move(acceptor));
    throw chaos_error(error_kind::io_error, "proxy '" + config_.name + "' cannot listen on " +
                                                config_.listen + ": " + ec.message());
  }
  return acceptor;
}

void proxy_listener::start(const loop_check& loops) {
  if (acceptor_) return;
  // Re-enabled: keep the port chosen the first time.
  const tcp::endpoint ep = bound_ ? *bound_ : resolve(*shared_->io, config_.listen, "listen address").front();
  if (!shared_->options.allow_remote && !ep.address().is_loopback()) {
    throw chaos_error(error_kind::invalid_argument,
                      "listen address '" + config_.listen + "' is not loopback (allow_remote is off)");
  }
  auto refuse = [&](const std::string& why) {
    return chaos_error(error_kind::invalid_argument, "proxy '" + config_.name + "' would loop: " + why);
  };
  if (ep.port() != 0) {  // a known port: refuse a loop before binding anything
    if (auto why = loops(ep)) throw refuse(*why);
  }
  std::vector<std::shared_ptr<tcp::acceptor>> refused;  // held open meanwhile, so the kernel picks others
  for (;;) {
    auto acceptor = bind(ep);
    const tcp::endpoint local = acceptor->local_endpoint();
    std::optional<std::string> why = loops(local);
    if (!why) {
      bound_ = local;
      config_.listen = endpoint_text(local);
      acceptor_ = std::move(acceptor);
      break;
    }
    refused.push_back(std::move(acceptor));
    if (ep.port() != 0 || refused.size() > 8) {
      for (auto& a : refused) retire(std::move(a));
      throw refuse(*why);
    }
  }
  for (auto& a : refused) retire(std::move(a));
  asio::co_spawn(strand_, accept_loop(acceptor_, shared_), report_exception);
  shared_->kick();
  config_.enabled = true;
}

void proxy_listener::stop() {
  config_.enabled = false;
  if (auto acceptor = std::exchange(acceptor_, nullptr)) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    asio::post(strand_, [acceptor, done] {
      boost::system::error_code ignored;
      acceptor->close(ignored);
      done->set_value();
    });
    shared_->kick();
    if (!strand_.running_in_this_thread()) future.wait_for(1s);
  }
  for (auto& c : shared_->live_connections()) c->shut();  // each kicks the loop
}

void proxy_listener::set_listen(std::string listen) {
  config_.listen = std::move(listen);
  bound_.reset();
}

void proxy_listener::set_upstream(std::string upstream, std::vector<tcp::endpoint> endpoints) {
  config_.upstream = std::move(upstream);
  std::lock_guard lock(shared_->mutex);
  shared_->upstream = std::move(endpoints);
}

void proxy_listener::set_max_connections(size_t max) {
  shared_->max_connections.store(max, std::memory_order_relaxed);
  config_.max_connections = max;
}

// True when a new connection must be refused: this proxy is at its cap, or the server at its descriptor
// budget (which keeps descriptors for the API). The first refusal is said on stderr and in the log.
bool proxy_listener::over_capacity(proxy_shared& shared) {
  const size_t cap = shared.max_connections.load(std::memory_order_relaxed);
  const bool proxy_full = shared.active.load(std::memory_order_relaxed) >= cap;
  const uint64_t server_used = shared.server_active->load(std::memory_order_relaxed) +
                               shared.server_pipes->load(std::memory_order_relaxed);  // splice pipes too
  if (!proxy_full && server_used < shared.server_max_connections) {
    return false;
  }
  if (!shared.rejection_reported.exchange(true)) {
    const std::string detail =
        proxy_full ? "max_connections " + std::to_string(cap) + " reached: further connections are closed"
                   : "the server's " + std::to_string(shared.server_max_connections) +
                         " connections (descriptor budget) reached: further connections are closed";
    std::fprintf(stderr,
                 "stampede proxy: proxy '%s': %s (counted in stampede_proxy_connections_rejected_total)\n",
                 shared.name.c_str(), detail.c_str());
    shared.rec->note(shared.name, "rejected", detail);
  }
  return true;
}

asio::awaitable<void> proxy_listener::accept_loop(std::shared_ptr<tcp::acceptor> acceptor,
                                                  std::shared_ptr<proxy_shared> shared) {
  asio::steady_timer backoff(acceptor->get_executor());
  while (acceptor->is_open()) {
    // One io thread already serialises everything: a strand would only add a queue hop per I/O.
    const asio::any_io_executor executor = shared->options.threads > 1
                                               ? asio::any_io_executor(asio::make_strand(*shared->io))
                                               : asio::any_io_executor(shared->io->get_executor());
    auto [ec, socket] = co_await acceptor->async_accept(executor, use_tuple);
    if (!acceptor->is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {  // e.g. EMFILE: back off instead of spinning
      backoff.expires_after(20ms);
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    shared->accepted.fetch_add(1, std::memory_order_relaxed);
    if (over_capacity(*shared)) {
      shared->rejected.fetch_add(1, std::memory_order_relaxed);  // counted before the client sees the close
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    const uint64_t id = shared->next_connection.fetch_add(1, std::memory_order_relaxed) + 1;
    auto c = std::make_shared<connection>(shared, std::move(socket), id);
    shared->active.fetch_add(1, std::memory_order_relaxed);
    shared->server_active->fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(shared->mutex);
      shared->connections.emplace(id, c);
    }
    c->start();
  }
}

}  // namespace stampede::chaos
