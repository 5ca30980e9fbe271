// The sharded store (reference_shop/shards.h) and two-phase commit (two_phase.h) on a real PostgreSQL 15:
// one throwaway server with max_prepared_transactions, each shard a schema of its own (a test's shards
// share the server, so gids carry the test's prefix and the shard). Known answers: the partition, the
// decision log, recovery of hand-made in-doubt transactions, cross-shard checkouts that commit everywhere
// or nowhere (out of stock, a coordinator abandoned at each point of the protocol), the broken mode's
// partial order, payment failures that return stock on every shard, and concurrent checkouts that keep the
// audit's totals.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <thread>

#include "reference_shop/pg_connection.h"
#include "reference_shop/postgres_server.h"
#include "reference_shop/shards.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

// The server, once per test process.
class shard_server {
 public:
  static shard_server& get() {
    static shard_server s;
    return s;
  }
  postgres_server& server() {
    if (!server_) {
      dir_ = std::make_unique<testing::temp_dir>();
      postgres_server_options o;
      o.dir = dir_->path() / "postgres";
      o.sync_initdb = false;
      o.max_connections = 120;
      o.settings = {"max_prepared_transactions=100"};
      server_ = std::make_unique<postgres_server>(o);
      server_->init();
      server_->start();
    }
    return *server_;
  }
  // A new schema: one shard.
  std::string shard_conninfo() {
    const std::string name = "s" + std::to_string(++schemas_);
    pg::connection admin{server().superuser_conninfo(), pg::settings{}};
    admin.exec("CREATE SCHEMA " + name);
    return server().superuser_conninfo() + " options='-c search_path=" + name + "'";
  }

 private:
  std::unique_ptr<testing::temp_dir> dir_;
  std::unique_ptr<postgres_server> server_;
  int schemas_ = 0;
};

class shards_test : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      for (int s = 0; s < 2; ++s) urls_.push_back(shard_server::get().shard_conninfo());
    } catch (const std::exception& e) {
      GTEST_FAIL() << "PostgreSQL test server: " << e.what();
    }
    prefix_ = std::string{"t"} + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    auto db = open();
    db->migrate();
    db->reseed(1, "h");
  }
  void TearDown() override {
    // Nothing of this test stays prepared (it would hold locks for the next test on the same server).
    pg::connection admin{shard_server::get().server().superuser_conninfo(), pg::settings{}};
    auto r =
        admin.query("SELECT gid FROM pg_prepared_xacts WHERE left(gid, length($1) + 1) = $1 || ':'", prefix_);
    for (int i = 0; i < r.rows(); ++i) admin.exec("ROLLBACK PREPARED '" + r.text(i, 0) + "'");
  }
  std::unique_ptr<sharded_store> open(sharded_store_options o = {}) {
    o.recovery_interval = 0ms;  // recovery by hand, so the tests decide when
    o.coordinator.gid_prefix = prefix_;
    o.shard.pool.size = 4;
    return std::make_unique<sharded_store>(urls_, std::move(o));
  }
  pg::connection session(int shard) {
    return pg::connection{urls_.at(static_cast<size_t>(shard)), pg::settings{}};
  }
  int64_t value(int shard, const std::string& sql) { return session(shard).exec(sql).int64(0, 0); }
  int64_t stock(int64_t product) {
    return value(shard_of_product(product, 2),
                 "SELECT stock FROM products WHERE id = " + std::to_string(product));
  }
  int64_t prepared() {
    return value(0, "SELECT COUNT(*) FROM pg_prepared_xacts WHERE gid LIKE '" + prefix_ + ":%'");
  }
  // The audit's invariant on every SKU and the totals (what checkers.lua checks).
  static void expect_balanced(const json::object& audit) {
    for (const auto& v : audit.at("skus").as_array()) {
      const auto& s = v.as_object();
      EXPECT_EQ(s.at("initial_stock").as_int64(), s.at("remaining").as_int64() + s.at("sold").as_int64())
          << json::serialize(s);
    }
    const auto& t = audit.at("sku_totals").as_object();
    EXPECT_EQ(t.at("initial_stock").as_int64(), t.at("remaining").as_int64() + t.at("sold").as_int64());
  }

  std::vector<std::string> urls_;
  std::string prefix_;
};

