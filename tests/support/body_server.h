// A raw HTTP/1.1 server for response-body tests: bodies as large as asked, or endless. Blocking sockets
// on 127.0.0.1 (port 0), one thread per connection, no HTTP library (it must be able to misbehave).
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
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stampede::testing {

class body_server {
 public:
  body_server();
  ~body_server();
  body_server(const body_server&) = delete;
  body_server& operator=(const body_server&) = delete;

  uint16_t port() const noexcept { return port_; }
  std::string base_url() const;
  uint64_t body_bytes_sent() const noexcept { return body_bytes_.load(); }
  uint64_t requests() const noexcept { return requests_.load(); }
  uint64_t connections() const noexcept { return connections_.load(); }

 private:
  void accept_loop();
  void serve(int fd);
  bool send_all(int fd, const char* data, size_t size);

  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> body_bytes_{0};
  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> connections_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> threads_;
};

}  // namespace stampede::testing
