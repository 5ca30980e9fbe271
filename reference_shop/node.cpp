// Shop node. Concurrency model: common's http::server runs one io_context on N threads with a strand per
// connection; handlers are synchronous and use this thread's own SQLite connection, except registration and
// login, which run on the password-hashing pool (bounded; the excess is shed with 429). Background threads:
// that pool, the order pipeline's workers and a refresher that notices reseeds done by other nodes.
#include "reference_shop/node.h"

#include <sodium.h>

#include <boost/json.hpp>

#include <strings.h>

#include <algorithm>
#include <charconv>

#include "reference_shop/request_fields.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite_store.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

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

}  // namespace

node::node(node_options options)
    : options_(std::move(options)),
      cache_(options_.cache),
      limiter_(options_.rate_per_client, options_.rate_global),
      login_sources_(options_.login_per_source, bucket_spec{}) {
  auto db = std::make_unique<sqlite_store>(options_.db_path);
  db->migrate();
  if (options_.seed_scale > 0 && !db->seeded()) db->reseed(options_.seed_scale, hash_password(seed_password, options_.kdf));
  store_ = std::move(db);
  accounts_ = std::make_unique<accounts>(
      *store_, account_options{options_.kdf, options_.session_ttl, options_.login_failures_per_account});
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
  // Seeded with the start-up hash's duration, so the first burst is not admitted blind.
  kdf_pool_ = std::make_unique<work_pool>(options_.kdf_workers, options_.kdf_queue, options_.kdf_max_wait,
                                          accounts_->hash_duration());
  server_ = std::make_unique<http::server>(
      so, [this](http::request& r) { return handle(r); },
      [this](http::request& r, http::responder reply) { serve_hashing(r, std::move(reply)); },
      [](const http::request& r) { return hashes_password(r); });
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
  if (kdf_pool_) kdf_pool_->stop();  // after the server: requests it let finish may still be in the pool
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

// Registration and login hash a password (tens of ms and 64 MiB at the interactive cost).
bool node::hashes_password(const http::request& request) {
  if (request.method != "POST") return false;
  const auto parts = split_path(request.path());
  return parts.size() == 2 && parts[0] == "api" && (parts[1] == "sessions" || parts[1] == "users");
}

// Requests that hash go to the bounded pool, shed first per client address, then when the pool is full.
// Everything else (health checks included) is answered synchronously on the server's threads, which
// therefore never wait behind a hash.
void node::serve_hashing(http::request& request, http::responder reply) {
  const auto start = std::chrono::steady_clock::now();
  auto shed = [&](std::string_view error, std::string_view detail, int retry_after, const char* route) {
    auto r = http::response::error(429, error, detail);
    r.headers.emplace_back("Retry-After", std::to_string(retry_after));
    durations_.observe(route, request.method, 429, 0);
    reply(std::move(r));
  };
  if (login_sources_.enabled()) {
    auto decision = login_sources_.try_acquire(client_key(request), monotonic_seconds());
    if (!decision.allowed) {
      ++kdf_shed_source_;
      return shed("rate_limited", "too many logins and registrations from this address",
                  decision.retry_after_seconds, "login_rate_limited");
    }
  }
  // Come back when the tasks waiting now will have started (whole seconds, 1 to 30).
  auto retry_after = [this] {
    const auto drain = kdf_pool_->drain_time();
    return static_cast<int>(std::clamp<int64_t>((drain.count() + 999) / 1000, 1, 30));
  };
  auto task = [this, copy = request, reply, start, retry_after](bool run) mutable {
    if (run) return reply(handle_since(copy, start));
    ++kdf_shed_expired_;  // waited past --kdf-max-wait-ms: the CPU is slower than the estimate said
    auto r = http::response::error(429, "busy", "too many logins in progress, retry");
    r.headers.emplace_back("Retry-After", std::to_string(retry_after()));
    durations_.observe("login_shed", copy.method, 429,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    reply(std::move(r));
  };
  if (!kdf_pool_->try_submit(std::move(task))) {
    ++kdf_shed_busy_;
    return shed("busy", "too many logins in progress, retry", retry_after(), "login_shed");
  }
}

http::response node::handle(http::request& request) { return handle_since(request, std::chrono::steady_clock::now()); }

http::response node::handle_since(http::request& request, std::chrono::steady_clock::time_point start) {
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
    r.content_type = prometheus::content_type;
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
    const std::string token = session_token(request);
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
    return accounts_->register_user(request);
  }
  if (is({"api", "sessions"})) {
    route = "/api/sessions";
    allow({"POST", "DELETE"});
    return method == "POST" ? accounts_->login(request, now) : accounts_->logout(request);
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
  using prometheus::metric_type;
  prometheus::text_writer out;
  out.reserve(16 * 1024);
  durations_.render(out, "shop_http_request_duration_seconds", "HTTP request duration by route, method and status.");
  const auto cs = cache_.stats();
  out.family("shop_cache_requests_total", metric_type::counter, "Cache lookups by result.");
  out.sample("shop_cache_requests_total", {{"result", "hit"}}, cs.hits);
  out.sample("shop_cache_requests_total", {{"result", "negative_hit"}}, cs.negative_hits);
  out.sample("shop_cache_requests_total", {{"result", "miss"}}, cs.misses);
  out.family("shop_cache_loads_total", metric_type::counter, "Cache fills from the database.");
  out.sample("shop_cache_loads_total", {}, cs.loads);
  out.family("shop_cache_coalesced_total", metric_type::counter, "Misses that waited for a load in flight (single-flight).");
  out.sample("shop_cache_coalesced_total", {}, cs.coalesced);
  out.family("shop_cache_evictions_total", metric_type::counter, "Entries evicted by LRU.");
  out.sample("shop_cache_evictions_total", {}, cs.evictions);
  out.family("shop_cache_expirations_total", metric_type::counter, "Entries found expired.");
  out.sample("shop_cache_expirations_total", {}, cs.expirations);
  out.family("shop_cache_entries", metric_type::gauge, "Entries in the cache.");
  out.sample("shop_cache_entries", {}, cs.entries);
  out.family("shop_bloom_rejections_total", metric_type::counter, "Product lookups refused by the Bloom filter.");
  out.sample("shop_bloom_rejections_total", {}, bloom_rejections_.load());
  out.family("shop_rate_limited_total", metric_type::counter, "Requests refused with 429 by the rate limiter.");
  out.sample("shop_rate_limited_total", {}, rate_limited_.load());
  out.family("shop_flash_purchases_total", metric_type::counter, "Flash-sale purchase attempts by result.");
  out.sample("shop_flash_purchases_total", {{"result", "created"}}, flash_created_.load());
  out.sample("shop_flash_purchases_total", {{"result", "already_bought"}}, flash_already_.load());
  out.sample("shop_flash_purchases_total", {{"result", "sold_out"}}, flash_sold_out_.load());
  out.sample("shop_flash_purchases_total", {{"result", "shed"}}, flash_shed_.load());
  out.family("shop_checkouts_total", metric_type::counter, "Checkouts by result.");
  out.sample("shop_checkouts_total", {{"result", "created"}}, checkouts_created_.load());
  out.sample("shop_checkouts_total", {{"result", "replayed"}}, checkouts_replayed_.load());
  out.sample("shop_checkouts_total", {{"result", "out_of_stock"}}, checkouts_out_of_stock_.load());
  accounts_->render_metrics(out);
  out.family("shop_login_shed_total", metric_type::counter,
             "Logins and registrations refused with 429 before hashing, by reason.");
  out.sample("shop_login_shed_total", {{"reason", "busy"}}, kdf_shed_busy_.load());
  out.sample("shop_login_shed_total", {{"reason", "source_rate"}}, kdf_shed_source_.load());
  out.sample("shop_login_shed_total", {{"reason", "expired"}}, kdf_shed_expired_.load());
  if (kdf_pool_) {
    out.family("shop_password_hashing", metric_type::gauge, "Password hashes running and waiting on this node.");
    out.sample("shop_password_hashing", {{"state", "running"}}, kdf_pool_->running());
    out.sample("shop_password_hashing", {{"state", "waiting"}}, kdf_pool_->waiting());
  }
  if (pipeline_) {
    const auto ps = pipeline_->stats();
    out.family("shop_payments_total", metric_type::counter, "Payment outcomes handled by this node's workers.");
    out.sample("shop_payments_total", {{"result", "captured"}}, ps.captured);
    out.sample("shop_payments_total", {{"result", "declined"}}, ps.declined);
    out.sample("shop_payments_total", {{"result", "retried"}}, ps.retries);
    out.sample("shop_payments_total", {{"result", "dead_lettered"}}, ps.dead_lettered);
    out.sample("shop_payments_total", {{"result", "refunded"}}, ps.refunds);
    out.sample("shop_payments_total", {{"result", "lease_lost"}}, ps.lease_lost);
  }
  write_database_gauges(out);
  if (server_) {
    const auto ss = server_->stats();
    out.family("shop_http_connections_active", metric_type::gauge, "Open client connections.");
    out.sample("shop_http_connections_active", {}, ss.connections_active);
    out.family("shop_http_bad_requests_total", metric_type::counter, "Malformed or oversized requests.");
    out.sample("shop_http_bad_requests_total", {}, ss.bad_requests);
  }
  return out.take();
}

// Gauges of the shared database. A busy database leaves them out: the metrics above are still worth
// serving. They are read before any family is written, so a failure leaves no family half written.
void node::write_database_gauges(prometheus::text_writer& out) {
  using prometheus::metric_type;
  store_gauges g;
  int64_t due = 0;
  try {
    g = store_->gauges();
    due = store_->outbox_due(unix_millis());
  } catch (const std::exception&) {
    return;
  }
  out.family("shop_orders", metric_type::gauge, "Orders by state (shared database).");
  for (const auto& [state, count] : g.orders_by_state) out.sample("shop_orders", {{"state", state}}, count);
  out.family("shop_outbox_messages", metric_type::gauge, "Order pipeline messages by state.");
  int64_t dead = 0;
  for (const auto& [state, count] : g.outbox_by_state) {
    out.sample("shop_outbox_messages", {{"state", state}}, count);
    if (state == "dead") dead = count;
  }
  out.family("shop_dead_letters", metric_type::gauge, "Messages in the dead-letter state.");
  out.sample("shop_dead_letters", {}, dead);
  out.family("shop_queue_depth", metric_type::gauge, "Messages due for a payment worker now.");
  out.sample("shop_queue_depth", {}, due);
  out.family("shop_stock_units", metric_type::gauge, "Units in stock over all products.");
  out.sample("shop_stock_units", {}, g.stock_units);
  out.family("shop_flash_remaining_units", metric_type::gauge, "Units left over all flash sales.");
  out.sample("shop_flash_remaining_units", {}, g.flash_remaining);
}

}  // namespace stampede::shop
