// Shop node. Concurrency model: common's http::server runs one io_context on N threads with a strand per
// connection; handlers are synchronous and use this thread's own SQLite connection. Background threads:
// the order pipeline's workers and a refresher that notices reseeds done by other nodes.
#include "reference_shop/node.h"

#include <sodium.h>

#include <boost/json.hpp>

#include <strings.h>

#include <charconv>

#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

// Bad input from the client: becomes a JSON 4xx.
struct bad_input {
  int status;
  std::string error;
  std::string detail;
};

[[noreturn]] void reject(int status, std::string error, std::string detail) {
  throw bad_input{status, std::move(error), std::move(detail)};
}

std::optional<int64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

int64_t require_id(std::string_view text, std::string_view what) {
  auto id = parse_id(text);
  if (!id) reject(400, "bad_request", std::string{what} + " must be a positive integer");
  return *id;
}

json::object parse_body(const http::request& request, bool allow_empty = false) {
  if (request.body.empty() && allow_empty) return {};
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 16;
  json::value value = json::parse(request.body, ec, {}, options);
  if (ec) reject(400, "bad_request", "malformed JSON: " + ec.message());
  if (!value.is_object()) reject(400, "bad_request", "the body must be a JSON object");
  return std::move(value.as_object());
}

int64_t int_field(const json::object& o, std::string_view name, int64_t min, int64_t max) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) reject(400, "bad_request", "missing field '" + std::string{name} + "'");
  int64_t value = 0;
  if (v->is_int64()) {
    value = v->as_int64();
  } else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(max)) {
    value = static_cast<int64_t>(v->as_uint64());
  } else {
    reject(400, "bad_request", "field '" + std::string{name} + "' must be an integer");
  }
  if (value < min || value > max) {
    reject(400, "bad_request",
           "field '" + std::string{name} + "' must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return value;
}

std::string string_field(const json::object& o, std::string_view name, size_t min, size_t max) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) reject(400, "bad_request", "missing field '" + std::string{name} + "'");
  if (!v->is_string()) reject(400, "bad_request", "field '" + std::string{name} + "' must be a string");
  const auto& s = v->as_string();
  if (s.size() < min || s.size() > max) {
    reject(400, "bad_request",
           "field '" + std::string{name} + "' must have " + std::to_string(min) + " to " + std::to_string(max) +
               " characters");
  }
  return std::string{s};
}

json::object product_json(const product& p) {
  return json::object{{"id", p.id},       {"category_id", p.category_id}, {"category", p.category},
                      {"title", p.title}, {"author", p.author},           {"description", p.description},
                      {"price", p.price}, {"stock", p.stock},             {"pub_date", p.pub_date}};
}

json::object order_json(const order& o) {
  json::array lines;
  for (const auto& l : o.lines) {
    lines.push_back(json::object{{"product_id", l.product_id}, {"qty", l.qty}, {"unit_price", l.unit_price}});
  }
  json::object out{{"order_id", o.id}, {"status", o.status}, {"total", o.total}, {"lines", std::move(lines)},
                   {"created_at", o.created_at}};
  if (o.flash_sale_id) out["flash_sale_id"] = *o.flash_sale_id;
  if (!o.failure.empty()) out["failure"] = o.failure;
  return out;
}

json::object cart_json(const std::vector<cart_line>& lines) {
  json::array items;
  int64_t total = 0;
  for (const auto& l : lines) {
    items.push_back(json::object{
        {"product_id", l.product_id}, {"title", l.title}, {"qty", l.qty}, {"unit_price", l.unit_price}});
    total += l.qty * l.unit_price;
  }
  return json::object{{"items", std::move(items)}, {"total", total}};
}

http::response json_response(int status, const json::object& body) {
  return http::response::json(status, json::serialize(body));
}

