#include "tests/support/raw_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace stampede::testing {

bool raw_connection::send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0 || stopping_) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool raw_connection::trickle(std::string_view data, std::chrono::milliseconds gap) {
  for (char c : data) {
    if (!send(std::string_view(&c, 1))) return false;
    std::this_thread::sleep_for(gap);
  }
  return true;
}

std::string raw_connection::read_request_line() {
  while (buffered_.find("\r\n\r\n") == std::string::npos) {
    char chunk[4096];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0 || stopping_) return {};
    buffered_.append(chunk, static_cast<size_t>(n));
  }
  const size_t end = buffered_.find("\r\n\r\n");
  std::string line = buffered_.substr(0, buffered_.find("\r\n"));
  buffered_.erase(0, end + 4);
  return line;
}

void raw_connection::reset() {
  linger l{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::shutdown(fd_, SHUT_RDWR);
}

void raw_connection::wait_for_close() {
  char sink[4096];
  while (!stopping_ && ::recv(fd_, sink, sizeof sink, 0) > 0) {
  }
}

std::string request_target(std::string_view request_line) {
  const size_t first = request_line.find(' ');
  const size_t last = request_line.rfind(' ');
  if (first == std::string_view::npos || last <= first) return {};
  return std::string(request_line.substr(first + 1, last - first - 1));
}

raw_server::raw_server(handler serve) : serve_(std::move(serve)) {
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

raw_server::~raw_server() {
  stopping_ = true;
  acceptor_.join();
  ::close(listener_);
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked sends and reads
  }
  for (auto& t : threads_) t.join();
}

void raw_server::accept_loop() {
  while (!stopping_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;  // wakes every 20 ms to notice stopping_
    const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    std::lock_guard lock(mutex_);
    open_.push_back(fd);
    threads_.emplace_back([this, fd] {
      raw_connection connection(fd, stopping_);
      serve_(connection);
      std::lock_guard inner(mutex_);
      std::erase(open_, fd);
      ::close(fd);
    });
  }
}

}  // namespace stampede::testing
