// The Redis cache tier on a real redis-server (a throwaway one per test, killed and paused by the tests):
// single-flight across two nodes (two caches with their own connection pools, as two node processes),
// stale-while-rebuilding, the bounded lock wait, invalidation across nodes, and what happens when Redis is
// killed (SIGKILL) or paused (SIGSTOP) under concurrent requests: database loads within the admission
// bound, only the excess refused, calls bounded by the timeouts, and recovery when Redis returns.
// Plus the node: a product page shows the stock a checkout took, on the local and on the Redis cache.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <signal.h>

#include <atomic>
#include <future>
#include <memory>
#include <thread>

#include "common/http_client.h"
#include "common/loopback.h"
#include "reference_shop/node.h"
#include "reference_shop/redis_cache.h"
#include "tests/reference_shop/redis_test_server.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;
using steady = std::chrono::steady_clock;

redis_cache_options options_for(const testing::redis_test_server& redis) {
  redis_cache_options o;
  o.redis = redis.client();
  return o;
}

// A loader held until the test releases it (bounded), counting its calls.
struct held_loader {
  explicit held_loader(std::string v) : value(std::move(v)) {}
  std::string value;
  std::atomic<int> calls{0};
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  read_cache::loader fn() {
    return [this]() -> std::optional<std::string> {
      if (++calls == 1) started.set_value();
      released.wait_for(10s);
      return value;
    };
  }
  bool wait_started() { return started.get_future().wait_for(10s) == std::future_status::ready; }
};

read_cache::loader must_not_load() {
  return []() -> std::optional<std::string> {
    ADD_FAILURE() << "the database was asked";
    return "unexpected";
  };
}

// Resumes a paused server whatever the test's outcome.
struct resume_on_exit {
  pid_t pid;
  ~resume_on_exit() { ::kill(pid, SIGCONT); }
};

