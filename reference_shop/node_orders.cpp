// The shop API's writes: the cart, orders (checkout with an Idempotency-Key) and flash sales (admission
// control and a sold-out short cut in front of the store's transaction).
#include <algorithm>
#include <boost/json.hpp>

#include "reference_shop/node.h"
#include "reference_shop/request_fields.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

json::object order_json(const order& o) {
  json::array lines;
  for (const auto& l : o.lines) {
    lines.push_back(json::object{{"product_id", l.product_id}, {"qty", l.qty}, {"unit_price", l.unit_price}});
  }
  json::object out{{"order_id", o.id},
                   {"status", o.status},
                   {"total", o.total},
                   {"lines", std::move(lines)},
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

// The Idempotency-Key of a checkout: required, at most 255 visible ASCII characters.
std::string_view idempotency_key(const http::request& request) {
  const std::string_view key = request.header("Idempotency-Key");
  if (key.empty()) reject(400, "bad_request", "the Idempotency-Key header is required");
  if (key.size() > 255) reject(400, "bad_request", "Idempotency-Key is limited to 255 characters");
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) reject(400, "bad_request", "Idempotency-Key must be visible ASCII");
  }
  return key;
}

}  // namespace

// ---- cart ----

http::response node::cart(api_call& call) {
  return json_response(200, cart_json(store_->cart(session(call))));
}

http::response node::add_cart_item(api_call& call) {
  const int64_t user = session(call);
  auto body = parse_body(call.request);
  const int64_t product_id = int_field(body, "product_id", 1, INT64_MAX);
  const int64_t qty = int_field(body, "qty", 1, 1000);
  if (store_->put_cart_item(user, product_id, qty, true) == cart_status::unknown_product) {
    reject(404, "not_found", "no product " + std::to_string(product_id));
  }
  return json_response(200, cart_json(store_->cart(user)));
}

// PUT sets the quantity (0 removes the line).
http::response node::set_cart_item(api_call& call) {
  const int64_t user = session(call);
  const int64_t product_id = require_id(call.params["id"], "product id");
  auto body = parse_body(call.request);
  const int64_t qty = int_field(body, "qty", 0, 1000);
  if (qty == 0) {
    store_->remove_cart_item(user, product_id);
  } else if (store_->put_cart_item(user, product_id, qty, false) == cart_status::unknown_product) {
    reject(404, "not_found", "no product " + std::to_string(product_id));
  }
  return json_response(200, cart_json(store_->cart(user)));
}

http::response node::remove_cart_item(api_call& call) {
  const int64_t user = session(call);
  const int64_t product_id = require_id(call.params["id"], "product id");
  if (store_->remove_cart_item(user, product_id) == cart_status::not_in_cart) {
    reject(404, "not_found", "product " + std::to_string(product_id) + " is not in the cart");
  }
  return json_response(200, cart_json(store_->cart(user)));
}

// ---- orders ----

// A customer's orders tolerate staleness (replica_reads.h says why these reads and no others).
store& node::order_reads(const api_call& call) {
  const auto& r = options_.replica_reads;
  if (!replica_store_ || read_from_primary(r.mode, last_write_of(call.request), call.now, r.pin)) {
    ++order_reads_primary_;
    return *store_;
  }
  ++order_reads_replica_;
  return *replica_store_;
}

// read-your-writes: the client's next order reads go to the primary for the pin window.
// read-your-writes-lsn: they wait for a replica that has replayed the primary's WAL position after the write.
void node::mark_write(const api_call& call, http::response& response) const {
  mark_write(call.now, response);
}

void node::mark_write(int64_t now, http::response& response) const {
  if (options_.replica_reads.mode == replica_read_mode::read_your_writes_lsn) {
    // The position after this write's commit (an upper bound of its commit record's end). A store without
    // one (or a failure to ask) leaves the client's previous cookie: its reads are then as with `on`.
    try {
      if (const auto lsn = store_->wal_position()) {
        response.headers.emplace_back("Set-Cookie", last_write_lsn_set_cookie(*lsn));
      }
    } catch (const store_unavailable&) {
    }
    return;
  }
  if (options_.replica_reads.mode != replica_read_mode::read_your_writes) return;
  response.headers.emplace_back("Set-Cookie", last_write_set_cookie(now, options_.replica_reads.pin));
}

// read-your-writes-lsn with a `last_write_lsn` cookie: `replayed(store, lsn)` on the replica (nullopt: not
// there within the bound), else `read(primary)`; counted where it was read.
template <class T>
T node::read_after_lsn(const api_call& call,
                       const std::function<std::optional<T>(store&, std::string_view)>& replayed,
                       const std::function<T(store&)>& read) {
  const auto& r = options_.replica_reads;
  const auto lsn = r.mode == replica_read_mode::read_your_writes_lsn && replica_store_
                       ? last_write_lsn_of(call.request)
                       : std::nullopt;
  if (!lsn) return read(order_reads(call));
  if (auto v = replayed(*replica_store_, *lsn)) {
    ++order_reads_replica_;
    return std::move(*v);
  }
  ++order_reads_primary_;
  ++order_reads_lsn_fallback_;
  return read(*store_);
}

