// The load generator's HTTP/1.1 client: per-worker keep-alive pools per origin, raw Asio sockets
// (TLS through Asio's OpenSSL stream) and the incremental response parser from common/. Callback
// based on purpose: this is the hot path, and a hand-written state machine per connection costs
// less than a coroutine frame per request. Every operation has a deadline, enforced by one sweep
// per worker instead of a timer per connection (a timer re-arm per request is a syscall). Connected
// plain-HTTP sockets leave Asio's reactor for the engine's own epoll set (common/epoll_set.h): one recv
// per response, no speculative read that fails with EAGAIN (build option STAMPEDE_LOADGEN_EPOLL).
//
// Thread-safety: none. One engine per worker thread, used only from that worker's io_context.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/epoll_set.h"
#include "common/http_parse.h"
#include "loadgen/metrics.h"
#include "loadgen/url.h"

namespace stampede::loadgen {

using steady = std::chrono::steady_clock;

struct http_outcome {
  int status = 0;                      // 0 when no response
  error_kind error = error_kind::none; // transport/protocol error, or status_4xx/5xx
  std::string error_message;
  http::header_block headers;
  std::string body;
  request_timings timings;
  steady::time_point acquired_at;      // the request got a connection (end of `blocked`)
  steady::time_point finished_at;
  int64_t bytes_sent = 0;
  int64_t bytes_received = 0;
};

// One request handed to the engine. The owner (a VU) keeps it alive until on_complete runs.
class http_job {
 public:
  virtual ~http_job() = default;
  std::string wire;                    // the serialized request
  bool head = false;
  bool idempotent = true;              // may be retried once on a stale keep-alive connection
  std::chrono::nanoseconds timeout{std::chrono::seconds(60)};
  steady::time_point submitted_at;     // set by submit(): start of `blocked`
  bool retried = false;
  http_outcome outcome;
  virtual void on_complete() = 0;      // called exactly once, from the worker's io_context
};

struct http_engine_options {
  std::chrono::nanoseconds connect_timeout{std::chrono::seconds(10)};
  int64_t max_connections_per_host = 0;  // 0 = unlimited
  bool insecure_skip_tls_verify = false;
  bool discard_bodies = false;           // keep no body byte at all (options.discardResponseBodies)
  // Bytes of a body kept for the script (options.responseBodyLimit); the rest is read to the end of the
  // response, counted and dropped, and the response fails as body_truncated. Bodies are streamed, so
  // their size itself needs no limit: the request timeout bounds an endless one.
  size_t response_body_limit = 10 * 1024 * 1024;
  http::parse_limits limits{.max_header_bytes = 64 * 1024, .max_body_bytes = static_cast<size_t>(-1)};
};

class http_connection;

class http_engine {
 public:
  static constexpr size_t read_buffer_size = 16 * 1024;

  http_engine(boost::asio::io_context& io, http_engine_options options);
  ~http_engine();
  http_engine(const http_engine&) = delete;
  http_engine& operator=(const http_engine&) = delete;

  // Starts the request; job.on_complete() runs later (never inline).
  void submit(const parsed_url& url, http_job& job);
  // Fails every request whose deadline passed; the worker calls this every few milliseconds.
  void sweep(steady::time_point now);
  // Aborts all requests in flight (end of run): each completes with error `other`.
  void abort_all();
  // Aborts one request (a VU interrupted at a scenario's hard stop); no-op if it is not in flight.
  void abort(http_job& job);
  size_t in_flight() const noexcept { return active_.size(); }
  // Takes back a completed response's header and body buffers once the script has its copy, so a VU
  // between requests holds none (100,000 sleeping VUs would otherwise keep ~1 KB each); the parsers
  // take them for their next response, so steady state still allocates nothing per response. Buffers
  // beyond max_spare_capacity, or beyond two per request in flight (+64), are freed rather than kept.
  void recycle(http_outcome& out);
  static constexpr size_t max_spare_capacity = 64 * 1024;
  size_t spare_buffers() const noexcept { return spare_strings_.size(); }
  size_t open_connections() const noexcept;

 private:
  friend class http_connection;
  origin_pool& pool_for(const parsed_url& url);
  boost::asio::ssl::context& tls_context();
  epoll_set& own_epoll();  // made at the first plain connection
  // Read buffers belong to requests in flight, not to connections: 10,000 idle keep-alive
  // connections then cost a socket each, not 16 KiB each.
  std::unique_ptr<char[]> take_buffer();
  void give_back_buffer(std::unique_ptr<char[]> buffer);
  void start_on(http_connection& connection, http_job& job, steady::time_point now);
  void finished(http_connection& connection, http_job& job, bool reusable);
  void deactivate(http_connection& connection);
  // Gives `buffer` a spare's capacity when it has none of its own (a parser after handing its buffers
  // to a job that had recycled its own).
  void refill(std::string& buffer);
  void keep_spare(std::string& buffer);

  boost::asio::io_context& io_;
  http_engine_options options_;
  std::unique_ptr<boost::asio::ssl::context> tls_context_;
  // Shared with its pending wait (common/epoll_set.h), and declared before pools_: the connections end
  // their waits on it as they are destroyed.
  std::shared_ptr<epoll_set> own_epoll_;
  std::unordered_map<std::string, std::unique_ptr<origin_pool>> pools_;
  std::vector<http_connection*> active_;   // connections with a request in flight (swept for deadlines)
  std::vector<std::unique_ptr<char[]>> free_buffers_;
  std::vector<std::string> spare_strings_;  // recycled response buffers (empty, with capacity)
};

}  // namespace stampede::loadgen
