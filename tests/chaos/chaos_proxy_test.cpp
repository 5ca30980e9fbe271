// TCP toxics measured on real connections: client -> proxy -> real local server.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "chaos/proxy_server.h"
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

class proxy_fixture : public ::testing::Test {
 protected:
  uint16_t add(const tcp_server& upstream, std::string name = "p") {
    auto info = server_.add_proxy({.name = name, .listen = "127.0.0.1:0", .upstream = upstream.address()});
    return static_cast<uint16_t>(std::stoi(info.config.listen.substr(info.config.listen.rfind(':') + 1)));
  }
  static toxic_spec make(toxic_type type, stream_direction stream) {
    toxic_spec t;
    t.type = type;
    t.stream = stream;
    return t;
  }
  // One echo round trip of `message`; returns milliseconds.
  static double round_trip(int fd, std::string_view message = "ping") {
    const auto start = steady::now();
    EXPECT_TRUE(send_all(fd, message));
    auto r = read_until(fd, message.size(), 5s);
    EXPECT_EQ(r.data, message);
    return ms_since(start);
  }
  // The fastest of a few round trips through the proxy without a toxic, on a connection of its own:
  // the path's own time (milliseconds under sanitizers on a busy machine) is not the toxic's.
  static double baseline_round_trip(uint16_t port) {
    auto fd = connect_to(port);
    double best = 1e9;
    for (int i = 0; i < 3; ++i) best = std::min(best, round_trip(fd.get()));
    return best;
  }

  proxy_server server_{server_options{.threads = proxy_test_threads, .seed = 42}};
};

TEST_F(proxy_fixture, forwards_both_ways_and_counts_bytes) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto fd = connect_to(port);
  ASSERT_GE(fd.get(), 0);
  const std::string message(100'000, 'a');
  ASSERT_TRUE(send_all(fd.get(), message));
  EXPECT_EQ(read_until(fd.get(), message.size(), 5s).data, message);
  // A chunk is counted once its write completed, which the proxy learns after the client may already
  // have read it: wait (bounded) for the count to catch up rather than read it in that window.
  auto info = server_.proxy("p");
  for (int i = 0; i < 200 && info && info->bytes_downstream < message.size(); ++i) {
    std::this_thread::sleep_for(10ms);
    info = server_.proxy("p");
  }
  ASSERT_TRUE(info);
  EXPECT_EQ(info->bytes_upstream, message.size());
  EXPECT_EQ(info->bytes_downstream, message.size());
  EXPECT_EQ(info->connections_accepted, 1u);
}

TEST_F(proxy_fixture, latency_delays_each_response_within_ten_percent) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  const double baseline = baseline_round_trip(port);  // the path's own time is not the toxic's
  auto t = make(toxic_type::latency, stream_direction::downstream);
  t.latency = 100;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  for (int i = 0; i < 4; ++i) {
    const double ms = round_trip(fd.get());
    EXPECT_GE(ms, 100.0);
    EXPECT_LE(ms - baseline, 110.0 + stampede::testing::sanitizer_overhead_ms);
  }
}

TEST_F(proxy_fixture, both_directions_latency_doubles_round_trip) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  const double baseline = baseline_round_trip(port);
  auto t = make(toxic_type::latency, stream_direction::both);
  t.latency = 50;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  const double ms = round_trip(fd.get());
  EXPECT_GE(ms, 100.0);
  EXPECT_LE(ms - baseline, 110.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, jitter_and_heavy_tail_stay_within_declared_bounds) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::latency, stream_direction::downstream);
  t.latency = 40;
  t.jitter = 20;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  for (int i = 0; i < 5; ++i) {
    const double ms = round_trip(fd.get());
    EXPECT_GE(ms, 20.0);
    EXPECT_LE(ms, 66.0 + stampede::testing::sanitizer_overhead_ms);
  }
  server_.remove_toxic("p", "latency_downstream");
  auto pareto = make(toxic_type::latency, stream_direction::downstream);
  pareto.name = "tail";
  pareto.latency = 20;
  pareto.distribution = latency_distribution::pareto;
  pareto.alpha = 3.0;
  pareto.max_latency = 80;
  server_.add_toxic("p", pareto);
  for (int i = 0; i < 5; ++i) {
    const double ms = round_trip(fd.get());
    EXPECT_GE(ms, 20.0);                                             // pareto minimum = latency
    EXPECT_LE(ms, 88.0 + stampede::testing::sanitizer_overhead_ms);  // capped at max_latency
  }
}

