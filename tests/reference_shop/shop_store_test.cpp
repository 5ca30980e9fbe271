// The store conformance suite: the same cases on the SQLite store (a temporary file) and on the PostgreSQL
// store (a new database on a throwaway server started once per test process, pg_test_server.h): schema,
// seed, catalogue and search, users and sessions, cart, idempotent checkout with the oversell guard, flash
// sales, the outbox leases, and the audit, which must be byte for byte the same on both. Concurrency tests
// use real threads, each with its own connection (PostgreSQL: its own session). PostgreSQL-only behaviour
// (lost sessions, unknown commits, pool and statement timeouts) is in shop_postgres_store_test.cpp.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "tests/reference_shop/store_backends.h"

namespace stampede::shop {
namespace {

using testing::make_backend;
using testing::store_backend;

// Registered before main, started on the first PostgreSQL test only.
[[maybe_unused]] auto& pg_environment = testing::pg_test_environment::get();

product_query query(std::optional<int64_t> category, std::string q, int64_t page = 1, int64_t size = 20) {
  product_query pq;
  pq.category_id = category;
  pq.q = std::move(q);
  pq.page = page;
  pq.size = size;
  return pq;
}

class store_test : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    try {
      backend_ = make_backend(GetParam());
    } catch (const std::exception& e) {
      GTEST_FAIL() << e.what();
    }
    store_ = backend_->open();
    store_->migrate();
    store_->reseed(1, hash_password(seed_password, kdf_cost::minimal));
  }
  // Direct SQL for test set-up that the API does not offer (e.g. a low stock).
  void sql(const char* text) { ASSERT_NO_THROW(backend_->sql(text)) << text; }
  int64_t new_user(const std::string& email) {
    auto id = store_->create_user(email, "Test User", "x");
    EXPECT_TRUE(id.has_value());
    return id.value_or(0);
  }

  std::unique_ptr<store_backend> backend_;
  std::unique_ptr<store> store_;
};

INSTANTIATE_TEST_SUITE_P(backends, store_test, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(store_test, migrations_are_versioned_and_idempotent) {
  EXPECT_EQ(store_->schema_version(), 1);
  store_->migrate();
  EXPECT_EQ(store_->schema_version(), 1);
  EXPECT_TRUE(store_->seeded());
}

TEST_P(store_test, seed_is_deterministic_and_tpcw_shaped) {
  EXPECT_EQ(store_->product_ids().size(), 1000u);
  auto cats = store_->categories();
  ASSERT_EQ(cats.size(), 24u);
  int64_t total = 0;
  for (const auto& c : cats) total += c.product_count;
  EXPECT_EQ(total, 1000);
  auto second = std::move(backend_->open_fresh().front());
  second->migrate();
  second->reseed(1, "h");
  for (int64_t id : {1, 17, 500, 1000}) {
    auto a = store_->find_product(id), b = second->find_product(id);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a->title, b->title);
    EXPECT_EQ(a->price, b->price);
    EXPECT_EQ(a->stock, b->stock);
  }
  const int64_t generation = store_->data_generation();
  store_->reseed(2, "h");
  EXPECT_EQ(store_->product_ids().size(), 2000u);
  EXPECT_EQ(store_->data_generation(), generation + 1);
  EXPECT_TRUE(store_->find_user_by_email(seed_customer_email(2000)).has_value());
}

TEST_P(store_test, search_uses_fts_and_survives_hostile_text) {
  auto p = store_->find_product(42);
  ASSERT_TRUE(p);
  // The title ends with the id: searching for it finds exactly that product.
  auto page = store_->list_products(query(std::nullopt, p->title));
  ASSERT_GE(page.total, 1);
  EXPECT_EQ(page.items.front().id, 42);
  auto by_cat = store_->list_products(query(p->category_id, p->author));
  for (const auto& item : by_cat.items) EXPECT_EQ(item.category_id, p->category_id);
  for (const char* hostile : {"\"", "'; DROP TABLE products; --", "AND OR NOT (", "*", "NEAR(a b)", "\xff\xfe"}) {
    EXPECT_NO_THROW(store_->list_products(query(std::nullopt, hostile))) << hostile;
  }
  EXPECT_EQ(store_->product_ids().size(), 1000u);
}

