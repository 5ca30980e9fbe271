// `stampede shop --db postgres --shards 2 --ha patroni` as real processes: each shard a Patroni cluster (a
// primary and one synchronous replica, one etcd shared, a scope per shard), max_prepared_transactions on
// every member, the topology listing each shard's members, roles and pids, and per-shard fault targets.
// Then prepared transactions survive a shard failover: cross-shard checkouts run through node2 while node1
// dies right after PREPARE (--txn-fault after-prepare) and shard 1's primary is SIGKILLed; the promoted
// replica holds the in-doubt part (PREPARE is WAL-logged and, in sync mode, on the standby before it is
// acknowledged), node2's recovery worker resolves it after the lease, and: no acknowledged order lost,
// every order whole on both shards or absent, nothing prepared left on either primary, no oversell.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <thread>

#include "common/http_client.h"
#include "reference_shop/pg_connection.h"
#include "tests/reference_shop/shop_process_support.h"
#include "tests/support/child_process.h"
#include "tests/support/sanitizers.h"

namespace stampede::shop {
namespace {

using namespace testing;
using steady = std::chrono::steady_clock;

class sharded_patroni_shop_test : public shop_process_test {
 protected:
  void start_shards(std::vector<std::string> extra) {
    std::vector<std::string> args{
        "shop", "--port",    "0",        "--kdf",     "minimal", "--data",  dir_.path().string(),
        "--db", "postgres",  "--shards", "2",         "--ha",    "patroni", "--nodes",
        "2",    "--threads", "1",        "--db-pool", "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto begin = steady::now();
    supervisor_ = spawn(args, log_file());
    entry_ = read_line(supervisor_.stdout_fd, stampede::testing::sanitized_build ? 400s : 200s);
    ASSERT_EQ(entry_.rfind("http://127.0.0.1:", 0), 0u) << "no entry URL; log:\n" << log();
    std::printf("[ measure ] shop with 2 shards of 2 Patroni members each up in %.1f s\n",
                std::chrono::duration<double>(steady::now() - begin).count());
    reread_topology();
  }
  const json::array& shards() { return topology_["database"].at("shards").as_array(); }
  std::string shard_url(size_t s) { return std::string{shards()[s].at("url").as_string()}; }
  // The member of shard `s` that the topology names with `role`.
  const json::object* member(size_t s, std::string_view role) {
    for (const auto& m : shards()[s].at("members").as_array()) {
      if (m.at("role").as_string() == role) return &m.as_object();
    }
    return nullptr;
  }
  // Every database pid of the topology: etcd, the database HAProxy, each shard's Patroni and postmasters.
  std::vector<pid_t> database_pids() {
    std::vector<pid_t> pids{static_cast<pid_t>(topology_["database"].at("etcd").at("pid").as_int64()),
                            static_cast<pid_t>(topology_["database_haproxy"].at("pid").as_int64())};
    for (const auto& shard : shards()) {
      for (const auto& m : shard.at("members").as_array()) {
        pids.push_back(static_cast<pid_t>(m.at("patroni_pid").as_int64()));
        pids.push_back(static_cast<pid_t>(m.at("postmaster_pid").as_int64()));
      }
    }
    return pids;
  }
  void TearDown() override {
    std::vector<pid_t> pids;
    if (!topology_.empty() && topology_.contains("database_haproxy")) pids = database_pids();
    shop_process_test::TearDown();
    if (!eventually([&] { return std::ranges::all_of(pids, [](pid_t p) { return p <= 0 || gone(p); }); },
                    40s)) {
      ADD_FAILURE() << "database processes outlived the supervisor";
      for (pid_t p : pids) {
        if (p > 0 && !gone(p)) ::kill(p, SIGKILL);
      }
    }
  }
  std::string login(http::blocking_client& c, int customer) {
    auto s = c.post_json("/api/sessions", R"({"email":"customer)" + std::to_string(customer) +
                                              R"(@shop.test","password":"stampede"})");
    return s.status == 200 ? std::string{json::parse(s.body).at("token").as_string()} : std::string{};
  }
  // Products 2 (shard 0) and 3 (shard 1): a cross-shard checkout. Its order id when acknowledged (201).
  static int64_t cross_shard_order(http::blocking_client& c, const std::string& token,
                                   const std::string& key) {
    try {
      auto r = c.post_json("/api/orders", R"({"items":[{"product_id":2,"qty":1},{"product_id":3,"qty":1}]})",
                           {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
      return r.status == 201 ? json::parse(r.body).at("order_id").as_int64() : 0;
    } catch (const std::exception&) {
      return 0;  // no answer: the outcome is unknown to the client
    }
  }
  // A count on shard `s`'s current primary (through the database HAProxy); -1 while it cannot be asked.
  int64_t count_on(size_t s, const std::string& sql) {
    try {
      pg::settings settings;
      settings.connect_timeout = std::chrono::seconds{2};
      pg::connection db{shard_url(s), settings};
      return db.exec(sql).int64(0, 0);
    } catch (const std::exception&) {
      return -1;
    }
  }
};

TEST_F(sharded_patroni_shop_test,
       each_shard_is_a_patroni_cluster_and_prepared_parts_survive_a_shard_failover) {
  // Lease 25 s: longer than the failover (~10-15 s), so the promoted replica is seen holding the in-doubt
  // part before recovery resolves it.
  start_shards({"--sync-replication", "on", "--txn-fault", "after-prepare", "--txn-lease-ms", "25000"});
  if (HasFatalFailure()) return;
  const auto& db = topology_["database"].as_object();
  EXPECT_EQ(db.at("ha").as_string(), "patroni");
  EXPECT_EQ(db.at("txn").as_string(), "2pc");
  ASSERT_EQ(shards().size(), 2u);
  std::set<std::string> scopes;
  for (size_t s = 0; s < 2; ++s) {
    const auto& shard = shards()[s].as_object();
    scopes.insert(std::string{shard.at("scope").as_string()});
    EXPECT_FALSE(shard.contains("etcd")) << "one etcd, in the database entry";
    ASSERT_EQ(shard.at("members").as_array().size(), 2u) << "one replica per shard by default";
    ASSERT_NE(member(s, "leader"), nullptr) << json::serialize(shard);
    ASSERT_NE(member(s, "sync_standby"), nullptr) << json::serialize(shard);
    const std::string url = shard_url(s);
    const std::string password = url.substr(url.find("shop:") + 5, url.find('@') - url.find("shop:") - 5);
    for (const auto& m : shard.at("members").as_array()) {
      EXPECT_FALSE(gone(static_cast<pid_t>(m.at("postmaster_pid").as_int64()))) << json::serialize(m);
      EXPECT_FALSE(gone(static_cast<pid_t>(m.at("patroni_pid").as_int64()))) << json::serialize(m);
      // Every member, replicas included, can hold prepared transactions (= max_connections: 2 x 4 + 20).
      pg::connection direct{"postgresql://shop:" + password +
                                "@127.0.0.1:" + std::to_string(m.at("pg_port").as_int64()) + "/shop",
                            pg::settings{}};
      EXPECT_EQ(direct.exec("SHOW max_prepared_transactions").text(0, 0), "28") << json::serialize(m);
    }
    pg::connection primary{url, pg::settings{}};
    EXPECT_EQ(primary.exec("SELECT pg_is_in_recovery()::text").text(0, 0), "false");
    EXPECT_EQ(primary.exec("SELECT COUNT(*) FROM products WHERE stock > 0 AND id % 2 <> " + std::to_string(s))
                  .int64(0, 0),
              0);
  }
  EXPECT_EQ(scopes, (std::set<std::string>{"stampede-shop", "stampede-shop-shard1"}));
  std::set<std::string> targets;
  for (const auto& n : topology_["database_nodes"].as_array())
    targets.insert(std::string{n.at("name").as_string()});
  for (const char* t : {"shard0-primary", "shard1-primary", "shard0-replica1", "shard1-pg2", "etcd"}) {
    EXPECT_TRUE(targets.contains(t)) << t << " is not a fault target";
  }
  EXPECT_FALSE(targets.contains("primary")) << "an unnamed shard's primary";

  auto prepared = [&](size_t s) { return count_on(s, "SELECT COUNT(*) FROM pg_prepared_xacts"); };
  const int64_t stock2 = count_on(0, "SELECT stock FROM products WHERE id = 2");
  const int64_t stock3 = count_on(1, "SELECT stock FROM products WHERE id = 3");
  // The seed's orders (single-shard history) are not this test's: counted from here.
  auto all_headers = [&] {
    return count_on(0, "SELECT COUNT(*) FROM orders") + count_on(1, "SELECT COUNT(*) FROM orders");
  };
  auto all_parts = [&] {
    return count_on(0, "SELECT COUNT(*) FROM order_parts") + count_on(1, "SELECT COUNT(*) FROM order_parts");
  };
  const int64_t seeded_headers = all_headers(), seeded_parts = all_parts();

  // Load: four customers check out across shards through node2, without pause.
  const auto& node2 = topology_["nodes"].at(1).as_object();
  const uint16_t node2_port = static_cast<uint16_t>(node2.at("port").as_int64());
  std::mutex mu;
  std::vector<int64_t> acknowledged;
  std::atomic<bool> stop{false};
  std::vector<std::thread> buyers;
  for (int customer : {5, 6, 7, 8}) {
    buyers.emplace_back([&, customer] {
      http::blocking_client c{"127.0.0.1", node2_port, 8s};
      std::string token;
      for (int i = 0; !stop; ++i) {
        if (token.empty()) token = login(c, customer);
        const int64_t id =
            cross_shard_order(c, token, "load-" + std::to_string(customer) + "-" + std::to_string(i));
        if (id > 0) {
          std::lock_guard lock{mu};
          acknowledged.push_back(id);
        } else {
          std::this_thread::sleep_for(200ms);  // retried at 5/s during the outage, not in a spin
        }
      }
    });
  }
  auto acked = [&] {
    std::lock_guard lock{mu};
    return acknowledged.size();
  };
  ASSERT_TRUE(eventually([&] { return acked() >= 10; }, 30s)) << log();

  // node1 coordinates one cross-shard checkout and SIGKILLs itself after PREPARE on both shards.
  const auto& node1 = topology_["nodes"].at(0).as_object();
  const pid_t node1_pid = static_cast<pid_t>(node1.at("pid").as_int64());
  {
    http::blocking_client c{"127.0.0.1", static_cast<uint16_t>(node1.at("port").as_int64()), 10s};
    EXPECT_EQ(cross_shard_order(c, login(c, 3), "crash-1"), 0);
  }
  ASSERT_TRUE(eventually([&] { return gone(node1_pid); }, 10s));
  ASSERT_GE(prepared(1), 1) << "node1 left no prepared part on shard 1";

  // Shard 1's primary dies as a machine would: its Patroni and postmaster, SIGKILL.
  const json::object old_leader = *member(1, "leader");
  const std::string old_name{old_leader.at("name").as_string()};
  const auto kill_time = steady::now();
  ASSERT_EQ(::kill(static_cast<pid_t>(old_leader.at("patroni_pid").as_int64()), SIGKILL), 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(old_leader.at("postmaster_pid").as_int64()), SIGKILL), 0);

  // The promoted replica leads shard 1 and holds node1's in-doubt part (the lease has not expired yet).
  ASSERT_TRUE(eventually(
      [&] {
        reread_topology();
        const auto* leader = member(1, "leader");
        return leader != nullptr && leader->at("name").as_string() != old_name;
      },
      45s))
      << "shard 1 did not fail over; log:\n"
      << log();
  std::printf("[ measure ] shard 1 failed over %.1f s after its primary's SIGKILL\n",
              std::chrono::duration<double>(steady::now() - kill_time).count());
  int64_t held = -1;
  ASSERT_TRUE(eventually(
      [&] {
        held = prepared(1);
        return held >= 1;
      },
      15s))
      << "the new primary of shard 1 holds no prepared part (" << held << ")";
  EXPECT_GE(prepared(0), 1) << "shard 0 still holds node1's other part";
  // Writes come back through the new primary.
  const size_t before_back = acked();
  EXPECT_TRUE(eventually([&] { return acked() >= before_back + 5; }, 30s))
      << "no checkout after the failover";
  stop = true;
  for (auto& t : buyers) t.join();

  // Recovery: node2 rolls node1's parts back after the lease (25 s from PREPARE) plus an interval or two.
  const auto bound = stampede::testing::sanitized_build ? 90s : 45s;
  EXPECT_TRUE(eventually([&] { return prepared(0) == 0 && prepared(1) == 0; }, bound))
      << "in doubt still: shard 0 " << prepared(0) << ", shard 1 " << prepared(1);
  std::printf("[ measure ] nothing prepared left %.1f s after the kill; %zu orders acknowledged\n",
              std::chrono::duration<double>(steady::now() - kill_time).count(), acked());

  // No acknowledged order lost, each whole on both shards; nothing partial; no oversell.
  std::string ids;
  for (int64_t id : acknowledged) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const int64_t headers = count_on(0, "SELECT COUNT(*) FROM orders WHERE id IN (" + ids + ")") +
                          count_on(1, "SELECT COUNT(*) FROM orders WHERE id IN (" + ids + ")");
  EXPECT_EQ(headers, static_cast<int64_t>(acknowledged.size())) << "acknowledged orders lost";
  for (size_t s = 0; s < 2; ++s) {
    EXPECT_EQ(count_on(s, "SELECT COUNT(DISTINCT order_id) FROM order_parts WHERE order_id IN (" + ids + ")"),
              static_cast<int64_t>(acknowledged.size()))
        << "an acknowledged order without its part on shard " << s;
  }
  const int64_t placed = all_headers() - seeded_headers;
  EXPECT_GE(placed, static_cast<int64_t>(acknowledged.size()));  // and those whose answer was lost
  EXPECT_EQ(all_parts() - seeded_parts, 2 * placed) << "a partial order";
  EXPECT_EQ(count_on(1, "SELECT COUNT(*) FROM orders WHERE idempotency_key = 'crash-1'") +
                count_on(0, "SELECT COUNT(*) FROM orders WHERE idempotency_key = 'crash-1'"),
            0)
      << "node1's order had no decision: recovery rolls it back";
  const int64_t sold2 = stock2 - count_on(0, "SELECT stock FROM products WHERE id = 2");
  const int64_t sold3 = stock3 - count_on(1, "SELECT stock FROM products WHERE id = 3");
  EXPECT_EQ(sold2, placed) << "stock of product 2 does not match the orders";
  EXPECT_EQ(sold3, placed) << "stock of product 3 does not match the orders";
  EXPECT_GE(count_on(0, "SELECT MIN(stock) FROM products"), 0);
  EXPECT_GE(count_on(1, "SELECT MIN(stock) FROM products"), 0);

  // The drill's restart of the killed member, by its shard's name: the supervisor starts its Patroni again
  // and it rejoins shard 1 as a replica of the new primary (pg_rewind), while shard 0 is untouched.
  std::string restart;
  for (const auto& n : topology_["database_nodes"].as_array()) {
    if (n.at("name").as_string() == "shard1-" + old_name)
      restart = std::string{n.at("commands").at("restart").as_string()};
  }
  ASSERT_FALSE(restart.empty()) << json::serialize(topology_["database_nodes"]);
  const int restarted =
      stampede::testing::run_bounded({"/bin/sh", "-c", restart}, dir_.file("restart.log"), 40s);
  EXPECT_EQ(restarted, 0) << restart << ":\n"
                          << stampede::testing::read_text(dir_.file("restart.log")) << "\nlog:\n"
                          << log();
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        for (const auto& m : shards()[1].at("members").as_array()) {
          if (m.at("name").as_string() == old_name)
            return m.at("role").as_string() != "leader" && m.at("role").as_string() != "unknown";
        }
        return false;
      },
      60s))
      << json::serialize(shards()[1]);
  EXPECT_NE(log().find("shard1-" + old_name + " restarted on request"), std::string::npos) << log();

  // SIGTERM: both clusters and the one etcd stop, nothing of the topology runs.
  reread_topology();
  const auto pids = database_pids();
  ASSERT_EQ(::kill(supervisor_.pid, SIGTERM), 0);
  const auto stop_begin = steady::now();
  const auto status = wait_exit(supervisor_.pid, 60s);
  ASSERT_TRUE(status.has_value()) << "supervisor did not exit";
  std::printf("[ measure ] stopped in %.1f s\n",
              std::chrono::duration<double>(steady::now() - stop_begin).count());
  reaped_ = true;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log();
  for (pid_t p : pids) EXPECT_TRUE(p <= 0 || gone(p)) << "left behind: pid " << p;
}

}  // namespace
}  // namespace stampede::shop