TEST_F(proxy_fixture, bandwidth_within_ten_percent) {
  const size_t bytes = 400'000;
  tcp_server source(generator_handler(bytes));
  const uint16_t port = add(source);
  auto t = make(toxic_type::bandwidth, stream_direction::downstream);
  t.rate = 400;  // KB/s -> one second
  server_.add_toxic("p", t);
  const auto start = steady::now();
  auto fd = connect_to(port);
  auto r = read_until(fd.get(), bytes, 5s);
  const double ms = ms_since(start);
  EXPECT_EQ(r.data.size(), bytes);
  EXPECT_GE(ms, 900.0);
  EXPECT_LE(ms, 1100.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, bandwidth_zero_holds_data_until_removed_and_removal_is_prompt) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::bandwidth, stream_direction::downstream);
  t.rate = 0;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  ASSERT_TRUE(send_all(fd.get(), "held"));
  EXPECT_EQ(read_until(fd.get(), 4, 200ms).end, read_end::timeout);  // nothing passes
  const auto start = steady::now();
  server_.remove_toxic("p", "bandwidth_downstream");
  EXPECT_LT(ms_since(start), 50.0 + stampede::testing::sanitizer_overhead_ms);
  auto r = read_until(fd.get(), 4, 2s);
  EXPECT_EQ(r.data, "held");  // held, not dropped
  EXPECT_LT(ms_since(start), 100.0 + stampede::testing::sanitizer_overhead_ms);
  bool logged = false;
  for (const auto& e : server_.injections()) logged |= e.detail.find("rate 0") != std::string::npos;
  EXPECT_TRUE(logged);
}

TEST_F(proxy_fixture, timeout_drops_data_then_closes_after_timeout) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::timeout, stream_direction::upstream);
  t.timeout = 200;
  server_.add_toxic("p", t);
  const auto start = steady::now();
  auto fd = connect_to(port);
  ASSERT_TRUE(send_all(fd.get(), "lost"));
  auto r = read_until(fd.get(), 4, 2s);
  EXPECT_TRUE(r.data.empty());
  EXPECT_EQ(r.end, read_end::eof);
  EXPECT_GE(ms_since(start), 200.0);
  EXPECT_LE(ms_since(start), 260.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, timeout_zero_is_a_black_hole_until_removed_then_closes) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  server_.add_toxic("p", make(toxic_type::timeout, stream_direction::upstream));
  auto fd = connect_to(port);
  ASSERT_TRUE(send_all(fd.get(), "lost"));
  EXPECT_EQ(read_until(fd.get(), 4, 300ms).end, read_end::timeout);
  const auto start = steady::now();
  server_.remove_toxic("p", "timeout_upstream");
  // Data was swallowed, so the stream is corrupt: the connection is closed promptly.
  EXPECT_EQ(wait_closed(fd.get(), 2s), read_end::eof);
  EXPECT_LT(ms_since(start), 200.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, reset_peer_sends_rst) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::reset_peer, stream_direction::upstream);
  t.timeout = 100;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  const auto start = steady::now();
  ASSERT_TRUE(send_all(fd.get(), "boom"));
  EXPECT_EQ(wait_closed(fd.get(), 2s), read_end::reset);
  EXPECT_GE(ms_since(start), 100.0);
  EXPECT_LE(ms_since(start), 150.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, slicer_delivers_pieces_of_the_configured_size) {
  tcp_server source(generator_handler(1000));
  const uint16_t port = add(source);
  auto t = make(toxic_type::slicer, stream_direction::downstream);
  t.average_size = 100;
  t.size_variation = 0;
  t.delay = 20'000;  // 20 ms between slices so the client sees them apart
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  auto r = read_until(fd.get(), 1000, 5s);
  EXPECT_EQ(r.data.size(), 1000u);
  for (size_t n : r.reads) EXPECT_LE(n, 100u);
  EXPECT_GE(r.reads.size(), 10u);
}

