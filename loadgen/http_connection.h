// One kept-alive connection of the HTTP engine and its state machine (connect, TLS handshake, write, read,
// deadline, abort), and the per-origin pool it belongs to. Internal to loadgen/http_engine.cpp, its only
// includer: the engine's hot path stays in one translation unit (every method here is inline), but a reader
// finds the pool logic (http_engine.cpp) and one connection's life (this file) apart.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <charconv>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "loadgen/http_engine.h"

namespace stampede::loadgen {

namespace http_detail {

inline int64_t micros(steady::duration d) {
  return std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

// A string's capacity within the object itself: such a string owns no heap buffer worth pooling.
inline const size_t inline_capacity = std::string().capacity();

// send(2) and recv(2) without glibc's cancellation point: its wrappers switch asynchronous cancellation on
// and off around every call in a multi-threaded process (1-1.5% of the generator's CPU in a Lua journey),
// and no thread of the generator is ever cancelled. Same results and errno as send()/recv().
inline ssize_t send_now(int fd, const void* data, size_t size, int flags) noexcept {
  return ::syscall(SYS_sendto, fd, data, size, flags, nullptr, 0);
}
inline ssize_t recv_now(int fd, void* buffer, size_t size, int flags) noexcept {
  return ::syscall(SYS_recvfrom, fd, buffer, size, flags, nullptr, nullptr);
}

}  // namespace http_detail

struct origin_pool {
  parsed_url url;
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  std::string resolve_error;
  std::vector<std::unique_ptr<http_connection>> connections;
  std::vector<http_connection*> idle;
  std::deque<http_job*> waiters;
};

class http_connection {
 public:
  http_connection(http_engine& engine, origin_pool& pool)
      : engine_(engine), pool_(pool), socket_(engine.io_), parser_(engine.options_.limits), buffer_() {}
  ~http_connection() {
    end_wait();  // a set with no waiter lets the io_context run out of work
    if (own_fd_ >= 0) ::close(own_fd_);
  }

  void start(http_job& job) {
    job_ = &job;
    if (!buffer_) buffer_ = engine_.take_buffer();
    timed_out_ = false;
    aborted_ = false;
    cut_off_posted_ = false;
    received_ = 0;
    deadline_ = job.submitted_at + job.timeout;  // the whole exchange, a wait for the connection included
    if (!connected_) {
      connect();
    } else if (job.outcome.acquired_at - idle_since >= stale_check_after && peer_closed()) {
      // The server closed the kept-alive connection while it sat idle (keep-alive timeout, restart):
      // reconnect before sending, so that no request (POST included) is written into a dead socket.
      close_socket();
      connect();
    } else {
      reused_ = true;
      write(job.outcome.acquired_at);  // same instant: one clock read fewer per request
    }
  }

  // Whether the peer has closed (or written to) this idle connection. One non-blocking peek.
  bool peer_closed() {
    char byte = 0;
    const ssize_t n = ::recv(fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return true;  // 0: FIN; > 0: unsolicited bytes (e.g. a TLS close_notify): not reusable either
  }

  void check_deadline(steady::time_point now) {
    const bool connect_late = phase_ == phase::connecting && now >= connect_deadline_;
    if (now >= deadline_ || connect_late) {
      timed_out_ = true;
      cut_off();
    }
  }

  void abort() {
    aborted_ = true;
    cut_off();
  }

  // A ready socket of the engine's own epoll set (common/epoll_set.h).
  static void on_event(void* target, uint32_t events) {
    auto& self = *static_cast<http_connection*>(target);
    if (self.own_fd_ < 0 || self.job_ == nullptr) return;  // idle: the stale check covers a close
    if (self.phase_ == phase::writing) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) self.own_write_more();
      return;
    }
    if (self.phase_ != phase::reading) return;
    self.reads_this_event_ = 0;
    self.own_read();
  }

  origin_pool& pool() noexcept { return pool_; }
  http_job* job() const noexcept { return job_; }
  size_t pool_index = 0;
  size_t active_index = 0;
  steady::time_point idle_since{};  // when its last request finished

 private:
  enum class phase { idle, connecting, handshaking, writing, reading };
  // Connections reused sooner than this skip the liveness peek: a syscall per request under full load
  // would cost more than it saves, and a server rarely closes a connection it has just answered on.
  static constexpr auto stale_check_after = std::chrono::milliseconds(1);
  static constexpr size_t buffer_size = http_engine::read_buffer_size;
  // Reads in a row from one ready event before the socket is re-armed and the loop gets a turn: an
  // endless fast body must not keep the worker (and its deadline sweep) from running.
  static constexpr int max_reads_per_event = 16;

  int fd() { return own_fd_ >= 0 ? own_fd_ : socket_.native_handle(); }

