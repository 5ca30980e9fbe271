// The shop's storage interface and domain types. The SQLite backend (sqlite_store.h) is the embedded
// default; the PostgreSQL backend (postgres_store.h) implements the same interface; store_factory.h opens
// either.
//
// Every method is one transaction. Implementations must be safe to call from many threads at once and
// from several processes sharing the same database (the shop's nodes). A method that cannot reach or use
// the database for now (no free connection in time, server unreachable, statement timeout, a commit whose
// outcome is unknown and that is unsafe to run again) throws store_unavailable: nodes answer 503 +
// Retry-After.
//
// Money is integer cents everywhere. Times are Unix milliseconds.
#pragma once

#include <boost/json/object.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::shop {

// The database cannot serve the call now; retrying later may succeed. Nothing was changed, except where a
// commit's outcome is unknown (the message says so).
class store_unavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct category {
  int64_t id = 0;
  std::string name;
  int64_t product_count = 0;
};

struct product {
  int64_t id = 0;
  int64_t category_id = 0;
  std::string category;
  std::string title;
  std::string author;
  std::string description;
  int64_t price = 0;  // cents
  int64_t stock = 0;
  std::string pub_date;     // YYYY-MM-DD
  bool stock_known = true;  // false: its shard cannot be reached now (a degraded page: stock unknown)
};

struct product_query {
  std::optional<int64_t> category_id;
  std::string q;  // free text over title, author and description (FTS5 / tsvector): words as prefixes, all must match
  int64_t page = 1;
  int64_t size = 20;
};

struct product_page {
  std::vector<product> items;
  int64_t total = 0;
};

struct bestseller {
  int64_t product_id = 0;
  std::string title;
  int64_t units = 0;
};

struct user_credentials {
  int64_t id = 0;
  std::string email;
  std::string name;
  std::string password_hash;
};

struct cart_line {
  int64_t product_id = 0;
  std::string title;
  int64_t qty = 0;
  int64_t unit_price = 0;
};

struct line_request {
  int64_t product_id = 0;
  int64_t qty = 0;
};

// Items as an order's lines: merged per product and sorted, so every backend locks rows in product order.
inline std::vector<line_request> merged_lines(std::vector<line_request> lines) {
  std::sort(lines.begin(), lines.end(), [](auto& a, auto& b) { return a.product_id < b.product_id; });
  std::vector<line_request> merged;
  for (const auto& l : lines) {
    if (!merged.empty() && merged.back().product_id == l.product_id) {
      merged.back().qty += l.qty;
    } else {
      merged.push_back(l);
    }
  }
  return merged;
}

struct order_line {
  int64_t product_id = 0;
  int64_t qty = 0;
  int64_t unit_price = 0;
};

// Order states: pending (payment queued) -> paid | failed; archived = seeded history.
struct order {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string status;
  int64_t total = 0;
  std::vector<order_line> lines;
  std::optional<int64_t> flash_sale_id;
  std::string failure;  // why a failed order failed
  int64_t created_at = 0;
};

enum class cart_status { ok, unknown_product, not_in_cart };

enum class checkout_status {
  created,         // new order
  replayed,        // same idempotency key and request: the original order
  key_conflict,    // same idempotency key, different request
  out_of_stock,    // `product_id` lacks stock; nothing changed
  unknown_product, // `product_id` does not exist; nothing changed
  empty_cart,
};

struct checkout_result {
  checkout_status status = checkout_status::created;
  order placed;            // created / replayed
  int64_t product_id = 0;  // out_of_stock / unknown_product
};

struct flash_sale {
  int64_t id = 0;
  int64_t product_id = 0;
  int64_t price = 0;
  int64_t stock = 0;
  int64_t remaining = 0;
  int64_t per_user_limit = 1;
  int64_t starts_at = 0;
};

enum class purchase_status { created, already_bought, sold_out, not_started, unknown_sale };

struct purchase_result {
  purchase_status status = purchase_status::created;
  int64_t order_id = 0;
};

// One flash purchase of a batch (store::flash_purchases).
struct purchase_request {
  int64_t sale_id = 0;
  int64_t user_id = 0;
  int64_t now = 0;  // unix milliseconds
};

// A batch member's answer: its result, or the error it (or its whole batch) failed with.
struct purchase_outcome {
  purchase_result result;
  std::exception_ptr error;
};

// An outbox message claimed by a payment worker (lease held until `lease_until`).
struct outbox_message {
  int64_t id = 0;
  int64_t order_id = 0;
  int64_t attempts = 0;  // including this one
  int64_t amount = 0;
};

// Cheap counters for /metrics gauges.
struct store_gauges {
  std::vector<std::pair<std::string, int64_t>> orders_by_state;
  std::vector<std::pair<std::string, int64_t>> outbox_by_state;
  int64_t stock_units = 0;           // sum of product stock
  int64_t flash_remaining = 0;       // sum over flash sales
};

class store {
 public:
  virtual ~store() = default;

  // Schema: applies pending migrations (idempotent; safe when several processes start at once).
  virtual void migrate() = 0;
  virtual int schema_version() = 0;
  // Replaces all data with the deterministic data set for `scale` (see seed.h). `password_hash` is the
  // hash every seeded customer gets. Bumps data_generation().
  virtual void reseed(int64_t scale, std::string_view password_hash) = 0;
  // True once a seed ran.
  virtual bool seeded() = 0;
  // Changes on every reseed: nodes compare it to drop caches built from older data.
  virtual int64_t data_generation() = 0;