TEST_F(proxy_fixture, limit_data_closes_after_exactly_n_bytes) {
  tcp_server source(generator_handler(50'000));
  const uint16_t port = add(source);
  auto t = make(toxic_type::limit_data, stream_direction::downstream);
  t.bytes = 1234;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  auto r = read_until(fd.get(), 50'000, 5s);
  EXPECT_EQ(r.data.size(), 1234u);
  EXPECT_EQ(r.end, read_end::eof);
}

TEST_F(proxy_fixture, slow_close_delays_the_eof) {
  tcp_server source(generator_handler(10));
  const uint16_t port = add(source);
  auto t = make(toxic_type::slow_close, stream_direction::downstream);
  t.delay = 200;
  server_.add_toxic("p", t);
  const auto start = steady::now();
  auto fd = connect_to(port);
  auto r = read_until(fd.get(), 10, 2s);
  EXPECT_EQ(r.data.size(), 10u);
  EXPECT_LT(ms_since(start), 100.0 + stampede::testing::sanitizer_overhead_ms);  // data is not delayed
  EXPECT_EQ(wait_closed(fd.get(), 2s), read_end::eof);
  EXPECT_GE(ms_since(start), 200.0);
  EXPECT_LE(ms_since(start), 260.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, limit_time_cuts_a_healthy_connection) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::limit_time, stream_direction::downstream);
  t.time = 200;
  t.reset = true;
  server_.add_toxic("p", t);
  const auto start = steady::now();
  auto fd = connect_to(port);
  EXPECT_LT(round_trip(fd.get()), 50.0);  // normal traffic first
  EXPECT_EQ(wait_closed(fd.get(), 2s), read_end::reset);
  EXPECT_GE(ms_since(start), 200.0);
  EXPECT_LE(ms_since(start), 260.0 + stampede::testing::sanitizer_overhead_ms);
}

TEST_F(proxy_fixture, slow_open_delays_the_first_exchange) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::slow_open, stream_direction::upstream);
  t.delay = 150;
  server_.add_toxic("p", t);
  const auto start = steady::now();
  auto fd = connect_to(port);
  round_trip(fd.get());
  EXPECT_GE(ms_since(start), 150.0);
  EXPECT_LE(ms_since(start), 200.0 + stampede::testing::sanitizer_overhead_ms);
  EXPECT_LT(round_trip(fd.get()), 50.0);  // later exchanges are not delayed
}

TEST_F(proxy_fixture, packet_loss_drops_chunks_and_counts_them) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::packet_loss, stream_direction::upstream);
  t.probability = 1.0;
  server_.add_toxic("p", t);
  auto fd = connect_to(port);
  ASSERT_TRUE(send_all(fd.get(), "gone"));
  EXPECT_EQ(read_until(fd.get(), 4, 200ms).end, read_end::timeout);
  t.probability = 0.0;
  server_.update_toxic("p", t);
  EXPECT_LT(round_trip(fd.get(), "kept"), 50.0);
  EXPECT_GE(server_.proxy("p")->injections.at("packet_loss_upstream"), 2u);  // activation + drop
}

TEST_F(proxy_fixture, disabled_proxy_refuses_and_closes_then_reenables_on_the_same_port) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto live = connect_to(port);
  round_trip(live.get());
  server_.set_enabled("p", false);
  EXPECT_EQ(connect_errno(port), ECONNREFUSED);
  EXPECT_EQ(wait_closed(live.get(), 2s), read_end::eof);
  server_.set_enabled("p", true);
  auto again = connect_to(port);
  ASSERT_GE(again.get(), 0);
  EXPECT_LT(round_trip(again.get()), 50.0);
}

TEST_F(proxy_fixture, toxicity_zero_never_applies) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::latency, stream_direction::downstream);
  t.latency = 300;
  t.toxicity = 0.0;
  server_.add_toxic("p", t);
  for (int i = 0; i < 5; ++i) {
    auto fd = connect_to(port);
    EXPECT_LT(round_trip(fd.get()), 100.0);
  }
  EXPECT_EQ(server_.proxy("p")->injections.at("latency_downstream"), 0u);
}

TEST_F(proxy_fixture, removing_toxics_under_heavy_traffic_never_blocks) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      auto fd = connect_to(port);
      const std::string block(32 * 1024, 'z');
      while (!stop) {
        if (!send_all(fd.get(), block)) break;
        read_until(fd.get(), block.size(), 200ms);
      }
    });
  }
  double worst = 0;
  for (int round = 0; round < 20; ++round) {
    auto lat = make(toxic_type::latency, stream_direction::downstream);
    lat.latency = 1000;
    auto stall = make(toxic_type::bandwidth, stream_direction::upstream);
    stall.rate = 0;
    auto hole = make(toxic_type::timeout, stream_direction::upstream);
    hole.name = "hole";
    hole.toxicity = 0.3;
    server_.add_toxic("p", lat);
    server_.add_toxic("p", stall);
    server_.add_toxic("p", hole);
    const auto start = steady::now();
    server_.remove_toxic("p", "latency_downstream");
    server_.remove_toxic("p", "bandwidth_upstream");
    server_.remove_toxic("p", "hole");
    worst = std::max(worst, ms_since(start));
  }
  auto lat = make(toxic_type::latency, stream_direction::downstream);
  lat.latency = 5000;
  server_.add_toxic("p", lat);
  const auto start = steady::now();
  server_.heal_all();
  const double heal_ms = ms_since(start);
  stop = true;
  for (auto& c : clients) c.join();
  EXPECT_LT(worst, 100.0);
  EXPECT_LT(heal_ms, 100.0 + stampede::testing::sanitizer_overhead_ms);
  EXPECT_TRUE(server_.toxics("p").empty());
}

