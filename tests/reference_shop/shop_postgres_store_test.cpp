// The PostgreSQL store where it differs from SQLite: sessions killed in the middle of a transaction
// (pg_terminate_backend) and commits whose answer is lost are run again only where that cannot place a
// second order; the pool's bounded wait, statement timeouts and an unreachable server give store_unavailable;
// the database itself refuses what the code must never do. A node in front of the store (503s, its database
// pool) is in shop_postgres_node_test.cpp. A throwaway server per test process (pg_test_server.h); each test
// has a new database (postgres_store_fixture.h).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <future>
#include <thread>

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

// A checkout waits on a row lock; its session is killed; the store runs the transaction again on a new
// session and places exactly one order. With a single attempt the same kill is a 503 and changes nothing.
TEST_F(postgres_store_test, session_killed_mid_transaction_is_run_again_and_places_one_order) {
  const int64_t stock = open()->find_product(7)->stock;
  for (int attempts : {1, 5}) {
    auto o = postgres_backend::options();
    o.max_attempts = attempts;
    o.pool.session.application_name = "kill-test-" + std::to_string(attempts);
    auto db = open(o);
    const std::string key = "kill-" + std::to_string(attempts);
    pg::connection locker{backend_->conninfo(), pg::settings{}};
    locker.exec("BEGIN; SELECT stock FROM products WHERE id = 7 FOR UPDATE");
    auto outcome = std::async(std::launch::async, [&]() -> std::string {
      try {
        return db->checkout(1, key, "items:7x1", {{7, 1}}, 1).status == checkout_status::created ? "created"
                                                                                                 : "other";
      } catch (const store_unavailable& e) {
        return std::string{"unavailable: "} + e.what();
      }
    });
    int victim = 0;
    ASSERT_TRUE(eventually(
        [&] {
          auto r = admin_->query(
              "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
              o.pool.session.application_name);
          if (r.rows() > 0) victim = static_cast<int>(r.int64(0, 0));
          return victim != 0;
        },
        10s));
    terminate(victim);
    locker.exec("COMMIT");
    const std::string result = outcome.get();
    const int64_t orders = count("SELECT COUNT(*) FROM orders WHERE idempotency_key = '" + key + "'");
    if (attempts == 1) {
      EXPECT_EQ(result.rfind("unavailable: checkout: database connection lost", 0), 0u) << result;
      EXPECT_EQ(orders, 0);
      EXPECT_EQ(open()->find_product(7)->stock, stock);
    } else {
      EXPECT_EQ(result, "created");
      EXPECT_EQ(orders, 1);
      EXPECT_EQ(open()->find_product(7)->stock, stock - 1);
    }
  }
}

// The session is killed while the transaction sits between its last statement and COMMIT: nothing
// committed, and the store knows it (it reads the server's goodbye before sending COMMIT), so even a
// checkout without an idempotency key is run again: one order, not a 503.
TEST_F(postgres_store_test, session_killed_before_commit_is_run_again_even_without_a_key) {
  auto o = postgres_backend::options();
  std::atomic<int> kills{0};
  o.commit_hook = [&](std::string_view name, bool sent, pg::connection& session) {
    if (name == "checkout" && !sent && kills++ == 0) terminate(session.backend_pid());
  };
  auto db = open(o);
  auto r = db->checkout(2, "", "", {{8, 1}}, 1);
  EXPECT_EQ(r.status, checkout_status::created);
  EXPECT_EQ(kills.load(), 2);  // the hook ran in both runs
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE user_id = 2 AND status = 'pending'"), 1);
}

// Closes the client's end after COMMIT was sent and is visible in the database: the commit happened but
// its answer is lost, as when the network fails at that moment.
auto lose_commit_answer(postgres_backend& backend, std::string_view transaction, std::string visible_sql,
                        std::atomic<int>& lost) {
  return
      [&backend, transaction, visible_sql, &lost](std::string_view name, bool sent, pg::connection& session) {
        if (name != transaction || !sent || lost > 0) return;
        pg::connection watcher{backend.conninfo(), pg::settings{}};
        ASSERT_TRUE(eventually([&] { return watcher.exec(visible_sql).int64(0, 0) > 0; }, 10s));
        // The answer may already sit in the socket's buffer: replace the socket under libpq by an unconnected
        // one, so that reading it fails as after a network failure (the old connection closes).
        const int dead = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_GE(dead, 0);
        ASSERT_EQ(::dup2(dead, session.socket()), session.socket());
        ::close(dead);
        ++lost;
      };
}

