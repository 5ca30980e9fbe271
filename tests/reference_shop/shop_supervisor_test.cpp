// Multi-process tests of `stampede shop`: the supervisor starts HAProxy, nodes and the payment emulator,
// writes the topology, and leaves no process behind; a node SIGKILLed in the middle of checkouts and
// payments loses no acknowledged order, captures nothing twice, and HAProxy takes it out and back in.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>

#include "common/http_client.h"
#include "tests/reference_shop/shop_process_support.h"

namespace stampede::shop {
namespace {

using namespace testing;

TEST_F(shop_process_test, starts_serves_and_leaves_nothing_behind) {
  start({"--nodes", "2", "--threads", "1", "--lb", "leastconn"});
  EXPECT_EQ(topology_["nodes"].as_array().size(), 2u);
  EXPECT_EQ(topology_["entry_url"].as_string(), entry_);
  for (pid_t pid : child_pids()) EXPECT_FALSE(gone(pid));
  http::blocking_client client{"127.0.0.1", port_of(entry_)};
  std::set<std::string> served_by;
  for (int i = 0; i < 6; ++i) {
    auto r = client.get("/healthz");
    ASSERT_EQ(r.status, 200);
    served_by.insert(std::string{json::parse(r.body).at("node").as_string()});
  }
  EXPECT_EQ(client.get("/api/products/1").status, 200);
  // HAProxy's own Prometheus exporter is on loopback too.
  const std::string metrics = std::string{topology_["haproxy"].at("metrics_url").as_string()};
  http::blocking_client hp{"127.0.0.1", port_of(metrics.substr(0, metrics.rfind('/')))};
  auto m = hp.get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("haproxy_backend"), std::string::npos);
  EXPECT_EQ(server_state(std::string{topology_["haproxy"].at("runtime_api").as_string()}, "node1"), 2);
  stop_and_expect_nothing_left();
}

TEST_F(shop_process_test, sigkill_of_a_node_loses_no_acknowledged_order) {
  start({"--nodes", "3", "--threads", "2", "--lease-ms", "1000", "--payment-latency-median-ms", "20",
         "--payment-latency-p99-ms", "100"});
  const std::string runtime{topology_["haproxy"].at("runtime_api").as_string()};
  const std::string admin{topology_["admin_token"].as_string()};
  const uint16_t entry = port_of(entry_);
  constexpr int buyers = 4, orders_each = 25;
  std::vector<std::string> tokens;
  {
    http::blocking_client c{"127.0.0.1", entry};
    for (int i = 0; i < buyers; ++i) {
      const std::string email = "kill" + std::to_string(i) + "@example.com";
      ASSERT_EQ(c.post_json("/api/users", R"({"email":")" + email + R"(","password":"password123","name":"K"})").status, 201);
      auto s = c.post_json("/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
      ASSERT_EQ(s.status, 200);
      tokens.push_back(std::string{json::parse(s.body).at("token").as_string()});
    }
  }
  std::mutex mutex;
  std::set<int64_t> acknowledged;
  std::atomic<int> progress{0};
  std::vector<std::thread> pool;
  for (int b = 0; b < buyers; ++b) {
    pool.emplace_back([&, b] {
      http::blocking_client c{"127.0.0.1", entry, 5s};
      for (int i = 0; i < orders_each; ++i) {
        const std::string key = "b" + std::to_string(b) + "-" + std::to_string(i);
        // A client that retries with the same Idempotency-Key until it gets an answer.
        for (int attempt = 0; attempt < 20; ++attempt) {
          try {
            auto r = c.post_json("/api/orders", R"({"items":[{"product_id":)" + std::to_string(10 + i) + R"(,"qty":1}]})",
                                 {{"Authorization", "Bearer " + tokens[b]}, {"Idempotency-Key", key}});
            if (r.status == 201) {
              std::lock_guard lock{mutex};
              acknowledged.insert(json::parse(r.body).at("order_id").as_int64());
              break;
            }
          } catch (const std::exception&) {
            c.close();
          }
        }
        ++progress;
      }
    });
  }
  ASSERT_TRUE(testing::eventually([&] { return progress >= buyers * orders_each / 3; }, 30s));
  const pid_t victim = static_cast<pid_t>(topology_["nodes"].at(1).at("pid").as_int64());
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  for (auto& t : pool) t.join();
  EXPECT_EQ(acknowledged.size(), static_cast<size_t>(buyers * orders_each));
  // HAProxy takes the dead node out ...
  EXPECT_TRUE(testing::eventually([&] { return server_state(runtime, "node2") == 0; }, 10s));
  EXPECT_TRUE(testing::eventually([&] { return log().find("node2") != std::string::npos; }, 5s)) << log();
  EXPECT_NE(log().find("killed by signal 9"), std::string::npos) << log();
  // ... and back in when a node answers on its address again.
  const auto& node2 = topology_["nodes"].at(1).as_object();
  const std::string db_file{topology_["database"].at("path").as_string()};
  process replacement = spawn({"shop-node", "--db", db_file, "--name", "node2",
                               "--port", std::to_string(node2.at("port").as_int64()), "--kdf", "minimal", "--payment",
                               "127.0.0.1:" + std::to_string(port_of(std::string{topology_["payment_emulator"].at("url").as_string()}))},
                              dir_.file("replacement.log"), {{"STAMPEDE_SHOP_ADMIN_TOKEN", admin}});
  EXPECT_TRUE(testing::eventually([&] { return server_state(runtime, "node2") == 2; }, 15s));
  // Every message is settled by the surviving workers (expired leases included).
  http::blocking_client c{"127.0.0.1", entry, 10s};
  json::object audit;
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto r = c.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + admin}});
        if (r.status != 200) return false;
        audit = json::parse(r.body).as_object();
        return audit["outbox"].at("pending").as_int64() == 0 && audit["outbox"].at("in_flight").as_int64() == 0;
      },
      30s));
  std::map<int64_t, json::object> orders;
  for (const auto& o : audit["orders"].as_array()) orders[o.at("order_id").as_int64()] = o.as_object();
  int64_t paid_total = 0;
  for (int64_t id : acknowledged) {
    ASSERT_TRUE(orders.count(id)) << "acknowledged order " << id << " lost";
    EXPECT_EQ(orders[id].at("status").as_string(), "paid");
    EXPECT_EQ(orders[id].at("captured").as_int64(), orders[id].at("total").as_int64());
    paid_total += orders[id].at("total").as_int64();
  }
  EXPECT_EQ(orders.size(), acknowledged.size());  // nothing appeared from nowhere, no duplicates
  http::blocking_client pe{"127.0.0.1", port_of(std::string{topology_["payment_emulator"].at("url").as_string()})};
  auto caps = json::parse(pe.get("/v1/captures").body).as_object();
  // One charge per order, never two (a request retried after the kill replays its charge by key).
  EXPECT_EQ(caps["totals"].at("charges").as_int64(), static_cast<int64_t>(acknowledged.size()));
  std::map<int64_t, std::set<std::string>> charges_of;
  for (const auto& e : caps["captures"].as_array()) {
    charges_of[e.at("order_id").as_int64()].insert(std::string{e.at("capture_id").as_string()});
  }
  for (int64_t id : acknowledged) EXPECT_EQ(charges_of[id].size(), 1u) << "order " << id;
  EXPECT_EQ(caps["totals"].at("captured").as_int64(), paid_total);
  EXPECT_EQ(audit["outbox"].at("dead").as_int64(), 0);
  ::kill(replacement.pid, SIGINT);
  EXPECT_TRUE(wait_exit(replacement.pid, 10s).has_value());
  ::close(replacement.stdout_fd);
  stop_and_expect_nothing_left();
}

}  // namespace
}  // namespace stampede::shop

