#include "tests/support/body_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <string_view>

namespace stampede::testing {

namespace {

constexpr size_t chunk_size = 64 * 1024;

// The n=N parameter of a request target ("/bytes?n=1000"), 0 if absent or malformed.
uint64_t query_n(std::string_view target) {
  const size_t at = target.find("n=");
  if (at == std::string_view::npos) return 0;
  uint64_t n = 0;
  const std::string_view digits = target.substr(at + 2);
  std::from_chars(digits.data(), digits.data() + digits.size(), n);
  return n;
}

std::string hex(size_t n) {
  char text[20];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, n, 16);
  return std::string(text, end);
}

}  // namespace

body_server::body_server() {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener_ < 0) throw std::runtime_error("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener_, 128) != 0) {
    ::close(listener_);
    throw std::runtime_error("bind/listen failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

body_server::~body_server() {
  stop_ = true;
  acceptor_.join();
  ::close(listener_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked sends and reads
  }
  for (auto& t : threads_) t.join();
}

std::string body_server::base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void body_server::accept_loop() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;  // wakes every 20 ms to notice stop_
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    open_.push_back(fd);
    threads_.emplace_back([this, fd] {
      serve(fd);
      std::lock_guard inner(mutex_);
      std::erase(open_, fd);
      ::close(fd);
    });
  }
}

bool body_server::send_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0 || stop_) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

void body_server::serve(int fd) {
  const std::string filler(chunk_size, 'b');
  std::string buffered;
  for (;;) {
    while (buffered.find("\r\n\r\n") == std::string::npos) {
      char chunk[4096];
      const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0 || stop_) return;
      buffered.append(chunk, static_cast<size_t>(n));
    }
    const size_t end = buffered.find("\r\n\r\n");
    const std::string line = buffered.substr(0, buffered.find("\r\n"));
    buffered.erase(0, end + 4);
    ++requests_;
    const size_t first = line.find(' ');
    const std::string target = line.substr(first + 1, line.rfind(' ') - first - 1);
    const std::string_view path = std::string_view(target).substr(0, target.find('?'));
    if (path == "/endless") {
      const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      const std::string framed = hex(chunk_size) + "\r\n" + filler + "\r\n";
      if (!send_all(fd, head.data(), head.size())) return;
      while (send_all(fd, framed.data(), framed.size())) body_bytes_ += chunk_size;
      return;
    }
    if (path == "/bytes") {
      uint64_t left = query_n(target);
      const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(left) + "\r\n\r\n";
      if (!send_all(fd, head.data(), head.size())) return;
      while (left > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk_size));
        if (!send_all(fd, filler.data(), n)) return;
        body_bytes_ += n;
        left -= n;
      }
      continue;
    }
    if (path == "/chunked") {
      uint64_t left = query_n(target);
      const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
      if (!send_all(fd, head.data(), head.size())) return;
      const std::string data(chunk_size, 'c');
      while (left > 0) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk_size));
        const std::string framed = hex(n) + "\r\n" + data.substr(0, n) + "\r\n";
        if (!send_all(fd, framed.data(), framed.size())) return;
        body_bytes_ += n;
        left -= n;
      }
      if (!send_all(fd, "0\r\n\r\n", 5)) return;
      continue;
    }
    static constexpr std::string_view ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    if (!send_all(fd, ok.data(), ok.size())) return;
  }
}

}  // namespace stampede::testing