TEST(redis_cache, misses_of_one_key_on_two_nodes_load_the_database_once) {
  testing::redis_test_server redis;
  auto o = options_for(redis);
  o.lock_wait = 10s;  // the loader below is held until everyone waits; the bound is another test's subject
  redis_cache a{o}, b{o};
  constexpr int per_node = 12;
  std::atomic<int> loads{0};
  auto waiting = [&] {
    const auto sa = a.full_stats(), sb = b.full_stats();
    return sa.base.coalesced + sb.base.coalesced + sa.lock_waits + sb.lock_waits;
  };
  auto slow = [&]() -> std::optional<std::string> {
    ++loads;
    // Hold the load until the 23 other callers wait: 11 + 11 behind their node's leader, one leader on the
    // other node behind the Redis lock.
    testing::eventually([&] { return waiting() == 2 * per_node - 1; }, 10s);
    return "product 1";
  };
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (redis_cache* node : {&a, &b}) {
    for (int i = 0; i < per_node; ++i) {
      threads.emplace_back([&, node] {
        if (auto v = node->get_or_load("p:1", slow); v && *v == "product 1") ++ok;
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(loads.load(), 1);
  EXPECT_EQ(ok.load(), 2 * per_node);
  const auto sa = a.full_stats(), sb = b.full_stats();
  EXPECT_EQ(sa.lock_waits + sb.lock_waits, 1u);
  EXPECT_EQ(sa.lock_wait_timeouts + sb.lock_wait_timeouts, 0u);
  EXPECT_EQ(std::max(sa.key_rebuilds_max_cluster, sb.key_rebuilds_max_cluster), 1);
  EXPECT_EQ(std::max(sa.key_loads_max, sb.key_loads_max), 1);
}

TEST(redis_cache, a_stale_value_is_served_while_another_node_rebuilds) {
  testing::redis_test_server redis;
  std::atomic<int64_t> now{1'800'000'000'000};
  auto o = options_for(redis);
  o.ttl = 1000ms;
  o.stale_for = 60s;
  o.clock = [&] { return now.load(); };
  redis_cache a{o}, b{o};
  a.put("p:1", "stock 10");
  now += 1001;  // stale everywhere
  held_loader rebuild{"stock 9"};
  auto rebuilding = std::async(std::launch::async, [&] { return a.get_or_load("p:1", rebuild.fn()); });
  ASSERT_TRUE(rebuild.wait_started());
  EXPECT_EQ(*b.get_or_load("p:1", must_not_load()), "stock 10");  // at once, no second rebuild
  EXPECT_EQ(b.full_stats().stale_served, 1u);
  rebuild.release.set_value();
  EXPECT_EQ(*rebuilding.get(), "stock 9");
  EXPECT_EQ(*b.get_or_load("p:1", must_not_load()), "stock 9");
}

TEST(redis_cache, the_lock_wait_is_bounded_then_the_caller_loads_without_storing) {
  testing::redis_test_server redis;
  auto o = options_for(redis);
  redis_cache a{o};
  o.lock_wait = 100ms;
  redis_cache b{o};
  held_loader slow{"from a"};
  auto holder = std::async(std::launch::async, [&] { return a.get_or_load("p:2", slow.fn()); });
  ASSERT_TRUE(slow.wait_started());
  const auto start = steady::now();
  EXPECT_EQ(*b.get_or_load("p:2", [] { return std::optional<std::string>{"from b"}; }), "from b");
  EXPECT_LT(steady::now() - start, 5s) << "a bounded wait (100 ms), not the holder's load";
  const auto sb = b.full_stats();
  EXPECT_EQ(sb.lock_waits, 1u);
  EXPECT_EQ(sb.lock_wait_timeouts, 1u);
  EXPECT_EQ(sb.fallback_lock_wait, 1u);
  EXPECT_EQ(sb.base.loads, 1u);
  slow.release.set_value();
  EXPECT_EQ(*holder.get(), "from a");
  redis_cache c{o};  // a third node sees the lock holder's value, not the fallback's
  EXPECT_EQ(*c.get_or_load("p:2", must_not_load()), "from a");
}

TEST(redis_cache, an_invalidation_on_one_node_voids_a_rebuild_on_another) {
  testing::redis_test_server redis;
  auto o = options_for(redis);
  redis_cache a{o}, b{o};
  held_loader old_read{"stock 10"};
  auto rebuilding = std::async(std::launch::async, [&] { return a.get_or_load("p:3", old_read.fn()); });
  ASSERT_TRUE(old_read.wait_started());  // node a read the stock before the checkout below
  b.invalidate("p:3");                    // node b's checkout committed
  EXPECT_EQ(*b.get_or_load("p:3", [] { return std::optional<std::string>{"stock 9"}; }), "stock 9");
  old_read.release.set_value();
  EXPECT_EQ(*rebuilding.get(), "stock 10");
  EXPECT_EQ(a.full_stats().stores_voided, 1u);
  EXPECT_EQ(*a.get_or_load("p:3", must_not_load()), "stock 9");
  // Two rebuilds of p:3 ran at once (the voided one and the one after the write), counted in Redis.
  EXPECT_EQ(b.full_stats().key_rebuilds_max_cluster, 2);
}

TEST(redis_cache, redis_killed_under_load_sheds_only_beyond_the_admission_bound_and_recovers) {
  testing::redis_test_server redis;
  auto o = options_for(redis);
  o.max_db_loads = 4;
  redis_cache cache{o};
  constexpr int warm = 8, cold = 16;
  for (int i = 0; i < warm; ++i) {
    cache.get_or_load("w" + std::to_string(i), [i] { return std::optional<std::string>{"warm " + std::to_string(i)}; });
  }
  redis.kill();

  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> cold_loads{0}, shed{0}, answered{0}, warm_ok{0};
  auto held = [&]() -> std::optional<std::string> {
    ++cold_loads;
    released.wait_for(10s);
    return "cold";
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < cold; ++i) {
    threads.emplace_back([&, i] {
      try {
        if (*cache.get_or_load("c" + std::to_string(i), held) == "cold") ++answered;
      } catch (const cache_overloaded&) {
        ++shed;
      }
    });
  }
  // The admitted loads are held: the rest must have been refused at once, not queued.
  EXPECT_TRUE(testing::eventually([&] { return cold_loads == o.max_db_loads && shed == cold - o.max_db_loads; }, 10s))
      << "loads " << cold_loads << ", shed " << shed;
  // Pages this node saw before the loss are served from its local copy meanwhile, without the database.
  for (int i = 0; i < warm; ++i) {
    if (*cache.get_or_load("w" + std::to_string(i), must_not_load()) == "warm " + std::to_string(i)) ++warm_ok;
  }
  release.set_value();
  for (auto& t : threads) t.join();
  EXPECT_EQ(warm_ok.load(), warm);
  EXPECT_EQ(answered.load(), o.max_db_loads);
  EXPECT_EQ(shed.load(), cold - o.max_db_loads);
  auto s = cache.full_stats();
  EXPECT_EQ(s.loads_in_flight_max, o.max_db_loads);
  EXPECT_EQ(s.shed, static_cast<uint64_t>(cold - o.max_db_loads));
  EXPECT_EQ(s.local_hits, static_cast<uint64_t>(warm));
  EXPECT_FALSE(s.redis.up);
  EXPECT_GE(s.fallback_redis_down + s.fallback_redis_error, static_cast<uint64_t>(cold + warm));

  redis.restart();  // same port, empty
  EXPECT_TRUE(testing::eventually([&] {
    cache.get_or_load("probe", [] { return std::optional<std::string>{"p"}; });
    return cache.full_stats().redis.up;
  }, 10s));
  EXPECT_GE(cache.full_stats().redis.reconnects, 1u);
  // Redis serves again: what one node stores, another reads without loading.
  cache.get_or_load("after", [] { return std::optional<std::string>{"stored in redis"}; });
  redis_cache other{o};
  EXPECT_EQ(*other.get_or_load("after", must_not_load()), "stored in redis");
}

TEST(redis_cache, redis_paused_costs_each_call_at_most_the_timeouts_and_falls_back) {
  testing::redis_test_server redis;
  auto o = options_for(redis);
  o.redis = redis.client(100ms);
  o.redis.backoff_initial = o.redis.backoff_max = 1s;  // no probe during the calls below: one timeout in all
  redis_cache cache{o};
  cache.get_or_load("w", [] { return std::optional<std::string>{"warm"}; });
  ::kill(redis.pid(), SIGSTOP);
  resume_on_exit resume{redis.pid()};
  int loads = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = steady::now();
    EXPECT_EQ(*cache.get_or_load("c" + std::to_string(i), [&] { ++loads; return std::optional<std::string>{"db"}; }),
              "db");
    EXPECT_LT(steady::now() - start, 3s) << "call " << i << " waited on a paused Redis";
  }
  EXPECT_EQ(*cache.get_or_load("w", must_not_load()), "warm");
  EXPECT_EQ(loads, 5);
  auto s = cache.full_stats();
  const auto timeouts = s.redis.errors[1];
  ASSERT_EQ(redis::counted_error_kinds[1], redis::error_kind::timeout);
  EXPECT_EQ(timeouts, 1u) << "the circuit stops asking a Redis that timed out";
  EXPECT_GE(s.fallback_redis_error, 1u);
  EXPECT_GE(s.fallback_redis_down, 1u);
  EXPECT_EQ(s.local_hits, 1u);

  ::kill(redis.pid(), SIGCONT);
  EXPECT_TRUE(testing::eventually([&] {
    cache.get_or_load("probe", [] { return std::optional<std::string>{"p"}; });
    return cache.full_stats().redis.up;
  }, 10s));
  cache.get_or_load("after", [] { return std::optional<std::string>{"stored in redis"}; });
  redis_cache other{o};
  EXPECT_EQ(*other.get_or_load("after", must_not_load()), "stored in redis");
}

TEST(redis_cache, an_invalidation_that_failed_is_sent_when_redis_answers_again) {
  testing::redis_test_server redis;
  auto o = options_for(redis);
  o.redis = redis.client(100ms);
  redis_cache a{o}, b{o};
  a.put("p:5", "stock 10");
  ::kill(redis.pid(), SIGSTOP);
  {
    resume_on_exit resume{redis.pid()};
    b.invalidate("p:5");  // the checkout on b committed while Redis was paused
    EXPECT_EQ(b.full_stats().invalidations_pending, 1u);
  }
  EXPECT_TRUE(testing::eventually([&] {
    b.get_or_load("other", [] { return std::optional<std::string>{"x"}; });
    return b.full_stats().invalidations_pending == 0;
  }, 10s));
  EXPECT_EQ(*a.get_or_load("p:5", [] { return std::optional<std::string>{"stock 9"}; }), "stock 9");
}

TEST(redis_client, errors_are_classified_and_a_dead_redis_is_not_asked_again_at_once) {
  redis::client_options closed;
  closed.port = free_loopback_port();  // nothing listens there
  closed.backoff_initial = 10s;
  redis::client c{closed};
  try {
    c.command({"PING"});
    ADD_FAILURE() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::connect) << e.what();
  }
  EXPECT_FALSE(c.available());
  try {
    c.command({"PING"});
    ADD_FAILURE() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::down);
  }
  const auto s = c.stats();
  EXPECT_EQ(s.errors[0], 1u);  // connect
  EXPECT_EQ(s.skipped, 1u);

  testing::redis_test_server redis;
  auto wrong = redis.client();
  wrong.password = "not-the-password";
  redis::client w{wrong};
  try {
    w.command({"PING"});
    ADD_FAILURE() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::auth) << e.what();
  }
  redis::client ok{redis.client()};
  try {
    ok.command({"INCR", "not-a-number-key", "extra"});
    ADD_FAILURE() << "no error";
  } catch (const redis::error& e) {
    EXPECT_EQ(e.kind(), redis::error_kind::reply) << e.what();
  }
  EXPECT_TRUE(ok.available()) << "an error reply says nothing about Redis's health";
  EXPECT_EQ(ok.command({"PING"}).text, "PONG");
}

