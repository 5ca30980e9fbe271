// Helpers for tests that play hostile peers: a raw blocking socket (no HTTP client niceties, so a test
// can trickle, half-close or flood) and the process's peak resident memory.
#pragma once

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "common/http_parse.h"

namespace stampede::testing {

using namespace std::chrono_literals;

// Peak resident set of this process so far, in KiB.
inline long peak_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}


// A blocking TCP connection to 127.0.0.1:port with a receive timeout; closed on destruction.
class raw_socket {
 public:
  explicit raw_socket(uint16_t port, std::chrono::milliseconds read_timeout = 5s) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{};
    tv.tv_sec = read_timeout.count() / 1000;
    tv.tv_usec = (read_timeout.count() % 1000) * 1000;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~raw_socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  raw_socket(raw_socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)), connected_(o.connected_) {}
  raw_socket(const raw_socket&) = delete;
  raw_socket& operator=(const raw_socket&) = delete;

  bool connected() const { return connected_; }
  bool send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void half_close() { ::shutdown(fd_, SHUT_WR); }
  // Reads until EOF, error or timeout; returns what arrived.
  std::string read_all(size_t limit = 64 << 20) {
    std::string out;
    char buf[65536];
    while (out.size() < limit) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Reads one response with the project's parser (status 0 if none arrived).
  int read_status() {
    http::response_parser parser;
    char buf[16384];
    while (!parser.complete() && parser.error() == http::parse_error::none) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        parser.on_eof();
        break;
      }
      parser.feed(std::span<const char>(buf, static_cast<size_t>(n)));
    }
    return parser.complete() ? parser.status() : 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

}  // namespace stampede::testing
