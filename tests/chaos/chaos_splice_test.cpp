// The zero-copy pump (splice(2) while no toxic acts on a direction, chaos/connection_splice.cpp) and its
// switch to and from the user-space pump: bytes exact and in order on both paths, toxics added and
// removed mid-stream take effect, half-close and reset pass through, many connections at once.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <filesystem>
#include <thread>

#include "chaos/proxy_server.h"
#include "chaos/splice_pipe.h"
#include "chaos_test_support.h"
#include "tests/support/sanitizers.h"

namespace stampede::chaos {
namespace {

// 2 by default; the *_one_thread_test build of this file runs it with one io thread, where connections
// with no toxic live in the proxy's own epoll set (chaos/connection_epoll.cpp).
#ifndef STAMPEDE_TEST_PROXY_THREADS
#define STAMPEDE_TEST_PROXY_THREADS 2
#endif
constexpr int proxy_test_threads = STAMPEDE_TEST_PROXY_THREADS;

using namespace testing;

enum class path { splice, user_space };

class splice_fixture : public ::testing::TestWithParam<path> {
 protected:
  uint16_t add(const tcp_server& upstream) {
    auto info = server_.add_proxy({.name = "p", .listen = "127.0.0.1:0", .upstream = upstream.address()});
    const uint16_t port = port_of(info.config.listen);
    // A latency of 0 changes nothing but the path: every byte goes through user space.
    if (GetParam() == path::user_space) server_.add_toxic("p", zero_latency());
    return port;
  }
  static toxic_spec zero_latency() {
    toxic_spec t;
    t.name = "zero";
    t.type = toxic_type::latency;
    t.stream = stream_direction::both;
    return t;
  }
  static toxic_spec latency(int64_t ms, stream_direction stream) {
    toxic_spec t;
    t.name = "slow";
    t.type = toxic_type::latency;
    t.stream = stream;
    t.latency = ms;
    return t;
  }
  // The forwarded byte counters catch up once the proxy has seen its writes complete.
  proxy_info settled(uint64_t up, uint64_t down) {
    auto info = server_.proxy("p");
    for (int i = 0; i < 300 && (info->bytes_upstream < up || info->bytes_downstream < down); ++i) {
      std::this_thread::sleep_for(10ms);
      info = server_.proxy("p");
    }
    return *info;
  }
  // Large transfers go by splice on that path (small chunks stay in user space on both).
  void expect_path(const proxy_info& info) const {
    if (GetParam() == path::user_space || !splice_enabled()) {
      EXPECT_EQ(info.bytes_spliced, 0u);
    } else {
      EXPECT_GT(info.bytes_spliced, (info.bytes_upstream + info.bytes_downstream) / 2);
    }
  }

  proxy_server server_{server_options{.threads = proxy_test_threads, .seed = 7}};
};

// Sends `data` from a thread while this one reads the echo: both directions stream at once.
std::string echo_through(int fd, const std::string& data, std::chrono::milliseconds timeout) {
  std::thread sender([&] { send_all(fd, data); });
  auto r = read_until(fd, data.size(), timeout);
  sender.join();
  return r.data;
}

TEST_P(splice_fixture, large_transfer_both_ways_is_byte_exact) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  const std::string data = pattern(16 << 20);
  EXPECT_TRUE(echo_through(fd.get(), data, 30s) == data);
  const auto info = settled(data.size(), data.size());
  EXPECT_EQ(info.bytes_upstream, data.size());
  EXPECT_EQ(info.bytes_downstream, data.size());
  expect_path(info);
}

TEST_P(splice_fixture, small_exchanges_are_byte_exact) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  uint64_t total = 0;
  // Up, then down again: the small ones after the large ones meet a pump that was splicing.
  for (size_t size : {1, 2, 7, 100, 615, 1460, 4096, 16384, 65535, 65536, 65537, 200'000, 1'000'000, 65536,
                      16385, 16384, 16383, 615, 1}) {
    const std::string data = pattern(size, static_cast<uint32_t>(size));
    ASSERT_TRUE(send_all(fd.get(), data));
    EXPECT_TRUE(read_until(fd.get(), size, 5s).data == data) << size << " bytes";
    total += size;
  }
  const auto info = settled(total, total);
  if (GetParam() == path::user_space || !splice_enabled()) {
    EXPECT_EQ(info.bytes_spliced, 0u);
  } else {
    EXPECT_GT(info.bytes_spliced, 0u);
  }
}

