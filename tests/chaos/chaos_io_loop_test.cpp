// The io thread's own loop (chaos/io_loop.h; one io thread): the proxies of a server share its epoll set,
// Asio's timers fire and other threads' posts take effect while the loop blocks with no socket traffic,
// the server's destruction ends the loop promptly, and the nested form serves when Asio's reactor
// descriptor is not found (or the loop is turned off). Every behaviour is asserted in whichever form
// the server runs (STAMPEDE_PROXY_LOOP=0 runs the suite nested); the set's contents only with the loop.
#include <gtest/gtest.h>

#include <cstdlib>
#include <future>
#include <string_view>
#include <thread>

#include "chaos/io_loop.h"
#include "chaos/proxy_server.h"
#include "chaos_test_support.h"
#include "epoll_introspection.h"
#include "tests/support/sanitizers.h"

namespace stampede::chaos {
namespace {

using namespace testing;

bool loop_off_by_environment() {
  const char* v = std::getenv("STAMPEDE_PROXY_LOOP");
  return v && (std::string_view(v) == "0" || std::string_view(v) == "off" || std::string_view(v) == "false" ||
               std::string_view(v) == "no");
}

// The form a one-thread server with default options takes in this build and environment.
io_wait expected_mode() {
  if (!epoll_set_enabled()) return io_wait::asio;
  return loop_off_by_environment() ? io_wait::nested : io_wait::own_loop;
}

template <class F>
bool settles(F ready, std::chrono::milliseconds bound) {
  const auto deadline = steady::now() + bound;
  while (!ready()) {
    if (steady::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

uint16_t add(proxy_server& server, const std::string& name, const std::string& upstream) {
  auto info = server.add_proxy({.name = name, .listen = "127.0.0.1:0", .upstream = upstream});
  return port_of(info.config.listen);
}

// Sends `data` through an echo on another thread and reads it back here: every byte, in order.
bool echoes(int fd, const std::string& data) {
  std::thread sender([&] { send_all(fd, data); });
  auto r = read_until(fd, data.size(), 10s);
  sender.join();
  return r.data == data;
}

toxic_spec toxic(toxic_type type, std::string name) {
  toxic_spec t;
  t.name = std::move(name);
  t.type = type;
  t.stream = stream_direction::downstream;
  return t;
}

server_options one_thread() { return {.threads = 1, .seed = 11}; }

// Each io_context's own reactor, told apart from the other epoll instances of the process (another
// io_context's, a standalone set); none under a directory that is not /proc/self.
TEST(io_loop, find_reactor_finds_each_io_contexts_own_reactor) {
  boost::asio::io_context first, second;
  epoll_set standalone([](void*, uint32_t) {}, 0);
  const int a = io_loop::find_reactor(first, "/proc/self");
  const int b = io_loop::find_reactor(second, "/proc/self");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_NE(a, b);
  EXPECT_NE(a, standalone.native_handle());
  EXPECT_TRUE(epoll_descriptor_set().contains(a));
  EXPECT_EQ(io_loop::find_reactor(first, "/proc/self"), a);  // the probe left nothing behind
  EXPECT_EQ(io_loop::find_reactor(first, "/nonexistent/proc/self"), -1);
}

TEST(io_loop, the_default_one_thread_server_runs_the_expected_form) {
  proxy_server server(one_thread());
  EXPECT_EQ(server.io_wait_mode(), expected_mode());
  proxy_server two(server_options{.threads = 2});
  EXPECT_EQ(two.io_wait_mode(), io_wait::asio);  // several io threads: no own set
}

// Two proxies of one server: one set holds both connections' sockets, multi-hundred-KB transfers pass
// through both at once, and removing one proxy leaves the other's connections and new ones working.
TEST(io_loop, two_proxies_share_the_set_and_outlive_each_other) {
  tcp_server echo_a(echo_handler), echo_b(echo_handler);
  proxy_server server(one_thread());
  const bool loop = server.io_wait_mode() == io_wait::own_loop;
  const uint16_t port_a = add(server, "a", echo_a.address());
  const uint16_t port_b = add(server, "b", echo_b.address());
  auto a = connect_to(port_a);
  auto b = connect_to(port_b);
  ASSERT_GE(a.get(), 0);
  ASSERT_GE(b.get(), 0);
  const std::string data_a = pattern(300'000, 1), data_b = pattern(300'000, 2);
  auto through_a = std::async(std::launch::async, [&] { return echoes(a.get(), data_a); });
  EXPECT_TRUE(echoes(b.get(), data_b));
  EXPECT_TRUE(through_a.get());
  if (loop) {
    EXPECT_EQ(loop_set_watches(), 6u);  // reactor, eventfd, 2 x 2 sockets
  }

  server.remove_proxy("a");
  EXPECT_NE(wait_closed(a.get(), 5s), read_end::timeout);
  EXPECT_NE(connect_errno(port_a), 0);
  EXPECT_TRUE(echoes(b.get(), pattern(100'000, 3)));
  auto b2 = connect_to(port_b);
  ASSERT_GE(b2.get(), 0);
  EXPECT_TRUE(echoes(b2.get(), "second connection"));
  if (loop) {
    EXPECT_EQ(loop_set_watches(), 6u);  // a's sockets left, b2's came
  }
  // The counters follow the sends, which the client's reads may overtake.
  constexpr uint64_t through_b = 300'000 + 100'000 + 17;
  EXPECT_TRUE(settles(
      [&] {
        const auto info = server.proxy("b");
        return info && info->bytes_upstream == through_b && info->bytes_downstream == through_b;
      },
      2s));
}

// The idle deadline is an Asio timer (its timerfd sits in Asio's reactor): it fires while the loop
// blocks with no socket traffic, and the connection's sockets leave the set.
TEST(io_loop, an_idle_deadline_fires_while_the_loop_blocks) {
  tcp_server echo(echo_handler);
  server_options options = one_thread();
  options.idle_timeout = 300ms;
  proxy_server server(options);
  const uint16_t port = add(server, "p", echo.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(echoes(fd.get(), "ping"));
  const auto quiet_since = steady::now();
  if (server.io_wait_mode() == io_wait::own_loop) {
    EXPECT_EQ(loop_set_watches(), 4u);
  }
  EXPECT_NE(wait_closed(fd.get(), 5s), read_end::timeout);
  EXPECT_GE(ms_since(quiet_since), 300.0 - 5.0);
  EXPECT_LT(ms_since(quiet_since), 2'000.0 + stampede::testing::sanitizer_overhead_ms * 10);
  if (server.io_wait_mode() == io_wait::own_loop) {
    EXPECT_TRUE(settles([] { return loop_set_watches() == 2u; }, 2s));
  }
}

// A toxic added from this (the API's) thread while the loop blocks, no byte moving: the connection's
// wake-up runs at once (the post kicks the loop), the connection leaves the set for the Asio pumps, and
// the toxic acts on the next bytes.
TEST(io_loop, a_toxic_added_while_the_loop_blocks_takes_the_connection_out_of_the_set) {
  tcp_server echo(echo_handler);
  proxy_server server(one_thread());
  const bool loop = server.io_wait_mode() == io_wait::own_loop;
  const uint16_t port = add(server, "p", echo.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(echoes(fd.get(), "ping"));
  if (loop) {
    EXPECT_EQ(loop_set_watches(), 4u);
  }
  std::this_thread::sleep_for(50ms);  // the loop is blocked in epoll_wait by now
  auto slow = toxic(toxic_type::latency, "slow");
  slow.latency = 300;
  server.add_toxic("p", slow);
  if (loop) {
    EXPECT_TRUE(settles([] { return loop_set_watches() == 2u; }, 2s));  // no traffic needed
  }
  const auto sent = steady::now();
  ASSERT_TRUE(send_all(fd.get(), "pong"));
  EXPECT_EQ(read_until(fd.get(), 4, 5s).data, "pong");
  EXPECT_GE(ms_since(sent), 300.0 - 5.0);
}

// A timed toxic that acts without any traffic (timeout: close after 150 ms): it starts only if the
// wake-up posted from this thread runs while the loop blocks; a missed kick would leave the connection
// open until its 600 s idle deadline.
TEST(io_loop, a_timed_toxic_added_while_the_loop_blocks_acts_without_traffic) {
  tcp_server echo(echo_handler);
  proxy_server server(one_thread());
  const uint16_t port = add(server, "p", echo.address());
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  ASSERT_TRUE(echoes(fd.get(), "ping"));
  std::this_thread::sleep_for(50ms);
  auto cut = toxic(toxic_type::timeout, "cut");
  cut.timeout = 150;
  const auto added = steady::now();
  server.add_toxic("p", cut);
  EXPECT_NE(wait_closed(fd.get(), 5s), read_end::timeout);
  EXPECT_GE(ms_since(added), 150.0 - 5.0);
}

// Destroying the server with connections in the set and the loop blocked: the destructor returns well
// before its 2 s grace for connections (the loop ends as soon as the io_context stops), and the
// clients see their connections closed.
TEST(io_loop, the_server_destruction_ends_the_loop_promptly) {
  tcp_server echo(echo_handler);
  auto server = std::make_unique<proxy_server>(one_thread());
  const uint16_t port = add(*server, "p", echo.address());
  auto one = connect_to(port);
  auto two = connect_to(port);
  ASSERT_GE(one.get(), 0);
  ASSERT_GE(two.get(), 0);
  ASSERT_TRUE(echoes(one.get(), "one"));
  ASSERT_TRUE(echoes(two.get(), "two"));
  std::this_thread::sleep_for(50ms);
  const auto start = steady::now();
  auto destroyed = std::async(std::launch::async, [&] { server.reset(); });
  ASSERT_EQ(destroyed.wait_for(10s), std::future_status::ready);  // bounded join
  EXPECT_LT(ms_since(start), 1'500.0 + stampede::testing::sanitizer_overhead_ms * 10);
  EXPECT_NE(wait_closed(one.get(), 1s), read_end::timeout);
  EXPECT_NE(wait_closed(two.get(), 1s), read_end::timeout);
}

// Asio's reactor descriptor not found (no /proc there): the nested form, which forwards, applies
// toxics and ends as before. Likewise with the loop turned off.
TEST(io_loop, the_nested_form_serves_when_the_reactor_is_not_found_or_the_loop_is_off) {
  server_options not_found = one_thread();
  not_found.proc_self = "/nonexistent/proc/self";
  server_options off = one_thread();
  off.own_loop = false;
  for (const auto& options : {not_found, off}) {
    tcp_server echo(echo_handler);
    proxy_server server(options);
    EXPECT_EQ(server.io_wait_mode(), epoll_set_enabled() ? io_wait::nested : io_wait::asio);
    const uint16_t port = add(server, "p", echo.address());
    auto fd = connect_to(port);
    ASSERT_GE(fd.get(), 0);
    EXPECT_TRUE(echoes(fd.get(), pattern(200'000, 4)));
    auto slow = toxic(toxic_type::latency, "slow");
    slow.latency = 200;
    server.add_toxic("p", slow);
    const auto sent = steady::now();
    ASSERT_TRUE(send_all(fd.get(), "pong"));
    EXPECT_EQ(read_until(fd.get(), 4, 5s).data, "pong");
    EXPECT_GE(ms_since(sent), 200.0 - 5.0);
  }
}

}  // namespace
}  // namespace stampede::chaos