// User 3's home is shard 1 (3 mod 2); product 2 is on shard 0, product 3 on shard 1.
constexpr int64_t user = 3;
const std::vector<line_request> cross_cart{{2, 1}, {3, 2}};

TEST(shard_partition, is_modulo_for_skus_and_users_and_a_stable_hash_for_sessions) {
  EXPECT_EQ(shard_of_product(1, 2), 1);
  EXPECT_EQ(shard_of_product(2, 2), 0);
  EXPECT_EQ(shard_of_product(7, 3), 1);
  EXPECT_EQ(home_of_user(3, 2), 1);
  EXPECT_EQ(home_of_user(9, 3), 0);
  EXPECT_EQ(shard_of_session("", 7), static_cast<int>(2166136261u % 7));  // FNV-1a's offset basis
  EXPECT_EQ(shard_of_session("abc", 4), shard_of_session("abc", 4));
}

TEST_F(shards_test, the_seed_is_partitioned_and_the_audit_adds_the_shards_up) {
  auto db = open();
  // Each shard holds the stock of its SKUs only; the totals are the single store's (1,000 SKUs).
  EXPECT_EQ(value(0, "SELECT COUNT(*) FROM products WHERE stock > 0 AND id % 2 = 1"), 0);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM products WHERE stock > 0 AND id % 2 = 0"), 0);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM users"), 0);
  EXPECT_EQ(value(0, "SELECT COUNT(*) FROM users"), 1000);
  const auto audit = db->audit();
  EXPECT_EQ(audit.at("sku_totals").at("skus").as_int64(), 1000);
  EXPECT_EQ(audit.at("sku_totals").at("sold").as_int64(), 0);
  EXPECT_EQ(audit.at("shards").as_array().size(), 2u);
  EXPECT_EQ(audit.at("prepared_transactions").as_int64(), 0);
  EXPECT_EQ(audit.at("orders_by_state").at("archived").as_int64(), 900);
  // Nothing happened yet: no cross-shard transaction in any outcome (results.drill.shards reads these).
  EXPECT_EQ(
      json::serialize(audit.at("txn_outcomes")),
      R"({"cross_shard_orders":0,"cross_shard_failed":0,"decisions":{"commit":0,"abort":0},)"
      R"("sagas":{"running":0,"done":0,"compensating":0,"compensated":0},"released_parts_without_order":0})");
  // Reads route to the owning shard: the stock a product page shows is its shard's.
  EXPECT_EQ(db->find_product(3)->stock, stock(3));
  for (const auto& p : db->list_products(product_query{}).items) EXPECT_EQ(p.stock, stock(p.id)) << p.id;
  // New order ids continue on each home shard in steps of 2.
  EXPECT_EQ(value(1, "SELECT nextval('orders_id_seq') % 2"), 1);
  EXPECT_EQ(value(0, "SELECT nextval('orders_id_seq') % 2"), 0);
}

TEST_F(shards_test, the_decision_log_keeps_the_first_decision) {
  auto db = open();
  auto home = session(0);
  EXPECT_EQ(two_phase::decision_of(home, prefix_ + ":0:1"), "");
  EXPECT_EQ(two_phase::decide(home, prefix_ + ":0:1", "commit"), "commit");
  EXPECT_EQ(two_phase::decide(home, prefix_ + ":0:1", "abort"), "commit");  // a late recovery cannot undo it
  EXPECT_EQ(two_phase::decide(home, prefix_ + ":0:2", "abort"), "abort");
  EXPECT_EQ(two_phase::decide(home, prefix_ + ":0:2", "commit"), "abort");  // nor a late coordinator
}

