// Contract tests of the shop node's API through real sockets: every endpoint, with bad input (malformed
// JSON, wrong types, huge bodies, unknown ids, SQL metacharacters, missing or foreign session) answered
// by a clear JSON 4xx; plus concurrency through HTTP (flash sale oversell, idempotent retries).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>

#include "common/http_client.h"
#include "reference_shop/node.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;
using headers = std::vector<std::pair<std::string, std::string>>;
constexpr const char* admin_token = "test-admin-token";

struct reply {
  int status = 0;
  json::value body;
  http::client_response raw;
};

class api {
 public:
  explicit api(uint16_t port) : client_("127.0.0.1", port, std::chrono::seconds{10}) {}
  reply call(std::string_view method, std::string_view target, std::string_view body = {}, headers h = {}) {
    if (!token_.empty()) h.emplace_back("Authorization", "Bearer " + token_);
    reply r;
    r.raw = client_.request(method, target, body, h);
    r.status = r.raw.status;
    boost::system::error_code ec;
    r.body = json::parse(r.raw.body, ec);
    return r;
  }
  reply get(std::string_view target) { return call("GET", target); }
  reply post(std::string_view target, std::string_view body, headers h = {}) {
    h.emplace_back("Content-Type", "application/json");
    return call("POST", target, body, std::move(h));
  }
  // Registers and logs in a fresh user; later calls carry its session.
  void login_new(const std::string& email) {
    token_.clear();
    auto created = post("/api/users", R"({"email":")" + email + R"(","password":"password123","name":"T"})");
    ASSERT_EQ(created.status, 201) << created.raw.body;
    auto session = post("/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
    ASSERT_EQ(session.status, 200) << session.raw.body;
    token_ = std::string{session.body.at("token").as_string()};
  }
  void set_token(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }

 private:
  http::blocking_client client_;
  std::string token_;
};

std::string error_of(const reply& r) {
  if (!r.body.is_object() || !r.body.as_object().contains("error")) return "<no JSON error>";
  return std::string{r.body.at("error").as_string()};
}

class api_test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::temp_dir;
    node_options o;
    o.name = "test-node";
    o.db_path = dir_->file("shop.db");
    o.threads = 4;
    o.admin_token = admin_token;
    o.kdf = kdf_cost::minimal;
    o.seed_scale = 1;
    o.login_per_source = {};  // the contract tests sign up ~100 users from one address (limits: security tests)
    node_ = new node(o);
    node_->start();
  }
  static void TearDownTestSuite() {
    delete node_;
    delete dir_;
  }
  static std::string unique_email() { return "user" + std::to_string(++counter_) + "@example.com"; }

  static inline testing::temp_dir* dir_ = nullptr;
  static inline node* node_ = nullptr;
  static inline std::atomic<int> counter_{0};
};

