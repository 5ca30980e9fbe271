// An HTTP server with known endpoints for the load generator's (and others') tests, built on
// http::server. Starts on 127.0.0.1, port 0 by default (read it back with port()).
//
// Endpoints (any method unless stated; counted per path, see /stats):
//   GET  /hello              200, text/plain, a fixed 615-byte body (hello_body())
//   *    /echo               200, JSON {"method", "target", "path", "query", "headers": {name: value},
//   "body"}
//                            (repeated header names: values joined with ", ")
//   *    /status/{code}      that status, JSON {"status": code} (no body for 1xx/204/304)
//   *    /delay?ms=N         200 after N ms (0..60000) on a timer, without holding a thread; JSON
//   {"delayed_ms": N}
//   *    /chunked?n=K        200, chunked body of K chunks (0..10000) "chunk 0\n", "chunk 1\n", ...
//   *    /set-cookie?a=1&b=2 200, one "Set-Cookie: a=1; Path=/" header per query parameter
//   *    /cookies            200, JSON {"cookie": raw Cookie header, "cookies": {name: value}}
//   *    /close              200 with "Connection: close", then closes
//   GET  /json               200, a small product catalogue as JSON
//   *    /counter            200, JSON {"count": hits of /counter so far, this one included}
//   GET  /stats              200, JSON {"total": N, "paths": {"/hello": 3, ...}} (itself not counted)
//   anything else           404 JSON error
// Thread-safety: all member functions may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "common/http_server.h"

namespace stampede::testing {

class test_server {
 public:
  // Starts listening at once (throws std::system_error if it cannot).
  explicit test_server(int threads = 1, uint16_t port = 0);
  explicit test_server(http::server_options options);
  ~test_server();
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  uint16_t port() const noexcept;
  std::string base_url() const;  // "http://127.0.0.1:PORT"

  // The whole server stops reading and responding for `duration` (like SIGSTOP); connections and
  // requests that arrive meanwhile are queued by the kernel and served afterwards. Returns as soon
  // as the stall is in effect; it ends `duration` after that.
  void stall(std::chrono::nanoseconds duration);

  uint64_t hits(const std::string& path) const;  // requests counted for `path`
  uint64_t total_hits() const;
  std::map<std::string, uint64_t> hits_by_path() const;
  void reset_hits();
  http::server_stats stats() const noexcept;

  void stop();  // idempotent; the destructor calls it

  static const std::string& hello_body();  // 615 bytes

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace stampede::testing