bool valid_token(std::string_view token) {
  if (token.size() != 64) return false;
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Segments of a path: "/api/products/7" -> {"api", "products", "7"}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string bearer(const http::request& request) {
  std::string_view auth = request.header("Authorization");
  if (auth.size() > 7 && (auth.substr(0, 7) == "Bearer " || auth.substr(0, 7) == "bearer ")) {
    return std::string{auth.substr(7)};
  }
  return {};
}

// The rate limiter's client identity. Only the right-most X-Forwarded-For value can be trusted: it is the
// one our HAProxy (`option forwardfor`) appended, as a last header line; everything left of it came from
// the client. (Hardening fix: the first value was used, so any client could dodge its per-client limit by
// sending a different X-Forwarded-For with every request.)
std::string client_key(const http::request& request) {
  std::string_view last;
  request.headers.for_each([&](std::string_view name, std::string_view value) {
    if (name.size() == 15 && strncasecmp(name.data(), "X-Forwarded-For", 15) == 0) last = value;
  });
  if (const size_t comma = last.rfind(','); comma != std::string_view::npos) last.remove_prefix(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  if (!last.empty()) return std::string{last};
  return request.remote_address;
}

}  // namespace

node::node(node_options options)
    : options_(std::move(options)),
      cache_(options_.cache),
      limiter_(options_.rate_per_client, options_.rate_global) {
  auto db = std::make_unique<sqlite_store>(options_.db_path);
  db->migrate();
  if (options_.seed_scale > 0 && !db->seeded()) db->reseed(options_.seed_scale, hash_password(seed_password, options_.kdf));
  store_ = std::move(db);
  refresh_generation(true);
  if (options_.pipeline_enabled) {
    pipeline_ = std::make_unique<order_pipeline>(*store_, options_.name, options_.pipeline);
  }
}

node::~node() { stop(); }

void node::start() {
  http::server_options so;
  so.address = options_.address;
  so.port = options_.port;
  so.threads = options_.threads;
  so.limits.max_body_bytes = 64 * 1024;
  server_ = std::make_unique<http::server>(so, [this](http::request& r) { return handle(r); });
  server_->start();
  if (pipeline_) pipeline_->start();
  refresher_ = std::thread([this] {
    std::unique_lock lock{refresher_mutex_};
    while (!refresher_cv_.wait_for(lock, options_.generation_poll, [this] { return stopping_; })) {
      lock.unlock();
      try {
        refresh_generation(false);
      } catch (const std::exception&) {
        // Busy database: try again next round.
      }
      lock.lock();
    }
  });
}

uint16_t node::port() const { return server_ ? server_->port() : 0; }

void node::drain() { draining_ = true; }

void node::stop() {
  {
    std::lock_guard lock{refresher_mutex_};
    if (stopping_) return;
    stopping_ = true;
  }
  refresher_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (server_) server_->stop();
  if (pipeline_) pipeline_->stop();
}

void node::refresh_generation(bool force) {
  const int64_t generation = store_->data_generation();
  if (!force && generation == generation_.load()) return;
  // New data set: drop everything cached from the old one and rebuild the Bloom filter of product ids.
  auto filter = std::make_shared<const bloom_filter>(store_->product_ids());
  {
    std::lock_guard lock{bloom_mutex_};
    bloom_ = std::move(filter);
  }
  cache_.clear();
  {
    std::lock_guard lock{sold_out_mutex_};
    sold_out_until_.clear();
  }
  generation_ = generation;
}

http::response node::handle(http::request& request) {
  const auto start = std::chrono::steady_clock::now();
  std::string route = "unmatched";
  http::response response;
  try {
    response = dispatch(request, route);
  } catch (const bad_input& e) {
    response = http::response::error(e.status, e.error, e.detail);
  } catch (const sqlite::error& e) {
    response = e.busy() ? http::response::error(503, "unavailable", "database busy, retry")
                        : http::response::error(500, "internal", "database error");
    if (e.busy()) response.headers.emplace_back("Retry-After", "1");
  } catch (const std::exception& e) {
    response = http::response::error(500, "internal", e.what());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  durations_.observe(route, request.method, response.status, seconds);
  return response;
}

http::response node::dispatch(http::request& request, std::string& route) {
  const auto parts = split_path(request.path());
  const std::string_view method = request.method;
  const size_t n = parts.size();
  auto is = [&](std::initializer_list<std::string_view> want) {
    if (want.size() != n) return false;
    size_t i = 0;
    for (auto w : want) {
      if (w != "*" && parts[i] != w) return false;
      ++i;
    }
    return true;
  };
  auto allow = [&](std::initializer_list<std::string_view> methods) {
    for (auto m : methods) {
      if (m == method) return;
    }
    reject(405, "method_not_allowed", std::string{method} + " is not allowed here");
  };

  if (is({"healthz"})) {
    route = "/healthz";
    return http::response::json(200, R"({"status":"ok","node":")" + options_.name + "\"}");
  }
  if (is({"readyz"})) {
    route = "/readyz";
    if (draining_) return http::response::error(503, "draining", "node is shutting down");
    return http::response::json(200, R"({"status":"ready","node":")" + options_.name + "\"}");
  }
  if (is({"metrics"})) {
    route = "/metrics";
    auto r = http::response::text(200, render_metrics());
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    return r;
  }
  if (n == 0 || parts[0] != "api") reject(404, "not_found", "no such endpoint");

  const bool admin = n >= 2 && parts[1] == "admin";
  if (!admin && limiter_.enabled()) {
    auto decision = limiter_.try_acquire(client_key(request), monotonic_seconds());
    if (!decision.allowed) {
      route = "rate_limited";
      ++rate_limited_;
      auto r = http::response::error(429, "rate_limited",
                                     decision.global ? "the shop is over its request budget" : "too many requests");
      r.headers.emplace_back("Retry-After", std::to_string(decision.retry_after_seconds));
      return r;
    }
  }
  const int64_t now = unix_millis();
  auto session = [&]() -> int64_t {
    std::string token = bearer(request);
    if (token.empty()) token = std::string{request.cookie("sid")};
    if (token.empty()) reject(401, "unauthorized", "a session is required (sid cookie or Bearer token)");
    if (!valid_token(token)) reject(401, "unauthorized", "invalid session");
    auto user = store_->session_user(token, now);
    if (!user) reject(401, "unauthorized", "unknown or expired session");
    return *user;
  };
  auto require_admin = [&] {
    // Browsers are refused on control endpoints whatever they carry, as Toxiproxy does (CSRF guard;
    // hardening fix, see SECURITY.md).
    if (request.header("User-Agent").starts_with("Mozilla/")) {
      reject(403, "forbidden", "browser requests are not allowed on admin endpoints");
    }
    if (!constant_time_equal(bearer(request), options_.admin_token)) {
      reject(403, "forbidden", "admin token required");
    }
  };
  auto cached = [&](const std::string& key, const response_cache::loader& load) -> response_cache::value {
    if (!options_.cache_enabled) {
      auto v = load();
      return v ? std::make_shared<const std::string>(std::move(*v)) : nullptr;
    }
    return cache_.get_or_load(key, load);
  };

  // ---- catalogue ----
  if (is({"api", "categories"})) {
    route = "/api/categories";
    allow({"GET"});
    auto body = cached("categories", [&]() -> std::optional<std::string> {
      json::array out;
      for (const auto& c : store_->categories()) {
        out.push_back(json::object{{"id", c.id}, {"name", c.name}, {"product_count", c.product_count}});
      }
      return json::serialize(json::object{{"categories", std::move(out)}});
    });
    return http::response::json(200, *body);
  }
  if (is({"api", "products", "*"})) {
    route = "/api/products/{id}";
    allow({"GET"});
    const int64_t id = require_id(parts[2], "product id");
    std::shared_ptr<const bloom_filter> filter;
    {
      std::lock_guard lock{bloom_mutex_};
      filter = bloom_;
    }
    if (filter && !filter->may_contain(id)) {
      ++bloom_rejections_;  // penetration guard: neither cache nor database is asked
      reject(404, "not_found", "no product " + std::to_string(id));
    }
    auto body = cached("p:" + std::string{parts[2]}, [&]() -> std::optional<std::string> {
      auto p = store_->find_product(id);
      if (!p) return std::nullopt;
      return json::serialize(product_json(*p));
    });
    if (!body) reject(404, "not_found", "no product " + std::to_string(id));
    return http::response::json(200, *body);
  }
  if (is({"api", "products"})) {
    route = "/api/products";
    allow({"GET"});
    product_query q;
    const std::string category = request.query_param("category");
    if (!category.empty()) q.category_id = require_id(category, "category");
    q.q = request.query_param("q");
    if (q.q.size() > 200) reject(400, "bad_request", "q is limited to 200 characters");
    const std::string page = request.query_param("page"), size = request.query_param("size");
    if (!page.empty()) q.page = require_id(page, "page");
    if (!size.empty()) q.size = require_id(size, "size");
    if (q.page > 100'000) reject(400, "bad_request", "page must be at most 100000");
    if (q.size > 100) reject(400, "bad_request", "size must be at most 100");
    const std::string key = "list:" + category + ":" + std::to_string(q.page) + ":" + std::to_string(q.size) + ":" + q.q;
    auto body = cached(key, [&]() -> std::optional<std::string> {
      auto result = store_->list_products(q);
      json::array items;
      for (const auto& p : result.items) items.push_back(product_json(p));
      return json::serialize(json::object{
          {"items", std::move(items)}, {"total", result.total}, {"page", q.page}, {"size", q.size}});
    });
    return http::response::json(200, *body);
  }
  if (is({"api", "bestsellers"})) {
    route = "/api/bestsellers";
    allow({"GET"});
    // Expensive aggregate: cached, and single-flight keeps a cold cache from running it N times at once.
    auto body = cached("bestsellers", [&]() -> std::optional<std::string> {
      json::array items;
      for (const auto& b : store_->bestsellers(3333, 50)) {
        items.push_back(json::object{{"product_id", b.product_id}, {"title", b.title}, {"units", b.units}});
      }
      return json::serialize(json::object{{"items", std::move(items)}, {"recent_orders", 3333}});
    });
    return http::response::json(200, *body);
  }

  // ---- users and sessions ----
  if (is({"api", "users"})) {
    route = "/api/users";
    allow({"POST"});
    auto body = parse_body(request);
    std::string email = string_field(body, "email", 3, 254);
    const std::string password = string_field(body, "password", 8, 256);
    const std::string name = string_field(body, "name", 1, 200);
    const size_t at = email.find('@');
    if (at == std::string::npos || at == 0 || at + 1 >= email.size() || email.find_first_of(" \t\r\n") != std::string::npos) {
      reject(400, "bad_request", "email is not an email address");
    }
    for (auto& c : email) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto id = store_->create_user(email, name, hash_password(password, options_.kdf));
    if (!id) reject(409, "email_taken", "an account with this email exists");
    return json_response(201, json::object{{"user_id", *id}, {"email", email}, {"name", name}});
  }
  if (is({"api", "sessions"})) {
    route = "/api/sessions";
    allow({"POST"});
    auto body = parse_body(request);
    std::string email = string_field(body, "email", 1, 254);
    const std::string password = string_field(body, "password", 1, 256);
    for (auto& c : email) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto user = store_->find_user_by_email(email);
    if (!user || !verify_password(user->password_hash, password)) {
      reject(401, "invalid_credentials", "wrong email or password");
    }
    const std::string token = random_token();
    const int64_t expires = now + options_.session_ttl.count();
    store_->create_session(token, user->id, expires);
    auto r = json_response(200, json::object{{"token", token}, {"user_id", user->id}, {"expires_at", expires}});
    r.headers.emplace_back("Set-Cookie", "sid=" + token + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                                             std::to_string(options_.session_ttl.count() / 1000));
    return r;
  }

  // ---- cart ----
  if (is({"api", "cart"})) {
    route = "/api/cart";
    allow({"GET"});
    return json_response(200, cart_json(store_->cart(session())));
  }
  if (is({"api", "cart", "items"})) {
    route = "/api/cart/items";
    allow({"POST"});
    const int64_t user = session();
    auto body = parse_body(request);
    const int64_t product_id = int_field(body, "product_id", 1, INT64_MAX);
    const int64_t qty = int_field(body, "qty", 1, 1000);
    if (store_->put_cart_item(user, product_id, qty, true) == cart_status::unknown_product) {
      reject(404, "not_found", "no product " + std::to_string(product_id));
    }
    return json_response(200, cart_json(store_->cart(user)));
  }
  if (is({"api", "cart", "items", "*"})) {
    route = "/api/cart/items/{id}";
    allow({"PUT", "DELETE"});
    const int64_t user = session();
    const int64_t product_id = require_id(parts[3], "product id");
    if (method == "DELETE") {
      if (store_->remove_cart_item(user, product_id) == cart_status::not_in_cart) {
        reject(404, "not_found", "product " + std::to_string(product_id) + " is not in the cart");
      }
    } else {
      auto body = parse_body(request);
      const int64_t qty = int_field(body, "qty", 0, 1000);
      if (qty == 0) {
        store_->remove_cart_item(user, product_id);
      } else if (store_->put_cart_item(user, product_id, qty, false) == cart_status::unknown_product) {
        reject(404, "not_found", "no product " + std::to_string(product_id));
      }
    }
    return json_response(200, cart_json(store_->cart(user)));
  }

  // ---- orders ----
  if (is({"api", "orders"})) {
    route = "/api/orders";
    allow({"GET", "POST"});
    const int64_t user = session();
    if (method == "GET") {
      json::array out;
      for (const auto& o : store_->list_orders(user, 50)) out.push_back(order_json(o));
      return json_response(200, json::object{{"orders", std::move(out)}});
    }
    const std::string_view key = request.header("Idempotency-Key");
    if (key.empty()) reject(400, "bad_request", "the Idempotency-Key header is required");
    if (key.size() > 255) reject(400, "bad_request", "Idempotency-Key is limited to 255 characters");
    for (char c : key) {
      if (c < 0x21 || c > 0x7e) reject(400, "bad_request", "Idempotency-Key must be visible ASCII");
    }
    auto body = parse_body(request, true);
    std::vector<line_request> items;
    std::string request_hash = "cart";
    if (const json::value* v = body.if_contains("items")) {
      if (!v->is_array()) reject(400, "bad_request", "field 'items' must be an array");
      const auto& array = v->as_array();
      if (array.empty() || array.size() > 100) reject(400, "bad_request", "'items' must have 1 to 100 entries");
      for (const auto& item : array) {
        if (!item.is_object()) reject(400, "bad_request", "each item must be an object");
        items.push_back(line_request{int_field(item.as_object(), "product_id", 1, INT64_MAX),
                                     int_field(item.as_object(), "qty", 1, 1000)});
      }
      auto sorted = items;
      std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.product_id < b.product_id; });
      request_hash = "items:";
      for (const auto& l : sorted) request_hash += std::to_string(l.product_id) + "x" + std::to_string(l.qty) + ",";
    }
    auto result = store_->checkout(user, key, request_hash, items, now);
    switch (result.status) {
      case checkout_status::created:
      case checkout_status::replayed: {
        const bool replay = result.status == checkout_status::replayed;
        ++(replay ? checkouts_replayed_ : checkouts_created_);
        if (!replay && pipeline_) pipeline_->notify();
        auto r = json_response(201, order_json(result.placed));
        if (replay) r.headers.emplace_back("Idempotent-Replayed", "true");
        return r;
      }
      case checkout_status::key_conflict:
        reject(422, "idempotency_key_reused", "this Idempotency-Key was used with a different request");
      case checkout_status::out_of_stock:
        ++checkouts_out_of_stock_;
        reject(409, "out_of_stock", "not enough stock for product " + std::to_string(result.product_id));
      case checkout_status::unknown_product:
        reject(422, "unknown_product", "no product " + std::to_string(result.product_id));
      case checkout_status::empty_cart:
        reject(422, "empty_cart", "the cart is empty and no items were given");
    }
    reject(500, "internal", "unexpected checkout result");
  }
  if (is({"api", "orders", "*"})) {
    route = "/api/orders/{id}";
    allow({"GET"});
    const int64_t user = session();
    const int64_t id = require_id(parts[2], "order id");
    auto o = store_->find_order(user, id);
    if (!o) reject(404, "not_found", "no order " + std::to_string(id));
    return json_response(200, order_json(*o));
  }

  // ---- flash sales ----
  if (is({"api", "flash-sales", "*"})) {
    route = "/api/flash-sales/{id}";
    allow({"GET"});
    const int64_t id = require_id(parts[2], "flash sale id");
    auto sale = store_->find_flash_sale(id);
    if (!sale) reject(404, "not_found", "no flash sale " + std::to_string(id));
    return json_response(200, json::object{{"id", sale->id},
                                           {"sku", sale->product_id},
                                           {"price", sale->price},
                                           {"stock", sale->stock},
                                           {"remaining", sale->remaining},
                                           {"per_user_limit", sale->per_user_limit},
                                           {"starts_at", sale->starts_at}});
  }
  if (is({"api", "flash-sales", "*", "purchase"})) {
    route = "/api/flash-sales/{id}/purchase";
    allow({"POST"});
    const int64_t id = require_id(parts[2], "flash sale id");
    const int64_t user = session();
    {
      // Sold-out short cut: after the store said "sold out", answer 410 without a write transaction for a
      // second (stock only comes back when a payment fails, and then within that second).
      std::lock_guard lock{sold_out_mutex_};
      auto it = sold_out_until_.find(id);
      if (it != sold_out_until_.end() && it->second > std::chrono::steady_clock::now()) {
        ++flash_sold_out_;
        reject(410, "sold_out", "flash sale " + std::to_string(id) + " is sold out");
      }
    }
    // Admission control: bound the purchases in progress on this node; shed the rest with 429.
    struct inflight_guard {
      std::atomic<int>& count;
      ~inflight_guard() { --count; }
    } guard{flash_inflight_};
    const int inflight = ++flash_inflight_;
    if (options_.flash_max_inflight > 0 && inflight > options_.flash_max_inflight) {
      ++flash_shed_;
      auto r = http::response::error(429, "overloaded", "too many purchases in progress, retry");
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    auto result = store_->flash_purchase(id, user, now);
    switch (result.status) {
      case purchase_status::created:
        ++flash_created_;
        if (pipeline_) pipeline_->notify();
        return json_response(201, json::object{{"order_id", result.order_id}});
      case purchase_status::already_bought:
        ++flash_already_;
        reject(409, "already_bought", "the per-user limit of this sale is reached");
      case purchase_status::sold_out: {
        ++flash_sold_out_;
        std::lock_guard lock{sold_out_mutex_};
        sold_out_until_[id] = std::chrono::steady_clock::now() + std::chrono::seconds{1};
        reject(410, "sold_out", "flash sale " + std::to_string(id) + " is sold out");
      }
      case purchase_status::not_started:
        reject(409, "not_started", "the flash sale has not started");
      case purchase_status::unknown_sale:
        reject(404, "not_found", "no flash sale " + std::to_string(id));
    }
    reject(500, "internal", "unexpected purchase result");
  }

  // ---- admin ----
  if (is({"api", "admin", "audit"})) {
    route = "/api/admin/audit";
    allow({"GET"});
    require_admin();
    auto audit = store_->audit();
    audit["node"] = options_.name;
    return json_response(200, audit);
  }
  if (is({"api", "admin", "reset"})) {
    route = "/api/admin/reset";
    allow({"POST"});
    require_admin();
    auto body = parse_body(request, true);
    const int64_t scale = body.contains("scale") ? int_field(body, "scale", 1, 1000) : 1;
    store_->reseed(scale, hash_password(seed_password, options_.kdf));
    refresh_generation(true);
    return json_response(200, json::object{{"scale", scale}, {"generation", generation_.load()}});
  }
  if (is({"api", "admin", "flash-sales"})) {
    route = "/api/admin/flash-sales";
    allow({"POST"});
    require_admin();
    auto body = parse_body(request);
    const int64_t product_id = int_field(body, "product_id", 1, INT64_MAX);
    const int64_t stock = int_field(body, "stock", 0, 100'000'000);
    const int64_t price = int_field(body, "price", 0, 100'000'000);
    const int64_t limit = body.contains("per_user_limit") ? int_field(body, "per_user_limit", 1, 1000) : 1;
    const int64_t starts_at = body.contains("starts_at") ? int_field(body, "starts_at", 0, INT64_MAX) : 0;
    auto id = store_->create_flash_sale(product_id, stock, price, limit, starts_at);
    if (!id) reject(422, "unknown_product", "no product " + std::to_string(product_id));
    return json_response(201, json::object{{"id", *id}});
  }
  reject(404, "not_found", "no such endpoint");
}

