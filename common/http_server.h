// A small, fast HTTP/1.1 server on Asio for the reference shop's nodes, the payment emulator, the
// proxy's control API and test servers. Keep-alive, pipelining, parse limits, and a deadline on every
// read and write. Handlers are synchronous and run on the server's threads (strand per connection:
// a connection's requests are handled in order, different connections in parallel).
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
  std::string target;                 // raw request-target ("/a/b?x=1")
  int version = 11;
  bool keep_alive = true;
  header_block headers;
  std::string body;
  std::string remote_address;         // peer IP as text

  std::string_view path() const noexcept;                    // target without the query
  std::string_view query() const noexcept;                   // after '?', without it
  std::string query_param(std::string_view name) const;      // percent-decoded, empty if absent
  bool has_query_param(std::string_view name) const;
  std::string_view header(std::string_view name) const noexcept { return headers.find(name); }
  std::string_view cookie(std::string_view name) const noexcept;
};

struct response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;   // extra headers
  bool close = false;                                         // send "Connection: close" and close

  static response json(int status, std::string body);
  static response text(int status, std::string body);
  // {"error": error, "detail": detail} with the given status.
  static response error(int status, std::string_view error, std::string_view detail = {});
};

using handler = std::function<response(request&)>;

struct server_options {
  std::string address = "127.0.0.1";
  uint16_t port = 0;                                  // 0 = pick a free port; read it back with port()
  int threads = 1;
  parse_limits limits{.max_header_bytes = 16 * 1024, .max_body_bytes = 1024 * 1024};
  std::chrono::milliseconds header_timeout{10'000};   // first byte .. end of headers (slowloris bound)
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{10'000};
  size_t max_connections = 10'000;                    // beyond: accept and close at once (counted)
  size_t max_pipelined = 64;                          // requests parsed ahead of responses
};

struct server_stats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t connections_rejected = 0;   // over max_connections
  uint64_t requests = 0;
  uint64_t bad_requests = 0;           // malformed / too large -> 400/413/431 and close
  uint64_t timeouts = 0;               // header, body, idle or write deadline hit
};

class server {
 public:
  server(server_options options, handler handler);
  ~server();  // stop() + join
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and listens (throws std::system_error with a clear message if it cannot), then runs
  // options.threads threads in the background. Returns once the socket is listening.
  void start();
  uint16_t port() const noexcept;
  // Stops accepting, lets in-flight requests finish for up to `grace`, then closes everything and joins.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{2000});
  // Blocks until stop() was called (from another thread or a signal handler thread) and threads ended.
  void wait();
  server_stats stats() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace stampede::http
