// HTTP/1.1 server: one io_context run by N threads, a strand per connection (no strand when N == 1:
// a single thread already serialises everything, and a strand costs one extra queue hop per I/O
// completion). Each connection is a C++20 coroutine; expected I/O errors are values (as_tuple).
//
// Deadlines: each connection has one "watchdog" timer and a deadline time point. Moving the deadline
// later (the common case: request after request) only stores a time point; the timer notices when it
// fires and re-arms. Only moving it earlier re-arms the timer at once. So the hot path does no timer
// queue operation per request. Responses are written with a non-blocking write first; only a write
// that would block arms the write deadline and suspends.
#include "common/http_server.h"

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
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cassert>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <latch>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace stampede::http {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ---- request / response helpers ---------------------------------------------------------------------
namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Calls f(name, raw_value) for each "a=b" pair of a query string; returns true to stop.
template <class F>
void for_each_param(std::string_view query, F&& f) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (f(name, value)) return;
  }
}

bool status_has_no_body(int status) noexcept { return status < 200 || status == 204 || status == 304; }

void append_number(std::string& out, uint64_t n) {
  char buf[24];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

}  // namespace

std::string_view request::path() const noexcept {
  const std::string_view t = target;
  return t.substr(0, t.find('?'));
}

std::string_view request::query() const noexcept {
  const std::string_view t = target;
  const size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string request::query_param(std::string_view name) const {
  std::string result;
  for_each_param(query(), [&](std::string_view n, std::string_view v) {
    if (percent_decode(n) != name) return false;
    result = percent_decode(v);
    return true;
  });
  return result;
}

bool request::has_query_param(std::string_view name) const {
  bool found = false;
  for_each_param(query(),
                 [&](std::string_view n, std::string_view) { return found = percent_decode(n) == name; });
  return found;
}

std::string_view request::cookie(std::string_view name) const noexcept {
  std::string_view rest = headers.find("cookie");
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view pair = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
  }
  return {};
}

response response::json(int status, std::string body) {
  response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

response response::text(int status, std::string body) {
  response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

response response::error(int status, std::string_view error, std::string_view detail) {
  boost::json::object o;
  o["error"] = boost::json::string_view(error.data(), error.size());
  o["detail"] = boost::json::string_view(detail.data(), detail.size());
  return json(status, boost::json::serialize(o));
}

// ---- server internals -------------------------------------------------------------------------------
namespace {
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

}  // namespace

struct server::impl : server_state {
  using server_state::server_state;
};

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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
