// `stampede shop --db postgres --shards 2` as real processes: two PostgreSQL servers with
// max_prepared_transactions, the seed partitioned by the rule the topology states, a cross-shard checkout
// committed on both shards by two-phase commit (replayed by its key, paid by the pipeline), a single-shard
// one by the fast path, the audit's totals per shard and in all, and nothing left behind. Flags that
// sharding does not support yet are one line naming them.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <filesystem>

#include "common/http_client.h"
#include "reference_shop/pg_connection.h"
#include "tests/reference_shop/shop_process_support.h"
#include "tests/support/sanitizers.h"

namespace stampede::shop {
namespace {

using namespace testing;

class sharded_shop_test : public shop_process_test {
 protected:
  void TearDown() override {
    std::vector<pid_t> servers;
    if (const auto* db = topology_.if_contains("database")) {
      if (const auto* shards = db->as_object().if_contains("shards")) {
        for (const auto& s : shards->as_array())
          servers.push_back(static_cast<pid_t>(s.at("pid").as_int64()));
      }
    }
    shop_process_test::TearDown();
    // The servers follow a SIGKILLed supervisor (their death signal): wait before the directory goes.
    for (pid_t pid : servers) EXPECT_TRUE(eventually([&] { return gone(pid); }, 15s)) << "postgres " << pid;
  }
  std::string admin() { return std::string{topology_["admin_token"].as_string()}; }
  std::string login(http::blocking_client& c, int customer) {
    auto s = c.post_json("/api/sessions", R"({"email":"customer)" + std::to_string(customer) +
                                              R"(@shop.test","password":"stampede"})");
    EXPECT_EQ(s.status, 200) << s.body;
    return s.status == 200 ? std::string{json::parse(s.body).at("token").as_string()} : "";
  }
  json::object audit() {
    http::blocking_client c{"127.0.0.1", port_of(entry_), 10s};
    auto r = c.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + admin()}});
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).as_object();
  }
  // node1 coordinates a cross-shard checkout (customer3: home shard 1; products 2 and 3 on shards 0 and 1)
  // and dies at its --txn-fault point; node2's recovery worker resolves the parts left prepared once the
  // lease (--txn-lease-ms 2000) is over, within the bound below. Returns whether the order exists, after
  // checking that it is whole on both shards or on neither.
  bool coordinator_killed_then_recovered() {
    const auto& shards = topology_["database"].at("shards").as_array();
    pg::connection shard0{std::string{shards[0].at("url").as_string()}, pg::settings{}};
    pg::connection shard1{std::string{shards[1].at("url").as_string()}, pg::settings{}};
    auto stock = [&](pg::connection& db, int product) {
      return db.exec("SELECT stock FROM products WHERE id = " + std::to_string(product)).int64(0, 0);
    };
    const int64_t before2 = stock(shard0, 2), before3 = stock(shard1, 3);
    const auto& node1 = topology_["nodes"].at(0).as_object();
    const pid_t node1_pid = static_cast<pid_t>(node1.at("pid").as_int64());
    http::blocking_client c{"127.0.0.1", static_cast<uint16_t>(node1.at("port").as_int64()), 10s};
    const std::string token = login(c, 3);
    try {
      auto r = c.post_json("/api/orders", R"({"items":[{"product_id":2,"qty":1},{"product_id":3,"qty":2}]})",
                           {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "crash-1"}});
      ADD_FAILURE() << "the coordinator answered " << r.status << " " << r.body;
    } catch (const std::system_error&) {
      // killed mid-request: no answer, the outcome unknown to the client
    }
    EXPECT_TRUE(eventually([&] { return gone(node1_pid); }, 10s));
    auto prepared = [&] {
      return shard0.exec("SELECT COUNT(*) FROM pg_prepared_xacts").int64(0, 0) +
             shard1.exec("SELECT COUNT(*) FROM pg_prepared_xacts").int64(0, 0);
    };
    EXPECT_GE(prepared(), 1);  // in doubt: the parts hold their stock and locks
    // Lease 2 s + one recovery interval (1 s) + scheduling.
    EXPECT_TRUE(eventually([&] { return prepared() == 0; }, stampede::testing::sanitized_build ? 30s : 10s))
        << "still in doubt";
    const int64_t headers =
        shard1.exec("SELECT COUNT(*) FROM orders WHERE idempotency_key = 'crash-1'").int64(0, 0);
    const int64_t parts = shard0.exec("SELECT COUNT(*) FROM order_parts").int64(0, 0) +
                          shard1.exec("SELECT COUNT(*) FROM order_parts").int64(0, 0);
    EXPECT_EQ(parts, 2 * headers) << "a partial order";
    EXPECT_EQ(stock(shard0, 2), before2 - headers);
    EXPECT_EQ(stock(shard1, 3), before3 - 2 * headers);
    EXPECT_EQ(shard1.exec("SELECT COUNT(*) FROM txn_decisions").int64(0, 0),
              1);  // commit, or abort by recovery
    return headers == 1;
  }
};

