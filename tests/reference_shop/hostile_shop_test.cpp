// Hostile clients against a shop node: slowloris requests, silent and half-closed connections, oversized
// headers and bodies, a pipelining flood and a connection flood. Each runs while a well-behaved client
// keeps using the API; the test measures that client (every request must succeed) and the process's memory.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/raw_socket.h"
#include "tests/support/sanitizers.h"
#include "tests/support/well_behaved_client.h"
#include "common/http_client.h"
#include "common/http_parse.h"
#include "reference_shop/node.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

using stampede::testing::peak_rss_kib;
using stampede::testing::raw_socket;

using stampede::testing::well_behaved_client;

// What a customer does while hostile peers attack: every request must succeed.
const std::vector<std::string> customer_pages{"/api/products/42", "/api/categories", "/healthz",
                                              "/api/products?category=3"};

class hostile_shop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::temp_dir;
    node_options o;
    o.name = "hostile-node";
    o.db_path = dir_->file("shop.db");
    o.threads = 2;
    o.admin_token = "hostile-admin-token";
    o.kdf = kdf_cost::minimal;
    o.seed_scale = 1;
    node_ = new node(o);
    node_->start();
  }
  static void TearDownTestSuite() {
    delete node_;
    delete dir_;
  }
  static uint16_t port() { return node_->port(); }
  // Runs `attack` while a well-behaved client works; checks the client was served throughout.
  static void under_attack(const std::function<void()>& attack, size_t min_good_requests = 50) {
    well_behaved_client good(port(), customer_pages);
    attack();
    good.stop(min_good_requests);
    EXPECT_GE(good.succeeded(), min_good_requests);
    EXPECT_TRUE(good.failures().empty()) << good.failures().size() << " failures, first: " << good.failures().front();
    // Measured, not asserted tightly (the machine is shared): a bound far above normal service times.
    EXPECT_LT(good.max_ms(), 3000.0);
    std::printf("well-behaved client: %zu requests, p50 %.2f ms, max %.1f ms\n", good.succeeded(), good.p50_ms(),
                good.max_ms());
  }

  static inline testing::temp_dir* dir_ = nullptr;
  static inline node* node_ = nullptr;
};

TEST_F(hostile_shop, slowloris_silent_and_half_closed_connections_do_not_starve_others) {
  const long rss_before = peak_rss_kib();
  std::vector<raw_socket> slow, silent;
  int half_closed_answered = 0;
  under_attack([&] {
    for (int i = 0; i < 300; ++i) {
      slow.emplace_back(port());
      slow.back().send("GET /api/products/1 HTTP/1.1\r\nHost: shop\r\n");
      silent.emplace_back(port());  // connects, never sends a byte
    }
    // Slowloris: every connection adds a header line per round and never finishes its request.
    for (int round = 0; round < 10; ++round) {
      for (auto& s : slow) s.send("X-Slow-" + std::to_string(round) + ": a\r\n");
      std::this_thread::sleep_for(50ms);  // the attacker's pacing
    }
    // Half-closed clients (request sent, then FIN) still get their answer.
    for (int i = 0; i < 50; ++i) {
      raw_socket s(port());
      s.send("GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n");
      s.half_close();
      if (s.read_status() == 200) ++half_closed_answered;
    }
  });
  EXPECT_EQ(half_closed_answered, 50);
  // The slowloris connections are still unanswered (header_timeout, 10 s, will cut them).
  EXPECT_TRUE(std::all_of(slow.begin(), slow.end(), [](const raw_socket& s) { return s.connected(); }));
  if (stampede::testing::rss_bounds_checked) {
    EXPECT_LT(peak_rss_kib() - rss_before, 64 * 1024);
  }
}

