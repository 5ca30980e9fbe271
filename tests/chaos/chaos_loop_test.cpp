// Proxies that point at themselves, loops through several proxies, connection caps, and the control API
// while the data plane is flooded (issue #11.2). A self-loop used to be accepted: one connection then
// opened connections to itself until the process had 20,000 descriptors and 442 MB, and the API stopped
// answering (its accept failed with EMFILE).
#include <dirent.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "chaos/api.h"
#include "chaos/proxy_internal.h"
#include "chaos/proxy_listener.h"
#include "chaos/proxy_server.h"
#include "chaos_test_support.h"
#include "common/http_client.h"
#include "common/http_server.h"

namespace stampede::chaos {
namespace {

using namespace testing;

// A port on 127.0.0.1 held by a bound (not listening) SO_REUSEADDR socket: nobody else gets it, and a
// proxy (which binds with SO_REUSEADDR) still may. No race with other processes.
class reserved_port {
 public:
  reserved_port() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    int one = 1;
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("bind");
    socklen_t len = sizeof addr;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  uint16_t port() const { return port_; }
  std::string at(std::string_view host) const { return std::string(host) + ":" + std::to_string(port_); }

 private:
  fd_guard fd_;
  uint16_t port_ = 0;
};

// The chaos_error of `f`, or a failure when it does not throw.
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const chaos_error& e) {
    EXPECT_EQ(e.kind(), error_kind::invalid_argument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

size_t open_descriptors() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

TEST(proxy_loops, a_proxy_whose_upstream_is_its_own_listen_address_is_refused) {
  proxy_server server(server_options{.allow_remote = true});
  const reserved_port port;
  const std::vector<std::pair<std::string, std::string>> loops = {
      {port.at("127.0.0.1"), port.at("127.0.0.1")},
      {port.at("0.0.0.0"), port.at("127.0.0.1")},  // a wildcard listener takes loopback too
      {port.at("127.0.0.1"), port.at("0.0.0.0")},  // connecting to "any" goes to loopback
      {port.at("127.0.0.1"), port.at("[::ffff:127.0.0.1]")},
  };
  for (const auto& [listen, upstream] : loops) {
    const std::string why =
        error_of([&] { server.add_proxy({.name = "self", .listen = listen, .upstream = upstream}); });
    EXPECT_NE(why.find("would loop"), std::string::npos) << why;
    EXPECT_NE(why.find("own listen address"), std::string::npos) << why;
    EXPECT_FALSE(server.proxy("self")) << listen << " -> " << upstream;
    EXPECT_EQ(connect_errno(port.port()), ECONNREFUSED);  // nothing left listening
  }
  // Disabled at creation: refused all the same (it would loop once enabled).
  error_of([&] {
    server.add_proxy(
        {.name = "self", .listen = port.at("127.0.0.1"), .upstream = port.at("127.0.0.1"), .enabled = false});
  });
  // Not a loop: same port, another loopback address the listener does not take.
  EXPECT_NO_THROW(
      server.add_proxy({.name = "near", .listen = port.at("127.0.0.2"), .upstream = port.at("127.0.0.1")}));
}

TEST(proxy_loops, the_api_refuses_a_self_loop_with_400) {
  proxy_server server;
  http::server api({}, make_api_handler(server));
  api.start();
  http::blocking_client client("127.0.0.1", api.port(), std::chrono::milliseconds(3000));
  const reserved_port port;
  const auto r = client.request("POST", "/proxies",
                                R"({"name":"self","listen":")" + port.at("127.0.0.1") + R"(","upstream":")" +
                                    port.at("127.0.0.1") + R"("})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("would loop"), std::string::npos) << r.body;
  EXPECT_TRUE(server.proxies().empty());
}

TEST(proxy_loops, an_update_that_would_loop_is_refused_and_changes_nothing) {
  tcp_server echo(echo_handler);
  proxy_server server;
  const auto a = server.add_proxy({.name = "a", .listen = "127.0.0.1:0", .upstream = echo.address()});
  error_of([&] { server.update_proxy("a", {}, a.config.listen, {}); });
  const auto after = server.proxy("a");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->config.upstream, echo.address());
  EXPECT_TRUE(after->config.enabled);
  auto fd = connect_to(port_of(a.config.listen));
  ASSERT_TRUE(send_all(fd.get(), "still"));
  EXPECT_EQ(read_until(fd.get(), 5, 2s).data, "still");
}