TEST_F(shards_test, recovery_resolves_hand_made_in_doubt_transactions_by_decision_and_lease) {
  auto db = open();
  const int64_t before2 = stock(2), before4 = stock(4), before3 = stock(3);
  auto s0 = session(0), s1 = session(1);
  // A part with a commit decision, one without a decision, one within its lease.
  s0.exec("BEGIN; UPDATE products SET stock = stock - 1 WHERE id = 2; PREPARE TRANSACTION '" + prefix_ +
          ":1:10:0'");
  two_phase::decide(s1, prefix_ + ":1:10", "commit");
  s1.exec("BEGIN; UPDATE products SET stock = stock - 1 WHERE id = 3; PREPARE TRANSACTION '" + prefix_ +
          ":0:11:1'");
  const auto expired = db->recover_in_doubt();  // the default lease is 10 s: nothing is old enough yet
  EXPECT_EQ(expired.committed + expired.rolled_back, 0);
  EXPECT_EQ(expired.left, 2);
  std::this_thread::sleep_for(2100ms);
  s0.exec("BEGIN; UPDATE products SET stock = stock - 1 WHERE id = 4; PREPARE TRANSACTION '" + prefix_ +
          ":0:12:0'");
  EXPECT_EQ(prepared(), 3);
  // A lease of 2 s: the first two are older, the third is not.
  const auto report = two_phase::recover({&db->shard(0).pool(), &db->shard(1).pool()}, prefix_, 2000ms);
  EXPECT_EQ(report.committed, 1);
  EXPECT_EQ(report.rolled_back, 1);
  EXPECT_EQ(report.left, 1);
  EXPECT_EQ(stock(2), before2 - 1);                                   // committed by its decision
  EXPECT_EQ(stock(3), before3);                                       // rolled back
  EXPECT_EQ(two_phase::decision_of(s0, prefix_ + ":0:11"), "abort");  // recorded before the rollback
  EXPECT_EQ(prepared(), 1);
  EXPECT_EQ(stock(4), before4);  // still prepared, not applied
  s0.exec("ROLLBACK PREPARED '" + prefix_ + ":0:12:0'");
}

TEST_F(shards_test, a_cross_shard_checkout_commits_on_both_shards_and_replays_by_key) {
  auto db = open();
  const int64_t before2 = stock(2), before3 = stock(3);
  auto r = db->checkout(user, "k1", "h1", cross_cart, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  EXPECT_EQ(r.placed.id % 2, 1);  // the header on user 3's home, shard 1
  EXPECT_EQ(r.placed.total, r.placed.lines[0].unit_price + 2 * r.placed.lines[1].unit_price);
  EXPECT_EQ(stock(2), before2 - 1);
  EXPECT_EQ(stock(3), before3 - 2);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM txn_decisions WHERE decision = 'commit'"), 1);
  EXPECT_EQ(prepared(), 0);
  auto again = db->checkout(user, "k1", "h1", cross_cart, 2000);
  EXPECT_EQ(again.status, checkout_status::replayed);
  EXPECT_EQ(again.placed.id, r.placed.id);
  EXPECT_EQ(db->checkout(user, "k1", "other", cross_cart, 2000).status, checkout_status::key_conflict);
  EXPECT_EQ(stock(2), before2 - 1);
  const auto found = db->find_order(user, r.placed.id);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->lines.size(), 2u);
  EXPECT_EQ(db->list_orders(user, 10).front().id, r.placed.id);
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sku_totals").at("sold").as_int64(), 3);
  const auto& o = audit.at("orders").as_array().back().as_object();
  EXPECT_EQ(json::serialize(o.at("shards")), "[0,1]");
  EXPECT_EQ(json::serialize(o.at("parts")),
            R"([{"shard":0,"status":"placed"},{"shard":1,"status":"placed"}])");
  EXPECT_TRUE(audit.at("orphan_parts").as_array().empty());
  // One cross-shard order, committed by its decision (the replay and the refused key add nothing).
  EXPECT_EQ(audit.at("txn_outcomes").at("cross_shard_orders").as_int64(), 1);
  EXPECT_EQ(audit.at("txn_outcomes").at("decisions").at("commit").as_int64(), 1);
  EXPECT_EQ(audit.at("txn_outcomes").at("decisions").at("abort").as_int64(), 0);
}

TEST_F(shards_test, a_single_shard_cart_takes_the_one_phase_path_with_2pc_and_with_sagas) {
  for (const auto mode : {two_phase::protocol::two_phase, two_phase::protocol::saga}) {
    sharded_store_options o;
    o.coordinator.mode = mode;
    auto r = open(o)->checkout(user, "", "", {{3, 1}, {5, 1}}, 1000);  // user 3 and both SKUs on shard 1
    ASSERT_EQ(r.status, checkout_status::created);
  }
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM txn_decisions"), 0);  // no decision: no two-phase commit
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM sagas"), 0);          // no saga either
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM order_parts WHERE status = 'placed'"), 2);
  expect_balanced(open()->audit());
}

