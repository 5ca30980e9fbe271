#include "common/loopback.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace stampede {

namespace {

// A socket on 127.0.0.1:port (0: the kernel picks), closed on scope exit; `bound` says whether bind worked.
struct probe_socket {
  int fd = -1;
  bool bound = false;
  sockaddr_in addr{};
  explicit probe_socket(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket: " + std::string{std::strerror(errno)});
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~probe_socket() { ::close(fd); }
  probe_socket(const probe_socket&) = delete;
  probe_socket& operator=(const probe_socket&) = delete;
};

uint16_t kernel_picked_port() {
  probe_socket s(0);
  socklen_t len = sizeof s.addr;
  if (!s.bound || ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&s.addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port: " + std::string{std::strerror(errno)});
  }
  return ntohs(s.addr.sin_port);
}

}  // namespace

port_range ephemeral_port_range() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int first = 0, last = 0;
  if (in >> first >> last && first >= 1 && first <= last && last <= 65535) {
    return {static_cast<uint16_t>(first), static_cast<uint16_t>(last)};
  }
  return {32768, 60999};  // Linux's default
}

uint16_t free_loopback_port() {
  // The kernel hands out ports of its ephemeral range to every outgoing connection too, so a port picked
  // there (bind to port 0) can be taken by any client before the starter binds it: PostgreSQL, Patroni
  // and etcd open connections all the time while a cluster starts (CI saw a shop node fail to bind its
  // port during Patroni's ~20 s start). So the pick is random outside that range (from 20000 up, clear
  // of the well-known services below), where only another explicit bind can land.
  const port_range ephemeral = ephemeral_port_range();
  constexpr int lowest = 20000;
  const int below = std::max(0, ephemeral.first - lowest);  // [lowest, first)
  const int above = 65535 - ephemeral.last;                 // (last, 65535]
  if (below + above >= 1000) {
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> pick(0, below + above - 1);
    for (int attempt = 0; attempt < 64; ++attempt) {
      const int i = pick(random);
      const auto port = static_cast<uint16_t>(i < below ? lowest + i : ephemeral.last + 1 + (i - below));
      if (probe_socket(port).bound) return port;
    }
  }
  return kernel_picked_port();
}

}  // namespace stampede
