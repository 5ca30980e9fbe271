// A raw TCP server on 127.0.0.1 (port 0) for tests whose peer must be able to misbehave: no HTTP library,
// blocking sockets, one thread per connection running the test's handler. The destructor stops accepting,
// shuts every open connection down (which wakes blocked sends and reads) and joins every thread, so a
// handler may loop "while the client reads" without a way to end of its own.
// Thread-safety: handlers run on their connection's thread; port() and connections() on any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace stampede::testing {

// One accepted connection, as its handler sees it.
class raw_connection {
 public:
  raw_connection(int fd, const std::atomic<bool>& stopping) : fd_(fd), stopping_(stopping) {}

  // Writes everything; false once the peer is gone or the server stops.
  bool send(std::string_view data);
  // Sends `data` one byte per `gap` (the pacing of a slow peer, not synchronisation); false as send().
  bool trickle(std::string_view data, std::chrono::milliseconds gap);
  // Reads up to the end of the next request head and returns its request line ("GET /x HTTP/1.1"); the
  // head is consumed (requests here have no bodies). Empty once the peer left or the server stops.
  std::string read_request_line();
  // Ends the connection with an RST instead of a FIN.
  void reset();
  // Holds the connection, discarding what arrives, until the client closes it or the server stops.
  void wait_for_close();
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
  const std::atomic<bool>& stopping_;
  std::string buffered_;
};

// The target of a request line ("/x?n=1" of "GET /x?n=1 HTTP/1.1").
std::string request_target(std::string_view request_line);

class raw_server {
 public:
  using handler = std::function<void(raw_connection&)>;

  // Listens at once; `serve` runs once per accepted connection, which is closed when it returns.
  explicit raw_server(handler serve);
  ~raw_server();
  raw_server(const raw_server&) = delete;
  raw_server& operator=(const raw_server&) = delete;

  uint16_t port() const noexcept { return port_; }
  uint64_t connections() const noexcept { return connections_.load(); }

 private:
  void accept_loop();

  handler serve_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> connections_{0};
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;  // last: started once everything above exists
};

}  // namespace stampede::testing