http::response node::list_orders(api_call& call) {
  const int64_t user = session(call);
  const auto wait = options_.replica_reads.lsn_wait;
  const auto orders = read_after_lsn<std::vector<order>>(
      call, [&](store& s, std::string_view lsn) { return s.list_orders_replayed(user, 50, lsn, wait); },
      [&](store& s) { return s.list_orders(user, 50); });
  json::array out;
  for (const auto& o : orders) out.push_back(order_json(o));
  return json_response(200, json::object{{"orders", std::move(out)}});
}

// Checks out the given items, or the cart when none are given. A retry with the same Idempotency-Key
// and request replays the order; the same key with another request is refused.
http::response node::checkout(api_call& call) {
  const int64_t user = session(call);
  const std::string_view key = idempotency_key(call.request);
  auto body = parse_body(call.request, true);
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
    for (const auto& l : sorted)
      request_hash += std::to_string(l.product_id) + "x" + std::to_string(l.qty) + ",";
  }
  auto result = store_->checkout(user, key, request_hash, items, call.now);
  switch (result.status) {
    case checkout_status::created:
    case checkout_status::replayed: {
      const bool replay = result.status == checkout_status::replayed;
      ++(replay ? checkouts_replayed_ : checkouts_created_);
      if (!replay && pipeline_) pipeline_->notify();
      if (!replay && options_.cache_enabled) {
        // The product pages show the stock this checkout just took.
        for (const auto& l : result.placed.lines) cache_->invalidate("p:" + std::to_string(l.product_id));
      }
      auto r = json_response(201, order_json(result.placed));
      if (replay) r.headers.emplace_back("Idempotent-Replayed", "true");
      mark_write(call, r);
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

http::response node::get_order(api_call& call) {
  const int64_t user = session(call);
  const int64_t id = require_id(call.params["id"], "order id");
  const auto wait = options_.replica_reads.lsn_wait;
  auto o = read_after_lsn<std::optional<order>>(
      call, [&](store& s, std::string_view lsn) { return s.find_order_replayed(user, id, lsn, wait); },
      [&](store& s) { return s.find_order(user, id); });
  if (!o) reject(404, "not_found", "no order " + std::to_string(id));
  return json_response(200, order_json(*o));
}

// ---- flash sales ----

http::response node::flash_sale(api_call& call) {
  const int64_t id = require_id(call.params["id"], "flash sale id");
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

http::response node::flash_purchase(api_call& call) {
  const int64_t id = require_id(call.params["id"], "flash sale id");
  const int64_t user = session(call);
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
    std::atomic<int>* count;
    ~inflight_guard() {
      if (count != nullptr) --*count;
    }
  } guard{&flash_inflight_};
  const int inflight = ++flash_inflight_;
  if (options_.flash_max_inflight > 0 && inflight > options_.flash_max_inflight) {
    ++flash_shed_;
    auto r = http::response::error(429, "overloaded", "too many purchases in progress, retry");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  const purchase_request request{id, user, call.now};
  if (purchases_ && call.later != nullptr) {
    // Group commit: the purchase joins the node's next batch and is answered after that batch's commit
    // (on the thread that ran it); it stays in flight until then.
    auto done = [this, id, now = call.now, start = call.start, method = call.request.method,
                 reply = *call.later](purchase_outcome outcome) {
      auto r = answer([&] {
        if (outcome.error) std::rethrow_exception(outcome.error);
        return purchase_answer(id, outcome.result, now);
      });
      --flash_inflight_;
      durations_.observe("/api/flash-sales/{id}/purchase", method, r.status,
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      reply(std::move(r));
    };
    if (purchases_->submit(request, std::move(done))) {
      guard.count = nullptr;  // `done` ends it
      http::response later;
      later.status = 0;
      return later;
    }
    ++flash_shed_;
    auto r = http::response::error(503, "busy", "too many purchases waiting for the database, retry");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return purchase_answer(id, store_->flash_purchase(id, user, call.now), call.now);
}

// The answer to a purchase the store made (or refused); rejections throw bad_input.
http::response node::purchase_answer(int64_t sale_id, const purchase_result& result, int64_t now) {
  switch (result.status) {
    case purchase_status::created: {
      ++flash_created_;
      if (pipeline_) pipeline_->notify();
      auto r = json_response(201, json::object{{"order_id", result.order_id}});
      mark_write(now, r);  // the order is in the buyer's history
      return r;
    }
    case purchase_status::already_bought:
      ++flash_already_;
      reject(409, "already_bought", "the per-user limit of this sale is reached");
    case purchase_status::sold_out: {
      ++flash_sold_out_;
      std::lock_guard lock{sold_out_mutex_};
      sold_out_until_[sale_id] = std::chrono::steady_clock::now() + std::chrono::seconds{1};
      reject(410, "sold_out", "flash sale " + std::to_string(sale_id) + " is sold out");
    }
    case purchase_status::not_started:
      reject(409, "not_started", "the flash sale has not started");
    case purchase_status::unknown_sale:
      reject(404, "not_found", "no flash sale " + std::to_string(sale_id));
  }
  reject(500, "internal", "unexpected purchase result");
}

}  // namespace stampede::shop