TEST(proxy_loops, a_cycle_through_several_proxies_is_refused_with_its_path) {
  tcp_server echo(echo_handler);
  proxy_server server;
  const auto a = server.add_proxy({.name = "a", .listen = "127.0.0.1:0", .upstream = echo.address()});
  const auto b =
      server.add_proxy({.name = "b", .listen = "127.0.0.1:0", .upstream = a.config.listen});  // a chain
  const auto c = server.add_proxy({.name = "c", .listen = "127.0.0.1:0", .upstream = b.config.listen});
  const std::string why = error_of([&] { server.update_proxy("a", {}, c.config.listen, {}); });
  EXPECT_NE(why.find("a -> c -> b -> a"), std::string::npos) << why;
  // A chain is fine and still works end to end.
  auto fd = connect_to(port_of(c.config.listen));
  ASSERT_TRUE(send_all(fd.get(), "through three"));
  EXPECT_EQ(read_until(fd.get(), 13, 2s).data, "through three");
  // A new proxy closing a cycle through a disabled one is refused too.
  const reserved_port p, q;
  server.add_proxy(
      {.name = "p", .listen = p.at("127.0.0.1"), .upstream = q.at("127.0.0.1"), .enabled = false});
  error_of(
      [&] { server.add_proxy({.name = "q", .listen = q.at("127.0.0.1"), .upstream = p.at("127.0.0.1")}); });
}

TEST(proxy_loops, a_port_zero_listen_trades_a_looping_port_for_another) {
  boost::asio::io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  auto shared = std::make_shared<proxy_shared>();
  shared->name = "z";
  shared->io = &io;
  shared->rec = std::make_shared<recorder>();
  shared->server_active = std::make_shared<std::atomic<uint64_t>>(0);
  proxy_listener listener(shared, {.name = "z", .listen = "127.0.0.1:0", .upstream = "127.0.0.1:9"});
  std::vector<uint16_t> refused;
  listener.start([&](const tcp::endpoint& listen) -> std::optional<std::string> {
    if (refused.size() == 2) return std::nullopt;
    refused.push_back(listen.port());  // as if the kernel had picked the upstream's port
    return "test";
  });
  const uint16_t chosen = port_of(listener.config().listen);
  EXPECT_EQ(refused.size(), 2u);
  EXPECT_NE(chosen, refused[0]);
  EXPECT_NE(chosen, refused[1]);
  listener.stop();
  // A fixed port is not traded: the loop is refused.
  proxy_listener fixed(
      shared, {.name = "f", .listen = "127.0.0.1:" + std::to_string(chosen), .upstream = "127.0.0.1:9"});
  EXPECT_THROW(fixed.start([](const tcp::endpoint&) -> std::optional<std::string> { return "test"; }),
               chaos_error);
  work.reset();
  runner.join();
}

