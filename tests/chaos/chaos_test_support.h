// Real TCP servers and blocking clients with deadlines for the chaos tests (POSIX sockets, 127.0.0.1).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/fd_guard.h"

namespace stampede::chaos::testing {

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

using stampede::testing::fd_guard;

// Threaded TCP server on 127.0.0.1:0; `handler(fd)` runs on its own thread per connection.
class tcp_server {
 public:
  explicit tcp_server(std::function<void(int)> handler) : handler_(std::move(handler)) {
    listen_ = fd_guard(::socket(AF_INET, SOCK_STREAM, 0));
    int one = 1;
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_.get(), 128) != 0) {
      throw std::runtime_error("test server: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~tcp_server() {
    stop_ = true;
    accept_thread_.join();
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      pollfd p{listen_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept(listen_.get(), nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++accepted_;
      std::lock_guard lock(mutex_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { handler_(fd); });
    }
  }
  std::function<void(int)> handler_;
  fd_guard listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> workers_;
};

// Echoes every byte until the peer closes.
inline void echo_handler(int fd) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      const ssize_t w = ::send(fd, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
      if (w <= 0) return;
      off += w;
    }
  }
  ::shutdown(fd, SHUT_WR);
}

// Sends `bytes` bytes of 'x' as soon as the connection opens, then closes its side.
inline std::function<void(int)> generator_handler(size_t bytes) {
  return [bytes](int fd) {
    std::string data(bytes, 'x');
    size_t off = 0;
    while (off < data.size()) {
      const ssize_t w = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (w <= 0) return;
      off += static_cast<size_t>(w);
    }
    ::shutdown(fd, SHUT_WR);
    char sink[4096];
    while (::recv(fd, sink, sizeof sink, 0) > 0) {
    }
  };
}

// The port of a proxy's "host:port" listen address (as add_proxy() reports it, port 0 resolved).
inline uint16_t port_of(const std::string& listen) {
  return static_cast<uint16_t>(std::stoi(listen.substr(listen.rfind(':') + 1)));
}

// A pattern whose every byte depends on its position: a lost, repeated or reordered byte shows.
inline std::string pattern(size_t bytes, uint32_t seed = 1) {
  std::string out(bytes, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : out) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  return out;
}

// Blocking client side with deadlines.
inline fd_guard connect_to(uint16_t port) {
  fd_guard fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fd_guard{};
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline int connect_errno(uint16_t port) {
  fd_guard fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
}

inline bool send_all(int fd, std::string_view data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t w = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

enum class read_end { ok, eof, reset, timeout };

struct read_result {
  std::string data;
  read_end end = read_end::ok;
  std::vector<size_t> reads;  // size of each recv
};

// Reads until `want` bytes arrived, EOF, error, or the deadline.
inline read_result read_until(int fd, size_t want, std::chrono::milliseconds timeout) {
  read_result r;
  const auto deadline = steady::now() + timeout;
  char buf[65536];
  while (r.data.size() < want) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) {
      r.end = read_end::timeout;
      return r;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, want - r.data.size()), 0);
    if (n == 0) {
      r.end = read_end::eof;
      return r;
    }
    if (n < 0) {
      r.end = errno == ECONNRESET ? read_end::reset : read_end::eof;
      return r;
    }
    r.data.append(buf, static_cast<size_t>(n));
    r.reads.push_back(static_cast<size_t>(n));
  }
  return r;
}

// What an upstream's handler thread received, handed to the test's thread: set() once; wait() returns it
// once set, or "" after `timeout`.
class received_text {
 public:
  void set(std::string data) {
    {
      std::lock_guard lock(mutex_);
      data_ = std::move(data);
      set_ = true;
    }
    ready_.notify_all();
  }
  std::string wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return set_; });
    return data_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::string data_;
  bool set_ = false;
};

// Waits for EOF or reset (discarding data) up to the deadline.
inline read_end wait_closed(int fd, std::chrono::milliseconds timeout) {
  auto r = read_until(fd, SIZE_MAX, timeout);
  return r.end;
}

}  // namespace stampede::chaos::testing
