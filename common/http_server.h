// A small, fast HTTP/1.1 server on Asio for the reference shop's nodes, the payment emulator, the
// proxy's control API and test servers. Keep-alive, pipelining, parse limits, and a deadline on every
// read and write. Handlers run on the server's threads: one io_context run by `threads` threads, a
// strand per connection (a connection's requests are handled in order, different connections in
// parallel; a slow synchronous handler holds one thread, not the connections of the other threads).
// A handler is either synchronous (returns the response) or asynchronous (completes a `responder`,
// possibly later and from another thread, e.g. after a timer, without holding a thread), or a server has
// both and a choice per request (the shop node hashes passwords on a pool of its own that way).
//
// Beast/Asio stay out of this header: only the .cpp instantiates them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/http_parse.h"

namespace stampede::http {

struct request {
  std::string method;
  std::string target;  // raw request-target ("/a/b?x=1")
  int version = 11;
  bool keep_alive = true;
  header_block headers;
  std::string body;
  std::string remote_address;  // peer IP as text

  std::string_view path() const noexcept;                // target without the query
  std::string_view query() const noexcept;               // after '?', without it
  std::string query_param(std::string_view name) const;  // percent-decoded, empty if absent
  bool has_query_param(std::string_view name) const;
  std::string_view header(std::string_view name) const noexcept { return headers.find(name); }
  std::string_view cookie(std::string_view name) const noexcept;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  bool close = false;                                        // send "Connection: close" and close
  // Non-empty: sent with "Transfer-Encoding: chunked", one chunk per element (empty ones skipped), and
  // `body` is ignored.
  std::vector<std::string> chunks;

  static response json(int status, std::string body);
  static response text(int status, std::string body);
  // {"error": error, "detail": detail} with the given status.
  static response error(int status, std::string_view error, std::string_view detail = {});
};

// Synchronous handler. `request` is valid only during the call (the connection reuses it).
// Exceptions become a 500 JSON error. Thread-safety: called concurrently from the server's threads
// (for different connections) when threads > 1; one connection's requests are handled in order.
using handler = std::function<response(request&)>;

// Completes one request of an asynchronous handler. Copyable; thread-safe; the first completion wins
// and later ones are ignored. A reply that never comes is bounded by server_options::handler_timeout
// (the connection is then closed and counted as a timeout).
class responder {
 public:
  struct state;
  explicit responder(std::shared_ptr<state> state) noexcept : state_(std::move(state)) {}
  void operator()(response r) const;                              // reply now
  void after(std::chrono::milliseconds delay, response r) const;  // reply after `delay`, on a timer

 private:
  std::shared_ptr<state> state_;
};
// Asynchronous handler. `request` is valid only during the call (copy what the reply needs).
using async_handler = std::function<void(request&, responder)>;
// For a server with both kinds: true when `request` goes to the asynchronous handler (e.g. work that must not
// hold a server thread), false for the synchronous one. Called on the server's threads, once per request.
using handler_choice = std::function<bool(const request&)>;

struct server_options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 = pick a free port; read it back with port()
  int threads = 1;
  parse_limits limits{.max_header_bytes = 16 * 1024, .max_body_bytes = 1024 * 1024};
  std::chrono::milliseconds header_timeout{10'000};  // first byte .. end of headers (slowloris bound)
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};  // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{10'000};
  std::chrono::milliseconds handler_timeout{30'000};  // async handler's reply
  size_t max_connections = 10'000;                    // beyond: accept and close at once (counted)
  size_t max_pipelined = 64;                          // requests parsed ahead of responses
};

struct server_stats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t connections_rejected = 0;  // over max_connections
  uint64_t requests = 0;
  uint64_t bad_requests = 0;  // malformed / too large -> 400/413/431 and close
  uint64_t timeouts = 0;      // header, body, idle or write deadline hit
};

class server {
 public:
  server(server_options options, handler handler);
  server(server_options options, async_handler handler);
  // Both: `choose` sends each request to `async` or to `sync` (the synchronous path costs nothing extra).
  server(server_options options, handler sync, async_handler async, handler_choice choose);
  ~server();  // stop() + join
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and listens (throws std::system_error with a clear message if it cannot), then runs
  // options.threads threads in the background. Returns once the socket is listening.
  void start();
  uint16_t port() const noexcept;
  // Stops accepting, closes idle keep-alive connections, lets in-flight requests finish for up to
  // `grace` (their responses carry "Connection: close"), then closes everything and joins. Idempotent;
  // must not be called from a handler.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{2000});
  // Blocks until stop() was called (from another thread or a signal handler thread) and threads ended.
  void wait();
  server_stats stats() const noexcept;

  // Every server thread stops handling I/O for `duration`, as if the process were SIGSTOPped: the
  // kernel keeps queueing connections and bytes, which are served afterwards. Returns once every
  // thread has stopped (the pause then lasts `duration` from that moment). For drills and tests.
  // Must not be called from a handler.
  void pause(std::chrono::nanoseconds duration);

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace stampede::http