  // Ends the request in flight from outside (deadline, abort): its pending operation completes with
  // operation_aborted. A socket of the own epoll set has no pending operation: post its completion once.
  void cut_off() {
    if (own_fd_ < 0) {
      boost::system::error_code ignored;
      socket_.close(ignored);
      return;
    }
    close_socket();
    if (cut_off_posted_) return;
    cut_off_posted_ = true;
    boost::asio::post(engine_.io_, [this] { on_bytes(boost::asio::error::operation_aborted, 0); });
  }

  // After connecting: plain sockets leave Asio's reactor for the engine's own epoll set.
  bool adopt() {
#ifdef STAMPEDE_LOADGEN_EPOLL
    boost::system::error_code ec;
    const int fd = socket_.release(ec);
    if (ec) return false;
    if (!engine_.own_epoll().add(fd, this)) {
      ::close(fd);
      return false;
    }
    own_fd_ = fd;
#endif
    return true;
  }

  void begin_wait() {
    if (own_fd_ < 0 || waiting_) return;
    waiting_ = true;
    engine_.own_epoll().begin_wait();
  }

  void end_wait() {
    if (!waiting_) return;
    waiting_ = false;
    engine_.own_epoll().end_wait();
  }

  void own_read() {
    const ssize_t n = http_detail::recv_now(own_fd_, buffer_.get(), buffer_size, MSG_DONTWAIT);
    if (n > 0) return on_bytes({}, static_cast<size_t>(n));
    if (n == 0) return on_bytes(boost::asio::error::eof, 0);
    if (errno == EINTR) return own_read();
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // drained: the next edge brings more
    on_bytes(boost::system::error_code(errno, boost::asio::error::get_system_category()), 0);
  }