namespace stampede::shop {
namespace {

using namespace testing;

// HAProxy is the shop's only entry point: when it dies the supervisor starts it again on the same ports
// (and says so in the topology) instead of running on with no way in.
TEST_F(shop_process_test, haproxy_killed_is_restarted_on_the_same_port) {
  start({"--nodes", "2", "--threads", "1"});
  const pid_t first = static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64());
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] {
        reread_topology();
        return topology_["haproxy"].at("pid").as_int64() != first;
      },
      15s))
      << log();
  EXPECT_NE(log().find("haproxy haproxy (pid " + std::to_string(first) + ") killed by signal 9"), std::string::npos)
      << log();
  EXPECT_NE(log().find("haproxy restarted"), std::string::npos) << log();
  EXPECT_EQ(topology_["entry_url"].as_string(), entry_);
  ASSERT_TRUE(eventually(
      [&] {
        try {
          http::blocking_client client{"127.0.0.1", port_of(entry_), 2s};
          return client.get("/api/products/1").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      15s));
  EXPECT_EQ(server_state(std::string{topology_["haproxy"].at("runtime_api").as_string()}, "node1"), 2);
  stop_and_expect_nothing_left();
}

// When HAProxy cannot be started again, the shop stops everything and exits 1 instead of running headless.
TEST_F(shop_process_test, haproxy_that_cannot_be_restarted_stops_the_shop_with_an_error) {
  const std::string wrapper = dir_.file("haproxy-once.sh");
  const std::string marker = dir_.file("haproxy-started");
  {
    std::ofstream out{wrapper};
    out << "#!/bin/sh\n"
        << "if [ -e '" << marker << "' ]; then echo 'haproxy-once: refusing to start again' >&2; exit 1; fi\n"
        << "touch '" << marker << "'\n"
        << "exec /usr/sbin/haproxy \"$@\"\n";
  }
  ASSERT_EQ(::chmod(wrapper.c_str(), 0755), 0);
  start({"--nodes", "1", "--threads", "1", "--haproxy", wrapper});
  const auto pids = child_pids();
  ASSERT_EQ(::kill(static_cast<pid_t>(topology_["haproxy"].at("pid").as_int64()), SIGKILL), 0);
  auto status = wait_exit(supervisor_.pid, 30s);
  ASSERT_TRUE(status.has_value()) << "the supervisor kept running without an entry point\n" << log();
  reaped_ = true;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << log();
  EXPECT_NE(log().find("haproxy could not be restarted (5 tries)"), std::string::npos) << log();
  for (pid_t pid : pids) EXPECT_TRUE(eventually([&] { return gone(pid); }, 5s)) << "left behind: pid " << pid;
}

// `shop-node --payment` goes through common's host:port parser: a bad address exits 2 naming the flag and
// the problem (the node's own parser took "127.0.0.1:9000x" as port 9000 and "[::1]:9000" as host "[::1]").
TEST(shop_node_flags, a_bad_payment_address_exits_2_naming_the_flag) {
  temp_dir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"127.0.0.1:9000x", "--payment '127.0.0.1:9000x' has a bad port (1 to 65535)"},
      {"127.0.0.1:70000", "--payment '127.0.0.1:70000' has a bad port (1 to 65535)"},
      {"127.0.0.1:0", "--payment '127.0.0.1:0' has a bad port (1 to 65535)"},
      {":9000", "--payment ':9000' has no host"},
      {"127.0.0.1", "--payment '127.0.0.1' must be host:port"},
  };
  for (const auto& [address, message] : cases) {
    const std::string err = dir.file("stderr.txt");
    std::filesystem::remove(err);
    auto p = spawn({"shop-node", "--db", dir.file("shop.db"), "--kdf", "minimal", "--payment", address}, err);
    ::close(p.stdout_fd);
    const auto status = wait_exit(p.pid, 10s);
    if (!status) {
      ::kill(p.pid, SIGKILL);
      wait_exit(p.pid, 10s);
    }
    ASSERT_TRUE(status.has_value()) << address << ": the node started instead of refusing the flag";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << address;
    std::ifstream in{err};
    const std::string text{std::istreambuf_iterator<char>{in}, {}};
    EXPECT_NE(text.find(message), std::string::npos) << address << ": " << text;
  }
}

}  // namespace
}  // namespace stampede::shop
