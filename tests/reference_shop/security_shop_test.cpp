// Security of the shop node's API through real sockets: sessions required where they must be, no user
// reaching another's cart or orders, SQL injection attempts on every parameter, session tokens (entropy,
// cookie flags, expiry), rate limits that cannot be dodged with X-Forwarded-For, and the admin token.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "common/http_client.h"
#include "reference_shop/node.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using header_list = std::vector<std::pair<std::string, std::string>>;
constexpr const char* admin_token = "security-admin-token-0123456789abcdef";

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string json_string(std::string_view s) { return json::serialize(json::value(json::string(s))); }

// One user's HTTP client; requests carry its session (Bearer) when it has one.
class user {
 public:
  explicit user(uint16_t port) : client_("127.0.0.1", port, 10s) {}
  http::client_response call(std::string_view method, std::string_view target, std::string_view body = {},
                             header_list h = {}) {
    if (!token_.empty()) h.emplace_back("Authorization", "Bearer " + token_);
    if (!body.empty()) h.emplace_back("Content-Type", "application/json");
    return client_.request(method, target, body, h);
  }
  static json::value parse(const http::client_response& r) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    return ec ? json::value{} : v;
  }
  // Registers and logs in; returns the session reply.
  json::value sign_up(const std::string& email) {
    token_.clear();
    auto created = call("POST", "/api/users", R"({"email":")" + email + R"(","password":"password123","name":"U"})");
    EXPECT_EQ(created.status, 201) << created.body;
    auto session = call("POST", "/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
    EXPECT_EQ(session.status, 200) << session.body;
    last_login_ = session;
    auto v = parse(session);
    token_ = std::string(v.at("token").as_string());
    return v;
  }
  void set_token(std::string t) { token_ = std::move(t); }
  const std::string& token() const { return token_; }
  const http::client_response& last_login() const { return last_login_; }

 private:
  http::blocking_client client_;
  std::string token_;
  http::client_response last_login_;
};

class shop_security : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::temp_dir;
    node_ = new node(options("security-node"));
    node_->start();
  }
  static void TearDownTestSuite() {
    delete node_;
    delete dir_;
  }
  static node_options options(std::string name) {
    node_options o;
    o.name = std::move(name);
    o.db_path = dir_->file("shop.db");
    o.threads = 2;
    o.admin_token = admin_token;
    o.kdf = kdf_cost::minimal;
    o.seed_scale = 1;
    return o;
  }
  static std::string unique_email() { return "sec" + std::to_string(++counter_) + "@example.com"; }
  static uint16_t port() { return node_->port(); }

  static inline testing::temp_dir* dir_ = nullptr;
  static inline node* node_ = nullptr;
  static inline int counter_ = 0;
};

TEST_F(shop_security, every_session_endpoint_refuses_without_a_valid_session) {
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/api/cart"},           {"POST", "/api/cart/items"},   {"PUT", "/api/cart/items/5"},
      {"DELETE", "/api/cart/items/5"}, {"POST", "/api/orders"},      {"GET", "/api/orders"},
      {"GET", "/api/orders/1"},       {"POST", "/api/flash-sales/1/purchase"}};
  const std::vector<header_list> credentials = {
      {},                                                      // none
      {{"Authorization", "Bearer "}},                          // empty
      {{"Authorization", "Bearer " + std::string(64, '0')}},   // well-formed, unknown
      {{"Authorization", "Bearer " + std::string(63, 'a')}},   // wrong length
      {{"Authorization", "Basic dXNlcjpwYXNz"}},               // another scheme
      {{"Authorization", "Bearer " + std::string(64, 'G')}},   // not hex
      {{"Cookie", "sid=" + std::string(64, 'f')}},             // unknown cookie
      {{"Cookie", "sid=' OR '1'='1"}},                         // injection in the cookie
      {{"Authorization", std::string("Bearer ") + admin_token}},  // the admin token is not a session
  };
  user anonymous(port());
  for (const auto& [method, target] : endpoints) {
    for (const auto& h : credentials) {
      SCOPED_TRACE(method + " " + target + (h.empty() ? "" : " " + h[0].first + ": " + h[0].second));
      const auto r = anonymous.call(method, target, method == "GET" || method == "DELETE" ? "" : R"({"product_id":5,"qty":1})",
                                    h);
      EXPECT_EQ(r.status, 401) << r.body;
      EXPECT_EQ(user::parse(r).at("error").as_string(), "unauthorized");
    }
  }
}

