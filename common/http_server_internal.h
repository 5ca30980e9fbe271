// The HTTP server's connections and the state they share with the server (common/http_server.cpp):
// internal to common/, not part of its interface. See the file comment of http_connection.cpp.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/http_server.h"

namespace stampede::http::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;

class connection;

// Everything the server shares with its connections (server::impl is private to server).
struct server_state {
  server_state(server_options o, handler h, async_handler a, handler_choice c = nullptr)
      : options(std::move(o)),
        sync(std::move(h)),
        async(std::move(a)),
        choose(std::move(c)),
        ctx(options.threads <= 1 ? 1 : options.threads),
        acceptor_executor(options.threads <= 1 ? asio::any_io_executor(ctx.get_executor())
                                               : asio::any_io_executor(asio::make_strand(ctx))),
        acceptor(acceptor_executor) {
    if (options.threads < 1) throw std::invalid_argument("http::server: threads must be >= 1");
  }

  asio::any_io_executor connection_executor() {
    if (options.threads <= 1) return ctx.get_executor();
    return asio::make_strand(ctx);
  }

  asio::awaitable<void> accept_loop();
  void add(const std::shared_ptr<connection>& c);
  void remove(std::list<std::weak_ptr<connection>>::iterator it);
  template <class F>
  void for_each_connection(F&& f);

  const server_options options;
  const handler sync;
  const async_handler async;
  const handler_choice choose;  // both handlers set: which one a request goes to

  std::atomic<uint64_t> accepted{0}, rejected{0}, requests{0}, bad_requests{0}, timeouts{0};
  std::atomic<size_t> active{0};
  std::atomic<bool> stopping{false};

  std::mutex mutex;  // guards connections, stopped, threads
  std::condition_variable changed;
  std::list<std::weak_ptr<connection>> connections;
  bool started = false;
  bool stopped = false;
  uint16_t bound_port = 0;

  // Destroyed before the registry above: pending handlers may still own connections.
  asio::io_context ctx;
  asio::any_io_executor acceptor_executor;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
};


// One client connection: a coroutine that reads, parses, handles and writes, plus the watchdog timer.
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(server_state& server, tcp::socket socket)
      : server_(server),
        socket_(std::move(socket)),
        watchdog_(socket_.get_executor()),
        wake_(socket_.get_executor()),
        parser_(server.options.limits) {}

  std::list<std::weak_ptr<connection>>::iterator registry_entry;

  asio::awaitable<void> run();

  // Posted by server::stop(): closes a connection that waits for a new request; in-flight ones finish.
  void on_stop() {
    if (idle_) close();
  }
  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    socket_.close(ignored);
    watchdog_.cancel();
    wake_.cancel();
  }

  // Called on this connection's executor by a responder.
  void deliver(uint64_t sequence, response r) {
    if (closed_ || sequence != sequence_ || reply_) return;
    reply_ = std::move(r);
    wake_.cancel();
  }
  asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  // Deadline management (see the file comment).
  void set_deadline(steady::time_point t) {
    deadline_ = t;
    if (!watchdog_armed_) {
      arm_watchdog();
    } else if (t < watchdog_.expiry()) {
      watchdog_.expires_at(t);  // cancels the pending wait; on_watchdog re-arms
    }
  }
  void arm_watchdog() {
    watchdog_armed_ = true;
    watchdog_.expires_at(deadline_);
    watchdog_.async_wait([self = shared_from_this()](error_code ec) { self->on_watchdog(ec); });
  }
  void on_watchdog(error_code) {
    watchdog_armed_ = false;
    if (closed_) return;
    if (deadline_ <= steady::now()) {
      server_.timeouts.fetch_add(1, std::memory_order_relaxed);
      close();
      return;
    }
    arm_watchdog();
  }

  asio::awaitable<bool> flush();
  asio::awaitable<void> linger_close();
  asio::awaitable<bool> handle_request();
  void fill_request();
  void serialize(const response& r, bool keep_alive);
  void append_date();

  server_state& server_;
  tcp::socket socket_;
  asio::steady_timer watchdog_;
  asio::steady_timer wake_;  // an event: cancelled when an async reply arrives
  steady::time_point deadline_ = steady::time_point::max();
  bool watchdog_armed_ = false;
  bool closed_ = false;
  bool idle_ = false;

  request_parser parser_;
  request request_;
  std::string out_;
  std::array<char, 16 * 1024> in_;

  uint64_t sequence_ = 0;  // of the request an async reply belongs to
  std::optional<response> reply_;

  std::time_t date_second_ = 0;
  char date_[40] = {};
  size_t date_size_ = 0;
};

template <class F>
void server_state::for_each_connection(F&& f) {
  std::vector<std::shared_ptr<connection>> live;
  {
    std::lock_guard lock(mutex);
    for (auto& w : connections)
      if (auto c = w.lock()) live.push_back(std::move(c));
  }
  for (auto& c : live) f(c);
}

}  // namespace stampede::http::detail
