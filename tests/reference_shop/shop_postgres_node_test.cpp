// A node in front of the PostgreSQL store: one whose database stops accepting it answers 503 + Retry-After
// and recovers; checkouts queued on a row lock run on the node's database pool, so /readyz and the catalogue
// still answer, and beyond the pool's bound the excess is shed. Apart from shop_postgres_store_test.cpp (the
// store itself) because these run a node and speak HTTP to it. A throwaway server per test process
// (pg_test_server.h); each test has a new database (postgres_store_fixture.h).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "common/loopback.h"
#include "reference_shop/node.h"
#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "tests/reference_shop/postgres_store_fixture.h"
#include "tests/reference_shop/store_backends.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using testing::eventually;
using testing::postgres_backend;

[[maybe_unused]] auto& pg_environment = testing::pg_test_environment::get();

// Whether the node's /metrics has this exact sample line.
bool probe_metric(uint16_t port, const std::string& line) {
  http::blocking_client c{"127.0.0.1", port};
  return c.get("/metrics").body.find("\n" + line + "\n") != std::string::npos;
}

// A node whose database stops accepting it answers 503 + Retry-After (not 500, not a hang) and serves
// again once it is back. (The node logs in as a role of its own, which the test then locks out.)
TEST_F(postgres_store_test, node_answers_503_while_the_database_is_unreachable_and_recovers) {
  const auto [role, db_url] = create_node_login();
  node_options o;
  o.name = "pg-node";
  o.db_url = db_url;
  o.db_pool = 2;
  o.kdf = kdf_cost::minimal;
  o.threads = 2;
  node n{o};
  n.start();
  http::blocking_client c{"127.0.0.1", n.port()};
  EXPECT_EQ(c.get("/api/flash-sales/1").status, 200);
  admin_->exec("ALTER ROLE " + role + " NOLOGIN");
  admin_->exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '" + role + "'");
  auto r = c.get("/api/flash-sales/1");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers.find("Retry-After"), "1");
  EXPECT_NE(r.body.find("unavailable"), std::string::npos) << r.body;
  admin_->exec("ALTER ROLE " + role + " LOGIN");
  EXPECT_EQ(c.get("/api/flash-sales/1").status, 200);
  n.stop();
}

// A node whose every server thread would be taken by checkouts queued on one row lock (a flash sale's hot
// row, here product 7 locked by another session): those requests run on the node's database pool, so the
// server's threads still answer /readyz (what HAProxy's check asks, with a 1 s timeout) and the catalogue
// while the lock is held; once it is released every checkout completes. With the pool full, the excess
// gets a fast 503 + Retry-After, nothing done. Before the database pool, /readyz waited for the lock.
class database_pool_test : public postgres_store_test {
 protected:
  node_options options() {
    auto login = create_node_login();
    role_ = login.role;
    node_options o;
    o.name = "pool-node";
    o.db_url = std::move(login.db_url);
    o.db_pool = 8;
    o.kdf = kdf_cost::minimal;
    o.threads = 2;
    o.login_per_source = {};
    return o;
  }
  // A new customer's session token, through the node's API.
  static std::string sign_up(http::blocking_client& c, int i) {
    const std::string email = "pool" + std::to_string(i) + "@shop.test";
    EXPECT_EQ(c.post_json("/api/users", R"({"email":")" + email + R"(","password":"long-enough","name":"p"})")
                  .status,
              201);
    auto s = c.post_json("/api/sessions", R"({"email":")" + email + R"(","password":"long-enough"})");
    EXPECT_EQ(s.status, 200) << s.body;
    return std::string{json::parse(s.body).at("token").as_string()};
  }
  // Sessions of the node waiting on a lock now.
  int64_t waiting_on_locks() {
    return count("SELECT COUNT(*) FROM pg_stat_activity WHERE usename = '" + role_ +
                 "' AND wait_event_type = 'Lock'");
  }
  std::string role_;  // the node's database role
  // Checkouts of one unit of product 7, each on a connection of its own; the statuses, in order.
  static std::vector<std::future<int>> checkouts(uint16_t port, const std::vector<std::string>& tokens) {
    std::vector<std::future<int>> out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      out.push_back(std::async(std::launch::async, [port, token = tokens[i], i] {
        http::blocking_client c{"127.0.0.1", port, 20s};
        return c
            .post_json(
                "/api/orders", R"({"items":[{"product_id":7,"qty":1}]})",
                {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "pool-" + std::to_string(i)}})
            .status;
      }));
    }
    return out;
  }
};