TEST_F(sharded_shop_test, two_shards_commit_cross_shard_orders_everywhere_and_the_audit_adds_up) {
  start({"--db", "postgres", "--shards", "2", "--nodes", "2", "--threads", "1", "--db-pool", "4"});
  const auto& db = topology_["database"].as_object();
  EXPECT_EQ(db.at("txn").as_string(), "2pc");
  const auto& shards = db.at("shards").as_array();
  ASSERT_EQ(shards.size(), 2u);
  EXPECT_EQ(shards[1].at("skus").as_string(), "product_id % 2 == 1");
  EXPECT_EQ(std::filesystem::path{std::string{shards[1].at("data_dir").as_string()}},
            dir_.path() / "postgres-shard1" / "data");
  for (int s = 0; s < 2; ++s) {
    pg::connection sql{std::string{shards[static_cast<size_t>(s)].at("url").as_string()}, pg::settings{}};
    EXPECT_EQ(sql.exec("SHOW max_prepared_transactions").text(0, 0), "28");  // = max_connections
    // Each shard holds the stock of its own SKUs only.
    EXPECT_EQ(sql.exec("SELECT COUNT(*) FROM products WHERE stock > 0 AND id % 2 <> " + std::to_string(s))
                  .int64(0, 0),
              0);
    EXPECT_GT(sql.exec("SELECT COUNT(*) FROM products WHERE stock > 0").int64(0, 0), 400);
  }
  http::blocking_client c{"127.0.0.1", port_of(entry_), 10s};
  // customer3's home is shard 1; product 2 is on shard 0, product 3 on shard 1: a cross-shard order.
  const std::string token = login(c, 3);
  const std::vector<std::pair<std::string, std::string>> auth{{"Authorization", "Bearer " + token},
                                                              {"Idempotency-Key", "x-1"}};
  const std::string cart = R"({"items":[{"product_id":2,"qty":1},{"product_id":3,"qty":2}]})";
  auto first = c.post_json("/api/orders", cart, auth);
  ASSERT_EQ(first.status, 201) << first.body;
  const int64_t order = json::parse(first.body).at("order_id").as_int64();
  EXPECT_EQ(order % 2, 1);  // the header on the home shard
  auto again = c.post_json("/api/orders", cart, auth);
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(json::parse(again.body).at("order_id").as_int64(), order);
  // customer4 (home 0) buys products 4 and 6 (shard 0): the one-phase fast path.
  const std::string token4 = login(c, 4);
  auto single = c.post_json("/api/orders", R"({"items":[{"product_id":4,"qty":1},{"product_id":6,"qty":1}]})",
                            {{"Authorization", "Bearer " + token4}, {"Idempotency-Key", "y-1"}});
  ASSERT_EQ(single.status, 201) << single.body;
  pg::connection shard0{std::string{shards[0].at("url").as_string()}, pg::settings{}};
  pg::connection shard1{std::string{shards[1].at("url").as_string()}, pg::settings{}};
  EXPECT_EQ(shard1.exec("SELECT COUNT(*) FROM txn_decisions WHERE decision = 'commit'").int64(0, 0), 1);
  EXPECT_EQ(shard0.exec("SELECT COUNT(*) FROM txn_decisions").int64(0, 0), 0);
  // Both paid by the pipeline, which claims from every shard.
  json::object now;
  ASSERT_TRUE(eventually(
      [&] {
        now = audit();
        return now.at("orders_by_state").at("paid").as_int64() == 2;
      },
      20s))
      << json::serialize(now);
  EXPECT_EQ(now.at("prepared_transactions").as_int64(), 0);
  EXPECT_EQ(now.at("sku_totals").at("skus").as_int64(), 1000);
  EXPECT_EQ(now.at("sku_totals").at("sold").as_int64(), 5);
  const auto& totals = now.at("sku_totals").as_object();
  EXPECT_EQ(totals.at("initial_stock").as_int64(), totals.at("remaining").as_int64() + 5);
  ASSERT_EQ(now.at("shards").as_array().size(), 2u);
  EXPECT_EQ(now.at("shards").at(0).at("sku_totals").at("sold").as_int64(), 3);  // products 2, 4, 6
  EXPECT_EQ(now.at("shards").at(1).at("sku_totals").at("sold").as_int64(), 2);  // product 3
  for (const auto& o : now.at("orders").as_array()) {
    if (o.at("order_id").as_int64() != order) continue;
    const auto& parts = o.at("parts").as_array();
    ASSERT_EQ(parts.size(), 2u) << json::serialize(parts);
    EXPECT_EQ(parts[0].at("status").as_string(), "placed");
    EXPECT_EQ(parts[1].at("status").as_string(), "placed");
    // The parts' money adds up to the order's: what the sharded money invariant checks.
    EXPECT_EQ(parts[0].at("subtotal").as_int64() + parts[1].at("subtotal").as_int64(),
              o.at("total").as_int64());
    EXPECT_EQ(o.at("captured").as_int64(), o.at("total").as_int64());
  }
  // GET /api/orders of customer3 reads the home shard.
  auto mine = c.request("GET", "/api/orders", {}, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(json::parse(mine.body).at("orders").at(0).at("order_id").as_int64(), order);
  const pid_t shard1_server = static_cast<pid_t>(shards[1].at("pid").as_int64());
  stop_and_expect_nothing_left();
  EXPECT_TRUE(eventually([&] { return gone(shard1_server); }, 10s)) << "shard 1's server left behind";
}

// node1 coordinates a cross-shard checkout and SIGKILLs itself at `fault` (--txn-fault: timed on the
// protocol, not on luck); node2's recovery worker resolves the parts left prepared once the lease (2 s) is
// over. Returns whether the order exists afterwards, and checks that it is whole or absent on both shards.
TEST_F(sharded_shop_test, a_coordinator_killed_after_prepare_is_rolled_back_everywhere_by_another_node) {
  start({"--db", "postgres", "--shards", "2", "--nodes", "2", "--threads", "1", "--db-pool", "4",
         "--txn-fault", "after-prepare", "--txn-lease-ms", "2000"});
  EXPECT_FALSE(coordinator_killed_then_recovered());
  stop_and_expect_nothing_left();
}

TEST_F(sharded_shop_test, a_coordinator_killed_after_the_decision_is_committed_everywhere_by_another_node) {
  start({"--db", "postgres", "--shards", "2", "--nodes", "2", "--threads", "1", "--db-pool", "4",
         "--txn-fault", "after-decision", "--txn-lease-ms", "2000"});
  EXPECT_TRUE(coordinator_killed_then_recovered());
  stop_and_expect_nothing_left();
}

TEST_F(sharded_shop_test, unsupported_combinations_are_one_line_naming_the_flags) {
  for (const auto& [args, line] :
       {std::pair{std::vector<std::string>{"--db", "postgres", "--ha", "patroni", "--shards", "2",
                                           "--etcd-port", "2379"},
                  "stampede shop: --shards with --ha patroni does not support --dcs-via, --postgres-via, "
                  "--rest-via, "
                  "--etcd-port or --rest-ports yet\n"},
        std::pair{std::vector<std::string>{"--db", "postgres", "--ha", "patroni", "--shards", "2",
                                           "--replica-reads", "on"},
                  "stampede shop: --shards with --ha patroni does not support --replica-reads yet\n"},
        std::pair{std::vector<std::string>{"--shards", "2"}, "stampede shop: --shards needs --db postgres\n"},
        std::pair{
            std::vector<std::string>{"--db", "postgres", "--shards", "2", "--shard-read-timeout-ms", "5"},
            "stampede shop: --shard-read-timeout-ms: expected a whole number in [10, 600000], got '5'\n"},
        std::pair{std::vector<std::string>{"--db", "postgres", "--shards", "2", "--txn", "3pc"},
                  "stampede shop: --txn must be 2pc, saga, 2pc-no-decision-log or saga-no-compensation, not "
                  "'3pc'\n"}}) {
    std::vector<std::string> argv{"shop", "--port", "0", "--data", dir_.path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::filesystem::remove(log_file());
    supervisor_ = spawn(argv, log_file());
    auto status = wait_exit(supervisor_.pid, 10s);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << log();
    EXPECT_EQ(log().rfind(line, 0), 0u) << log();
    ::close(supervisor_.stdout_fd);
    supervisor_ = {};
  }
  reaped_ = true;
}

}  // namespace
}  // namespace stampede::shop
