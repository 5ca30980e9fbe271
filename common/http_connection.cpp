// HTTP/1.1 server: one io_context run by N threads, a strand per connection (no strand when N == 1:
// a single thread already serialises everything, and a strand costs one extra queue hop per I/O
// completion). Each connection is a C++20 coroutine; expected I/O errors are values (as_tuple).
//
// Deadlines: each connection has one "watchdog" timer and a deadline time point. Moving the deadline
// later (the common case: request after request) only stores a time point; the timer notices when it
// fires and re-arms. Only moving it earlier re-arms the timer at once. So the hot path does no timer
// queue operation per request. Responses are written with a non-blocking write first; only a write
// that would block arms the write deadline and suspends.
#include "common/http_server_internal.h"

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cassert>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace stampede::http {

using detail::connection;
using detail::error_code;
namespace asio = boost::asio;

struct responder::state {
  std::weak_ptr<connection> conn;
  asio::any_io_executor executor;
  uint64_t sequence = 0;
  std::atomic<bool> done{false};
};

void responder::operator()(response r) const {
  if (!state_ || state_->done.exchange(true)) return;
  asio::post(state_->executor, [conn = state_->conn, seq = state_->sequence, r = std::move(r)]() mutable {
    if (auto c = conn.lock()) c->deliver(seq, std::move(r));
  });
}

void responder::after(std::chrono::milliseconds delay, response r) const {
  if (!state_ || state_->done.exchange(true)) return;
  auto timer = std::make_shared<asio::steady_timer>(state_->executor, delay);
  timer->async_wait(
      [timer, conn = state_->conn, seq = state_->sequence, r = std::move(r)](error_code) mutable {
        if (auto c = conn.lock()) c->deliver(seq, std::move(r));
      });
}

namespace detail {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

bool status_has_no_body(int status) noexcept { return status < 200 || status == 204 || status == 304; }

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

void connection::append_date() {
  const std::time_t now = std::time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    date_size_ = std::strftime(date_, sizeof date_, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  out_.append(date_, date_size_);
}

// The whole response goes into out_ by hand: one buffer, one write (pipelined responses coalesce).
void connection::serialize(const response& r, bool keep_alive) {
  const bool head = request_.method == "HEAD";
  const bool no_body = status_has_no_body(r.status);
  const int status = (r.status >= 100 && r.status <= 999) ? r.status : 500;
  out_.append("HTTP/1.1 ");
  append_number(out_, static_cast<uint64_t>(status));
  out_.push_back(' ');
  out_.append(reason_phrase(status));
  out_.append("\r\n");
  append_date();
  const bool chunked = !r.chunks.empty() && !no_body;
  if (!no_body) {
    if (!r.content_type.empty()) {
      out_.append("Content-Type: ");
      out_.append(r.content_type);
      out_.append("\r\n");
    }
    if (chunked) {
      out_.append("Transfer-Encoding: chunked\r\n");
    } else {
      out_.append("Content-Length: ");
      append_number(out_, r.body.size());
      out_.append("\r\n");
    }
  }
  if (!keep_alive) {
    out_.append("Connection: close\r\n");
  } else if (request_.version == 10) {
    out_.append("Connection: keep-alive\r\n");
  }
  for (const auto& [name, value] : r.headers) {
    out_.append(name);
    out_.append(": ");
    out_.append(value);
    out_.append("\r\n");
  }
  out_.append("\r\n");
  if (head || no_body) return;
  if (!chunked) {
    out_.append(r.body);
    return;
  }
  char hex[20];
  for (const std::string& chunk : r.chunks) {
    if (chunk.empty()) continue;
    const auto [end, ec] = std::to_chars(hex, hex + sizeof hex, chunk.size(), 16);
    out_.append(hex, end);
    out_.append("\r\n");
    out_.append(chunk);
    out_.append("\r\n");
  }
  out_.append("0\r\n\r\n");
}

void connection::fill_request() {
  request_.method.assign(parser_.method());
  request_.target.assign(parser_.target());
  request_.version = parser_.version();
  request_.keep_alive = parser_.keep_alive();
  // Swap instead of copy: the parser clears (and reuses) what it gets back on reset().
  std::swap(request_.headers.raw, parser_.headers().raw);
  std::swap(request_.body, parser_.body());
}

// Writes out_: a non-blocking attempt first (usually enough), then an async write under write_timeout.
asio::awaitable<bool> connection::flush() {
  if (out_.empty()) co_return true;
  error_code ec;
  size_t written = socket_.write_some(asio::buffer(out_), ec);
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    out_.clear();
    co_return false;
  }
  if (written < out_.size()) {
    set_deadline(steady::now() + server_.options.write_timeout);
    auto [wec, n] = co_await asio::async_write(
        socket_, asio::buffer(out_.data() + written, out_.size() - written), use_tuple);
    if (wec) {
      out_.clear();
      co_return false;
    }
  }
  out_.clear();
  co_return true;
}

// After an error response: stop sending, drain what the client still sends for a short while, close.
// Closing with unread bytes would make the kernel send RST, which can destroy the error response.
asio::awaitable<void> connection::linger_close() {
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  set_deadline(steady::now() + std::min<std::chrono::milliseconds>(server_.options.header_timeout,
                                                                   std::chrono::milliseconds{1000}));
  size_t drained = 0;
  while (!closed_ && drained < 1024 * 1024) {
    auto [rec, n] = co_await socket_.async_read_some(asio::buffer(in_), use_tuple);
    if (rec) break;
    drained += n;
  }
  close();
}

// Runs the handler for the parsed request and appends the response. Returns false to close.
asio::awaitable<bool> connection::handle_request() {
  fill_request();
  server_.requests.fetch_add(1, std::memory_order_relaxed);
  response r;
  if (server_.sync && !(server_.choose && server_.choose(request_))) {
    try {
      r = server_.sync(request_);
    } catch (const std::exception& e) {
      r = response::error(500, "internal_error", e.what());
    }
  } else {
    ++sequence_;
    reply_.reset();
    auto st = std::make_shared<responder::state>();
    st->conn = weak_from_this();
    st->executor = socket_.get_executor();
    st->sequence = sequence_;
    try {
      server_.async(request_, responder(std::move(st)));
    } catch (const std::exception& e) {
      reply_ = response::error(500, "internal_error", e.what());
    }
    if (!reply_) set_deadline(steady::now() + server_.options.handler_timeout);
    while (!reply_ && !closed_) {
      wake_.expires_at(steady::time_point::max());
      co_await wake_.async_wait(use_tuple);
    }
    if (!reply_) co_return false;
    r = std::move(*reply_);
    reply_.reset();
  }
  const bool keep_alive =
      request_.keep_alive && !r.close && !server_.stopping.load(std::memory_order_relaxed);
  serialize(r, keep_alive);
  co_return keep_alive;
}

asio::awaitable<void> connection::run() {
  error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) request_.remote_address = remote.address().to_string();

  // A fresh connection must send its first request within header_timeout (nginx does the same).
  set_deadline(steady::now() + server_.options.header_timeout);
  size_t pipelined = 0;
  bool message_started = false;  // the parser holds part of a request
  bool body_started = false;     // ... and its complete header

  while (!closed_) {
    idle_ = !message_started;
    if (idle_ && server_.stopping.load(std::memory_order_relaxed)) break;
    auto [rec, n] = co_await socket_.async_read_some(asio::buffer(in_), use_tuple);
    idle_ = false;
    if (rec || closed_) break;  // EOF, reset, timeout (closed by the watchdog) or stop

    size_t offset = 0;
    bool keep_going = true;
    while (offset < n && keep_going) {
      offset += parser_.feed(std::span<const char>(in_.data() + offset, n - offset));
      if (parser_.error() != parse_error::none) {
        server_.bad_requests.fetch_add(1, std::memory_order_relaxed);
        const parse_error e = parser_.error();
        const int status = e == parse_error::header_too_large ? 431
                           : e == parse_error::body_too_large ? 413
                                                              : 400;
        request_.method.clear();
        request_.version = 11;
        serialize(response::error(status, to_string(e), "the request could not be parsed"), false);
        if (co_await flush()) co_await linger_close();
        close();
        co_return;
      }
      if (!parser_.complete()) break;
      keep_going = co_await handle_request();
      parser_.reset();
      message_started = body_started = false;
      if (++pipelined >= server_.options.max_pipelined || !keep_going) {
        if (!co_await flush()) keep_going = false;
        pipelined = 0;
      }
    }
    if (!keep_going) break;
    if (!co_await flush()) break;
    pipelined = 0;

    if (parser_.wire_bytes() > 0) {
      // Part of a request is here: the header (then the body) must be complete within its timeout,
      // counted from when it started, so trickling bytes does not extend it (slowloris).
      if (!message_started) {
        message_started = true;
        set_deadline(steady::now() + server_.options.header_timeout);
      }
      if (parser_.header_complete() && !body_started) {
        body_started = true;
        set_deadline(steady::now() + server_.options.body_timeout);
      }
    } else {
      set_deadline(steady::now() + server_.options.idle_timeout);
    }
  }
  // Normal close after the last response: flush happened above; half-close politely.
  if (!closed_) {
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    close();
  }
}

void server_state::add(const std::shared_ptr<connection>& c) {
  std::lock_guard lock(mutex);
  c->registry_entry = connections.insert(connections.end(), c);
  active.fetch_add(1, std::memory_order_relaxed);
}

void server_state::remove(std::list<std::weak_ptr<connection>>::iterator it) {
  {
    std::lock_guard lock(mutex);
    connections.erase(it);
    active.fetch_sub(1, std::memory_order_relaxed);
  }
  changed.notify_all();
}

asio::awaitable<void> server_state::accept_loop() {
  asio::steady_timer backoff(acceptor_executor);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(connection_executor(), use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE/ENFILE/ENOBUFS: the backlog keeps the clients; try again shortly instead of spinning.
      backoff.expires_after(std::chrono::milliseconds{20});
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    if (stopping.load() || active.load(std::memory_order_relaxed) >= options.max_connections) {
      if (!stopping.load()) rejected.fetch_add(1, std::memory_order_relaxed);
      error_code ignored;
      socket.close(ignored);
      continue;
    }
    accepted.fetch_add(1, std::memory_order_relaxed);
    auto conn = std::make_shared<connection>(*this, std::move(socket));
    add(conn);
    auto executor = conn->executor();
    asio::co_spawn(
        executor, [conn]() { return conn->run(); },
        [this, conn](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              std::fprintf(stderr, "stampede http::server: connection failed: %s\n", ex.what());
            }
          }
          conn->close();
          remove(conn->registry_entry);
        });
  }
}

}  // namespace detail

}  // namespace stampede::http