TEST_F(postgres_store_test, lost_commit_answer_replays_a_keyed_checkout_instead_of_placing_it_twice) {
  std::atomic<int> lost{0};
  auto o = postgres_backend::options();
  o.commit_hook = lose_commit_answer(*backend_, "checkout",
                                     "SELECT COUNT(*) FROM orders WHERE idempotency_key = 'lost-1'", lost);
  auto db = open(o);
  const int64_t stock = db->find_product(9)->stock;
  auto r = db->checkout(3, "lost-1", "items:9x2", {{9, 2}}, 1);
  EXPECT_EQ(lost.load(), 1);
  EXPECT_EQ(r.status, checkout_status::replayed);  // the first run's order, found by its key
  EXPECT_EQ(r.placed.total, 2 * db->find_product(9)->price);
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE idempotency_key = 'lost-1'"), 1);
  EXPECT_EQ(db->find_product(9)->stock, stock - 2);
}

TEST_F(postgres_store_test, lost_commit_answer_without_a_key_is_unavailable_never_a_second_order) {
  std::atomic<int> lost{0};
  auto o = postgres_backend::options();
  o.commit_hook = lose_commit_answer(
      *backend_, "checkout", "SELECT COUNT(*) FROM orders WHERE user_id = 4 AND status = 'pending'", lost);
  auto db = open(o);
  EXPECT_THROW(db->checkout(4, "", "", {{10, 1}}, 1), store_unavailable);
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE user_id = 4 AND status = 'pending'"),
            1);  // it did commit
}

// One unit per user: a purchase whose commit answer was lost finds its own order and says created; with
// two per user the store cannot tell, and says unavailable (the order exists once).
TEST_F(postgres_store_test, lost_commit_answer_of_a_flash_purchase_is_safe_with_one_per_user) {
  std::atomic<int> lost{0};
  auto o = postgres_backend::options();
  o.commit_hook =
      lose_commit_answer(*backend_, "flash_purchase",
                         "SELECT COUNT(*) FROM orders WHERE flash_sale_id IS NOT NULL AND user_id = 5", lost);
  auto db = open(o);
  auto r = db->flash_purchase(1, 5, 1);
  EXPECT_EQ(r.status, purchase_status::created);
  EXPECT_EQ(r.order_id, count("SELECT id FROM orders WHERE flash_sale_id = 1 AND user_id = 5"));
  EXPECT_EQ(db->find_flash_sale(1)->remaining, 999);
  EXPECT_EQ(db->flash_purchase(1, 5, 1).status, purchase_status::already_bought);

  const auto two = *db->create_flash_sale(3, 10, 100, 2, 0);
  std::atomic<int> lost_again{0};
  o.commit_hook = lose_commit_answer(
      *backend_, "flash_purchase",
      "SELECT COUNT(*) FROM orders WHERE flash_sale_id = " + std::to_string(two) + " AND user_id = 6",
      lost_again);
  auto db2 = open(o);
  EXPECT_THROW(db2->flash_purchase(two, 6, 1), store_unavailable);
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE flash_sale_id = " + std::to_string(two)), 1);
  EXPECT_EQ(db2->find_flash_sale(two)->remaining, 9);
}

// The same for a batch (group commit): one-per-user, the batch is run again and each member finds its order
// (the same user twice: the same order, one unit); with two per user every member gets store_unavailable and
// the units the lost COMMIT took stay taken once.
TEST_F(postgres_store_test, lost_commit_answer_of_a_flash_purchase_batch_is_safe_with_one_per_user) {
  std::atomic<int> lost{0};
  auto o = postgres_backend::options();
  o.commit_hook =
      lose_commit_answer(*backend_, "flash_purchases",
                         "SELECT COUNT(*) FROM orders WHERE flash_sale_id = 1 AND user_id = 5", lost);
  auto db = open(o);
  const std::vector<purchase_request> batch{{1, 5, 1}, {1, 6, 1}, {1, 5, 1}};
  auto out = db->flash_purchases(batch);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& m : out) ASSERT_FALSE(m.error);
  EXPECT_EQ(out[0].result.status, purchase_status::created);
  EXPECT_EQ(out[1].result.status, purchase_status::created);
  EXPECT_EQ(out[0].result.order_id, count("SELECT id FROM orders WHERE flash_sale_id = 1 AND user_id = 5"));
  EXPECT_EQ(out[1].result.order_id, count("SELECT id FROM orders WHERE flash_sale_id = 1 AND user_id = 6"));
  EXPECT_EQ(out[2].result.order_id, out[0].result.order_id);
  EXPECT_EQ(db->find_flash_sale(1)->remaining, 998);
  EXPECT_EQ(db->flash_purchase(1, 5, 1).status, purchase_status::already_bought);

  const auto two = *db->create_flash_sale(3, 10, 100, 2, 0);
  std::atomic<int> lost_again{0};
  o.commit_hook = lose_commit_answer(
      *backend_, "flash_purchases",
      "SELECT COUNT(*) FROM orders WHERE flash_sale_id = " + std::to_string(two) + " AND user_id = 6",
      lost_again);
  auto db2 = open(o);
  const std::vector<purchase_request> pair{{two, 6, 1}, {two, 7, 1}};
  out = db2->flash_purchases(pair);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& m : out) EXPECT_THROW(std::rethrow_exception(m.error), store_unavailable);
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE flash_sale_id = " + std::to_string(two)), 2);
  EXPECT_EQ(db2->find_flash_sale(two)->remaining, 8);
}

