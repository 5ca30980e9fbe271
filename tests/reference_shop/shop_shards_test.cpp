// The sharded store (reference_shop/shards.h) and two-phase commit (two_phase.h) on a real PostgreSQL 15:
// one throwaway server with max_prepared_transactions, each shard a schema of its own (a test's shards
// share the server, so gids carry the test's prefix and the shard). Known answers: the partition, the
// decision log, recovery of hand-made in-doubt transactions, cross-shard checkouts that commit everywhere
// or nowhere (out of stock, a coordinator abandoned at each point of the protocol), the broken mode's
// partial order, payment failures that return stock on every shard, and concurrent checkouts that keep the
// audit's totals.
#include "tests/reference_shop/shop_shards_fixture.h"

namespace stampede::shop {
namespace {

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
  EXPECT_EQ(json::serialize(o.at("parts")), R"([{"shard":0,"status":"placed","subtotal":)" +
                                                std::to_string(r.placed.lines[0].unit_price) +
                                                R"(},{"shard":1,"status":"placed","subtotal":)" +
                                                std::to_string(2 * r.placed.lines[1].unit_price) + "}]");
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
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox WHERE saga IS NOT NULL"), 0);  // no saga either
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
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:released 1:released");
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

// --txn saga: local transactions per shard with compensations, driven by the order's outbox message. A
// cross-shard checkout commits on both shards without PREPARE or decision; out of stock on the second shard
// compensates the first part (stock back, the header removed); a coordinator abandoned after its first part
// is finished by another node's recovery once the lease is over (or compensated when a part has no stock
// left, or after its forward attempts); a payment failure releases every part.

TEST_F(shards_test, a_saga_places_a_cross_shard_order_with_local_transactions_only) {
  auto db = open(saga_options());
  const int64_t before2 = stock(2), before3 = stock(3);
  auto r = db->checkout(user, "k1", "h1", cross_cart, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  EXPECT_EQ(stock(2), before2 - 1);
  EXPECT_EQ(stock(3), before3 - 2);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM txn_decisions"), 0);
  // The saga's message is now the order's payment message, its attempts those of the payment.
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox WHERE saga IS NULL AND state = 'pending' AND attempts = 0"),
            1);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox"), 1);
  EXPECT_EQ(db->checkout(user, "k1", "h1", cross_cart, 2000).status, checkout_status::replayed);
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:placed 1:placed");
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
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox"), 0);  // the saga's message removed with it
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

// A coordinator that dies after its first part leaves the saga's outbox message leased to it. Within the
// lease nobody touches it (a retry with the same key gets 503: never a replay of an order that may still be
// undone, never a second order); once the lease expired any node's recovery claims the message and carries
// the saga on from its parts (the first is not placed twice), the message becomes the payment message, and
// the retry replays the order.
TEST_F(shards_test, an_abandoned_saga_is_finished_by_another_node_after_its_lease) {
  auto o = saga_options();
  o.coordinator.hook = [](two_phase::point, std::string_view) { return false; };  // dies after its first part
  o.lease = 3000ms;
  auto dead = open(o);
  const int64_t before2 = stock(2), before3 = stock(3);
  EXPECT_THROW(dead->checkout(user, "k", "h", cross_cart, 1000), store_unavailable);
  EXPECT_EQ(stock(2), before2 - 1);  // shard 0's part placed, shard 1's never
  EXPECT_EQ(stock(3), before3);
  EXPECT_EQ(dead->audit().at("sagas_open").as_int64(), 1);
  auto other = open(saga_options());
  EXPECT_THROW(other->checkout(user, "k", "h", cross_cart, 1500), store_unavailable);  // still being placed
  EXPECT_EQ(other->recover_sagas(3999), 0);  // the lease (until 4000) is not over: left alone
  EXPECT_TRUE(
      other->claim_outbox("w", 1'000'000, 60'000, 10).empty());  // payments never take a saga's message
  EXPECT_EQ(other->recover_sagas(4001), 1);
  EXPECT_EQ(other->recover_sagas(4001), 0);  // nothing twice
  EXPECT_EQ(stock(2), before2 - 1);          // not placed twice
  EXPECT_EQ(stock(3), before3 - 2);
  auto replay = other->checkout(user, "k", "h", cross_cart, 6000);
  EXPECT_EQ(replay.status, checkout_status::replayed);
  const auto audit = other->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:placed 1:placed");
  EXPECT_EQ(audit.at("orders").as_array().back().at("order_id").as_int64(), replay.placed.id);
  // The message is the order's payment message now.
  auto claimed = other->claim_outbox("w", 7000, 60'000, 10);
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].order_id, replay.placed.id);
  EXPECT_EQ(claimed[0].attempts, 1);
  EXPECT_EQ(claimed[0].amount, replay.placed.total);
}

// The forward step that recovery runs finds no stock left (sold meanwhile): the saga is compensated (the
// first part released, the header and the message removed), and the key is free for a new order.
TEST_F(shards_test, an_abandoned_saga_whose_next_part_is_out_of_stock_is_compensated_by_recovery) {
  auto o = saga_options();
  o.coordinator.hook = [](two_phase::point, std::string_view) { return false; };
  o.lease = 0ms;
  auto dead = open(o);
  const int64_t before2 = stock(2);
  EXPECT_THROW(dead->checkout(user, "k", "h", cross_cart, 1000), store_unavailable);
  session(1).exec("UPDATE products SET stock = 1, initial_stock = 1 WHERE id = 3");
  auto other = open(saga_options());
  EXPECT_EQ(other->recover_sagas(5000), 1);
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), 1);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM orders WHERE status <> 'archived'"), 0);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox"), 0);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM order_parts WHERE status = 'released'"), 1);  // the tombstone
  const auto audit = other->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  session(1).exec("UPDATE products SET stock = 10, initial_stock = 10 WHERE id = 3");
  EXPECT_EQ(other->checkout(user, "k", "h", cross_cart, 6000).status, checkout_status::created);
}