// An upstream that reads nothing for a while: the proxy's writes meet a full socket and wait (on either
// path), then every byte arrives once, in order.
TEST_P(splice_fixture, a_stalled_upstream_gets_every_byte_once_it_reads) {
  received_text received;
  tcp_server stalling([&](int fd) {
    std::this_thread::sleep_for(300ms);  // the proxy's writes fill both sockets' buffers meanwhile
    auto r = read_until(fd, SIZE_MAX, 10s);
    received.set(std::move(r.data));
  });
  const uint16_t port = add(stalling);
  const std::string data = pattern(4 << 20, 5);
  std::string got;
  {
    auto fd = connect_to(port);
    ASSERT_GE(fd.get(), 0);
    for (size_t at = 0; at < data.size(); at += 4000) {  // small writes: short reads, not only splice
      ASSERT_TRUE(send_all(fd.get(), std::string_view(data).substr(at, 4000)));
    }
    ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);
    got = received.wait(20s);  // the client stays connected until the upstream has read it all
  }
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

TEST_P(splice_fixture, half_close_passes_the_eof_and_the_other_direction_goes_on) {
  tcp_server echo(echo_handler);  // echoes until EOF, then closes its side
  const uint16_t port = add(echo);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  const std::string data = pattern(300'000, 3);
  ASSERT_TRUE(send_all(fd.get(), data));
  ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);  // the client is done sending, still reading
  auto r = read_until(fd.get(), data.size() + 1, 5s);
  EXPECT_EQ(r.end, read_end::eof);  // all the echo, then the upstream's own EOF
  EXPECT_TRUE(r.data == data);
}