TEST_F(api_test, health_readiness_and_unknown_routes) {
  api c{node_->port()};
  EXPECT_EQ(c.get("/healthz").status, 200);
  EXPECT_EQ(c.get("/readyz").status, 200);
  auto missing = c.get("/api/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_of(missing), "not_found");
  EXPECT_EQ(c.get("/").status, 404);
  auto wrong_method = c.call("DELETE", "/api/categories");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(error_of(wrong_method), "method_not_allowed");
}

TEST_F(api_test, catalogue_endpoints) {
  api c{node_->port()};
  auto cats = c.get("/api/categories");
  ASSERT_EQ(cats.status, 200);
  EXPECT_EQ(cats.body.at("categories").as_array().size(), 24u);
  auto p = c.get("/api/products/42");
  ASSERT_EQ(p.status, 200);
  EXPECT_EQ(p.body.at("id").as_int64(), 42);
  EXPECT_EQ(c.get("/api/products/42").raw.body, p.raw.body);  // cached, identical
  for (const char* bad : {"/api/products/abc", "/api/products/0", "/api/products/-3",
                          "/api/products/99999999999999999999999", "/api/products/1%27%20OR%201=1"}) {
    auto r = c.get(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(error_of(r), "bad_request") << bad;
  }
  EXPECT_EQ(c.get("/api/products/999999").status, 404);
  auto list = c.get("/api/products?category=3&page=2&size=5");
  ASSERT_EQ(list.status, 200);
  EXPECT_LE(list.body.at("items").as_array().size(), 5u);
  for (const auto& item : list.body.at("items").as_array()) EXPECT_EQ(item.at("category_id").as_int64(), 3);
  auto search = c.get("/api/products?q=" + std::string{"Garden"});
  ASSERT_EQ(search.status, 200);
  EXPECT_GT(search.body.at("total").as_int64(), 0);
  auto sql = c.get("/api/products?q=%27%3B%20DROP%20TABLE%20products%3B%20--");
  EXPECT_EQ(sql.status, 200);
  auto fts = c.get("/api/products?q=%22NEAR(%20AND%20*");
  EXPECT_EQ(fts.status, 200);
  EXPECT_EQ(c.get("/api/products?page=0").status, 400);
  EXPECT_EQ(c.get("/api/products?size=1000").status, 400);
  EXPECT_EQ(c.get("/api/products?category=x").status, 400);
  EXPECT_EQ(c.get("/api/products?q=" + std::string(300, 'a')).status, 400);
  auto best = c.get("/api/bestsellers");
  ASSERT_EQ(best.status, 200);
  EXPECT_EQ(best.body.at("items").as_array().size(), 50u);
  EXPECT_EQ(c.get("/api/categories").status, 200);
}

TEST_F(api_test, users_and_sessions_reject_bad_input) {
  api c{node_->port()};
  const std::string email = unique_email();
  EXPECT_EQ(c.post("/api/users", R"({"email":")" + email + R"(","password":"password123","name":"N"})").status, 201);
  auto dup = c.post("/api/users", R"({"email":")" + email + R"(","password":"password123","name":"N"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(error_of(dup), "email_taken");
  for (const char* bad : {"{", "[]", "null", R"({"email":1,"password":"password123","name":"N"})",
                          R"({"email":"x@y.z","password":"short","name":"N"})", R"({"email":"x@y.z"})",
                          R"({"email":"no-at-sign","password":"password123","name":"N"})",
                          R"({"email":"a@b.c","password":["x"],"name":"N"})"}) {
    auto r = c.post("/api/users", bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(error_of(r), "bad_request") << bad;
  }
  auto huge = c.post("/api/users", R"({"email":")" + std::string(200'000, 'a') + R"("})");
  EXPECT_EQ(huge.status, 413);
  api fresh{node_->port()};
  auto wrong = fresh.post("/api/sessions", R"({"email":")" + email + R"(","password":"nope-nope"})");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(fresh.post("/api/sessions", R"({"email":"nobody@x.y","password":"password123"})").status, 401);
  auto ok = fresh.post("/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
  ASSERT_EQ(ok.status, 200);
  const std::string token{ok.body.at("token").as_string()};
  EXPECT_NE(ok.raw.headers.find("Set-Cookie").find("sid=" + token), std::string_view::npos);
  // The cookie works as well as the Bearer token.
  api by_cookie{node_->port()};
  auto cart = by_cookie.call("GET", "/api/cart", {}, {{"Cookie", "theme=dark; sid=" + token}});
  EXPECT_EQ(cart.status, 200);
}

TEST_F(api_test, cart_needs_a_session_and_validates) {
  api c{node_->port()};
  EXPECT_EQ(c.get("/api/cart").status, 401);
  c.set_token("not-a-token");
  EXPECT_EQ(c.get("/api/cart").status, 401);
  c.set_token(std::string(64, 'a'));
  EXPECT_EQ(c.get("/api/cart").status, 401);
  c.login_new(unique_email());
  auto added = c.post("/api/cart/items", R"({"product_id":5,"qty":2})");
  ASSERT_EQ(added.status, 200) << added.raw.body;
  EXPECT_EQ(added.body.at("items").as_array().size(), 1u);
  EXPECT_EQ(c.post("/api/cart/items", R"({"product_id":5,"qty":1})").body.at("items").at(0).at("qty").as_int64(), 3);
  EXPECT_EQ(c.post("/api/cart/items", R"({"product_id":999999,"qty":1})").status, 404);
  EXPECT_EQ(c.post("/api/cart/items", R"({"product_id":5,"qty":0})").status, 400);
  EXPECT_EQ(c.post("/api/cart/items", R"({"product_id":"5","qty":1})").status, 400);
  EXPECT_EQ(c.post("/api/cart/items", R"({"product_id":5.5,"qty":1})").status, 400);
  EXPECT_EQ(c.post("/api/cart/items", R"({"product_id":5,"qty":100000})").status, 400);
  EXPECT_EQ(c.call("PUT", "/api/cart/items/5", R"({"qty":7})").body.at("items").at(0).at("qty").as_int64(), 7);
  EXPECT_EQ(c.call("PUT", "/api/cart/items/5", R"({"qty":-1})").status, 400);
  EXPECT_EQ(c.call("PUT", "/api/cart/items/abc", R"({"qty":1})").status, 400);
  EXPECT_EQ(c.call("DELETE", "/api/cart/items/5").status, 200);
  EXPECT_EQ(c.call("DELETE", "/api/cart/items/5").status, 404);
  EXPECT_TRUE(c.get("/api/cart").body.at("items").as_array().empty());
}

TEST_F(api_test, orders_are_idempotent_and_private) {
  api c{node_->port()};
  c.login_new(unique_email());
  ASSERT_EQ(c.post("/api/cart/items", R"({"product_id":12,"qty":1})").status, 200);
  EXPECT_EQ(c.post("/api/orders", "").status, 400);  // no Idempotency-Key
  auto created = c.post("/api/orders", "", {{"Idempotency-Key", "order-A"}});
  ASSERT_EQ(created.status, 201) << created.raw.body;
  const int64_t id = created.body.at("order_id").as_int64();
  EXPECT_EQ(created.body.at("status").as_string(), "pending");
  EXPECT_GT(created.body.at("total").as_int64(), 0);
  auto replay = c.post("/api/orders", "", {{"Idempotency-Key", "order-A"}});
  EXPECT_EQ(replay.status, 201);
  EXPECT_EQ(replay.body.at("order_id").as_int64(), id);
  EXPECT_EQ(replay.raw.headers.find("Idempotent-Replayed"), "true");
  auto conflict = c.post("/api/orders", R"({"items":[{"product_id":12,"qty":1}]})", {{"Idempotency-Key", "order-A"}});
  EXPECT_EQ(conflict.status, 422);
  EXPECT_EQ(error_of(conflict), "idempotency_key_reused");
  EXPECT_EQ(c.post("/api/orders", "", {{"Idempotency-Key", "order-B"}}).status, 422);  // empty cart
  auto oos = c.post("/api/orders", R"({"items":[{"product_id":12,"qty":1000},{"product_id":12,"qty":1000}]})",
                    {{"Idempotency-Key", "order-C"}});
  EXPECT_EQ(oos.status, 409);
  EXPECT_EQ(error_of(oos), "out_of_stock");
  EXPECT_EQ(c.post("/api/orders", R"({"items":[{"product_id":999999,"qty":1}]})", {{"Idempotency-Key", "D"}}).status, 422);
  EXPECT_EQ(c.post("/api/orders", R"({"items":[]})", {{"Idempotency-Key", "E"}}).status, 400);
  EXPECT_EQ(c.post("/api/orders", R"({"items":"all"})", {{"Idempotency-Key", "F"}}).status, 400);
  EXPECT_EQ(c.post("/api/orders", R"({"items":[{"product_id":1}]})", {{"Idempotency-Key", "G"}}).status, 400);
  EXPECT_EQ(c.post("/api/orders", "{oops", {{"Idempotency-Key", "H"}}).status, 400);
  auto mine = c.get("/api/orders/" + std::to_string(id));
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(mine.body.at("lines").as_array().size(), 1u);
  EXPECT_EQ(c.get("/api/orders").body.at("orders").as_array().size(), 1u);
  EXPECT_EQ(c.get("/api/orders/abc").status, 400);
  api other{node_->port()};
  other.login_new(unique_email());
  EXPECT_EQ(other.get("/api/orders/" + std::to_string(id)).status, 404);  // foreign order does not exist
  EXPECT_TRUE(other.get("/api/orders").body.at("orders").as_array().empty());
}

TEST_F(api_test, flash_sale_contract) {
  api admin{node_->port()};
  admin.set_token(admin_token);
  EXPECT_EQ(admin.get("/api/flash-sales/1").body.at("stock").as_int64(), 1000);
  api anon{node_->port()};
  EXPECT_EQ(anon.post("/api/admin/flash-sales", R"({"product_id":3,"stock":1,"price":100})").status, 403);
  anon.set_token("wrong");
  EXPECT_EQ(anon.get("/api/admin/audit").status, 403);
  auto sale = admin.post("/api/admin/flash-sales", R"({"product_id":3,"stock":1,"price":100,"per_user_limit":1,"starts_at":0})");
  ASSERT_EQ(sale.status, 201) << sale.raw.body;
  const std::string id = std::to_string(sale.body.at("id").as_int64());
  EXPECT_EQ(admin.post("/api/admin/flash-sales", R"({"product_id":999999,"stock":1,"price":1})").status, 422);
  EXPECT_EQ(admin.post("/api/admin/flash-sales", R"({"product_id":3,"stock":-1,"price":1})").status, 400);
  api a{node_->port()}, b{node_->port()};
  a.login_new(unique_email());
  b.login_new(unique_email());
  EXPECT_EQ(anon.post("/api/flash-sales/" + id + "/purchase", "").status, 401);
  auto bought = a.post("/api/flash-sales/" + id + "/purchase", "");
  ASSERT_EQ(bought.status, 201) << bought.raw.body;
  EXPECT_GT(bought.body.at("order_id").as_int64(), 0);
  EXPECT_EQ(a.post("/api/flash-sales/" + id + "/purchase", "").status, 409);
  auto gone = b.post("/api/flash-sales/" + id + "/purchase", "");
  EXPECT_EQ(gone.status, 410);
  EXPECT_EQ(error_of(gone), "sold_out");
  EXPECT_EQ(b.post("/api/flash-sales/424242/purchase", "").status, 404);
  EXPECT_EQ(b.get("/api/flash-sales/x").status, 400);
  EXPECT_EQ(b.get("/api/flash-sales/424242").status, 404);
  auto later = admin.post("/api/admin/flash-sales", R"({"product_id":3,"stock":5,"price":100,"starts_at":99999999999999})");
  EXPECT_EQ(b.post("/api/flash-sales/" + std::to_string(later.body.at("id").as_int64()) + "/purchase", "").status, 409);
  auto audit = admin.get("/api/admin/audit");
  ASSERT_EQ(audit.status, 200);
  for (const auto& key : {"skus", "orders_by_state", "flash_sales", "outbox", "dead_letters", "orders", "payments"}) {
    EXPECT_TRUE(audit.body.as_object().contains(key)) << key;
  }
}

TEST_F(api_test, flash_sale_over_http_is_never_oversold) {
  api admin{node_->port()};
  admin.set_token(admin_token);
  auto sale = admin.post("/api/admin/flash-sales", R"({"product_id":8,"stock":25,"price":100})");
  ASSERT_EQ(sale.status, 201);
  const std::string path = "/api/flash-sales/" + std::to_string(sale.body.at("id").as_int64()) + "/purchase";
  constexpr int threads = 6, buyers_per_thread = 10;
  std::atomic<int> created{0}, sold_out{0}, twice{0}, other{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < buyers_per_thread; ++i) {
        api buyer{node_->port()};
        buyer.login_new(unique_email());
        for (int attempt = 0; attempt < 2; ++attempt) {
          const int status = buyer.post(path, "").status;
          if (status == 201) ++created;
          else if (status == 410) ++sold_out;
          else if (status == 409) ++twice;
          else ++other;
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(created.load(), 25);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(created + sold_out + twice, threads * buyers_per_thread * 2);
  EXPECT_EQ(admin.get(path.substr(0, path.size() - 9)).body.at("remaining").as_int64(), 0);
}

TEST_F(api_test, concurrent_checkout_retries_make_one_order) {
  api owner{node_->port()};
  owner.login_new(unique_email());
  const std::string token = owner.token();
  std::vector<int64_t> ids(6, -1);
  std::vector<std::thread> pool;
  for (int t = 0; t < 6; ++t) {
    pool.emplace_back([&, t] {
      api c{node_->port()};
      c.set_token(token);
      auto r = c.post("/api/orders", R"({"items":[{"product_id":30,"qty":1}]})", {{"Idempotency-Key", "retry-me"}});
      if (r.status == 201) ids[t] = r.body.at("order_id").as_int64();
    });
  }
  for (auto& t : pool) t.join();
  for (int64_t id : ids) EXPECT_EQ(id, ids[0]);
  EXPECT_EQ(owner.get("/api/orders").body.at("orders").as_array().size(), 1u);
}

TEST_F(api_test, metrics_expose_routes_and_business_gauges) {
  api c{node_->port()};
  c.get("/api/products/1");
  auto m = c.get("/metrics");
  ASSERT_EQ(m.status, 200);
  const std::string& text = m.raw.body;
  for (const char* needle : {"shop_http_request_duration_seconds_bucket{route=\"/api/products/{id}\"",
                             "shop_cache_requests_total{result=\"hit\"}", "shop_orders{state=",
                             "shop_queue_depth", "shop_dead_letters", "shop_stock_units",
                             "shop_bloom_rejections_total"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle;
  }
  // The exposition must pass Prometheus' own linter (Debian's prometheus package ships promtool).
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  const std::string file = dir_->file("metrics.txt");
  {
    std::ofstream out{file};
    out << text;
  }
  const std::string command = "/usr/bin/promtool check metrics < " + file + " > " + file + ".log 2>&1";
  const int rc = std::system(command.c_str());
  std::ifstream log{file + ".log"};
  std::string lint{std::istreambuf_iterator<char>{log}, {}};
  EXPECT_EQ(rc, 0) << lint;
}

TEST(api_limits, rate_limit_answers_429_with_retry_after) {
  testing::temp_dir dir;
  node_options o;
  o.db_path = dir.file("shop.db");
  o.kdf = kdf_cost::minimal;
  o.seed_scale = 1;
  o.rate_per_client = bucket_spec{1, 2};
  node n{o};
  n.start();
  api c{n.port()};
  EXPECT_EQ(c.get("/api/products/1").status, 200);
  EXPECT_EQ(c.get("/api/products/1").status, 200);
  auto limited = c.get("/api/products/1");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(error_of(limited), "rate_limited");
  EXPECT_FALSE(limited.raw.headers.find("Retry-After").empty());
  EXPECT_EQ(c.get("/healthz").status, 200);  // health checks are never limited
}

TEST(api_limits, draining_node_is_not_ready) {
  testing::temp_dir dir;
  node_options o;
  o.db_path = dir.file("shop.db");
  o.kdf = kdf_cost::minimal;
  o.seed_scale = 1;
  node n{o};
  n.start();
  api c{n.port()};
  EXPECT_EQ(c.get("/readyz").status, 200);
  n.drain();
  EXPECT_EQ(c.get("/readyz").status, 503);
  EXPECT_EQ(c.get("/healthz").status, 200);
}

}  // namespace
}  // namespace stampede::shop