TEST_F(shop_security, no_user_reads_or_changes_another_users_cart_or_orders) {
  user alice(port()), bob(port());
  alice.sign_up(unique_email());
  bob.sign_up(unique_email());
  ASSERT_EQ(alice.call("POST", "/api/cart/items", R"({"product_id":5,"qty":2})").status, 200);
  ASSERT_EQ(alice.call("POST", "/api/cart/items", R"({"product_id":6,"qty":1})").status, 200);
  // Bob sees an empty cart and cannot change or remove Alice's lines (only his own cart exists for him).
  EXPECT_TRUE(user::parse(bob.call("GET", "/api/cart")).at("items").as_array().empty());
  bob.call("PUT", "/api/cart/items/5", R"({"qty":9})");
  bob.call("DELETE", "/api/cart/items/6");
  const auto cart = user::parse(alice.call("GET", "/api/cart")).at("items").as_array();
  ASSERT_EQ(cart.size(), 2u);
  for (const auto& line : cart) {
    EXPECT_EQ(line.at("qty").as_int64(), line.at("product_id").as_int64() == 5 ? 2 : 1);
  }
  // Alice orders; Bob cannot see the order, and the same Idempotency-Key is his own (keys are per user).
  const auto order = alice.call("POST", "/api/orders", "", {{"Idempotency-Key", "shared-key"}});
  ASSERT_EQ(order.status, 201) << order.body;
  const int64_t id = user::parse(order).at("order_id").as_int64();
  EXPECT_EQ(bob.call("GET", "/api/orders/" + std::to_string(id)).status, 404);
  EXPECT_TRUE(user::parse(bob.call("GET", "/api/orders")).at("orders").as_array().empty());
  // Bob's PUT above wrote his own cart (product 5, qty 9): his order with the same key is his, not a
  // replay of Alice's.
  const auto bob_order = bob.call("POST", "/api/orders", "", {{"Idempotency-Key", "shared-key"}});
  ASSERT_EQ(bob_order.status, 201) << bob_order.body;
  EXPECT_EQ(bob_order.headers.find("Idempotent-Replayed"), "");
  const auto bob_view = user::parse(bob_order);
  EXPECT_NE(bob_view.at("order_id").as_int64(), id);
  EXPECT_EQ(bob_view.at("lines").at(0).at("qty").as_int64(), 9);
  EXPECT_EQ(user::parse(alice.call("GET", "/api/orders")).at("orders").as_array().size(), 1u);
  EXPECT_EQ(user::parse(alice.call("GET", "/api/orders/" + std::to_string(id))).at("order_id").as_int64(), id);
}

