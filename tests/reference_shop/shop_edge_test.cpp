// The shop's front door (HAProxy as `stampede shop` configures it) against connections that never finish a
// request: slowloris clients are closed within `timeout http-request`, one source cannot hold more than its
// share of connections, and a good client from another address is served throughout. Sources are told
// apart by binding clients to different loopback addresses (127.0.0.2, 127.0.0.3: all of 127/8 is local).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/http_parse.h"
#include "reference_shop/haproxy_config.h"
#include "tests/reference_shop/shop_process_support.h"

namespace stampede::shop {
namespace {

using namespace testing;
using steady = std::chrono::steady_clock;

// A TCP connection from `source` (a loopback address) to 127.0.0.1:port; -1 if it could not connect.
int connect_from(const char* source, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(port);
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// One GET from `source` on a fresh connection; the response status (0 if none).
int get_from(const char* source, uint16_t port, const std::string& target) {
  const int fd = connect_from(source, port);
  if (fd < 0) return 0;
  const std::string request = "GET " + target + " HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return 0;
  }
  http::response_parser parser;
  char buffer[16384];
  while (!parser.complete() && parser.error() == http::parse_error::none) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      parser.on_eof();
      break;
    }
    parser.feed(std::span<const char>(buffer, static_cast<size_t>(n)));
  }
  ::close(fd);
  return parser.complete() ? parser.status() : 0;
}

// Waits until every descriptor sees EOF or an error (reading and discarding what arrives, e.g. a 408), or
// the deadline; returns, per descriptor, the time from `start` it was closed (nullopt: still open).
std::vector<std::optional<std::chrono::milliseconds>> wait_closed(const std::vector<int>& fds,
                                                                  steady::time_point start,
                                                                  std::chrono::milliseconds deadline) {
  std::vector<std::optional<std::chrono::milliseconds>> closed(fds.size());
  size_t open = fds.size();
  while (open > 0 && steady::now() < start + deadline) {
    std::vector<pollfd> polled;
    std::vector<size_t> index;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (closed[i]) continue;
      polled.push_back({fds[i], POLLIN, 0});
      index.push_back(i);
    }
    if (::poll(polled.data(), polled.size(), 100) <= 0) continue;
    for (size_t k = 0; k < polled.size(); ++k) {
      if (polled[k].revents == 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(polled[k].fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n > 0) continue;  // HAProxy's 408 before the close
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      closed[index[k]] = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
      --open;
    }
  }
  return closed;
}

TEST(haproxy_config, front_door_has_request_timeouts_per_source_limits_and_sized_maxconn) {
  haproxy_config c;
  c.servers.push_back({"node1", "127.0.0.1", 9001, 100});
  const std::string text = render_haproxy_config(c);
  for (const char* expected :
       {"timeout http-request 5000ms", "timeout http-keep-alive 10000ms", "timeout client 30000ms",
        "timeout queue 10000ms", "stick-table type ip size 100k expire 30s store conn_cur,conn_rate(10s)",
        "tcp-request connection track-sc0 src", "tcp-request connection reject if { sc0_conn_cur gt 2000 }",
        "tcp-request connection reject if { sc0_conn_rate gt 20000 }",
        "server node1 127.0.0.1:9001 check weight 100 maxconn 64"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << expected << " in\n" << text;
  }
  c.per_source_connections = 0;
  c.per_source_connection_rate = 0;
  EXPECT_EQ(render_haproxy_config(c).find("reject"), std::string::npos);
  // Two descriptors per proxied connection, a reserve, a cap; the shop's frontend leaves room for stats.
  EXPECT_EQ(size_maxconn(20'000).global, 9'900);
  EXPECT_EQ(size_maxconn(20'000).frontend, 9'800);
  EXPECT_EQ(size_maxconn(1'024).global, 412);
  EXPECT_EQ(size_maxconn(1'024).frontend, 412 - 20);
  EXPECT_EQ(size_maxconn(100'000'000).global, 200'000);
  EXPECT_GT(size_maxconn(10).global, 0);
}

// 500 connections from one address that never finish a request (half send part of a header, half nothing):
// beyond the per-source limit (300 here) they are refused at once, the rest are closed within HAProxy's
// http-request timeout (5 s), and a client from another address is served all along.
TEST_F(shop_process_test, slowloris_through_haproxy_is_closed_within_the_request_timeout) {
  start({"--nodes", "2", "--threads", "1", "--edge-conn-limit", "300"});
  const uint16_t port = port_of(entry_);
  std::atomic<bool> stop{false};
  std::atomic<int> good_ok{0}, good_failed{0};
  std::thread good([&] {
    while (!stop) {
      (get_from("127.0.0.2", port, "/api/products/7") == 200 ? good_ok : good_failed)++;
      std::this_thread::sleep_for(20ms);  // a customer's pace, not a flood
    }
  });
  const auto start_time = steady::now();
  std::vector<int> attackers;
  for (int i = 0; i < 500; ++i) {
    const int fd = connect_from("127.0.0.3", port);
    ASSERT_GE(fd, 0) << "connect " << i;
    if (i % 2 == 0) {
      const std::string partial = "GET /api/products/1 HTTP/1.1\r\nHost: shop\r\nX-Slow: a\r\n";
      ::send(fd, partial.data(), partial.size(), MSG_NOSIGNAL);
    }
    attackers.push_back(fd);
  }
  const auto closed = wait_closed(attackers, start_time, 12s);
  stop = true;
  good.join();
  int early = 0, open = 0;
  std::chrono::milliseconds last{0};
  for (const auto& c : closed) {
    if (!c) {
      ++open;
      continue;
    }
    if (*c < 3s) ++early;
    last = std::max(last, *c);
  }
  for (int fd : attackers) ::close(fd);
  std::printf(
      "slowloris: %d refused at once, %d open after 12 s, last closed at %lld ms; good client %d ok, %d "
      "failed\n",
      early, open, static_cast<long long>(last.count()), good_ok.load(), good_failed.load());
  EXPECT_EQ(open, 0) << "connections still held past HAProxy's request timeout";
  EXPECT_GE(early, 200) << "the per-source limit (300) did not refuse the excess";
  EXPECT_LT(last, 10s);
  EXPECT_GT(good_ok.load(), 20);
  EXPECT_EQ(good_failed.load(), 0);
  stop_and_expect_nothing_left();
}

}  // namespace
}  // namespace stampede::shop