  void own_write_more() {
    const ssize_t result = http_detail::send_now(own_fd_, job_->wire.data() + written_,
                                                 job_->wire.size() - written_, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (result < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return written(boost::system::error_code(errno, boost::asio::error::get_system_category()), written_);
    }
    written_ += static_cast<size_t>(result);
    if (written_ < job_->wire.size()) return;
    engine_.own_epoll().want_output(own_fd_, this, false);
    // Input edges while writing were ignored: read once before waiting for the next.
    written({}, written_);
    if (phase_ == phase::reading && job_ != nullptr) own_read();
  }

  void connect() {
    phase_ = phase::connecting;
    reused_ = false;
    const auto now = steady::now();
    connect_started_ = now;
    connect_deadline_ = std::min(deadline_, now + engine_.options_.connect_timeout);
    if (pool_.endpoints.empty()) {
      // Complete asynchronously: the caller may still be inside the Lua call that submitted us.
      boost::asio::post(engine_.io_, [this] {
        fail(error_kind::other, pool_.resolve_error.empty() ? "cannot resolve host" : pool_.resolve_error);
      });
      return;
    }
    boost::asio::async_connect(socket_, pool_.endpoints,
                               [this](const boost::system::error_code& ec,
                                      const boost::asio::ip::tcp::endpoint&) { on_connect(ec); });
  }

  void on_connect(const boost::system::error_code& ec) {
    const auto now = steady::now();
    job_->outcome.timings.connect = http_detail::micros(now - connect_started_);
    if (ec) {
      if (timed_out_) return fail(error_kind::connect_timeout, "connect timeout");
      if (aborted_) return fail(error_kind::other, "aborted at the end of the run");
      if (ec == boost::asio::error::connection_refused)
        return fail(error_kind::connect_refused, ec.message());
      return fail(error_kind::other, "connect: " + ec.message());
    }
    boost::system::error_code ignored;
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    connected_ = true;
    if (pool_.url.tls) {
      handshake();
    } else if (!adopt()) {
      fail(error_kind::other, std::string("cannot watch the socket: ") + std::strerror(errno));
    } else {
      write(now);
    }
  }

  void handshake() {
    phase_ = phase::handshaking;
    tls_ = std::make_unique<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>>(socket_,
                                                                                     engine_.tls_context());
    SSL_set_tlsext_host_name(tls_->native_handle(), pool_.url.host.c_str());
    if (!engine_.options_.insecure_skip_tls_verify) {
      tls_->set_verify_mode(boost::asio::ssl::verify_peer);
      tls_->set_verify_callback(boost::asio::ssl::host_name_verification(pool_.url.host));
    }
    const auto started = steady::now();
    tls_->async_handshake(boost::asio::ssl::stream_base::client,
                          [this, started](const boost::system::error_code& ec) {
                            job_->outcome.timings.tls = http_detail::micros(steady::now() - started);
                            if (ec) {
                              if (timed_out_)
                                return fail(error_kind::connect_timeout, "TLS handshake timeout");
                              if (aborted_) return fail(error_kind::other, "aborted at the end of the run");
                              return fail(error_kind::tls, "TLS handshake: " + ec.message());
                            }
                            write(steady::now());
                          });
  }

  void write(steady::time_point now) {
    phase_ = phase::writing;
    send_started_ = now;
    if (tls_) {
      boost::asio::async_write(*tls_, boost::asio::buffer(job_->wire),
                               [this](const boost::system::error_code& ec, size_t n) { written(ec, n); });
      return;
    }
    // Plain TCP: one non-blocking send first. A request fits the socket buffer almost always, and then
    // the request costs no write operation, no posted completion and no extra trip through the event loop.
    // MSG_DONTWAIT rather than a non-blocking socket: Asio's io_uring backend (STAMPEDE_IO_URING) would
    // turn a socket made non-blocking by the user into a poll and a speculative read per receive.
    boost::system::error_code ec;
    const ssize_t result =
        http_detail::send_now(fd(), job_->wire.data(), job_->wire.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    const size_t sent = result > 0 ? static_cast<size_t>(result) : 0;
    if (result < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      ec.assign(errno, boost::asio::error::get_system_category());
    }
    if (ec) {
      // Never complete inside the initiating call: the submitting VU may not have yielded yet.
      boost::asio::post(engine_.io_, [this, ec] { written(ec, 0); });
      return;
    }
    if (sent == job_->wire.size()) return written(ec, sent);
    if (own_fd_ >= 0) {
      written_ = sent;
      if (!engine_.own_epoll().want_output(own_fd_, this, true)) {
        ec.assign(errno, boost::asio::error::get_system_category());
        boost::asio::post(engine_.io_, [this, ec] { written(ec, 0); });
        return;
      }
      begin_wait();
      return;
    }
    boost::asio::async_write(
        socket_, boost::asio::buffer(job_->wire.data() + sent, job_->wire.size() - sent),
        [this, sent](const boost::system::error_code& ec, size_t n) { written(ec, sent + n); });
  }

  void written(const boost::system::error_code& ec, size_t n) {
    if (ec) return transport_error(ec, /*during_write=*/true);
    job_->outcome.bytes_sent = static_cast<int64_t>(n);
    sent_at_ = steady::now();
    parser_.reset(job_->head);
    phase_ = phase::reading;
    read();
  }

  void read() {
    if (own_fd_ >= 0) return begin_wait();  // the socket is drained: wait for its next edge
    auto on_read = [this](const boost::system::error_code& ec, size_t n) { on_bytes(ec, n); };
    if (tls_) {
      tls_->async_read_some(boost::asio::buffer(buffer_.get(), buffer_size), std::move(on_read));
    } else {
      socket_.async_read_some(boost::asio::buffer(buffer_.get(), buffer_size), std::move(on_read));
    }
  }

  void on_bytes(const boost::system::error_code& ec, size_t n) {
    if (n > 0) {
      const auto now = steady::now();
      if (received_ == 0) first_byte_at_ = now;
      received_ += n;
      const size_t used = parser_.feed(std::span<const char>(buffer_.get(), n));
      if (parser_.error() != http::parse_error::none) {
        return fail(error_kind::malformed_response,
                    std::string("malformed response: ") + std::string(http::to_string(parser_.error())));
      }
      if (parser_.complete()) return succeed(/*leftover=*/used < n, now);
    }
    if (ec) {
      const bool eof = ec == boost::asio::error::eof || ec == boost::asio::ssl::error::stream_truncated;
      if (eof && received_ > 0 && !timed_out_) {
        parser_.on_eof();  // completes a close-delimited body
        if (parser_.complete()) return succeed(/*leftover=*/true, steady::now());
        if (parser_.error() != http::parse_error::unexpected_eof &&
            parser_.error() != http::parse_error::none) {
          return fail(error_kind::malformed_response, "malformed response");
        }
      }
      return transport_error(ec, /*during_write=*/false);
    }
    if (own_fd_ < 0) return read();
    // Edge-triggered: read on until EAGAIN, even after a short read (a FIN or a reset that came with the
    // bytes would not be reported again). The common response is complete after one read, and costs one.
    if (++reads_this_event_ < max_reads_per_event) return own_read();
    reads_this_event_ = 0;
    engine_.own_epoll().rearm(own_fd_, this);
  }

  void transport_error(const boost::system::error_code& ec, bool during_write) {
    if (timed_out_) return fail(error_kind::read_timeout, "request timeout");
    if (aborted_) return fail(error_kind::other, "aborted at the end of the run");
    // A kept-alive connection the server closed while idle: nothing of the response arrived, so an
    // idempotent request is sent once more on a fresh connection, as browsers and k6 do.
    if (reused_ && received_ == 0 && job_->idempotent && !job_->retried) {
      job_->retried = true;
      close_socket();
      connect();
      return;
    }
    if (ec == boost::asio::error::eof)
      return fail(error_kind::reset, "connection closed before a complete response");
    if (ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe ||
        ec == boost::asio::ssl::error::stream_truncated) {
      return fail(error_kind::reset, during_write ? "reset while sending" : "connection reset");
    }
    if (ec.category() == boost::asio::error::get_ssl_category())
      return fail(error_kind::tls, "TLS: " + ec.message());
    return fail(error_kind::other, ec.message());
  }

  void close_socket() {
    end_wait();
    if (own_fd_ >= 0) {
      ::close(own_fd_);  // also leaves the engine's epoll set
      own_fd_ = -1;
    }
    boost::system::error_code ignored;
    tls_.reset();
    socket_.close(ignored);
    connected_ = false;
  }

  void fill_timings(steady::time_point now) {
    auto& t = job_->outcome.timings;
    if (send_started_ >= job_->outcome.acquired_at && sent_at_ >= send_started_) {
      t.send = http_detail::micros(sent_at_ - send_started_);
      if (received_ > 0) {
        t.wait = http_detail::micros(first_byte_at_ - sent_at_);
        t.receive = http_detail::micros(now - first_byte_at_);
      } else {
        t.wait = http_detail::micros(now - sent_at_);
      }
    }
    t.total = http_detail::micros(now - job_->outcome.acquired_at);
    job_->outcome.finished_at = now;
    job_->outcome.bytes_received = static_cast<int64_t>(received_);
  }

  void succeed(bool leftover, steady::time_point now) {
    end_wait();
    send_started_ = std::max(send_started_, job_->outcome.acquired_at);
    fill_timings(now);
    auto& out = job_->outcome;
    out.status = parser_.status();
    // Swap, not move: the parser gets the job's previous buffers back, so in steady state no response
    // allocates (the capacities ping-pong between the parser and the VU's job).
    out.headers.raw.swap(parser_.headers().raw);
    out.body.swap(parser_.body());          // empty when bodies are discarded: the parser kept none
    engine_.refill(parser_.headers().raw);  // the job's were recycled: take spares instead
    engine_.refill(parser_.body());
    if (out.status >= 500) {
      out.error = error_kind::status_5xx;
    } else if (out.status >= 400) {
      out.error = error_kind::status_4xx;
    } else if (const size_t dropped = parser_.discarded_body_bytes();
               dropped > 0 && !engine_.options_.discard_bodies) {
      out.error = error_kind::body_truncated;
      out.error_message = "response body truncated: the first " + std::to_string(out.body.size()) +
                          " bytes kept (responseBodyLimit), " + std::to_string(dropped) +
                          " more read and dropped";
    }
    const bool reusable = parser_.keep_alive() && !leftover;
    if (!reusable) close_socket();
    phase_ = phase::idle;
    engine_.give_back_buffer(std::move(buffer_));  // idle connections hold no read buffer
    http_job& job = *job_;
    job_ = nullptr;
    engine_.finished(*this, job, reusable);
  }

  void fail(error_kind kind, std::string message) {
    const size_t dropped = phase_ == phase::reading ? parser_.discarded_body_bytes() : 0;
    if (dropped > 0 && !engine_.options_.discard_bodies) {
      message += " (" + std::to_string(dropped) + " body bytes beyond responseBodyLimit were dropped)";
    }
    fill_timings(steady::now());
    job_->outcome.status = 0;
    job_->outcome.error = kind;
    job_->outcome.error_message = std::move(message);
    close_socket();
    phase_ = phase::idle;
    engine_.give_back_buffer(std::move(buffer_));
    http_job& job = *job_;
    job_ = nullptr;
    engine_.finished(*this, job, /*reusable=*/false);
  }

  http_engine& engine_;
  origin_pool& pool_;
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  http::response_parser parser_;
  std::unique_ptr<char[]> buffer_;
  http_job* job_ = nullptr;
  phase phase_ = phase::idle;
  bool connected_ = false;
  bool reused_ = false;
  bool timed_out_ = false;
  bool aborted_ = false;
  bool cut_off_posted_ = false;
  bool waiting_ = false;  // counted in the engine's own epoll set as waiting for its socket
  int own_fd_ = -1;       // the socket, once adopted by the engine's own epoll set
  int reads_this_event_ = 0;
  size_t written_ = 0;
  size_t received_ = 0;
  steady::time_point deadline_{};
  steady::time_point connect_deadline_{};
  steady::time_point connect_started_{};
  steady::time_point send_started_{};
  steady::time_point sent_at_{};
  steady::time_point first_byte_at_{};
};

}  // namespace stampede::loadgen
