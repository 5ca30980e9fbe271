// The proxy's own epoll set for connections with no toxic (chaos/connection_epoll.cpp, one io thread):
// a FIN or RST that arrives with the last bytes still passes on, a slow reader holds the other side
// back without a byte lost (multi-MB), a toxic added while a connection sits in the set (idle or with
// bytes pending, or after one direction's EOF) takes over without losing or reordering a byte, and idle
// connections in the set close.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <filesystem>
#include <mutex>
#include <thread>

#include "chaos/proxy_server.h"
#include "chaos_test_support.h"
#include "epoll_introspection.h"
#include "tests/support/sanitizers.h"

namespace stampede::chaos {
namespace {

using namespace testing;

toxic_spec latency(int64_t ms) {
  toxic_spec t;
  t.name = "slow";
  t.type = toxic_type::latency;
  t.stream = stream_direction::both;
  t.latency = ms;
  return t;
}

class epoll_fixture : public ::testing::Test {
 protected:
  uint16_t add(const std::string& upstream) {
    auto info = server_.add_proxy({.name = "p", .listen = "127.0.0.1:0", .upstream = upstream});
    return port_of(info.config.listen);
  }
  proxy_info settled(uint64_t up, uint64_t down) {
    auto info = server_.proxy("p");
    for (int i = 0; i < 300 && (info->bytes_upstream < up || info->bytes_downstream < down); ++i) {
      std::this_thread::sleep_for(10ms);
      info = server_.proxy("p");
    }
    return *info;
  }
  server_options options_{.threads = 1, .seed = 7};
  proxy_server server_{options_};
};

TEST_F(epoll_fixture, connections_with_no_toxic_use_the_own_set) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo.address());
  const size_t before = epoll_descriptors();
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(send_all(fd.get(), "ping"));
  EXPECT_EQ(read_until(fd.get(), 4, 5s).data, "ping");
  EXPECT_EQ(epoll_descriptors(), before);  // the set is the server's, made with it
  if (server_.io_wait_mode() == io_wait::own_loop) {
    EXPECT_EQ(loop_set_watches(), 4u);  // Asio's reactor, the wake-up eventfd, the connection's sockets
  } else {
    EXPECT_EQ(server_.io_wait_mode(), epoll_set_enabled() ? io_wait::nested : io_wait::asio);
  }
}

