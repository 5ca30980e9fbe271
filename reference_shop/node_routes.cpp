// The shop API's route table and dispatch, the helpers every handler shares (session, admin token,
// cache), and the small handlers: probes, accounts, admin. The catalogue's handlers are in
// node_catalogue.cpp; the cart's, orders' and flash sales' in node_orders.cpp.
#include <boost/json.hpp>

#include "reference_shop/node.h"
#include "reference_shop/request_fields.h"
#include "reference_shop/seed.h"

namespace stampede::shop {

namespace json = boost::json;

const route_table<node::api_route>& node::routes() {
  // Where each runs: `hashes` on the hashing pool, `locks` (may wait on a row lock) on the database pool,
  // the rest on the server's threads (probes, metrics, and the catalogue, whose database loads the cache
  // already bounds).
  auto runs = [](http::response (node::*handle)(api_call&)) { return api_route{.handle = handle}; };
  auto hashes = [](http::response (node::*handle)(api_call&)) {
    return api_route{.handle = handle, .hashes_password = true};
  };
  auto locks = [](http::response (node::*handle)(api_call&)) {
    return api_route{.handle = handle, .waits_on_database = true};
  };
  static const route_table<api_route> table{{
      // Probes and metrics answer any method.
      {"*", "/healthz", runs(&node::healthz)},
      {"*", "/readyz", runs(&node::readyz)},
      {"*", "/metrics", runs(&node::metrics)},
      // Catalogue.
      {"GET", "/api/categories", runs(&node::categories)},
      {"GET", "/api/products/{id}", runs(&node::product)},
      {"GET", "/api/products", runs(&node::products)},
      {"GET", "/api/bestsellers", runs(&node::bestsellers)},
      // Users and sessions.
      {"POST", "/api/users", hashes(&node::register_user)},
      {"POST", "/api/sessions", hashes(&node::login)},
      {"DELETE", "/api/sessions", locks(&node::logout)},
      // Cart.
      {"GET", "/api/cart", locks(&node::cart)},
      {"POST", "/api/cart/items", locks(&node::add_cart_item)},
      {"PUT", "/api/cart/items/{id}", locks(&node::set_cart_item)},
      {"DELETE", "/api/cart/items/{id}", locks(&node::remove_cart_item)},
      // Orders.
      {"GET", "/api/orders", locks(&node::list_orders)},
      {"POST", "/api/orders", locks(&node::checkout)},
      {"GET", "/api/orders/{id}", locks(&node::get_order)},
      // Flash sales.
      {"GET", "/api/flash-sales/{id}", runs(&node::flash_sale)},
      {"POST", "/api/flash-sales/{id}/purchase", locks(&node::flash_purchase)},
      // Admin (Bearer admin token).
      {"GET", "/api/admin/audit", locks(&node::admin_audit)},
      {"POST", "/api/admin/reset", locks(&node::admin_reset)},
      {"POST", "/api/admin/flash-sales", locks(&node::admin_create_flash_sale)},
  }};
  return table;
}

const node::api_route* node::route_of(const http::request& request) {
  const auto match = routes().match(request.method, split_path(request.path()));
  return match.kind == route_table<api_route>::match_kind::found ? &match.matched->handler : nullptr;
}

// Registration and login hash a password (tens of ms and 64 MiB at the interactive cost); cart, orders,
// flash purchases and admin may wait on a row lock (a flash sale's one row, held until a flushed COMMIT).
bool node::offloaded(const http::request& request) {
  const api_route* route = route_of(request);
  return route != nullptr && (route->hashes_password || route->waits_on_database);
}

// `route` becomes the matched pattern (the metrics label), or stays "unmatched".
http::response node::dispatch(http::request& request, std::string& route,
                              std::chrono::steady_clock::time_point start, const http::responder* later) {
  const auto segments = split_path(request.path());
  // The rate limiter guards the API (unknown /api paths included), never the probes or admin endpoints.
  const bool api = !segments.empty() && segments[0] == "api";
  const bool admin = segments.size() >= 2 && segments[1] == "admin";
  if (api && !admin && limiter_.enabled()) {
    auto decision = limiter_.try_acquire(client_key(request), monotonic_seconds());
    if (!decision.allowed) {
      route = "rate_limited";
      ++rate_limited_;
      auto r = http::response::error(
          429, "rate_limited", decision.global ? "the shop is over its request budget" : "too many requests");
      r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_seconds));
      return r;
    }
  }
  const auto match = routes().match(request.method, segments);
  using kind = route_table<api_route>::match_kind;
  if (match.kind == kind::not_found) reject(404, "not_found", "no such endpoint");
  route = match.matched->pattern;
  if (match.kind == kind::method_not_allowed) {
    reject(405, "method_not_allowed", request.method + " is not allowed here");
  }
  api_call call{request, match.params, unix_millis(), start, later};
  return (this->*match.matched->handler.handle)(call);
}

