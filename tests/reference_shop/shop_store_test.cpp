// The SQLite store, tested directly on a temporary database file: schema, seed, catalogue and search,
// users and sessions, cart, idempotent checkout with the oversell guard, flash sales, and the outbox
// leases. Concurrency tests use real threads, each with its own connection.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <atomic>
#include <set>
#include <thread>

#include "reference_shop/passwords.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

using testing::temp_dir;

product_query query(std::optional<int64_t> category, std::string q, int64_t page = 1, int64_t size = 20) {
  product_query pq;
  pq.category_id = category;
  pq.q = std::move(q);
  pq.page = page;
  pq.size = size;
  return pq;
}

class store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<sqlite_store>(dir_.file("shop.db"));
    store_->migrate();
    store_->reseed(1, hash_password(seed_password, kdf_cost::minimal));
  }
  // Direct SQL for test set-up that the API does not offer (e.g. a low stock).
  void sql(const char* text) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(dir_.file("shop.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ASSERT_EQ(sqlite3_exec(db, text, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  int64_t new_user(const std::string& email) {
    auto id = store_->create_user(email, "Test User", "x");
    EXPECT_TRUE(id.has_value());
    return id.value_or(0);
  }

  temp_dir dir_;
  std::unique_ptr<sqlite_store> store_;
};

TEST_F(store_test, migrations_are_versioned_and_idempotent) {
  EXPECT_EQ(store_->schema_version(), 1);
  store_->migrate();
  EXPECT_EQ(store_->schema_version(), 1);
  EXPECT_TRUE(store_->seeded());
}

TEST_F(store_test, seed_is_deterministic_and_tpcw_shaped) {
  EXPECT_EQ(store_->product_ids().size(), 1000u);
  auto cats = store_->categories();
  ASSERT_EQ(cats.size(), 24u);
  int64_t total = 0;
  for (const auto& c : cats) total += c.product_count;
  EXPECT_EQ(total, 1000);
  temp_dir other;
  sqlite_store second{other.file("other.db")};
  second.migrate();
  second.reseed(1, "h");
  for (int64_t id : {1, 17, 500, 1000}) {
    auto a = store_->find_product(id), b = second.find_product(id);
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

TEST_F(store_test, search_uses_fts_and_survives_hostile_text) {
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

TEST_F(store_test, listing_paginates_by_category) {
  const int64_t cat = store_->find_product(1)->category_id;
  auto first = store_->list_products(query(cat, "", 1, 5));
  auto second = store_->list_products(query(cat, "", 2, 5));
  ASSERT_EQ(first.items.size(), 5u);
  ASSERT_FALSE(second.items.empty());
  EXPECT_LT(first.items.back().id, second.items.front().id);
  EXPECT_EQ(first.total, second.total);
  EXPECT_TRUE(store_->list_products(query(9999, "")).items.empty());
}

TEST_F(store_test, bestsellers_come_from_recent_orders) {
  auto best = store_->bestsellers(3333, 50);
  ASSERT_EQ(best.size(), 50u);
  for (size_t i = 1; i < best.size(); ++i) EXPECT_GE(best[i - 1].units, best[i].units);
}

TEST_F(store_test, users_passwords_and_sessions) {
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

TEST_F(store_test, cart_add_set_remove) {
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

TEST_F(store_test, checkout_is_idempotent_and_transactional) {
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

TEST_F(store_test, out_of_stock_changes_nothing) {
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

TEST_F(store_test, concurrent_checkouts_never_oversell) {
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

TEST_F(store_test, concurrent_retries_of_one_key_make_one_order) {
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

TEST_F(store_test, flash_sale_never_oversold_and_one_per_user) {
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

TEST_F(store_test, outbox_leases_retries_and_dead_letters) {
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

}  // namespace
}  // namespace stampede::shop