  // Catalogue.
  virtual std::vector<category> categories() = 0;
  virtual std::optional<product> find_product(int64_t id) = 0;
  virtual product_page list_products(const product_query& query) = 0;
  virtual std::vector<int64_t> product_ids() = 0;
  // Top `limit` products by units over the `recent_orders` most recent orders (TPC-W Best Sellers).
  virtual std::vector<bestseller> bestsellers(int64_t recent_orders, int64_t limit) = 0;

  // Users and sessions. create_user returns nullopt when the email is taken.
  virtual std::optional<int64_t> create_user(std::string_view email, std::string_view name,
                                             std::string_view password_hash) = 0;
  virtual std::optional<user_credentials> find_user_by_email(std::string_view email) = 0;
  virtual void create_session(std::string_view token, int64_t user_id, int64_t expires_at) = 0;
  // The user of a live session, or nullopt.
  virtual std::optional<int64_t> session_user(std::string_view token, int64_t now) = 0;
  // Logout: revokes the session at once; false when there was no such session.
  virtual bool delete_session(std::string_view token) = 0;

  // Cart. add=true adds qty to the line, add=false sets it.
  virtual std::vector<cart_line> cart(int64_t user_id) = 0;
  virtual cart_status put_cart_item(int64_t user_id, int64_t product_id, int64_t qty, bool add) = 0;
  virtual cart_status remove_cart_item(int64_t user_id, int64_t product_id) = 0;

  // Checkout in one transaction: order + lines, stock decrement that never goes below zero, outbox message,
  // cart cleared (when checking out the cart). `items` empty = check out the cart. `request_hash` identifies
  // the request body for idempotency (same key + different hash = key_conflict).
  virtual checkout_result checkout(int64_t user_id, std::string_view idempotency_key,
                                   std::string_view request_hash, const std::vector<line_request>& items,
                                   int64_t now) = 0;
  virtual std::optional<order> find_order(int64_t user_id, int64_t order_id) = 0;
  virtual std::vector<order> list_orders(int64_t user_id, int64_t limit) = 0;
  // Read-your-writes by WAL position (replica_reads.h, read-your-writes-lsn). The server's WAL position now
  // ("X/Y"; nullopt: the store has none, e.g. SQLite). And the two order reads on a session of a server that
  // has replayed WAL up to `lsn`, waiting at most `bound` for it (a server that is not in recovery has
  // everything): nullopt when it did not get there in time (read from the primary instead).
  virtual std::optional<std::string> wal_position() { return std::nullopt; }
  virtual std::optional<std::optional<order>> find_order_replayed(int64_t, int64_t, std::string_view,
                                                                  std::chrono::milliseconds) {
    return std::nullopt;
  }
  virtual std::optional<std::vector<order>> list_orders_replayed(int64_t, int64_t, std::string_view,
                                                                 std::chrono::milliseconds) {
    return std::nullopt;
  }

  // Flash sales.
  virtual std::optional<int64_t> create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                                   int64_t per_user_limit, int64_t starts_at) = 0;
  virtual std::optional<flash_sale> find_flash_sale(int64_t id) = 0;
  // One unit at the sale price: never oversold, at most per_user_limit per user.
  virtual purchase_result flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) = 0;
  // Several purchases, answered in order, each exactly as flash_purchase() would answer it had they run one
  // after another. An outcome is final: a purchase answered `created` is committed (durable by the store's
  // rule), one with an error did nothing. This default runs them one by one; a store that can commit a
  // batch at once (one transaction, one flush) overrides it.
  virtual std::vector<purchase_outcome> flash_purchases(std::span<const purchase_request> batch) {
    std::vector<purchase_outcome> out(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      try {
        out[i].result = flash_purchase(batch[i].sale_id, batch[i].user_id, batch[i].now);
      } catch (...) {
        out[i].error = std::current_exception();
      }
    }
    return out;
  }
  // True when flash_purchases() commits a batch at once (then a node groups its purchases, node.h).
  virtual bool commits_purchase_batches() const { return false; }

  // Order pipeline (outbox). claim_outbox leases up to `max` due messages (pending and due, or in flight
  // with an expired lease) to `owner` until now + lease_ms, counting an attempt on each.
  virtual std::vector<outbox_message> claim_outbox(std::string_view owner, int64_t now, int64_t lease_ms,
                                                   int64_t max) = 0;
  // The message's effects, each applied only if `owner` still holds the lease (returns false otherwise):
  // payment captured -> order paid, payment recorded, message done.
  virtual bool complete_payment(const outbox_message& message, std::string_view owner,
                                std::string_view gateway_ref, int64_t now) = 0;
  // Definitive failure (declined, or dead_letter after the last attempt): order failed, stock released;
  // message done or dead-lettered with `reason`.
  virtual bool fail_payment(const outbox_message& message, std::string_view owner, std::string_view reason,
                            bool dead_letter, int64_t now) = 0;
  // Transient failure: message back to pending, due at next_attempt_at, with its last error.
  virtual bool retry_payment(const outbox_message& message, std::string_view owner, std::string_view error,
                             int64_t next_attempt_at) = 0;
  // A refund issued for an order whose payment ended in the dead-letter state.
  virtual void record_refund(int64_t order_id, int64_t amount, std::string_view gateway_ref, int64_t now) = 0;
  // Due or expired messages (for workers' wake-up decisions and the queue-depth gauge).
  virtual int64_t outbox_due(int64_t now) = 0;

  // Reconciliation snapshot for checkers (one read transaction), see docs/SHOP.md "Audit".
  virtual boost::json::object audit() = 0;
  virtual store_gauges gauges() = 0;
};

}  // namespace stampede::shop