// All sessions busy: a caller waits the pool's bound, then gets store_unavailable; the holder finishes.
// read-your-writes-lsn on the primary itself (not in recovery: it has every write): the write's WAL
// position is an LSN, and the replayed reads answer at once, as the plain reads do.
TEST_F(postgres_store_test, replayed_reads_on_a_server_out_of_recovery_answer_at_once) {
  auto db = open();
  const auto placed = db->checkout(1, "lsn-1", "h1", {{7, 1}}, 1000);
  ASSERT_EQ(placed.status, checkout_status::created);
  const auto lsn = db->wal_position();
  ASSERT_TRUE(lsn.has_value());
  EXPECT_NE(lsn->find('/'), std::string::npos) << *lsn;
  const auto started = std::chrono::steady_clock::now();
  // Far beyond what it has written: a primary still has all of its own writes.
  const auto list = db->list_orders_replayed(1, 50, "FF/0", 2s);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s) << "no wait on a primary";
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), db->list_orders(1, 50).size());
  EXPECT_EQ(list->front().id, placed.placed.id);
  const auto one = db->find_order_replayed(1, placed.placed.id, *lsn, 2s);
  ASSERT_TRUE(one.has_value());
  ASSERT_TRUE(one->has_value());
  EXPECT_EQ((*one)->lines.size(), 1u);
  const auto other_users = db->find_order_replayed(2, placed.placed.id, *lsn, 2s);
  ASSERT_TRUE(other_users.has_value());
  EXPECT_FALSE(other_users->has_value()) << "another user's order does not exist for you";
}

TEST_F(postgres_store_test, pool_exhausted_gives_unavailable_after_the_bounded_wait) {
  auto o = postgres_backend::options();
  o.pool.size = 1;
  o.pool.wait = 200ms;
  std::promise<void> inside, release;
  auto released = release.get_future().share();
  o.commit_hook = [&](std::string_view name, bool sent, pg::connection&) {
    if (name != "checkout" || sent) return;
    inside.set_value();
    released.wait();
  };
  auto db = open(o);
  auto holder = std::async(std::launch::async, [&] {
    return db->checkout(7, "hold", "items:4x1", {{4, 1}}, 1).status;
  });
  inside.get_future().wait();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(db->find_product(1), store_unavailable);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  release.set_value();
  EXPECT_EQ(holder.get(), checkout_status::created);
  EXPECT_TRUE(db->find_product(1).has_value());
  EXPECT_EQ(db->pool().open(), 1);
}

// A statement stuck behind a lock ends at statement_timeout: unavailable, nothing changed.
TEST_F(postgres_store_test, statement_timeout_gives_unavailable_and_changes_nothing) {
  auto o = postgres_backend::options();
  o.pool.session.statement_timeout = 300ms;
  auto db = open(o);
  const int64_t stock = db->find_product(8)->stock;
  pg::connection locker{backend_->conninfo(), pg::settings{}};
  locker.exec("BEGIN; SELECT stock FROM products WHERE id = 8 FOR UPDATE");
  try {
    db->checkout(8, "slow", "items:8x1", {{8, 1}}, 1);
    ADD_FAILURE() << "the checkout did not time out";
  } catch (const store_unavailable& e) {
    EXPECT_NE(std::string{e.what()}.find("statement timeout"), std::string::npos) << e.what();
  }
  locker.exec("ROLLBACK");
  EXPECT_EQ(db->find_product(8)->stock, stock);
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE user_id = 8 AND status = 'pending'"), 0);
}