std::string node::render_metrics() {
  std::string out;
  out.reserve(16 * 1024);
  durations_.render(out, "shop_http_request_duration_seconds", "HTTP request duration by route, method and status.");
  const auto cs = cache_.stats();
  write_family_header(out, "shop_cache_requests_total", "counter", "Cache lookups by result.");
  write_sample(out, "shop_cache_requests_total", {{"result", "hit"}}, static_cast<double>(cs.hits));
  write_sample(out, "shop_cache_requests_total", {{"result", "negative_hit"}}, static_cast<double>(cs.negative_hits));
  write_sample(out, "shop_cache_requests_total", {{"result", "miss"}}, static_cast<double>(cs.misses));
  write_family_header(out, "shop_cache_loads_total", "counter", "Cache fills from the database.");
  write_sample(out, "shop_cache_loads_total", {}, static_cast<double>(cs.loads));
  write_family_header(out, "shop_cache_coalesced_total", "counter", "Misses that waited for a load in flight (single-flight).");
  write_sample(out, "shop_cache_coalesced_total", {}, static_cast<double>(cs.coalesced));
  write_family_header(out, "shop_cache_evictions_total", "counter", "Entries evicted by LRU.");
  write_sample(out, "shop_cache_evictions_total", {}, static_cast<double>(cs.evictions));
  write_family_header(out, "shop_cache_expirations_total", "counter", "Entries found expired.");
  write_sample(out, "shop_cache_expirations_total", {}, static_cast<double>(cs.expirations));
  write_family_header(out, "shop_cache_entries", "gauge", "Entries in the cache.");
  write_sample(out, "shop_cache_entries", {}, static_cast<double>(cs.entries));
  write_family_header(out, "shop_bloom_rejections_total", "counter", "Product lookups refused by the Bloom filter.");
  write_sample(out, "shop_bloom_rejections_total", {}, static_cast<double>(bloom_rejections_.load()));
  write_family_header(out, "shop_rate_limited_total", "counter", "Requests refused with 429 by the rate limiter.");
  write_sample(out, "shop_rate_limited_total", {}, static_cast<double>(rate_limited_.load()));
  write_family_header(out, "shop_flash_purchases_total", "counter", "Flash-sale purchase attempts by result.");
  write_sample(out, "shop_flash_purchases_total", {{"result", "created"}}, static_cast<double>(flash_created_.load()));
  write_sample(out, "shop_flash_purchases_total", {{"result", "already_bought"}}, static_cast<double>(flash_already_.load()));
  write_sample(out, "shop_flash_purchases_total", {{"result", "sold_out"}}, static_cast<double>(flash_sold_out_.load()));
  write_sample(out, "shop_flash_purchases_total", {{"result", "shed"}}, static_cast<double>(flash_shed_.load()));
  write_family_header(out, "shop_checkouts_total", "counter", "Checkouts by result.");
  write_sample(out, "shop_checkouts_total", {{"result", "created"}}, static_cast<double>(checkouts_created_.load()));
  write_sample(out, "shop_checkouts_total", {{"result", "replayed"}}, static_cast<double>(checkouts_replayed_.load()));
  write_sample(out, "shop_checkouts_total", {{"result", "out_of_stock"}}, static_cast<double>(checkouts_out_of_stock_.load()));
  if (pipeline_) {
    const auto ps = pipeline_->stats();
    write_family_header(out, "shop_payments_total", "counter", "Payment outcomes handled by this node's workers.");
    write_sample(out, "shop_payments_total", {{"result", "captured"}}, static_cast<double>(ps.captured));
    write_sample(out, "shop_payments_total", {{"result", "declined"}}, static_cast<double>(ps.declined));
    write_sample(out, "shop_payments_total", {{"result", "retried"}}, static_cast<double>(ps.retries));
    write_sample(out, "shop_payments_total", {{"result", "dead_lettered"}}, static_cast<double>(ps.dead_lettered));
    write_sample(out, "shop_payments_total", {{"result", "refunded"}}, static_cast<double>(ps.refunds));
    write_sample(out, "shop_payments_total", {{"result", "lease_lost"}}, static_cast<double>(ps.lease_lost));
  }
  try {
    const auto g = store_->gauges();
    write_family_header(out, "shop_orders", "gauge", "Orders by state (shared database).");
    for (const auto& [state, count] : g.orders_by_state) {
      write_sample(out, "shop_orders", {{"state", state}}, static_cast<double>(count));
    }
    write_family_header(out, "shop_outbox_messages", "gauge", "Order pipeline messages by state.");
    int64_t dead = 0;
    for (const auto& [state, count] : g.outbox_by_state) {
      write_sample(out, "shop_outbox_messages", {{"state", state}}, static_cast<double>(count));
      if (state == "dead") dead = count;
    }
    write_family_header(out, "shop_dead_letters", "gauge", "Messages in the dead-letter state.");
    write_sample(out, "shop_dead_letters", {}, static_cast<double>(dead));
    write_family_header(out, "shop_queue_depth", "gauge", "Messages due for a payment worker now.");
    write_sample(out, "shop_queue_depth", {}, static_cast<double>(store_->outbox_due(unix_millis())));
    write_family_header(out, "shop_stock_units", "gauge", "Units in stock over all products.");
    write_sample(out, "shop_stock_units", {}, static_cast<double>(g.stock_units));
    write_family_header(out, "shop_flash_remaining_units", "gauge", "Units left over all flash sales.");
    write_sample(out, "shop_flash_remaining_units", {}, static_cast<double>(g.flash_remaining));
  } catch (const std::exception&) {
    // Database busy: the request metrics above are still worth serving.
  }
  if (server_) {
    const auto ss = server_->stats();
    write_family_header(out, "shop_http_connections_active", "gauge", "Open client connections.");
    write_sample(out, "shop_http_connections_active", {}, static_cast<double>(ss.connections_active));
    write_family_header(out, "shop_http_bad_requests_total", "counter", "Malformed or oversized requests.");
    write_sample(out, "shop_http_bad_requests_total", {}, static_cast<double>(ss.bad_requests));
  }
  return out;
}

}  // namespace stampede::shop