// An upstream that answers, then closes with SO_LINGER 0 (RST), on a listener of its own: the test
// server keeps its descriptors open until it ends, so it cannot reset.
class resetting_upstream {
 public:
  resetting_upstream() : listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener_.get(), 4) != 0)
      throw std::runtime_error("resetting upstream: bind/listen failed");
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return;
      fd_guard peer(::accept(listener_.get(), nullptr, nullptr));
      char buf[16];
      if (::recv(peer.get(), buf, sizeof buf, 0) <= 0) return;
      send_all(peer.get(), "bye");
      linger hard{.l_onoff = 1, .l_linger = 0};
      ::setsockopt(peer.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    });  // peer's close sends the RST
  }
  ~resetting_upstream() { thread_.join(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  fd_guard listener_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST_P(splice_fixture, upstream_reset_reaches_the_client_as_a_reset) {
  resetting_upstream upstream;
  auto info = server_.add_proxy({.name = "p", .listen = "127.0.0.1:0", .upstream = upstream.address()});
  const auto port = port_of(info.config.listen);
  if (GetParam() == path::user_space) server_.add_toxic("p", zero_latency());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(send_all(fd.get(), "hello"));
  // The reset is passed on as a reset ("bye" may or may not be read before it: a RST discards it).
  EXPECT_EQ(read_until(fd.get(), SIZE_MAX, 5s).end, read_end::reset);
}

TEST_P(splice_fixture, many_connections_at_once_stay_separate_and_exact) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  constexpr int connections = 40;
  std::vector<std::thread> clients;
  std::atomic<int> exact{0};
  for (int i = 0; i < connections; ++i) {
    clients.emplace_back([&, i] {
      auto fd = connect_to(port);
      const std::string data = pattern(100'000 + static_cast<size_t>(i) * 997, static_cast<uint32_t>(i + 10));
      if (fd.get() >= 0 && echo_through(fd.get(), data, 20s) == data) ++exact;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(exact.load(), connections);
}

// The process's open pipes (each splice pipe is two descriptors shown as "pipe:[inode]").
size_t open_pipe_descriptors() {
  size_t n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    n += std::filesystem::read_symlink(entry.path(), link_ec).string().starts_with("pipe:");
  }
  return n;
}

TEST_P(splice_fixture, pipes_are_given_back_when_the_large_transfer_ends) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  const size_t before = open_pipe_descriptors();
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  const std::string large = pattern(2 << 20, 5);
  EXPECT_TRUE(echo_through(fd.get(), large, 10s) == large);
  for (int i = 0; i < 3; ++i) {  // small exchanges after it: each direction leaves the large-transfer mode
    ASSERT_TRUE(send_all(fd.get(), "ping"));
    EXPECT_EQ(read_until(fd.get(), 4, 5s).data, "ping");
  }
  size_t now = open_pipe_descriptors();
  for (int i = 0; i < 200 && now > before; ++i) {
    std::this_thread::sleep_for(10ms);
    now = open_pipe_descriptors();
  }
  EXPECT_EQ(now, before);  // the connection is still open, its pipes are not
}

INSTANTIATE_TEST_SUITE_P(paths, splice_fixture, ::testing::Values(path::splice, path::user_space),
                         [](const auto& info) {
                           return info.param == path::splice ? "splice" : "user_space";
                         });

// Toxics added and removed on a live connection: the pump switches at once, without a byte lost or
// reordered, and the toxic's latency is observed while it is there.
class splice_switch : public ::testing::Test {
 protected:
  proxy_server server_{server_options{.threads = proxy_test_threads, .seed = 7}};
};

TEST_F(splice_switch, latency_added_and_removed_mid_connection_takes_effect) {
  tcp_server echo(echo_handler);
  auto info = server_.add_proxy({.name = "p", .listen = "127.0.0.1:0", .upstream = echo.address()});
  const auto port = port_of(info.config.listen);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  auto round_trip = [&](uint32_t seed) {
    const std::string data = pattern(100'000, seed);  // large enough to be spliced
    const auto start = steady::now();
    EXPECT_TRUE(send_all(fd.get(), data));
    EXPECT_TRUE(read_until(fd.get(), data.size(), 5s).data == data);
    return ms_since(start);
  };
  double fastest = 1e9;
  for (uint32_t i = 0; i < 3; ++i) fastest = std::min(fastest, round_trip(i));
  EXPECT_LT(fastest, 40.0 + stampede::testing::sanitizer_overhead_ms);
  for (int cycle = 0; cycle < 2; ++cycle) {
    toxic_spec slow;
    slow.name = "slow";
    slow.type = toxic_type::latency;
    slow.stream = cycle == 0 ? stream_direction::downstream : stream_direction::upstream;
    slow.latency = 60;
    server_.add_toxic("p", slow);
    for (uint32_t i = 0; i < 2; ++i) EXPECT_GE(round_trip(100 + i), 60.0);
    server_.remove_toxic("p", "slow");
    double after = 1e9;
    for (uint32_t i = 0; i < 3; ++i) after = std::min(after, round_trip(200 + i));
    EXPECT_LT(after, 40.0 + stampede::testing::sanitizer_overhead_ms);  // back on the fast path
  }
  if (splice_enabled()) {
    EXPECT_GT(server_.proxy("p")->bytes_spliced, 0u);
  }
}

TEST_F(splice_switch, toxics_churned_under_streaming_traffic_lose_or_reorder_nothing) {
  tcp_server echo(echo_handler);
  auto info = server_.add_proxy({.name = "p", .listen = "127.0.0.1:0", .upstream = echo.address()});
  const auto port = port_of(info.config.listen);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  const std::string data = pattern(24 << 20, 99);
  std::atomic<bool> done{false};
  std::thread churn([&] {
    const stream_direction streams[] = {stream_direction::upstream, stream_direction::downstream,
                                        stream_direction::both};
    for (int i = 0; !done; ++i) {
      toxic_spec t;
      t.name = "churn";
      t.type = toxic_type::latency;
      t.stream = streams[i % 3];
      t.latency = 1;
      server_.add_toxic("p", t);
      std::this_thread::sleep_for(3ms);
      server_.remove_toxic("p", "churn");
      std::this_thread::sleep_for(12ms);  // long enough for the queues to empty and splicing to resume
    }
  });
  const std::string echoed = echo_through(fd.get(), data, 60s);
  done = true;
  churn.join();
  ASSERT_EQ(echoed.size(), data.size());
  EXPECT_TRUE(echoed == data);
  const auto p = server_.proxy("p");
  if (splice_enabled()) {
    EXPECT_GT(p->bytes_spliced, 0u);  // both pumps carried bytes
    EXPECT_LT(p->bytes_spliced, p->bytes_upstream + p->bytes_downstream);
  }
}

}  // namespace
}  // namespace stampede::chaos