// Forward attempts are bounded (the outbox's attempts): a saga whose message failed saga_max_attempts times
// (a shard that stayed unreachable) is compensated by the next claim instead.
TEST_F(shards_test, a_saga_past_its_forward_attempts_is_compensated) {
  auto o = saga_options();
  o.coordinator.hook = [](two_phase::point, std::string_view) { return false; };
  o.lease = 0ms;
  auto dead = open(o);
  const int64_t before2 = stock(2), before3 = stock(3);
  EXPECT_THROW(dead->checkout(user, "", "", cross_cart, 1000), store_unavailable);
  // As if the first four retries had failed and given the message back with the outbox's backoff.
  session(1).exec(
      "UPDATE outbox SET state = 'pending', attempts = 5, lease_owner = NULL, lease_until = NULL, "
      "next_attempt_at = 4000, last_error = 'shard 0 unreachable'");
  auto other = open(saga_options());
  EXPECT_EQ(other->recover_sagas(3999), 0);  // its next attempt is not due yet
  EXPECT_EQ(other->recover_sagas(4000), 1);  // the sixth: compensated
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), before3);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM orders WHERE status <> 'archived'"), 0);
  EXPECT_EQ(other->audit().at("sagas_open").as_int64(), 0);
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
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox WHERE state = 'done' AND saga IS NULL"), 1);  // settled
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:released 1:released");
}

// A payment failure's release saga whose worker died half-way (its home transaction done, shard 0's part
// released, shard 1's not): within its lease nobody touches it; after it, recovery releases the rest once
// (shard 0's stock is not returned twice) and settles the message as the worker would have (dead here).
TEST_F(shards_test, a_release_saga_whose_worker_died_half_way_is_finished_by_recovery) {
  auto db = open(saga_options());
  const int64_t before2 = stock(2), before3 = stock(3);
  auto r = db->checkout(user, "", "", cross_cart, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  ASSERT_EQ(db->claim_outbox("w", 2000, 60'000, 10).size(), 1u);
  session(1).exec(
      "UPDATE outbox SET saga = 'release', saga_settle = 'dead', lease_owner = 'dead-worker', lease_until = "
      "3500, last_error = 'gateway down'; UPDATE orders SET status = 'failed' WHERE id = " +
      std::to_string(r.placed.id));
  session(0).exec("UPDATE order_parts SET status = 'released' WHERE order_id = " +
                  std::to_string(r.placed.id) + "; UPDATE products SET stock = stock + 1 WHERE id = 2");
  EXPECT_EQ(db->recover_sagas(3000), 0);  // the lease runs until 3500
  EXPECT_EQ(db->audit().at("sagas_open").as_int64(), 1);
  EXPECT_EQ(db->recover_sagas(4000), 1);
  EXPECT_EQ(db->recover_sagas(4000), 0);
  EXPECT_EQ(stock(2), before2);
  EXPECT_EQ(stock(3), before3);
  EXPECT_EQ(value(1, "SELECT COUNT(*) FROM outbox WHERE state = 'dead' AND saga IS NULL"), 1);
  const auto audit = db->audit();
  expect_balanced(audit);
  EXPECT_EQ(audit.at("sagas_open").as_int64(), 0);
  EXPECT_EQ(audit.at("outbox").at("dead").as_int64(), 1);
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:released 1:released");
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