TEST_F(shards_test, out_of_stock_on_one_shard_changes_nothing_on_any) {
  auto db = open();
  session(1).exec("UPDATE products SET stock = 1, initial_stock = 1 WHERE id = 3");
  const int64_t before2 = stock(2);
  auto r = db->checkout(user, "k", "h", cross_cart, 1000);
  EXPECT_EQ(r.status, checkout_status::out_of_stock);
  EXPECT_EQ(r.product_id, 3);
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), 1);
  EXPECT_EQ(value(0, "SELECT COUNT(*) FROM order_parts") + value(1, "SELECT COUNT(*) FROM order_parts"), 0);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM orders WHERE status <> 'archived'"), 0);
  EXPECT_EQ(prepared(), 0);
}

// The coordinator stops at each point as if it died there; recovery (lease over) finishes the transaction
// the way the decision log says: before the decision, nowhere; after it, everywhere.
TEST_F(shards_test, recovery_completes_or_undoes_an_abandoned_coordinator_by_the_decision_log) {
  for (auto stop_at :
       {two_phase::point::prepared, two_phase::point::decided, two_phase::point::first_committed}) {
    sharded_store_options o;
    o.coordinator.hook = [stop_at](two_phase::point p, std::string_view) { return p != stop_at; };
    o.lease = 0ms;
    auto db = open(o);
    const int64_t before2 = stock(2), before3 = stock(3);
    EXPECT_THROW(db->checkout(user, "", "", cross_cart, 1000), store_unavailable);
    EXPECT_GE(prepared(), 1);
    const auto report = db->recover_in_doubt();
    EXPECT_EQ(prepared(), 0);
    const bool committed = stop_at != two_phase::point::prepared;
    EXPECT_EQ(report.committed, committed ? (stop_at == two_phase::point::decided ? 2 : 1) : 0);
    EXPECT_EQ(report.rolled_back, committed ? 0 : 2);
    EXPECT_EQ(stock(2), before2 - (committed ? 1 : 0));
    EXPECT_EQ(stock(3), before3 - (committed ? 2 : 0));
    expect_balanced(db->audit());
  }
}

// The deliberately broken mode: commits without a decision, so a coordinator that dies after the first
// COMMIT PREPARED leaves a partial order (the part on shard 1 is rolled back, the header with it: the
// order's part on shard 0 survives alone). The audit shows it: a placed part with no header.
TEST_F(shards_test, the_no_decision_log_mode_leaves_a_partial_order_when_the_coordinator_dies) {
  sharded_store_options o;
  o.coordinator.mode = two_phase::protocol::two_phase_no_log;
  o.coordinator.hook = [](two_phase::point p, std::string_view) {
    return p != two_phase::point::first_committed;
  };
  o.lease = 0ms;
  auto db = open(o);
  const int64_t before2 = stock(2), before3 = stock(3);
  EXPECT_THROW(db->checkout(user, "", "", cross_cart, 1000), store_unavailable);
  const auto report = db->recover_in_doubt();
  EXPECT_EQ(report.rolled_back, 1);
  EXPECT_EQ(stock(2), before2 - 1);  // shard 0's part committed
  EXPECT_EQ(stock(3), before3);      // shard 1's part (and the header) rolled back
  EXPECT_EQ(value(0, "SELECT COUNT(*) FROM order_parts WHERE status = 'placed'"), 1);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM orders WHERE status <> 'archived'"), 0);
  const auto audit = db->audit();
  ASSERT_EQ(audit.at("orphan_parts").as_array().size(), 1u);
  EXPECT_EQ(audit.at("orphan_parts").at(0).at("shard").as_int64(), 0);
  EXPECT_EQ(audit.at("orphan_parts").at(0).at("status").as_string(), "placed");
}

TEST_F(shards_test, a_failed_payment_returns_the_stock_on_every_shard_once) {
  auto db = open();
  const int64_t before2 = stock(2), before3 = stock(3);
  auto r = db->checkout(user, "", "", cross_cart, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  auto claimed = db->claim_outbox("w", 2000, 60'000, 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].order_id, r.placed.id);
  EXPECT_EQ(claimed[0].amount, r.placed.total);
  EXPECT_FALSE(db->fail_payment(claimed[0], "someone-else", "declined", false, 3000));
  EXPECT_EQ(stock(2), before2 - 1);
  EXPECT_TRUE(db->fail_payment(claimed[0], "w", "declined", false, 3000));
  EXPECT_FALSE(db->fail_payment(claimed[0], "w", "declined", false, 3000));  // settled: nothing twice
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), before3);
  EXPECT_EQ(db->find_order(user, r.placed.id)->status, "failed");
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sku_totals").at("sold").as_int64(), 0);
  EXPECT_EQ(json::serialize(audit.at("orders").as_array().back().at("parts")),
            R"([{"shard":0,"status":"released"},{"shard":1,"status":"released"}])");
}