// ---- the node: product pages after a checkout ----

struct node_under_test {
  std::unique_ptr<node> n;
  std::unique_ptr<http::blocking_client> client;
  json::value get(const std::string& target) {
    auto r = client->get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return json::parse(r.body);
  }
};

node_under_test start_node(const std::string& db, const std::string& name, const testing::redis_test_server* redis) {
  node_options o;
  o.name = name;
  o.db_path = db;
  o.kdf = kdf_cost::minimal;
  o.seed_scale = 1;
  o.login_per_source = {};
  if (redis != nullptr) {
    o.cache_kind = "redis";
    o.redis_cache.redis = redis->client();
  }
  node_under_test t;
  t.n = std::make_unique<node>(o);
  t.n->start();
  t.client = std::make_unique<http::blocking_client>("127.0.0.1", t.n->port(), 10s);
  return t;
}

int64_t checkout(node_under_test& t, int64_t product, int64_t qty) {
  auto login = t.client->post_json("/api/sessions", R"({"email":"customer7@shop.test","password":"stampede"})");
  EXPECT_EQ(login.status, 200) << login.body;
  const std::string token{json::parse(login.body).at("token").as_string()};
  auto r = t.client->post_json("/api/orders",
                               R"({"items":[{"product_id":)" + std::to_string(product) + R"(,"qty":)" +
                                   std::to_string(qty) + "}]}",
                               {{"Authorization", "Bearer " + token}, {"Idempotency-Key", "k-" + std::to_string(product)}});
  EXPECT_EQ(r.status, 201) << r.body;
  return json::parse(r.body).at("order_id").as_int64();
}

