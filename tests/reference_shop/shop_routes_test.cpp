// The shop API's route table: the generic matcher (reference_shop/route_table.h) on known answers, and
// the node's own table through node::handle in-process: unknown paths 404, a known path with another
// method 405 (as the if-chain it replaced answered: JSON error, no Allow header), pattern parameters
// reach the handlers, and the matched pattern is the metrics label.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <iterator>
#include <set>
#include <string>

#include "reference_shop/node.h"
#include "reference_shop/route_table.h"
#include "tests/reference_shop/shop_test_support.h"

namespace stampede::shop {
namespace {

namespace json = boost::json;
using table = route_table<int>;

std::vector<std::string_view> path(std::string_view p) { return split_path(p); }

// A path the pattern matches: every parameter "{...}" replaced by "1".
std::string concrete(std::string_view pattern) {
  std::string out{pattern};
  for (size_t open = out.find('{'); open != std::string::npos; open = out.find('{')) {
    out.replace(open, out.find('}', open) - open + 1, "1");
  }
  return out;
}

TEST(route_table, matches_method_and_pattern_and_extracts_parameters) {
  const table t{{
      {"GET", "/items", 1},
      {"POST", "/items", 2},
      {"GET", "/items/{id}", 3},
      {"DELETE", "/items/{id}", 4},
      {"POST", "/items/{id}/parts/{part}", 5},
      {"*", "/health", 6},
  }};
  auto m = t.match("POST", path("/items"));
  ASSERT_EQ(m.kind, table::match_kind::found);
  EXPECT_EQ(m.matched->handler, 2);
  EXPECT_EQ(m.matched->pattern, "/items");
  EXPECT_EQ(m.params.size(), 0u);

  m = t.match("GET", path("/items/42"));
  ASSERT_EQ(m.kind, table::match_kind::found);
  EXPECT_EQ(m.matched->handler, 3);
  EXPECT_EQ(m.params["id"], "42");

  m = t.match("POST", path("//items/7/parts/wheel/"));  // empty segments are dropped, as split_path does
  ASSERT_EQ(m.kind, table::match_kind::found);
  EXPECT_EQ(m.matched->handler, 5);
  EXPECT_EQ(m.params["id"], "7");
  EXPECT_EQ(m.params["part"], "wheel");

  for (const char* method : {"GET", "POST", "BREW"}) {
    m = t.match(method, path("/health"));
    ASSERT_EQ(m.kind, table::match_kind::found) << method;
    EXPECT_EQ(m.matched->handler, 6);
  }
}

TEST(route_table, unknown_paths_are_not_found_and_other_methods_not_allowed) {
  const table t{{{"GET", "/items", 1}, {"POST", "/items", 2}, {"GET", "/items/{id}", 3}}};
  for (const char* p : {"/", "/item", "/items/1/2", "/itemsx", "/x/items"}) {
    const auto m = t.match("GET", path(p));
    EXPECT_EQ(m.kind, table::match_kind::not_found) << p;
    EXPECT_EQ(m.matched, nullptr) << p;
  }
  auto m = t.match("DELETE", path("/items"));
  ASSERT_EQ(m.kind, table::match_kind::method_not_allowed);
  EXPECT_EQ(m.matched->pattern, "/items");
  EXPECT_EQ(m.allowed, "GET, POST");
  m = t.match("get", path("/items"));  // methods are case-sensitive (RFC 9110)
  EXPECT_EQ(m.kind, table::match_kind::method_not_allowed);
  m = t.match("PUT", path("/items/9"));
  ASSERT_EQ(m.kind, table::match_kind::method_not_allowed);
  EXPECT_EQ(m.matched->pattern, "/items/{id}");
  EXPECT_EQ(m.allowed, "GET");
}

TEST(route_table, the_first_matching_route_wins) {
  const table t{{{"GET", "/a/{x}", 1}, {"GET", "/a/b", 2}}};
  const auto m = t.match("GET", path("/a/b"));
  ASSERT_EQ(m.kind, table::match_kind::found);
  EXPECT_EQ(m.matched->handler, 1);
  EXPECT_EQ(m.params["x"], "b");
}

// The node's table, through node::handle (no sockets: the routing is what is under test).
class node_routes : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::temp_dir;
    node_options o;
    o.name = "routes-node";
    o.db_path = dir_->file("shop.db");
    o.admin_token = "routes-admin-token";
    o.kdf = kdf_cost::minimal;
    o.seed_scale = 1;
    node_ = new node(o);
  }
  static void TearDownTestSuite() {
    delete node_;
    delete dir_;
  }
  static http::response call(std::string method, std::string target, std::string body = {},
                             std::string headers = {}) {
    http::request r;
    r.method = std::move(method);
    r.target = std::move(target);
    r.body = std::move(body);
    r.headers.raw = std::move(headers);
    r.remote_address = "127.0.0.1";
    return node_->handle(r);
  }
  static std::string error_of(const http::response& r) {
    boost::system::error_code ec;
    const auto v = json::parse(r.body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("error")) return "<no JSON error>";
    return std::string{v.at("error").as_string()};
  }
  static bool has_header(const http::response& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return true;
    }
    return false;
  }

  static inline testing::temp_dir* dir_ = nullptr;
  static inline node* node_ = nullptr;
};