// Buyers on both homes race for the same two SKUs (one on each shard) with carts that span both: never
// oversold, every order whole, nothing left prepared.
TEST_F(shards_test, concurrent_cross_shard_checkouts_keep_the_totals_with_2pc_and_with_sagas) {
  // 2pc on SKUs 2 and 3, sagas on SKUs 4 and 5 (shards 0 and 1 each time), 30 units of each.
  for (const auto& [mode, a, b] :
       {std::tuple{two_phase::protocol::two_phase, 2, 3}, std::tuple{two_phase::protocol::saga, 4, 5}}) {
    SCOPED_TRACE(std::string{to_string(mode)});
    session(0).exec("UPDATE products SET stock = 30, initial_stock = 30 WHERE id = " + std::to_string(a));
    session(1).exec("UPDATE products SET stock = 30, initial_stock = 30 WHERE id = " + std::to_string(b));
    sharded_store_options o;
    o.coordinator.mode = mode;
    auto db = open(o);
    const int64_t sold_before = db->audit().at("sku_totals").at("sold").as_int64();
    std::atomic<int> created{0}, sold_out{0}, unavailable{0};
    std::vector<std::thread> buyers;
    for (int t = 0; t < 4; ++t) {
      buyers.emplace_back([&, t] {
        for (int i = 0; i < 15; ++i) {
          try {
            auto r = db->checkout(10 + t, "", "", {{a, 1}, {b, 1}}, 1000);
            (r.status == checkout_status::created ? created : sold_out)++;
          } catch (const store_unavailable&) {
            unavailable++;
          }
        }
      });
    }
    for (auto& buyer : buyers) buyer.join();
    EXPECT_EQ(created + sold_out + unavailable, 60);
    EXPECT_EQ(created.load(), 30 - stock(a));
    EXPECT_EQ(stock(a), stock(b));
    EXPECT_EQ(prepared(), 0);
    const auto audit = db->audit();
    expect_balanced(audit);
    EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
    EXPECT_EQ(audit.at("sku_totals").at("sold").as_int64() - sold_before, 2 * created.load());
  }
}

// --txn saga: local transactions per shard with compensations. A cross-shard checkout commits on both
// shards without PREPARE or decision; out of stock on the second shard compensates the first part (stock
// back, the header removed); a coordinator abandoned after its first part is compensated by recovery once the
// lease is over (and its late last step finds the saga gone); a payment failure releases every part.
sharded_store_options saga_options() {
  sharded_store_options o;
  o.coordinator.mode = two_phase::protocol::saga;
  return o;
}

TEST_F(shards_test, a_saga_places_a_cross_shard_order_with_local_transactions_only) {
  auto db = open(saga_options());
  const int64_t before2 = stock(2), before3 = stock(3);
  auto r = db->checkout(user, "k1", "h1", cross_cart, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  EXPECT_EQ(stock(2), before2 - 1);
  EXPECT_EQ(stock(3), before3 - 2);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM txn_decisions"), 0);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM sagas WHERE state = 'done'"), 1);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox"), 1);
  EXPECT_EQ(db->checkout(user, "k1", "h1", cross_cart, 2000).status, checkout_status::replayed);
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  EXPECT_EQ(json::serialize(audit.at("orders").as_array().back().at("parts")),
            R"([{"shard":0,"status":"placed"},{"shard":1,"status":"placed"}])");
}

