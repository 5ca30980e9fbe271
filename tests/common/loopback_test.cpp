// free_loopback_port: ports outside the kernel's ephemeral range (which outgoing connections draw from),
// free when returned, spread at random, never one a listener holds.
#include "common/loopback.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <vector>

namespace {

// A listening socket on 127.0.0.1:port; fd < 0 when it cannot bind.
struct listener {
  int fd = -1;
  explicit listener(uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 4) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ~listener() {
    if (fd >= 0) ::close(fd);
  }
};

TEST(loopback, the_ephemeral_range_is_read_from_the_kernel) {
  const auto range = stampede::ephemeral_port_range();
  EXPECT_GE(range.first, 1);
  EXPECT_LE(range.first, range.last);
}

TEST(loopback, ports_are_outside_the_ephemeral_range_free_and_spread) {
  const auto range = stampede::ephemeral_port_range();
  const bool room = (range.first > 21000) || (65535 - range.last >= 1000);
  std::set<uint16_t> seen;
  for (int i = 0; i < 50; ++i) {
    const uint16_t port = stampede::free_loopback_port();
    if (room) {
      EXPECT_TRUE(port < range.first || port > range.last) << port;
      EXPECT_GE(port, 20000);
    }
    const listener l(port);
    EXPECT_GE(l.fd, 0) << "port " << port << " was returned as free but cannot be bound";
    seen.insert(port);
  }
  EXPECT_GE(seen.size(), 40u);  // random over thousands of ports: repeats are rare
}

TEST(loopback, a_port_a_listener_holds_is_never_returned) {
  // Hold many ports of the range; none of them may come back while held.
  std::set<uint16_t> held;
  std::vector<std::unique_ptr<listener>> listeners;
  for (int i = 0; i < 200; ++i) {
    const uint16_t port = stampede::free_loopback_port();
    auto l = std::make_unique<listener>(port);
    ASSERT_GE(l->fd, 0);
    held.insert(port);
    listeners.push_back(std::move(l));
  }
  for (int i = 0; i < 200; ++i) EXPECT_EQ(held.count(stampede::free_loopback_port()), 0u);
}

}  // namespace
