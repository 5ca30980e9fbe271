#include "reference_shop/haproxy_runtime.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

namespace stampede::shop {

using steady = std::chrono::steady_clock;

std::optional<std::string> haproxy_runtime_command(uint16_t port, std::string_view command,
                                                   std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto wait_for = [&](short events) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, static_cast<int>(left)) == 1;
  };
  std::optional<std::string> out;
  const int c = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (c == 0 || (errno == EINPROGRESS && wait_for(POLLOUT))) {
    int error = 0;
    socklen_t len = sizeof error;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    const std::string line = std::string{command} + "\n";
    if (error == 0 && ::send(fd, line.data(), line.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(line.size())) {
      std::string text;
      char buffer[4096];
      while (wait_for(POLLIN)) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n == 0) {
          out = std::move(text);
          break;
        }
        if (n < 0) break;
        if (text.size() < (1u << 20)) text.append(buffer, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

std::optional<std::map<std::string, int>> haproxy_server_states(uint16_t port, std::string_view backend,
                                                                std::chrono::milliseconds timeout) {
  const auto text = haproxy_runtime_command(port, "show servers state " + std::string{backend}, timeout);
  if (!text) return std::nullopt;
  std::map<std::string, int> out;
  std::istringstream lines{*text};
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#' || line.find(' ') == std::string::npos) continue;
    // be_id be_name srv_id srv_name srv_addr srv_op_state ...
    std::istringstream fields{line};
    std::string be_id, be_name, srv_id, srv_name, srv_addr;
    int state = -1;
    if (fields >> be_id >> be_name >> srv_id >> srv_name >> srv_addr >> state && be_name == backend) {
      out[srv_name] = state;
    }
  }
  return out;
}

}  // namespace stampede::shop