TEST_P(store_test, listing_paginates_by_category) {
  const int64_t cat = store_->find_product(1)->category_id;
  auto first = store_->list_products(query(cat, "", 1, 5));
  auto second = store_->list_products(query(cat, "", 2, 5));
  ASSERT_EQ(first.items.size(), 5u);
  ASSERT_FALSE(second.items.empty());
  EXPECT_LT(first.items.back().id, second.items.front().id);
  EXPECT_EQ(first.total, second.total);
  EXPECT_TRUE(store_->list_products(query(9999, "")).items.empty());
}

TEST_P(store_test, bestsellers_come_from_recent_orders) {
  auto best = store_->bestsellers(3333, 50);
  ASSERT_EQ(best.size(), 50u);
  for (size_t i = 1; i < best.size(); ++i) EXPECT_GE(best[i - 1].units, best[i].units);
}

TEST_P(store_test, users_passwords_and_sessions) {
  const std::string hash = hash_password("correct horse", kdf_cost::minimal);
  EXPECT_TRUE(verify_password(hash, "correct horse"));
  EXPECT_FALSE(verify_password(hash, "wrong"));
  EXPECT_FALSE(verify_password("garbage", "x"));
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u);
  auto id = store_->create_user("a@example.com", "A", hash);
  ASSERT_TRUE(id);
  EXPECT_FALSE(store_->create_user("a@example.com", "B", hash).has_value());
  auto creds = store_->find_user_by_email("a@example.com");
  ASSERT_TRUE(creds);
  EXPECT_EQ(creds->id, *id);
  const std::string token = random_token();
  EXPECT_EQ(token.size(), 64u);
  store_->create_session(token, *id, 2000);
  EXPECT_EQ(store_->session_user(token, 1000), id);
  EXPECT_FALSE(store_->session_user(token, 2000).has_value());  // expired
  EXPECT_FALSE(store_->session_user("nope", 0).has_value());
}

TEST_P(store_test, cart_add_set_remove) {
  const int64_t u = new_user("cart@example.com");
  EXPECT_EQ(store_->put_cart_item(u, 3, 2, true), cart_status::ok);
  EXPECT_EQ(store_->put_cart_item(u, 3, 1, true), cart_status::ok);
  EXPECT_EQ(store_->put_cart_item(u, 5, 1, false), cart_status::ok);
  EXPECT_EQ(store_->put_cart_item(u, 999999, 1, true), cart_status::unknown_product);
  auto lines = store_->cart(u);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].qty, 3);
  EXPECT_EQ(store_->put_cart_item(u, 3, 7, false), cart_status::ok);
  EXPECT_EQ(store_->cart(u)[0].qty, 7);
  EXPECT_EQ(store_->remove_cart_item(u, 5), cart_status::ok);
  EXPECT_EQ(store_->remove_cart_item(u, 5), cart_status::not_in_cart);
  EXPECT_TRUE(store_->cart(new_user("other@example.com")).empty());
}