TEST_F(shop_security, sql_injection_attempts_on_every_parameter_change_nothing) {
  const std::vector<std::string> payloads = {
      "' OR '1'='1",
      "1 OR 1=1",
      "1; DROP TABLE products; --",
      "\" OR \"\"=\"",
      "') OR ('a'='a",
      "1 UNION SELECT token, user_id, expires_at FROM sessions --",
      "%' --",
      "\\'; DELETE FROM users; --",
      "NEAR(a b) OR title:*",  // FTS5 syntax
      std::string("x\0y", 3),
  };
  user attacker(port());
  attacker.sign_up(unique_email());
  const auto products_before = attacker.call("GET", "/api/products?size=100").body;
  std::set<int> statuses;
  auto expect_no_leak = [&](const http::client_response& r, std::string_view where) {
    statuses.insert(r.status);
    EXPECT_LT(r.status, 500) << where << ": " << r.body;
    EXPECT_EQ(r.body.find("expires_at\":"), std::string::npos) << where;  // no session rows
    EXPECT_EQ(r.body.find("password"), std::string::npos) << where;
  };
  for (const auto& p : payloads) {
    SCOPED_TRACE(p);
    const std::string q = url_encode(p);
    for (const std::string& target :
         {"/api/products?q=" + q, "/api/products?category=" + q, "/api/products?page=" + q,
          "/api/products?size=" + q, "/api/products/" + q, "/api/orders/" + q, "/api/flash-sales/" + q}) {
      expect_no_leak(attacker.call("GET", target), target);
    }
    expect_no_leak(attacker.call("POST", "/api/flash-sales/" + q + "/purchase", "{}"), "purchase");
    expect_no_leak(attacker.call("PUT", "/api/cart/items/" + q, R"({"qty":1})"), "PUT cart item");
    expect_no_leak(attacker.call("DELETE", "/api/cart/items/" + q), "DELETE cart item");
    expect_no_leak(attacker.call("POST", "/api/cart/items", "{\"product_id\":" + json_string(p) + ",\"qty\":1}"),
                   "cart product_id");
    expect_no_leak(attacker.call("POST", "/api/cart/items", "{\"product_id\":1,\"qty\":" + json_string(p) + "}"),
                   "cart qty");
    // Login with an injected email or password never succeeds.
    const auto by_email = attacker.call("POST", "/api/sessions", "{\"email\":" + json_string(p) + ",\"password\":\"x\"}");
    EXPECT_TRUE(by_email.status == 400 || by_email.status == 401) << by_email.status;
    const auto by_password = attacker.call(
        "POST", "/api/sessions", "{\"email\":\"customer1@shop.test\",\"password\":" + json_string(p) + "}");
    EXPECT_EQ(by_password.status, 401);
    // Stored values are stored literally (and come back as they were sent).
    const auto created = attacker.call(
        "POST", "/api/users",
        "{\"email\":" + json_string("inj" + std::to_string(++counter_) + "@x.test") + ",\"password\":" +
            json_string(p + "-long-enough") + ",\"name\":" + json_string(p) + "}");
    expect_no_leak(created, "sign-up");
    if (created.status == 201) {
      EXPECT_EQ(user::parse(created).at("name").as_string(), p);
    }
    expect_no_leak(attacker.call("POST", "/api/users",
                                 "{\"email\":" + json_string(p) + ",\"password\":\"password123\",\"name\":\"n\"}"),
                   "sign-up email");
    // Idempotency keys and search terms are data, not SQL.
    const auto search = attacker.call("GET", "/api/products?q=" + q);
    EXPECT_TRUE(search.status == 200 || search.status == 400) << search.status;
  }
  ASSERT_EQ(attacker.call("POST", "/api/cart/items", R"({"product_id":3,"qty":1})").status, 200);
  const auto ordered = attacker.call("POST", "/api/orders", "", {{"Idempotency-Key", "';DROP-TABLE-orders;--"}});
  ASSERT_EQ(ordered.status, 201) << ordered.body;
  const auto replay = attacker.call("POST", "/api/orders", "", {{"Idempotency-Key", "';DROP-TABLE-orders;--"}});
  EXPECT_EQ(replay.headers.find("Idempotent-Replayed"), "true");
  // Nothing changed: the catalogue is intact, seeded customers still log in, orders still work.
  EXPECT_EQ(attacker.call("GET", "/api/products?size=100").body, products_before);
  EXPECT_EQ(user::parse(attacker.call("GET", "/api/categories")).at("categories").as_array().size(), 24u);
  user customer(port());
  EXPECT_EQ(customer.call("POST", "/api/sessions", R"({"email":"customer1@shop.test","password":"stampede"})").status, 200);
  EXPECT_EQ(statuses.count(500), 0u);
}

TEST_F(shop_security, session_tokens_have_256_bits_of_randomness_safe_cookies_and_an_expiry) {
  user u(port());
  const std::string email = unique_email();
  u.sign_up(email);
  std::set<std::string> tokens;
  std::set<char> alphabet;
  for (int i = 0; i < 32; ++i) {
    const auto r = u.call("POST", "/api/sessions", R"({"email":")" + email + R"(","password":"password123"})");
    ASSERT_EQ(r.status, 200);
    const auto v = user::parse(r);
    const std::string token(v.at("token").as_string());
    ASSERT_EQ(token.size(), 64u);  // 32 random bytes, hex
    for (char c : token) {
      ASSERT_TRUE(std::isxdigit(static_cast<unsigned char>(c)));
      alphabet.insert(c);
    }
    tokens.insert(token);
    const int64_t expires = v.at("expires_at").to_number<int64_t>();
    EXPECT_GT(expires, unix_ms() + 23 * 3600 * 1000);  // default TTL: 24 h
    EXPECT_LE(expires, unix_ms() + 24 * 3600 * 1000 + 1000);
    const std::string cookie(r.headers.find("Set-Cookie"));
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("SameSite="), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("Max-Age="), std::string::npos) << cookie;
  }
  EXPECT_EQ(tokens.size(), 32u);     // never repeated
  EXPECT_EQ(alphabet.size(), 16u);   // every hex digit used: not a counter or a timestamp
  std::set<std::string> prefixes;
  for (const auto& t : tokens) prefixes.insert(t.substr(0, 8));
  EXPECT_EQ(prefixes.size(), 32u);

  // A node with a short TTL: the session stops working once it expires.
  auto o = options("short-ttl");
  o.session_ttl = 700ms;
  node short_lived(o);
  short_lived.start();
  user s(short_lived.port());
  s.sign_up(unique_email());
  EXPECT_EQ(s.call("GET", "/api/cart").status, 200);
  EXPECT_TRUE(testing::eventually([&] { return s.call("GET", "/api/cart").status == 401; }, 5s));
}