TEST(cache_node, a_product_page_shows_the_stock_a_checkout_took_local_cache) {
  testing::temp_dir dir;
  auto one = start_node(dir.file("shop.db"), "node1", nullptr);
  const int64_t before = one.get("/api/products/42").at("stock").as_int64();
  EXPECT_EQ(one.get("/api/products/0042").at("stock").as_int64(), before);  // one entry for both spellings
  checkout(one, 42, 2);
  EXPECT_EQ(one.get("/api/products/42").at("stock").as_int64(), before - 2);
  EXPECT_EQ(one.get("/api/products/0042").at("stock").as_int64(), before - 2);
}

TEST(cache_node, a_product_page_shows_the_stock_a_checkout_took_on_every_node_redis_cache) {
  testing::temp_dir dir;
  testing::redis_test_server redis;
  auto one = start_node(dir.file("shop.db"), "node1", &redis);
  auto two = start_node(dir.file("shop.db"), "node2", &redis);
  const int64_t before = one.get("/api/products/42").at("stock").as_int64();
  EXPECT_EQ(two.get("/api/products/42").at("stock").as_int64(), before);  // cached on both
  checkout(one, 42, 2);
  EXPECT_EQ(two.get("/api/products/42").at("stock").as_int64(), before - 2);
  EXPECT_EQ(one.get("/api/products/42").at("stock").as_int64(), before - 2);
  const auto metrics = two.client->get("/metrics").body;
  EXPECT_NE(metrics.find("shop_cache_redis_up 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("shop_cache_redis_errors_total{kind=\"timeout\"} 0"), std::string::npos);
}

}  // namespace
}  // namespace stampede::shop