TEST_F(postgres_store_test, unreachable_server_gives_unavailable_quickly) {
  postgres_store db{"host=127.0.0.1 port=" + std::to_string(free_loopback_port()) + " dbname=x user=x",
                    postgres_backend::options()};
  try {
    db.find_product(1);
    ADD_FAILURE() << "no error";
  } catch (const store_unavailable& e) {
    EXPECT_NE(std::string{e.what()}.find("cannot connect to PostgreSQL"), std::string::npos) << e.what();
  }
}

// The limits hold in the database itself, whatever code runs against it.
TEST_F(postgres_store_test, constraints_refuse_overselling_and_buying_over_the_limit) {
  auto db = open();
  ASSERT_EQ(db->flash_purchase(1, 9, 1).status, purchase_status::created);
  for (const char* sql :
       {"UPDATE flash_purchases SET count = 2 WHERE sale_id = 1 AND user_id = 9",
        "UPDATE flash_sales SET remaining = stock + 1 WHERE id = 1",
        "UPDATE flash_sales SET remaining = -1 WHERE id = 1", "UPDATE products SET stock = -5 WHERE id = 2",
        "UPDATE orders SET status = 'shipped' WHERE user_id = 9"}) {
    try {
      admin_->exec(sql);
      ADD_FAILURE() << "accepted: " << sql;
    } catch (const pg::error& e) {
      EXPECT_TRUE(e.check_violation()) << sql << ": " << e.what();
    }
  }
}

