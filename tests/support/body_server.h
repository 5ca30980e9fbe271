// A raw HTTP/1.1 server for response-body tests (on raw_server): bodies as large as asked, or endless.
//
// Paths (the query is the only parameter; requests have no bodies):
//   /endless         200, chunked, 64 KiB chunks for as long as the client reads (never a last chunk)
//   /bytes?n=N       200 with Content-Length: N and N bytes of 'b' (keep-alive)
//   /chunked?n=N     200, chunked, N bytes of 'c' in 64 KiB chunks, then the last chunk (keep-alive)
//   anything else    200 "ok"
// Thread-safety: the counters may be read from any thread; the destructor stops every connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "tests/support/raw_server.h"

namespace stampede::testing {

class body_server {
 public:
  body_server();
  body_server(const body_server&) = delete;
  body_server& operator=(const body_server&) = delete;

  uint16_t port() const noexcept { return server_.port(); }
  std::string base_url() const;
  uint64_t body_bytes_sent() const noexcept { return body_bytes_.load(); }
  uint64_t requests() const noexcept { return requests_.load(); }
  uint64_t connections() const noexcept { return server_.connections(); }

 private:
  void serve(raw_connection& c);

  std::atomic<uint64_t> body_bytes_{0};
  std::atomic<uint64_t> requests_{0};
  raw_server server_;  // last: destroyed (every connection stopped) before the counters
};

}  // namespace stampede::testing