int64_t node::session(const api_call& call) {
  const std::string token = session_token(call.request);
  if (token.empty()) reject(401, "unauthorized", "a session is required (sid cookie or Bearer token)");
  if (!valid_token(token)) reject(401, "unauthorized", "invalid session");
  auto user = store_->session_user(token, call.now);
  if (!user) reject(401, "unauthorized", "unknown or expired session");
  return *user;
}

void node::require_admin(const api_call& call) {
  // Browsers are refused on control endpoints whatever they carry, as Toxiproxy does (CSRF guard;
  // hardening fix, see SECURITY.md).
  if (call.request.header("User-Agent").starts_with("Mozilla/")) {
    reject(403, "forbidden", "browser requests are not allowed on admin endpoints");
  }
  if (!constant_time_equal(bearer(call.request), options_.admin_token)) {
    reject(403, "forbidden", "admin token required");
  }
}

read_cache::value node::cached(const std::string& key, const read_cache::loader& load) {
  if (!options_.cache_enabled) {
    auto v = load();
    return v ? std::make_shared<const std::string>(std::move(*v)) : nullptr;
  }
  return cache_->get_or_load(key, load);
}

// ---- probes ----

http::response node::healthz(api_call&) {
  return http::response::json(200, R"({"status":"ok","node":")" + options_.name + "\"}");
}

http::response node::readyz(api_call&) {
  if (draining_) return http::response::error(503, "draining", "node is shutting down");
  return http::response::json(200, R"({"status":"ready","node":")" + options_.name + "\"}");
}

http::response node::metrics(api_call&) {
  auto r = http::response::text(200, render_metrics());
  r.content_type = prometheus::content_type;
  return r;
}

// ---- users and sessions ----

http::response node::register_user(api_call& call) { return accounts_->register_user(call.request); }
http::response node::login(api_call& call) { return accounts_->login(call.request, call.now); }
http::response node::logout(api_call& call) { return accounts_->logout(call.request); }

// ---- admin ----

http::response node::admin_audit(api_call& call) {
  require_admin(call);
  auto audit = store_->audit();
  audit["node"] = options_.name;
  return json_response(200, audit);
}

http::response node::admin_reset(api_call& call) {
  require_admin(call);
  auto body = parse_body(call.request, true);
  const int64_t scale = body.contains("scale") ? int_field(body, "scale", 1, 1000) : 1;
  store_->reseed(scale, hash_password(seed_password, options_.kdf));
  refresh_generation(true);
  return json_response(200, json::object{{"scale", scale}, {"generation", generation_.load()}});
}

http::response node::admin_create_flash_sale(api_call& call) {
  require_admin(call);
  auto body = parse_body(call.request);
  const int64_t product_id = int_field(body, "product_id", 1, INT64_MAX);
  const int64_t stock = int_field(body, "stock", 0, 100'000'000);
  const int64_t price = int_field(body, "price", 0, 100'000'000);
  const int64_t limit = body.contains("per_user_limit") ? int_field(body, "per_user_limit", 1, 1000) : 1;
  const int64_t starts_at = body.contains("starts_at") ? int_field(body, "starts_at", 0, INT64_MAX) : 0;
  auto id = store_->create_flash_sale(product_id, stock, price, limit, starts_at);
  if (!id) reject(422, "unknown_product", "no product " + std::to_string(product_id));
  return json_response(201, json::object{{"id", *id}});
}

}  // namespace stampede::shop