// Three stores (as three node processes, each its own pool) x 4 threads on the last 25 units.
TEST_F(postgres_store_test, several_nodes_never_oversell_the_last_units) {
  admin_->exec("UPDATE products SET stock = 25, initial_stock = 25 WHERE id = 13");
  std::vector<std::unique_ptr<postgres_store>> nodes;
  for (int i = 0; i < 3; ++i) nodes.push_back(open());
  std::atomic<int> created{0}, out_of_stock{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 12; ++t) {
    pool.emplace_back([&, t] {
      auto& db = *nodes[static_cast<size_t>(t % 3)];
      for (int i = 0; i < 6; ++i) {
        auto r = db.checkout(100 + t, "k" + std::to_string(i), "items:13x1", {{13, 1}}, 1);
        if (r.status == checkout_status::created) ++created;
        if (r.status == checkout_status::out_of_stock) ++out_of_stock;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(created.load(), 25);
  EXPECT_EQ(out_of_stock.load(), 12 * 6 - 25);
  EXPECT_EQ(nodes[0]->find_product(13)->stock, 0);
}

// libpq passes text as C strings: a NUL would cut the value silently, so it is refused instead.
TEST_F(postgres_store_test, text_with_a_nul_is_refused_not_cut) {
  auto db = open();
  EXPECT_THROW(db->create_user("nul@example.com", std::string("a\0b", 3), "x"), std::invalid_argument);
  EXPECT_FALSE(db->find_user_by_email("nul@example.com").has_value());
}

// Synchronous replication to a standby that never answers (`synchronous_standby_names` names nobody): a
// COMMIT waits until the client's commit deadline sends a cancel request, and then the server answers
// success with only a WARNING, although the transaction exists on this server alone. Set for the test's
// lifetime; the server is this test process's own.
class standby_that_never_confirms {
 public:
  explicit standby_that_never_confirms(std::string conninfo) : conninfo_(std::move(conninfo)) {
    set("ALTER SYSTEM SET synchronous_standby_names = 'nobody'", true);
  }
  ~standby_that_never_confirms() { set("ALTER SYSTEM RESET synchronous_standby_names", false); }
  standby_that_never_confirms(const standby_that_never_confirms&) = delete;
  standby_that_never_confirms& operator=(const standby_that_never_confirms&) = delete;

  // A COMMIT of a new row in `sync_probe` on a session whose commit deadline is short; true when its wait
  // for the standby was canceled (commit() throws connection_lost).
  bool commit_waits_for_the_standby() const {
    pg::settings s;
    s.commit_timeout = 200ms;
    pg::connection c{conninfo_, s};
    c.exec("BEGIN; INSERT INTO sync_probe DEFAULT VALUES");
    try {
      c.commit();
      return false;
    } catch (const pg::error& e) {
      return e.connection_lost();
    }
  }

 private:
  void set(const std::string& sql, bool waiting) {
    pg::connection admin{conninfo_, pg::settings{}};
    admin.exec("SET synchronous_commit = local");  // its own commits never wait
    admin.exec("CREATE TABLE IF NOT EXISTS sync_probe (id bigserial PRIMARY KEY)");
    admin.exec(sql);
    admin.exec("SELECT pg_reload_conf()");
    // The checkpointer applies the setting after the reload: wait until commits see it.
    EXPECT_TRUE(eventually([&] { return commit_waits_for_the_standby() == waiting; }, 10s)) << sql;
  }
  std::string conninfo_;
};

// A commit whose wait for the synchronous standby was canceled is not an acknowledged commit: the
// connection says so (connection_lost, the outcome unknown), and with the standby still silent every run
// again ends the same way, so the checkout is a 503, not an order acknowledged that a failover can lose.
// Once the standby confirms, the same key replays the order: it was placed once, and now it is durable.
TEST_F(postgres_store_test, a_commit_a_synchronous_standby_never_confirmed_is_not_acknowledged) {
  const int64_t stock = open()->find_product(11)->stock;
  {
    standby_that_never_confirms silent{backend_->conninfo()};
    ASSERT_TRUE(silent.commit_waits_for_the_standby());
    auto o = postgres_backend::options();
    o.pool.session.commit_timeout = 300ms;
    o.max_attempts = 3;
    auto db = open(o);
    try {
      auto r = db->checkout(5, "sync-1", "items:11x1", {{11, 1}}, 1);
      ADD_FAILURE() << "acknowledged an order no standby has: status " << static_cast<int>(r.status);
    } catch (const store_unavailable& e) {
      EXPECT_NE(std::string{e.what()}.find("synchronous replication"), std::string::npos) << e.what();
    }
    // The danger being guarded against: the primary itself has the order.
    EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE idempotency_key = 'sync-1'"), 1);
  }
  auto db = open();
  auto again = db->checkout(5, "sync-1", "items:11x1", {{11, 1}}, 1);
  EXPECT_EQ(again.status, checkout_status::replayed);
  EXPECT_EQ(count("SELECT COUNT(*) FROM orders WHERE idempotency_key = 'sync-1'"), 1);
  EXPECT_EQ(open()->find_product(11)->stock, stock - 1);
}

// The audit's per-SKU "sold" must not depend on fresh statistics: the seed analyses the tables with no
// pending or paid order, and until autovacuum analyses again (here: never) the planner believes there are
// none. The audit used to run a subquery per product that scanned every live order, and after a few thousand
// checkouts it hit the statement timeout (503 on GET /api/admin/audit). 20,000 paid orders of 3 lines each,
// written behind the statistics' back, must be audited within a 2 s statement timeout, with the right sums.
TEST_F(postgres_store_test, audit_of_many_orders_under_stale_statistics_stays_within_the_statement_timeout) {
  admin_->exec("ALTER TABLE orders SET (autovacuum_enabled = off)");
  admin_->exec("ALTER TABLE order_lines SET (autovacuum_enabled = off)");
  const int64_t products = count("SELECT COUNT(*) FROM products");
  admin_->exec(
      "INSERT INTO orders (id, user_id, status, total, line_count, created_at, updated_at) "
      "SELECT 1000000 + g, 1 + g % 100, 'paid', 3, 3, 0, 0 FROM generate_series(1, 20000) g");
  admin_->exec(
      "INSERT INTO order_lines (order_id, product_id, qty, unit_price) "
      "SELECT 1000000 + g, 1 + (g * 3 + k) % " +
      std::to_string(products) + ", 1, 1 FROM generate_series(1, 20000) g, generate_series(0, 2) k");
  auto o = postgres_backend::options();
  o.pool.session.statement_timeout = 2s;
  auto db = open(o);
  json::object audit;
  try {
    audit = db->audit();
  } catch (const store_unavailable& e) {
    FAIL() << "the audit of 20,000 orders did not finish: " << e.what();
  }
  int64_t sold = 0;
  for (const auto& s : audit.at("skus").as_array()) sold += s.as_object().at("sold").as_int64();
  EXPECT_EQ(sold, 60'000);
  EXPECT_EQ(audit.at("sku_totals").as_object().at("sold").as_int64(), 60'000);
}

}  // namespace
}  // namespace stampede::shop