TEST(proxy_caps, connections_over_max_connections_are_closed_at_once_and_counted) {
  tcp_server echo(echo_handler);
  proxy_server server;
  http::server api({}, make_api_handler(server));
  api.start();
  http::blocking_client client("127.0.0.1", api.port(), std::chrono::milliseconds(3000));
  const auto created = client.request(
      "POST", "/proxies",
      R"({"name":"p","listen":"127.0.0.1:0","upstream":")" + echo.address() + R"(","max_connections":3})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_NE(created.body.find(R"("max_connections":3)"), std::string::npos) << created.body;
  const uint16_t port = port_of(server.proxy("p")->config.listen);
  std::vector<fd_guard> kept;
  for (int i = 0; i < 3; ++i) {
    kept.push_back(connect_to(port));
    ASSERT_TRUE(send_all(kept.back().get(), "x"));
    ASSERT_EQ(read_until(kept.back().get(), 1, 2s).data, "x");  // served: the connection is open
  }
  for (int i = 0; i < 2; ++i) {
    auto extra = connect_to(port);
    send_all(extra.get(), "y");
    const read_end end = wait_closed(extra.get(), 2s);  // accepted and closed (FIN, or RST for unread bytes)
    EXPECT_TRUE(end == read_end::eof || end == read_end::reset) << static_cast<int>(end);
  }
  const auto info = server.proxy("p");
  EXPECT_EQ(info->connections_active, 3u);
  EXPECT_EQ(info->connections_rejected, 2u);
  EXPECT_EQ(info->connections_refused, 0u);
  const auto log = server.injections();  // the first rejection is logged once, not per connection
  ASSERT_EQ(std::count_if(log.begin(), log.end(), [](const injection& e) { return e.type == "rejected"; }),
            1);
  EXPECT_EQ(log.back().detail, "max_connections 3 reached: further connections are closed");
  const auto metrics = client.request("GET", "/metrics");
  EXPECT_NE(metrics.body.find("stampede_proxy_connections_rejected_total{proxy=\"p\"} 2\n"),
            std::string::npos)
      << metrics.body;
  // Raised through the API, the cap lets the next connection in.
  ASSERT_EQ(client.request("POST", "/proxies/p", R"({"max_connections":4})").status, 200);
  auto fourth = connect_to(port);
  ASSERT_TRUE(send_all(fourth.get(), "z"));
  EXPECT_EQ(read_until(fourth.get(), 1, 2s).data, "z");
  EXPECT_EQ(client.request("POST", "/proxies/p", R"({"max_connections":-1})").status, 400);
}

// The API's answer times, probed for at least a second and until `seen()` (at most 30 s, for slow
// sanitizer builds); each must come within `bound`.
std::vector<double> api_latencies(uint16_t api_port, const std::function<bool()>& seen,
                                  std::chrono::milliseconds bound) {
  http::blocking_client client("127.0.0.1", api_port, bound);
  std::vector<double> out;
  const auto begin = steady::now();
  while (steady::now() < begin + 1s || (!seen() && steady::now() < begin + 30s)) {
    const auto start = steady::now();
    try {
      const bool ok = client.request("GET", "/proxies").status == 200 &&
                      client.request("POST", "/proxies/flood/toxics",
                                     R"({"name":"probe","type":"latency","attributes":{"latency":1}})")
                              .status == 200 &&
                      client.request("DELETE", "/proxies/flood/toxics/probe").status == 204;
      EXPECT_TRUE(ok);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "API did not answer: " << e.what();
      client.close();
    }
    out.push_back(ms_since(start));
    std::this_thread::sleep_for(20ms);  // a human-paced control client
  }
  return out;
}

// Two servers stand for two processes: neither sees the loop, so only the cap bounds it. The loop and
// a flood of streaming clients run while the API (own thread and io_context) answers within 1 s.
TEST(proxy_caps, a_loop_through_two_servers_is_bounded_and_the_api_answers_during_it_and_a_flood) {
  const size_t fds_before = open_descriptors();
  proxy_server one(server_options{.max_connections = 200}), two(server_options{.max_connections = 200});
  const reserved_port hole;
  const auto b = two.add_proxy({.name = "b", .listen = "127.0.0.1:0", .upstream = hole.at("127.0.0.1")});
  const auto a = one.add_proxy({.name = "a", .listen = "127.0.0.1:0", .upstream = b.config.listen});
  two.update_proxy("b", {}, a.config.listen, {});  // b -> a -> b: invisible to each server alone

  const std::string file(64 * 1024, 'f');
  // The origin keeps every connection's descriptor until its end: it ends before descriptors are counted.
  auto source = std::make_unique<tcp_server>(generator_handler(file.size()));
  one.add_proxy({.name = "flood", .listen = "127.0.0.1:0", .upstream = source->address()});
  toxic_spec slices;
  slices.type = toxic_type::slicer;
  slices.average_size = 64;
  slices.delay = 0;
  one.add_toxic("flood", slices);  // tiny writes: the data plane thread is busy
  http::server api({}, make_api_handler(one));
  api.start();

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> downloads{0};
  std::vector<std::thread> flood;
  const uint16_t flood_port = port_of(one.proxy("flood")->config.listen);
  for (int i = 0; i < 6; ++i) {
    flood.emplace_back([&] {
      while (!stop) {
        auto fd = connect_to(flood_port);
        if (read_until(fd.get(), SIZE_MAX, 3s).data.size() == file.size()) ++downloads;
      }
    });
  }
  auto trigger = connect_to(port_of(a.config.listen));
  send_all(trigger.get(), "go");
  auto loop_and_flood_seen = [&] {  // the loop ran into the cap, and downloads went through
    return one.proxy("a")->connections_rejected + two.proxy("b")->connections_rejected > 0 && downloads >= 3;
  };
  const auto latencies = api_latencies(api.port(), loop_and_flood_seen, 1000ms);
  stop = true;
  for (auto& t : flood) t.join();

  ASSERT_FALSE(latencies.empty());
  const double worst = *std::max_element(latencies.begin(), latencies.end());
  std::printf(
      "API during loop and flood: %zu rounds, worst %.1f ms; %llu downloads; a: %llu accepted, %llu "
      "rejected\n",
      latencies.size(), worst, static_cast<unsigned long long>(downloads.load()),
      static_cast<unsigned long long>(one.proxy("a")->connections_accepted),
      static_cast<unsigned long long>(one.proxy("a")->connections_rejected));
  EXPECT_LT(worst, 1000.0);
  EXPECT_GE(downloads.load(), 3u);
  const auto looped = one.proxy("a");
  EXPECT_LE(looped->connections_active, 200u);
  EXPECT_GE(looped->connections_accepted, 200u);  // the loop did run into the cap...
  EXPECT_GT(looped->connections_rejected + two.proxy("b")->connections_rejected, 0u);
  // ...which bounds its descriptors: at the caps, 4 per looped connection (each server's accepted and
  // upstream sides: 800), plus rejected connections not yet closed, which a loaded machine leaves for a
  // while (CI at load 8 saw 1,174 in all). Unbounded, the loop reaches thousands within this test's second.
  EXPECT_LT(open_descriptors(), fds_before + 1600);

  trigger.reset();
  source.reset();
  one.remove_proxy("a");
  two.remove_proxy("b");
  const auto deadline = steady::now() + 5s;
  while (open_descriptors() > fds_before + 50 && steady::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_LE(open_descriptors(), fds_before + 50);
}

}  // namespace
}  // namespace stampede::chaos