TEST_F(proxy_fixture, injection_log_records_proxy_toxic_connection_and_time) {
  tcp_server echo(echo_handler);
  const uint16_t port = add(echo);
  auto t = make(toxic_type::latency, stream_direction::downstream);
  t.latency = 5;
  server_.add_toxic("p", t);
  auto a = connect_to(port);
  round_trip(a.get());
  auto b = connect_to(port);
  round_trip(b.get());
  auto log = server_.injections();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].proxy, "p");
  EXPECT_EQ(log[0].toxic, "latency_downstream");
  EXPECT_EQ(log[0].type, "latency");
  EXPECT_EQ(log[0].direction, "downstream");
  EXPECT_EQ(log[0].connection, 1u);
  EXPECT_EQ(log[1].connection, 2u);
  EXPECT_LT(log[0].sequence, log[1].sequence);
  EXPECT_LE(log[0].since_start, log[1].since_start);
  EXPECT_EQ(server_.injections_after(log[0].sequence).size(), 1u);
  EXPECT_EQ(server_.injection_counts().at("p/latency_downstream"), 2u);
}

// Which of `connections` sequential connections got a 50% toxic, for a given seed.
std::set<uint64_t> affected_connections(uint64_t seed, int connections) {
  tcp_server echo(echo_handler);
  proxy_server server(server_options{.seed = seed});
  auto info = server.add_proxy({.name = "db", .listen = "127.0.0.1:0", .upstream = echo.address()});
  const auto port =
      static_cast<uint16_t>(std::stoi(info.config.listen.substr(info.config.listen.rfind(':') + 1)));
  toxic_spec t;
  t.type = toxic_type::latency;
  t.latency = 1;
  t.toxicity = 0.5;
  server.add_toxic("db", t);
  for (int i = 0; i < connections; ++i) {
    auto fd = connect_to(port);
    send_all(fd.get(), "x");
    read_until(fd.get(), 1, 2s);
  }
  std::set<uint64_t> out;
  for (const auto& e : server.injections()) out.insert(e.connection);
  return out;
}

TEST(proxy_determinism, same_seed_same_decisions_different_seed_different) {
  const auto first = affected_connections(7, 24);
  const auto second = affected_connections(7, 24);
  const auto other = affected_connections(8, 24);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other);
  EXPECT_GT(first.size(), 4u);  // about half
  EXPECT_LT(first.size(), 20u);
}

TEST(proxy_server_api, errors_have_kinds) {
  tcp_server echo(echo_handler);
  proxy_server server;
  server.add_proxy({.name = "a", .listen = "127.0.0.1:0", .upstream = echo.address()});
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const chaos_error& e) {
      return e.kind();
    }
    return error_kind::io_error;  // "no error" is a failure too
  };
  EXPECT_EQ(
      kind_of([&] { server.add_proxy({.name = "a", .listen = "127.0.0.1:0", .upstream = echo.address()}); }),
      error_kind::already_exists);
  EXPECT_EQ(kind_of([&] { server.remove_proxy("nope"); }), error_kind::not_found);
  EXPECT_EQ(
      kind_of([&] { server.add_proxy({.name = "b", .listen = "0.0.0.0:0", .upstream = echo.address()}); }),
      error_kind::invalid_argument);
  EXPECT_EQ(
      kind_of([&] { server.add_proxy({.name = "c", .listen = "nonsense", .upstream = echo.address()}); }),
      error_kind::invalid_argument);
  toxic_spec bad;
  bad.type = toxic_type::latency;
  bad.latency = -5;
  EXPECT_EQ(kind_of([&] { server.add_toxic("a", bad); }), error_kind::invalid_argument);
  EXPECT_EQ(kind_of([&] { server.remove_toxic("a", "missing"); }), error_kind::not_found);
}

}  // namespace
}  // namespace stampede::chaos