TEST_F(node_routes, unknown_paths_answer_404_no_such_endpoint) {
  for (const char* target : {"/", "/nope", "/api", "/api/nope", "/api/products/1/x", "/api/admin/nope",
                             "/healthz/x", "/API/categories"}) {
    const auto r = call("GET", target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(error_of(r), "not_found") << target;
    EXPECT_NE(r.body.find("no such endpoint"), std::string::npos) << target << ": " << r.body;
  }
}

TEST_F(node_routes, known_paths_with_another_method_answer_405_without_allow) {
  const std::set<std::string_view> methods{"GET", "POST", "PUT", "DELETE", "PATCH"};
  size_t checked = 0;
  for (const auto& route : node::routes().routes()) {
    if (route.method == "*") continue;
    const std::string target = concrete(route.pattern);
    for (std::string_view method : methods) {
      const auto match = node::routes().match(method, split_path(target));
      if (match.kind == route_table<node::api_route>::match_kind::found) continue;
      const auto r = call(std::string{method}, target);
      EXPECT_EQ(r.status, 405) << method << " " << target;
      EXPECT_EQ(error_of(r), "method_not_allowed") << method << " " << target;
      EXPECT_NE(r.body.find(std::string{method} + " is not allowed here"), std::string::npos) << r.body;
      EXPECT_FALSE(has_header(r, "Allow")) << "the shop never sent Allow; the table keeps that";
      ++checked;
    }
  }
  EXPECT_GT(checked, 40u);
}

TEST_F(node_routes, every_route_reaches_its_handler) {
  // Each row answered by its handler: never the router's 404 "no such endpoint" or 405.
  for (const auto& route : node::routes().routes()) {
    const std::string target = concrete(route.pattern);
    const std::string method = route.method == "*" ? "GET" : std::string{route.method};
    const auto r = call(method, target, "{}", "Content-Type: application/json\r\n");
    EXPECT_NE(r.status, 405) << method << " " << target;
    if (r.status == 404) {
      EXPECT_EQ(r.body.find("no such endpoint"), std::string::npos) << method << " " << target;
    }
  }
}

TEST_F(node_routes, pattern_parameters_reach_the_handlers) {
  auto r = call("GET", "/api/products/42");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("id").as_int64(), 42);
  r = call("GET", "/api/products/abc");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("product id"), std::string::npos) << r.body;
  r = call("GET", "/api/flash-sales/777");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("no flash sale 777"), std::string::npos) << r.body;
  r = call("POST", "/api/flash-sales/x/purchase");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("flash sale id"), std::string::npos) << r.body;
}

TEST(node_route_table, every_route_is_documented_in_shop_md) {
  std::ifstream in{std::string{STAMPEDE_SOURCE_DIR} + "/docs/SHOP.md"};
  ASSERT_TRUE(in) << "docs/SHOP.md not found";
  const std::string doc{std::istreambuf_iterator<char>{in}, {}};
  for (const auto& route : node::routes().routes()) {
    const std::string method = route.method == "*" ? "GET" : std::string{route.method};
    const std::string row = method + " " + std::string{route.pattern};
    EXPECT_NE(doc.find(row), std::string::npos) << row << " is missing from the API table of docs/SHOP.md";
  }
}

TEST_F(node_routes, hashing_routes_are_marked_in_the_table) {
  std::set<std::string> hashing;
  for (const auto& route : node::routes().routes()) {
    if (route.handler.hashes_password)
      hashing.insert(std::string{route.method} + " " + std::string{route.pattern});
  }
  EXPECT_EQ(hashing, (std::set<std::string>{"POST /api/sessions", "POST /api/users"}));
}

TEST_F(node_routes, the_matched_pattern_is_the_metrics_label) {
  call("GET", "/api/products/7");
  call("PATCH", "/api/orders/3");
  call("GET", "/api/definitely-not");
  const auto m = call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  for (const char* series : {"route=\"/api/products/{id}\",method=\"GET\",status=\"200\"",
                             "route=\"/api/orders/{id}\",method=\"PATCH\",status=\"405\"",
                             "route=\"unmatched\",method=\"GET\",status=\"404\""}) {
    EXPECT_NE(m.body.find(series), std::string::npos) << series;
  }
  EXPECT_EQ(m.body.find("/api/products/7"), std::string::npos) << "raw paths never become labels";
}

}  // namespace
}  // namespace stampede::shop