TEST_P(store_test, checkout_is_idempotent_and_transactional) {
  const int64_t u = new_user("buyer@example.com");
  const int64_t before = store_->find_product(7)->stock;
  store_->put_cart_item(u, 7, 2, true);
  auto r = store_->checkout(u, "key-1", "cart", {}, 1000);
  ASSERT_EQ(r.status, checkout_status::created);
  EXPECT_EQ(r.placed.status, "pending");
  EXPECT_EQ(r.placed.total, 2 * store_->find_product(7)->price);
  EXPECT_EQ(store_->find_product(7)->stock, before - 2);
  EXPECT_TRUE(store_->cart(u).empty());
  auto again = store_->checkout(u, "key-1", "cart", {}, 2000);
  EXPECT_EQ(again.status, checkout_status::replayed);
  EXPECT_EQ(again.placed.id, r.placed.id);
  EXPECT_EQ(store_->checkout(u, "key-1", "items:7x1", {{7, 1}}, 2000).status, checkout_status::key_conflict);
  EXPECT_EQ(store_->find_product(7)->stock, before - 2);
  EXPECT_EQ(store_->checkout(u, "key-2", "cart", {}, 2000).status, checkout_status::empty_cart);
  // Another user may reuse the key: keys are scoped per user.
  const int64_t v = new_user("v@example.com");
  EXPECT_EQ(store_->checkout(v, "key-1", "items:7x1", {{7, 1}}, 2000).status, checkout_status::created);
  EXPECT_FALSE(store_->find_order(v, r.placed.id).has_value());
  ASSERT_TRUE(store_->find_order(u, r.placed.id).has_value());
  EXPECT_EQ(store_->list_orders(u, 10).size(), 1u);
}

TEST_P(store_test, out_of_stock_changes_nothing) {
  sql("UPDATE products SET stock = 1, initial_stock = 1 WHERE id = 9");
  const int64_t u = new_user("oos@example.com");
  const int64_t stock8 = store_->find_product(8)->stock;
  auto r = store_->checkout(u, "k", "h", {{8, 1}, {9, 2}}, 1);
  EXPECT_EQ(r.status, checkout_status::out_of_stock);
  EXPECT_EQ(r.product_id, 9);
  EXPECT_EQ(store_->find_product(8)->stock, stock8);  // rolled back
  EXPECT_EQ(store_->find_product(9)->stock, 1);
  auto unknown = store_->checkout(u, "k2", "h2", {{123456, 1}}, 1);
  EXPECT_EQ(unknown.status, checkout_status::unknown_product);
  EXPECT_TRUE(store_->list_orders(u, 10).empty());
}