// An upstream that sends its answer and its FIN at once (one segment train, often one epoll edge with
// EPOLLIN | EPOLLRDHUP): the client gets every byte, then the EOF, for sizes around the buffer's.
TEST_F(epoll_fixture, a_fin_with_the_last_bytes_passes_on) {
  bool first = true;
  for (size_t size : {1, 615, 16383, 16384, 16385, 100'000}) {
    const std::string data = pattern(size, static_cast<uint32_t>(size));
    tcp_server upstream([&](int fd) {
      send_all(fd, data);
      ::shutdown(fd, SHUT_WR);
      char sink[256];
      while (::recv(fd, sink, sizeof sink, 0) > 0) {
      }
    });
    if (!std::exchange(first, false)) server_.remove_proxy("p");
    const uint16_t port = add(upstream.address());
    for (int i = 0; i < 5; ++i) {
      auto fd = connect_to(port);
      ASSERT_GE(fd.get(), 0);
      auto r = read_until(fd.get(), SIZE_MAX, 5s);
      EXPECT_EQ(r.end, read_end::eof) << size << " bytes, try " << i;
      EXPECT_TRUE(r.data == data) << size << " bytes, got " << r.data.size();
    }
  }
}

// The half-close: the upstream's FIN with its answer, then the client still sends and the upstream
// still receives; the client's FIN ends the connection.
TEST_F(epoll_fixture, a_fin_with_the_last_bytes_leaves_the_other_direction_open) {
  received_text received;
  tcp_server upstream([&](int fd) {
    send_all(fd, "answer");
    ::shutdown(fd, SHUT_WR);
    auto r = read_until(fd, SIZE_MAX, 5s);
    received.set(std::move(r.data));
  });
  const uint16_t port = add(upstream.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  auto r = read_until(fd.get(), SIZE_MAX, 5s);
  EXPECT_EQ(r.end, read_end::eof);
  EXPECT_EQ(r.data, "answer");
  ASSERT_TRUE(send_all(fd.get(), "after the eof"));
  ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);
  const std::string got = received.wait(5s);
  EXPECT_EQ(got, "after the eof");
  EXPECT_NE(wait_closed(fd.get(), 5s), read_end::timeout);
}

// A client that sends its last bytes and resets at once: the upstream sees a reset (or the bytes, then
// a reset), never a clean EOF and never silence.
TEST_F(epoll_fixture, a_reset_with_the_last_bytes_passes_on) {
  std::vector<read_end> ends;
  std::mutex mutex;
  tcp_server upstream([&](int fd) {
    auto r = read_until(fd, SIZE_MAX, 5s);
    std::lock_guard lock(mutex);
    ends.push_back(r.end);
  });
  const uint16_t port = add(upstream.address());
  constexpr int tries = 10;
  for (int i = 0; i < tries; ++i) {
    auto fd = connect_to(port);
    ASSERT_GE(fd.get(), 0);
    ASSERT_TRUE(send_all(fd.get(), "hello"));
    std::this_thread::sleep_for(20ms);  // the connection sits in the set, the upstream reads "hello"
    ASSERT_TRUE(send_all(fd.get(), pattern(3000, static_cast<uint32_t>(i))));
    linger hard{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    fd.reset();  // the RST right behind the bytes
  }
  for (int i = 0; i < 500; ++i) {
    {
      std::lock_guard lock(mutex);
      if (ends.size() == tries) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  std::lock_guard lock(mutex);
  ASSERT_EQ(ends.size(), static_cast<size_t>(tries));
  for (auto end : ends) EXPECT_EQ(end, read_end::reset);
}

// A client that reads slowly while the upstream sends 16 MB as fast as it can: the proxy stops reading
// the upstream while its sends wait (backpressure), and every byte arrives once, in order.
TEST_F(epoll_fixture, a_slow_reader_holds_back_a_multi_megabyte_transfer) {
  const std::string data = pattern(16 << 20, 11);
  tcp_server upstream([&](int fd) {
    for (size_t at = 0; at < data.size(); at += 3000) {  // small and large reads on the proxy's side
      if (!send_all(fd, std::string_view(data).substr(at, 3000))) return;
    }
    ::shutdown(fd, SHUT_WR);
    char sink[256];
    while (::recv(fd, sink, sizeof sink, 0) > 0) {
    }
  });
  const uint16_t port = add(upstream.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  std::this_thread::sleep_for(300ms);  // every buffer on the way fills up
  // Backpressure: the proxy holds at most a chunk it could not send (the 64 KiB splice pipe).
  const auto early = server_.proxy("p");
  EXPECT_GT(early->received_downstream, 0u);
  EXPECT_LE(early->received_downstream - early->bytes_downstream, 64u * 1024);
  std::string got;
  char buf[2048];
  for (int slow = 0; slow < 50; ++slow) {  // slowly at first
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
    std::this_thread::sleep_for(2ms);
  }
  auto r = read_until(fd.get(), SIZE_MAX, 30s);
  EXPECT_EQ(r.end, read_end::eof);
  got += r.data;
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  const auto info = settled(0, data.size());
  EXPECT_EQ(info.bytes_downstream, data.size());
  EXPECT_EQ(info.received_downstream, data.size());
}

// A toxic added while the connection sits idle in the set: the next exchange sees it; removed, the
// connection stays exact (on the Asio pumps).
TEST_F(epoll_fixture, a_toxic_added_while_in_the_set_takes_effect) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  auto round_trip = [&](uint32_t seed) {
    const std::string data = pattern(5000, seed);
    const auto start = steady::now();
    EXPECT_TRUE(send_all(fd.get(), data));
    EXPECT_TRUE(read_until(fd.get(), data.size(), 5s).data == data);
    return ms_since(start);
  };
  for (uint32_t i = 0; i < 3; ++i) round_trip(i);
  server_.add_toxic("p", latency(60));
  for (uint32_t i = 0; i < 2; ++i) EXPECT_GE(round_trip(10 + i), 60.0);
  server_.remove_toxic("p", "slow");
  for (uint32_t i = 0; i < 3; ++i) EXPECT_LT(round_trip(20 + i), 1000.0);
}

// A toxic added while the set holds bytes it could not send yet (a stalled upstream): those go first,
// then the toxic's path carries the rest; nothing lost or reordered.
TEST_F(epoll_fixture, a_toxic_added_with_bytes_pending_loses_or_reorders_nothing) {
  received_text received;
  tcp_server stalling([&](int fd) {
    std::this_thread::sleep_for(400ms);  // the proxy's sends fill the socket meanwhile
    auto r = read_until(fd, SIZE_MAX, 20s);
    received.set(std::move(r.data));
  });
  const uint16_t port = add(stalling.address());
  const std::string data = pattern(6 << 20, 21);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  std::thread sender([&] {
    for (size_t at = 0; at < data.size(); at += 5000) {
      if (!send_all(fd.get(), std::string_view(data).substr(at, 5000))) return;
    }
    ::shutdown(fd.get(), SHUT_WR);
  });
  std::this_thread::sleep_for(150ms);  // the set's sends are blocked now
  server_.add_toxic("p", latency(1));
  sender.join();
  const std::string got = received.wait(20s);
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
}

// A toxic added after one direction's EOF went through the set: only the other direction gets an Asio
// pump; it carries the toxic, and the client's own EOF then ends the connection.
TEST_F(epoll_fixture, a_toxic_added_after_a_half_close_in_the_set_takes_the_open_direction) {
  received_text received;
  tcp_server upstream([&](int fd) {
    send_all(fd, "answer");
    ::shutdown(fd, SHUT_WR);
    auto r = read_until(fd, SIZE_MAX, 5s);
    received.set(std::move(r.data));
  });
  const uint16_t port = add(upstream.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  auto r = read_until(fd.get(), SIZE_MAX, 5s);
  ASSERT_EQ(r.end, read_end::eof);
  EXPECT_EQ(r.data, "answer");
  server_.add_toxic("p", latency(50));
  std::this_thread::sleep_for(20ms);  // the wake reaches the connection: back to Asio
  const auto start = steady::now();
  ASSERT_TRUE(send_all(fd.get(), "after the eof"));
  ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);
  const std::string got = received.wait(2500ms);
  EXPECT_EQ(got, "after the eof");
  EXPECT_GE(ms_since(start), 50.0);  // the toxic's latency
  EXPECT_NE(wait_closed(fd.get(), 5s), read_end::timeout);
  const auto info = settled(13, 6);
  EXPECT_EQ(info.bytes_upstream, 13u);
  EXPECT_EQ(info.bytes_downstream, 6u);
}

class epoll_idle : public ::testing::Test {
 protected:
  proxy_server server_{server_options{.threads = 1, .seed = 7, .idle_timeout = 200ms}};
};

TEST_F(epoll_idle, an_idle_connection_in_the_set_is_closed) {
  tcp_server echo(echo_handler);
  auto info = server_.add_proxy({.name = "p", .listen = "127.0.0.1:0", .upstream = echo.address()});
  const auto port = port_of(info.config.listen);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(send_all(fd.get(), "ping"));
  EXPECT_EQ(read_until(fd.get(), 4, 5s).data, "ping");
  const auto start = steady::now();
  EXPECT_EQ(wait_closed(fd.get(), 5s), read_end::eof);
  EXPECT_GE(ms_since(start), 150.0);
  EXPECT_LT(ms_since(start), 2000.0 + stampede::testing::sanitizer_overhead_ms);
}

}  // namespace
}  // namespace stampede::chaos