TEST_F(hostile_shop, oversized_headers_and_bodies_are_refused_without_hurting_others) {
  const long rss_before = peak_rss_kib();
  std::atomic<int> refused_headers{0}, refused_declared{0}, refused_chunked{0};
  under_attack([&] {
    std::vector<std::thread> attackers;
    for (int t = 0; t < 4; ++t) {
      attackers.emplace_back([&] {
        for (int i = 0; i < 10; ++i) {
          {  // 100 KB of headers: 431
            raw_socket s(port());
            std::string req = "GET /api/categories HTTP/1.1\r\nHost: shop\r\n";
            for (int h = 0; h < 1000; ++h) req += "X-Big-" + std::to_string(h) + ": " + std::string(90, 'x') + "\r\n";
            s.send(req + "\r\n");
            if (s.read_status() == 431) ++refused_headers;
          }
          {  // a 100 MB body announced: 413 before any of it is read
            raw_socket s(port());
            s.send("POST /api/users HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
                   "Content-Length: 100000000\r\n\r\n{\"email\":");
            if (s.read_status() == 413) ++refused_declared;
          }
          {  // a chunked body past the 64 KiB limit, never terminated: 413 at the limit
            raw_socket s(port());
            s.send("POST /api/users HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n");
            const std::string chunk = "4000\r\n" + std::string(0x4000, 'a') + "\r\n";
            // 128 KiB: twice the limit. (This once failed 1 run in 15 under ASan with a 431: the
            // parser counted a large read that followed a split chunk-size line as header bytes.
            // Regression test: request_parser.large_reads_after_a_split_chunk_header_are_body_not_header.)
            for (int c = 0; c < 8 && s.send(chunk); ++c) {
            }
            if (s.read_status() == 413) ++refused_chunked;
          }
        }
      });
    }
    for (auto& t : attackers) t.join();
  });
  EXPECT_EQ(refused_headers.load(), 40);
  EXPECT_EQ(refused_declared.load(), 40);
  EXPECT_EQ(refused_chunked.load(), 40);
  if (stampede::testing::rss_bounds_checked) {
    EXPECT_LT(peak_rss_kib() - rss_before, 64 * 1024);
  }
}

TEST_F(hostile_shop, pipelining_flood_is_answered_in_order_with_bounded_memory) {
  constexpr int flood = 20'000;
  const long rss_before = peak_rss_kib();
  std::string answers;
  under_attack([&] {
    raw_socket s(port(), 10s);
    // Write the flood from one thread while reading on this one: the server stops reading when its
    // replies are not taken (backpressure), so a client that only writes would block.
    std::thread writer([&] {
      std::string batch;
      for (int i = 0; i < 100; ++i) batch += "GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n";
      for (int i = 0; i < flood / 100; ++i) s.send(batch);
      s.send("GET /healthz HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n");
    });
    answers = s.read_all();
    writer.join();
  });
  size_t ok = 0;
  for (size_t at = answers.find("HTTP/1.1 200 "); at != std::string::npos; at = answers.find("HTTP/1.1 200 ", at + 1)) {
    ++ok;
  }
  EXPECT_EQ(ok, static_cast<size_t>(flood + 1));
  if (stampede::testing::rss_bounds_checked) {
    EXPECT_LT(peak_rss_kib() - rss_before, 64 * 1024);
  }
}

TEST_F(hostile_shop, connection_flood_is_absorbed_and_others_are_served) {
  constexpr int flood = 2000;
  const long rss_before = peak_rss_kib();
  std::vector<raw_socket> held;
  int open = 0;
  under_attack([&] {
    for (int i = 0; i < flood; ++i) {
      held.emplace_back(port());
      if (held.back().connected()) ++open;
    }
    // Every flooding connection is still served if it finally asks something.
    int answered = 0;
    for (int i = 0; i < flood; i += 100) {
      held[i].send("GET /healthz HTTP/1.1\r\nHost: shop\r\n\r\n");
      if (held[i].read_status() == 200) ++answered;
    }
    EXPECT_EQ(answered, flood / 100);
  });
  EXPECT_EQ(open, flood);
  held.clear();
  // A connection costs the server its buffers (~20 KB) and the test its socket: bounded, not per byte.
  if (stampede::testing::rss_bounds_checked) {
    EXPECT_LT(peak_rss_kib() - rss_before, 128 * 1024);
  }
}

}  // namespace
}  // namespace stampede::shop