TEST_F(database_pool_test, readyz_and_the_catalogue_answer_while_checkouts_wait_on_a_row_lock) {
  auto o = options();
  o.database_workers = 4;  // more than the server's 2 threads: all of these would have held them
  node n{o};
  n.start();
  http::blocking_client c{"127.0.0.1", n.port()};
  std::vector<std::string> tokens;
  for (int i = 0; i < 4; ++i) tokens.push_back(sign_up(c, i));
  pg::connection locker{backend_->conninfo(), pg::settings{}};
  locker.exec("BEGIN; SELECT stock FROM products WHERE id = 7 FOR UPDATE");
  auto pending = checkouts(n.port(), tokens);
  ASSERT_TRUE(eventually([&] { return waiting_on_locks() == 4; }, 10s)) << waiting_on_locks();
  http::blocking_client probe{"127.0.0.1", n.port(), 1s};  // HAProxy's `timeout check`
  EXPECT_EQ(probe.get("/readyz").status, 200);
  EXPECT_EQ(probe.get("/api/products/8").status, 200);
  EXPECT_EQ(waiting_on_locks(), 4) << "the checkouts were still waiting while the probes were answered";
  locker.exec("COMMIT");
  for (auto& f : pending) EXPECT_EQ(f.get(), 201);
  n.stop();
}

TEST_F(database_pool_test, beyond_its_bound_the_database_pool_sheds_with_503_and_retry_after) {
  auto o = options();
  o.database_workers = 1;
  o.database_queue = 1;
  o.database_max_wait = 20s;
  node n{o};
  n.start();
  http::blocking_client c{"127.0.0.1", n.port()};
  std::vector<std::string> tokens;
  for (int i = 0; i < 3; ++i) tokens.push_back(sign_up(c, i));
  const int64_t stock = open()->find_product(7)->stock;
  pg::connection locker{backend_->conninfo(), pg::settings{}};
  locker.exec("BEGIN; SELECT stock FROM products WHERE id = 7 FOR UPDATE");
  auto running = checkouts(n.port(), {tokens[0]});  // the one worker, waiting on the lock
  ASSERT_TRUE(eventually([&] { return waiting_on_locks() == 1; }, 10s));
  auto queued = checkouts(n.port(), {tokens[1]});  // the one place in the queue
  ASSERT_TRUE(
      eventually([&] { return probe_metric(n.port(), "shop_database_requests{state=\"waiting\"} 1"); }, 10s));
  http::blocking_client third{"127.0.0.1", n.port()};
  auto shed = third.post_json("/api/orders", R"({"items":[{"product_id":7,"qty":1}]})",
                              {{"Authorization", "Bearer " + tokens[2]}, {"Idempotency-Key", "pool-shed"}});
  EXPECT_EQ(shed.status, 503) << shed.body;
  EXPECT_FALSE(shed.headers.find("Retry-After").empty());
  EXPECT_NE(shed.body.find("busy"), std::string::npos) << shed.body;
  locker.exec("COMMIT");
  EXPECT_EQ(running[0].get(), 201);
  EXPECT_EQ(queued[0].get(), 201);
  EXPECT_EQ(open()->find_product(7)->stock, stock - 2) << "the shed checkout changed nothing";
  EXPECT_TRUE(probe_metric(n.port(), "shop_database_shed_total{reason=\"busy\"} 1"));
  n.stop();
}

}  // namespace
}  // namespace stampede::shop