TEST_F(shards_test, a_saga_out_of_stock_on_the_second_shard_compensates_the_first) {
  session(1).exec("UPDATE products SET stock = 1, initial_stock = 1 WHERE id = 3");
  auto db = open(saga_options());
  const int64_t before2 = stock(2);
  auto r = db->checkout(user, "k", "h", cross_cart, 1000);
  EXPECT_EQ(r.status, checkout_status::out_of_stock);
  EXPECT_EQ(r.product_id, 3);
  EXPECT_EQ(stock(2), before2);  // shard 0's part placed, then released
  EXPECT_EQ(value(0, "SELECT COUNT(*) FROM order_parts WHERE status = 'released'"), 1);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM orders WHERE status <> 'archived'"), 0);  // the header removed
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM sagas WHERE state = 'compensated'"), 1);
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sku_totals").at("sold").as_int64(), 0);
  EXPECT_EQ(audit.at("txn_outcomes").at("sagas").at("compensated").as_int64(), 1);
  EXPECT_EQ(audit.at("txn_outcomes").at("cross_shard_orders").as_int64(), 0);  // its header is gone
  // Shard 0's part released, and a `released` tombstone on shard 1 where none had been placed.
  EXPECT_EQ(audit.at("txn_outcomes").at("released_parts_without_order").as_int64(), 2);
  // The key is free again: a later checkout with it is a new order, not a replay of the compensated one.
  session(1).exec("UPDATE products SET stock = 10, initial_stock = 10 WHERE id = 3");
  EXPECT_EQ(db->checkout(user, "k", "h", cross_cart, 2000).status, checkout_status::created);
}

TEST_F(shards_test, an_abandoned_saga_is_compensated_by_recovery_after_its_lease) {
  auto o = saga_options();
  o.coordinator.hook = [](two_phase::point, std::string_view) { return false; };  // dies after its first part
  o.lease = 0ms;
  auto db = open(o);
  const int64_t before2 = stock(2), before3 = stock(3);
  EXPECT_THROW(db->checkout(user, "k", "h", cross_cart, 1000), store_unavailable);
  EXPECT_EQ(stock(2), before2 - 1);  // shard 0's part placed, shard 1's never
  EXPECT_EQ(db->audit().at("sagas_open").as_int64(), 1);
  // A retry with the same key must not replay a saga that recovery may still undo (an acknowledged order
  // would then vanish): it waits (503) until the saga has ended.
  auto retrying = open(saga_options());
  EXPECT_THROW(retrying->checkout(user, "k", "h", cross_cart, 1500), store_unavailable);
  EXPECT_EQ(db->recover_sagas(5000), 1);
  EXPECT_EQ(db->recover_sagas(5000), 0);  // nothing twice
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), before3);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM orders WHERE status <> 'archived'"), 0);
  // Shard 1 got a tombstone: a late step of the dead coordinator could not place its part now.
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM order_parts WHERE status = 'released'"), 1);
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  // Compensated: the key is free, the retry places a new order.
  EXPECT_EQ(retrying->checkout(user, "k", "h", cross_cart, 6000).status, checkout_status::created);
}

TEST_F(shards_test, a_saga_payment_failure_releases_every_part_once) {
  auto db = open(saga_options());
  const int64_t before2 = stock(2), before3 = stock(3);
  auto r = db->checkout(user, "", "", cross_cart, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  auto claimed = db->claim_outbox("w", 2000, 60'000, 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_TRUE(db->fail_payment(claimed[0], "w", "declined", false, 3000));
  EXPECT_FALSE(db->fail_payment(claimed[0], "w", "declined", false, 3000));
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), before3);
  EXPECT_EQ(db->find_order(user, r.placed.id)->status, "failed");
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  EXPECT_EQ(json::serialize(audit.at("orders").as_array().back().at("parts")),
            R"([{"shard":0,"status":"released"},{"shard":1,"status":"released"}])");
}

// The deliberately broken saga: out of stock on the second shard removes the header but leaves the first
// part placed, its stock taken by an order that does not exist: the audit shows a placed orphan part.
TEST_F(shards_test, the_saga_without_compensation_leaves_a_placed_part_without_its_order) {
  session(1).exec("UPDATE products SET stock = 1, initial_stock = 1 WHERE id = 3");
  sharded_store_options o;
  o.coordinator.mode = two_phase::protocol::saga_no_compensation;
  auto db = open(o);
  const int64_t before2 = stock(2);
  EXPECT_EQ(db->checkout(user, "k", "h", cross_cart, 1000).status, checkout_status::out_of_stock);
  EXPECT_EQ(stock(2), before2 - 1);  // never returned
  const auto audit = db->audit();
  ASSERT_EQ(audit.at("orphan_parts").as_array().size(), 1u);
  EXPECT_EQ(audit.at("orphan_parts").at(0).at("status").as_string(), "placed");
}

}  // namespace
}  // namespace stampede::shop