TEST_F(shop_security, admin_endpoints_need_the_admin_token_and_refuse_browsers) {
  user u(port());
  u.sign_up(unique_email());  // a valid user session is not an admin token
  const std::string wrong_same_length(std::string(admin_token).size(), 'x');
  const std::vector<std::tuple<std::string, std::string, std::string>> endpoints = {
      {"GET", "/api/admin/audit", ""},
      {"POST", "/api/admin/reset", R"({"scale":1})"},
      {"POST", "/api/admin/flash-sales", R"({"product_id":2,"stock":5,"price":100,"per_user_limit":1,"starts_at":0})"}};
  user anonymous(port());
  for (const auto& [method, target, body] : endpoints) {
    SCOPED_TRACE(method + " " + target);
    EXPECT_EQ(anonymous.call(method, target, body).status, 403);
    EXPECT_EQ(u.call(method, target, body).status, 403);
    EXPECT_EQ(anonymous.call(method, target, body, {{"Authorization", "Bearer " + wrong_same_length}}).status, 403);
    EXPECT_EQ(anonymous.call(method, target, body, {{"Authorization", std::string("Bearer ") + admin_token + "x"}}).status,
              403);
    EXPECT_EQ(anonymous.call(method, target, body, {{"Cookie", std::string("sid=") + admin_token}}).status, 403);
    // A browser carrying the right token is still refused (CSRF guard, as Toxiproxy).
    EXPECT_EQ(anonymous
                  .call(method, target, body,
                        {{"Authorization", std::string("Bearer ") + admin_token},
                         {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"}})
                  .status,
              403);
  }
  EXPECT_EQ(anonymous.call("GET", "/api/admin/audit", "", {{"Authorization", std::string("Bearer ") + admin_token}}).status,
            200);
  // No CORS grant anywhere: a browser page on another origin cannot read API answers.
  const auto preflight = anonymous.call("OPTIONS", "/api/admin/audit", "", {{"Origin", "http://evil.test"}});
  EXPECT_EQ(preflight.headers.find("Access-Control-Allow-Origin"), "");

  // A node without an admin token refuses every admin request, whatever it carries.
  auto o = options("no-admin");
  o.admin_token.clear();
  node closed(o);
  closed.start();
  user c(closed.port());
  EXPECT_EQ(c.call("GET", "/api/admin/audit").status, 403);
  EXPECT_EQ(c.call("GET", "/api/admin/audit", "", {{"Authorization", "Bearer "}}).status, 403);
  EXPECT_EQ(c.call("GET", "/api/admin/audit", "", {{"Authorization", "Bearer  "}}).status, 403);
}

TEST_F(shop_security, rate_limits_hold_and_cannot_be_dodged_with_x_forwarded_for) {
  auto o = options("rate-limited");
  o.rate_per_client = {.rate = 2, .burst = 5};
  node limited(o);
  limited.start();
  user c(limited.port());
  int allowed = 0, limited_count = 0;
  for (int i = 0; i < 20; ++i) {
    // A client forging X-Forwarded-For; the last line is what HAProxy appends (its view of the peer).
    const auto r = c.call("GET", "/api/categories", "",
                          {{"X-Forwarded-For", "198.51.100." + std::to_string(i)}, {"X-Forwarded-For", "10.1.1.1"}});
    if (r.status == 200) ++allowed;
    if (r.status == 429) {
      ++limited_count;
      EXPECT_FALSE(r.headers.find("Retry-After").empty());
      EXPECT_EQ(user::parse(r).at("error").as_string(), "rate_limited");
    }
  }
  EXPECT_LE(allowed, 7);  // the burst, plus what refills while the loop runs
  EXPECT_GE(limited_count, 13);
  // The same forgery inside one header ("forged, real") is also seen through.
  const auto combined = c.call("GET", "/api/categories", "", {{"X-Forwarded-For", "203.0.113.9, 10.1.1.1"}});
  EXPECT_EQ(combined.status, 429);
  // Another real client is not affected, and health checks are never limited.
  EXPECT_EQ(c.call("GET", "/api/categories", "", {{"X-Forwarded-For", "10.2.2.2"}}).status, 200);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.call("GET", "/healthz").status, 200);
}

}  // namespace
}  // namespace stampede::shop