TEST_P(store_test, concurrent_checkouts_never_oversell) {
  sql("UPDATE products SET stock = 40, initial_stock = 40 WHERE id = 11");
  constexpr int threads = 8, per_thread = 15;
  std::vector<int64_t> users;
  for (int t = 0; t < threads; ++t) users.push_back(new_user("t" + std::to_string(t) + "@example.com"));
  std::atomic<int> created{0}, out_of_stock{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        auto r = store_->checkout(users[t], "k" + std::to_string(i), "h", {{11, 1}}, 1);
        if (r.status == checkout_status::created) ++created;
        if (r.status == checkout_status::out_of_stock) ++out_of_stock;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(created.load(), 40);
  EXPECT_EQ(out_of_stock.load(), threads * per_thread - 40);
  EXPECT_EQ(store_->find_product(11)->stock, 0);
}

TEST_P(store_test, concurrent_retries_of_one_key_make_one_order) {
  const int64_t u = new_user("idem@example.com");
  std::vector<int64_t> ids(8);
  std::atomic<int> created{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t) {
    pool.emplace_back([&, t] {
      auto r = store_->checkout(u, "same-key", "items:3x1", {{3, 1}}, 1);
      if (r.status == checkout_status::created) ++created;
      ids[t] = r.placed.id;
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(created.load(), 1);
  for (int64_t id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(store_->list_orders(u, 10).size(), 1u);
}

TEST_P(store_test, flash_sale_never_oversold_and_one_per_user) {
  auto sale = store_->create_flash_sale(5, 50, 100, 1, 0);
  ASSERT_TRUE(sale);
  EXPECT_FALSE(store_->create_flash_sale(999999, 1, 1, 1, 0).has_value());
  constexpr int threads = 8, users_per_thread = 12;  // 96 buyers, each tries twice
  std::atomic<int> created{0}, sold_out{0}, twice{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < users_per_thread; ++i) {
        const int64_t user = 1 + t * users_per_thread + i;  // seeded customers
        for (int attempt = 0; attempt < 2; ++attempt) {
          auto r = store_->flash_purchase(*sale, user, 1);
          if (r.status == purchase_status::created) ++created;
          if (r.status == purchase_status::sold_out) ++sold_out;
          if (r.status == purchase_status::already_bought) ++twice;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(created.load(), 50);
  EXPECT_EQ(twice.load(), 50);
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 0);
  auto audit = store_->audit();
  for (const auto& s : audit["flash_sales"].as_array()) {
    if (s.as_object().at("sale_id").as_int64() != *sale) continue;
    EXPECT_EQ(s.as_object().at("sold").as_int64(), 50);
    std::set<int64_t> buyers;
    for (const auto& p : s.as_object().at("purchases").as_array()) {
      EXPECT_EQ(p.as_object().at("count").as_int64(), 1);
      buyers.insert(p.as_object().at("user_id").as_int64());
    }
    EXPECT_EQ(buyers.size(), 50u);
  }
  auto future = store_->create_flash_sale(5, 10, 100, 1, 10'000);
  EXPECT_EQ(store_->flash_purchase(*future, 1, 5'000).status, purchase_status::not_started);
  EXPECT_EQ(store_->flash_purchase(424242, 1, 5'000).status, purchase_status::unknown_sale);
}

TEST_P(store_test, outbox_leases_retries_and_dead_letters) {
  const int64_t u = new_user("pipe@example.com");
  const int64_t stock = store_->find_product(20)->stock;
  auto a = store_->checkout(u, "a", "h", {{20, 1}}, 100).placed;
  auto b = store_->checkout(u, "b", "h", {{20, 2}}, 100).placed;
  EXPECT_EQ(store_->outbox_due(100), 2);
  auto claimed = store_->claim_outbox("w1", 100, 1000, 10);
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(claimed[0].attempts, 1);
  EXPECT_EQ(claimed[0].amount, a.total);
  EXPECT_TRUE(store_->claim_outbox("w2", 500, 1000, 10).empty());  // leased
  // a: paid. b: transient failure, retried later, then dead-lettered: stock released once.
  EXPECT_TRUE(store_->complete_payment(claimed[0], "w1", "cap-1", 200));
  EXPECT_FALSE(store_->complete_payment(claimed[0], "w1", "cap-1", 200));  // already settled
  EXPECT_TRUE(store_->retry_payment(claimed[1], "w1", "timeout", 5000));
  EXPECT_TRUE(store_->claim_outbox("w2", 4000, 1000, 10).empty());  // not due yet
  auto again = store_->claim_outbox("w2", 5000, 1000, 10);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].attempts, 2);
  // w2's lease expires; w3 takes over; w2's late result is discarded.
  auto taken = store_->claim_outbox("w3", 7000, 1000, 10);
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_FALSE(store_->complete_payment(again[0], "w2", "cap-2", 7001));
  EXPECT_TRUE(store_->fail_payment(taken[0], "w3", "gateway unavailable", true, 7002));
  EXPECT_EQ(store_->find_order(u, a.id)->status, "paid");
  auto failed = store_->find_order(u, b.id);
  EXPECT_EQ(failed->status, "failed");
  EXPECT_EQ(failed->failure, "gateway unavailable");
  EXPECT_EQ(store_->find_product(20)->stock, stock - 1);
  auto audit = store_->audit();
  EXPECT_EQ(audit["outbox"].as_object().at("done").as_int64(), 1);
  EXPECT_EQ(audit["outbox"].as_object().at("dead").as_int64(), 1);
  EXPECT_EQ(audit["dead_letters"].as_array().size(), 1u);
  EXPECT_EQ(audit["payments"].as_object().at("captured").as_int64(), a.total);
  // Conservation: initial = remaining + sold for every SKU the audit lists.
  for (const auto& sku : audit["skus"].as_array()) {
    const auto& s = sku.as_object();
    EXPECT_EQ(s.at("initial_stock").as_int64(), s.at("remaining").as_int64() + s.at("sold").as_int64());
  }
}

// Nodes starting together all migrate: the schema is applied once and nobody fails (PostgreSQL: an
// advisory lock; without it, concurrent CREATE TABLE IF NOT EXISTS collides in the system catalogue).
TEST_P(store_test, concurrent_migrations_apply_once) {
  auto nodes = backend_->open_fresh(6);
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (auto& n : nodes) {
    pool.emplace_back([&, db = n.get()] {
      try {
        db->migrate();
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (auto& n : nodes) EXPECT_EQ(n->schema_version(), 1);
  nodes[0]->reseed(1, "h");
  EXPECT_EQ(nodes[5]->product_ids().size(), 1000u);
}

TEST_P(store_test, the_database_itself_refuses_negative_stock) {
  const int64_t stock = store_->find_product(1)->stock;
  EXPECT_ANY_THROW(backend_->sql("UPDATE products SET stock = -1 WHERE id = 1"));
  EXPECT_ANY_THROW(backend_->sql("UPDATE flash_sales SET remaining = -1 WHERE id = 1"));
  EXPECT_EQ(store_->find_product(1)->stock, stock);
  EXPECT_EQ(store_->find_flash_sale(1)->remaining, 1000);
}

// Two units per user, every buyer trying four times at once: nobody gets more than two, and the sale sells
// exactly its stock.
// A batch is answered as its purchases would be one after another (group commit, purchase_batcher.h): the
// same user twice in one batch buys once, the sale sells out exactly at its stock inside the batch, and the
// refusals keep their order (unknown sale, not started); everything the batch answered `created` exists.
TEST_P(store_test, flash_purchase_batch_answers_as_one_after_another) {
  auto sale = store_->create_flash_sale(5, 3, 100, 1, 0);
  auto future = store_->create_flash_sale(5, 3, 100, 1, 10'000);
  ASSERT_TRUE(sale && future);
  const std::vector<purchase_request> batch{{*sale, 1, 5'000},   {*sale, 2, 5'000},  {*sale, 1, 5'000},
                                            {*future, 3, 5'000}, {424242, 3, 5'000}, {*sale, 3, 5'000},
                                            {*sale, 4, 5'000},   {*sale, 2, 5'000}};
  const auto out = store_->flash_purchases(batch);
  ASSERT_EQ(out.size(), batch.size());
  for (const auto& o : out) EXPECT_FALSE(o.error);
  using ps = purchase_status;
  const std::vector<ps> expected{ps::created,      ps::created, ps::already_bought, ps::not_started,
                                 ps::unknown_sale, ps::created, ps::sold_out,       ps::already_bought};
  std::set<int64_t> orders;
  for (size_t i = 0; i < out.size(); ++i) {
    EXPECT_EQ(out[i].result.status, expected[i]) << "purchase " << i;
    if (out[i].result.status != ps::created) continue;
    orders.insert(out[i].result.order_id);
    auto o = store_->find_order(batch[i].user_id, out[i].result.order_id);
    ASSERT_TRUE(o) << "purchase " << i;
    EXPECT_EQ(o->flash_sale_id, *sale);
  }
  EXPECT_EQ(orders.size(), 3u);
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 0);
  EXPECT_EQ(store_->find_flash_sale(*future)->remaining, 3);
  // A later purchase of a buyer of the batch is refused as already bought, even on a sold-out sale.
  EXPECT_EQ(store_->flash_purchase(*sale, 3, 5'000).status, ps::already_bought);
  EXPECT_EQ(store_->flash_purchase(*sale, 5, 5'000).status, ps::sold_out);
}

TEST_P(store_test, flash_sale_limit_of_two_holds_under_concurrency) {
  auto sale = store_->create_flash_sale(6, 30, 100, 2, 0);
  ASSERT_TRUE(sale);
  constexpr int buyers = 20, tries = 4;
  std::atomic<int> created{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t) {
    pool.emplace_back([&, t] {
      for (int u = t; u < buyers; u += 8) {
        for (int i = 0; i < tries; ++i) {
          if (store_->flash_purchase(*sale, 100 + u, 1).status == purchase_status::created) ++created;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(created.load(), 30);
  EXPECT_EQ(store_->find_flash_sale(*sale)->remaining, 0);
  auto audit = store_->audit();
  for (const auto& s : audit["flash_sales"].as_array()) {
    if (s.at("sale_id").as_int64() != *sale) continue;
    EXPECT_EQ(s.at("sold").as_int64(), 30);
    int64_t units = 0;
    for (const auto& p : s.at("purchases").as_array()) {
      EXPECT_LE(p.at("count").as_int64(), 2);
      units += p.at("count").as_int64();
    }
    EXPECT_EQ(units, 30);
  }
}

// The same calls on both stores give the same audit, byte for byte (same fields, order and values), so the
// drills' checkers read either unchanged.
TEST(store_conformance, same_calls_give_the_same_audit_on_sqlite_and_postgres) {
  std::unique_ptr<store_backend> backends[2];
  try {
    backends[0] = make_backend("sqlite");
    backends[1] = make_backend("postgres");
  } catch (const std::exception& e) {
    GTEST_FAIL() << e.what();
  }
  std::string audits[2];
  for (int b = 0; b < 2; ++b) {
    auto db = backends[b]->open();
    db->migrate();
    db->reseed(1, "hash");
    const int64_t u = *db->create_user("conformance@example.com", "C", "x");
    db->put_cart_item(u, 3, 2, true);
    ASSERT_EQ(db->checkout(u, "cart-1", "cart", {}, 1000).status, checkout_status::created);
    ASSERT_EQ(db->checkout(u, "items-1", "items:5x1,9x2", {{9, 2}, {5, 1}}, 1001).status, checkout_status::created);
    ASSERT_EQ(db->checkout(u, "items-1", "items:5x1,9x2", {{9, 2}, {5, 1}}, 1002).status, checkout_status::replayed);
    ASSERT_EQ(db->checkout(u, "", "", {{11, 1}}, 1003).status, checkout_status::created);
    backends[b]->sql("UPDATE products SET stock = 1 WHERE id = 12");
    ASSERT_EQ(db->checkout(u, "oos", "items:12x2", {{12, 2}}, 1004).status, checkout_status::out_of_stock);
    auto sale = db->create_flash_sale(20, 2, 50, 1, 0);
    for (int64_t buyer : {1, 2, 3, 2}) db->flash_purchase(*sale, buyer, 1005);
    db->flash_purchase(1, 4, 1006);
    auto claimed = db->claim_outbox("w", 2000, 1000, 10);
    ASSERT_EQ(claimed.size(), 6u);
    db->complete_payment(claimed[0], "w", "cap-1", 2001);
    db->fail_payment(claimed[1], "w", "payment declined", false, 2002);
    db->retry_payment(claimed[2], "w", "gateway answered 503", 9000);
    db->record_refund(claimed[3].order_id, claimed[3].amount, "refund", 2003);
    db->fail_payment(claimed[3], "w", "gateway unavailable", true, 2004);
    db->fail_payment(claimed[4], "w", "payment declined", false, 2005);  // a flash order: the unit returns
    audits[b] = boost::json::serialize(db->audit());
  }
  EXPECT_EQ(audits[0], audits[1]);
  EXPECT_NE(audits[0].find("\"dead_letters\":[{\"order_id\""), std::string::npos) << audits[0];
}

}  // namespace
}  // namespace stampede::shop
