// The SQLite store's orders: checkout, flash sales and the outbox (payment pipeline). Every write runs in
// one IMMEDIATE transaction (see write()), so the conditional stock decrements cannot interleave.
#include <algorithm>

#include "reference_shop/sqlite_store_detail.h"

namespace stampede::shop {

namespace {

order read_order_row(sqlite::statement& st) {
  // Columns: id, user_id, status, total, flash_sale_id, failure, created_at
  order o;
  o.id = st.int64(0);
  o.user_id = st.int64(1);
  o.status = st.text(2);
  o.total = st.int64(3);
  if (!st.is_null(4)) o.flash_sale_id = st.int64(4);
  o.failure = st.text(5);
  o.created_at = st.int64(6);
  return o;
}

}  // namespace

std::vector<order_line> sqlite_store::order_lines(sqlite::connection& conn, int64_t order_id) {
  std::vector<order_line> lines;
  auto st = conn.prepare("SELECT product_id, qty, unit_price FROM order_lines WHERE order_id = ?1 ORDER BY product_id");
  st.bind(1, order_id);
  while (st.step()) lines.push_back(order_line{st.int64(0), st.int64(1), st.int64(2)});
  return lines;
}

std::optional<order> sqlite_store::load_order(sqlite::connection& conn, int64_t order_id) {
  std::optional<order> o;
  {
    auto st = conn.prepare(
        "SELECT id, user_id, status, total, flash_sale_id, failure, created_at FROM orders WHERE id = ?1");
    st.bind(1, order_id);
    if (!st.step()) return std::nullopt;
    o = read_order_row(st);
  }
  o->lines = order_lines(conn, order_id);
  return o;
}

namespace {

// The cart's lines (in product order), or the request's items merged per product.
std::vector<line_request> checkout_lines(sqlite::connection& db, int64_t user_id,
                                         const std::vector<line_request>& items) {
  if (!items.empty()) return merged_lines(items);
  std::vector<line_request> lines;
  auto st = db.prepare("SELECT product_id, qty FROM cart_items WHERE user_id = ?1 ORDER BY product_id");
  st.bind(1, user_id);
  while (st.step()) lines.push_back(line_request{st.int64(0), st.int64(1)});
  return lines;
}

// Takes each line's stock (in product order) at the current price. On a missing product or short stock,
// sets result.status/product_id and returns nullopt; the caller's rollback undoes earlier decrements.
std::optional<std::vector<order_line>> take_stock(sqlite::connection& db, const std::vector<line_request>& lines,
                                                  checkout_result& result) {
  std::vector<order_line> placed;
  for (const auto& l : lines) {
    // The conditional decrement is the oversell guard: it cannot take stock below zero.
    auto st = db.prepare("UPDATE products SET stock = stock - ?2 WHERE id = ?1 AND stock >= ?2 RETURNING price");
    st.bind(1, l.product_id).bind(2, l.qty);
    if (!st.step()) {
      auto exists = db.prepare("SELECT 1 FROM products WHERE id = ?1");
      exists.bind(1, l.product_id);
      result.status = exists.step() ? checkout_status::out_of_stock : checkout_status::unknown_product;
      result.product_id = l.product_id;
      return std::nullopt;
    }
    const int64_t price = st.int64(0);
    st.run();
    placed.push_back(order_line{l.product_id, l.qty, price});
  }
  return placed;
}

// Inserts the pending order, its lines and its outbox message; returns the order's id.
int64_t insert_order(sqlite::connection& db, int64_t user_id, std::string_view idempotency_key,
                     std::string_view request_hash, const std::vector<order_line>& placed, int64_t total,
                     int64_t now) {
  int64_t order_id = 0;
  {
    auto st = db.prepare(
        "INSERT INTO orders(user_id, status, total, line_count, idempotency_key, request_hash, created_at, "
        "updated_at) VALUES (?1, 'pending', ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id");
    st.bind(1, user_id).bind(2, total).bind(3, static_cast<int64_t>(placed.size()));
    if (idempotency_key.empty()) {
      st.bind_null(4).bind_null(5);
    } else {
      st.bind(4, idempotency_key).bind(5, request_hash);
    }
    st.bind(6, now);
    st.step();
    order_id = st.int64(0);
    st.run();
  }
  for (const auto& l : placed) {
    auto st = db.prepare("INSERT INTO order_lines(order_id, product_id, qty, unit_price) VALUES (?1, ?2, ?3, ?4)");
    st.bind(1, order_id).bind(2, l.product_id).bind(3, l.qty).bind(4, l.unit_price).run();
  }
  auto st = db.prepare(
      "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
      "VALUES (?1, 'pending', ?2, ?2, ?2)");
  st.bind(1, order_id).bind(2, now).run();
  return order_id;
}

}  // namespace

checkout_result sqlite_store::checkout(int64_t user_id, std::string_view idempotency_key,
                                       std::string_view request_hash, const std::vector<line_request>& items,
                                       int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    checkout_result result;
    if (!idempotency_key.empty()) {
      auto st = db.prepare("SELECT id, request_hash FROM orders WHERE user_id = ?1 AND idempotency_key = ?2");
      st.bind(1, user_id).bind(2, idempotency_key);
      if (st.step()) {
        const int64_t existing = st.int64(0);
        const bool same = st.text(1) == request_hash;
        st.run();
        if (!same) {
          result.status = checkout_status::key_conflict;
          return result;
        }
        result.status = checkout_status::replayed;
        result.placed = *load_order(db, existing);
        return result;
      }
    }
    const std::vector<line_request> lines = checkout_lines(db, user_id, items);
    if (lines.empty()) {
      result.status = checkout_status::empty_cart;
      return result;
    }
    auto placed = take_stock(db, lines, result);
    if (!placed) return result;  // rollback undoes earlier decrements
    int64_t total = 0;
    for (const auto& l : *placed) total += l.unit_price * l.qty;
    const int64_t order_id = insert_order(db, user_id, idempotency_key, request_hash, *placed, total, now);
    if (items.empty()) {  // checked out the cart
      auto st = db.prepare("DELETE FROM cart_items WHERE user_id = ?1");
      st.bind(1, user_id).run();
    }
    tx.commit();
    result.status = checkout_status::created;
    result.placed = order{order_id, user_id, "pending", total, std::move(*placed), std::nullopt, {}, now};
    return result;
  });
}

std::optional<order> sqlite_store::find_order(int64_t user_id, int64_t order_id) {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  auto o = load_order(conn, order_id);
  if (!o || o->user_id != user_id) return std::nullopt;  // another user's order does not exist for you
  return o;
}

std::vector<order> sqlite_store::list_orders(int64_t user_id, int64_t limit) {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  std::vector<order> out;
  {
    auto st = conn.prepare(
        "SELECT id, user_id, status, total, flash_sale_id, failure, created_at FROM orders WHERE user_id = ?1 "
        "ORDER BY id DESC LIMIT ?2");
    st.bind(1, user_id).bind(2, limit);
    while (st.step()) out.push_back(read_order_row(st));
  }
  for (auto& o : out) o.lines = order_lines(conn, o.id);
  return out;
}

std::optional<int64_t> sqlite_store::create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                                       int64_t per_user_limit, int64_t starts_at) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) -> std::optional<int64_t> {
    auto st = db.prepare(
        "INSERT INTO flash_sales(product_id, price, stock, remaining, per_user_limit, starts_at) "
        "SELECT id, ?2, ?3, ?3, ?4, ?5 FROM products WHERE id = ?1 RETURNING id");
    st.bind(1, product_id).bind(2, price).bind(3, stock).bind(4, per_user_limit).bind(5, starts_at);
    if (!st.step()) return std::nullopt;
    const int64_t id = st.int64(0);
    st.run();
    tx.commit();
    return id;
  });
}

std::optional<flash_sale> sqlite_store::find_flash_sale(int64_t id) {
  auto& conn = db();
  auto st = conn.prepare(
      "SELECT id, product_id, price, stock, remaining, per_user_limit, starts_at FROM flash_sales WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return flash_sale{st.int64(0), st.int64(1), st.int64(2), st.int64(3), st.int64(4), st.int64(5), st.int64(6)};
}

namespace {

// Why a purchase took no unit (the decrement matched no row), in the order the answers take precedence:
// unknown sale, not started, the user's limit reached, sold out.
purchase_status refusal(sqlite::connection& db, const purchase_request& r) {
  int64_t limit = 0;
  {
    auto st = db.prepare("SELECT per_user_limit, starts_at FROM flash_sales WHERE id = ?1");
    st.bind(1, r.sale_id);
    if (!st.step()) return purchase_status::unknown_sale;
    if (r.now < st.int64(1)) return purchase_status::not_started;
    limit = st.int64(0);
  }
  auto st = db.prepare("SELECT count FROM flash_purchases WHERE sale_id = ?1 AND user_id = ?2");
  st.bind(1, r.sale_id).bind(2, r.user_id);
  return st.step() && st.int64(0) >= limit ? purchase_status::already_bought : purchase_status::sold_out;
}

// One purchase inside the caller's write transaction, in five statements: the conditional decrement
// (which also reads the sale), the per-user count (an upsert that only counts up below the limit; at the
// limit the decrement is given back), the order, its line and its outbox message.
purchase_result purchase_in(sqlite::connection& db, const purchase_request& r) {
  purchase_result result;
  int64_t product_id = 0, price = 0, limit = 0;
  {
    auto st = db.prepare(
        "UPDATE flash_sales SET remaining = remaining - 1 WHERE id = ?1 AND remaining >= 1 AND starts_at <= "
        "?2 "
        "RETURNING product_id, price, per_user_limit");
    st.bind(1, r.sale_id).bind(2, r.now);
    if (!st.step()) {
      result.status = refusal(db, r);
      return result;
    }
    product_id = st.int64(0);
    price = st.int64(1);
    limit = st.int64(2);
    st.run();
  }
  {
    auto st = db.prepare(
        "INSERT INTO flash_purchases(sale_id, user_id, count) VALUES (?1, ?2, 1) "
        "ON CONFLICT(sale_id, user_id) DO UPDATE SET count = count + 1 WHERE count < ?3");
    st.bind(1, r.sale_id).bind(2, r.user_id).bind(3, limit).run();
    if (db.changes() == 0) {
      auto back = db.prepare("UPDATE flash_sales SET remaining = remaining + 1 WHERE id = ?1");
      back.bind(1, r.sale_id).run();
      result.status = purchase_status::already_bought;
      return result;
    }
  }
  {
    auto st = db.prepare(
        "INSERT INTO orders(user_id, status, total, line_count, flash_sale_id, created_at, updated_at) "
        "VALUES (?1, 'pending', ?2, 1, ?3, ?4, ?4) RETURNING id");
    st.bind(1, r.user_id).bind(2, price).bind(3, r.sale_id).bind(4, r.now);
    st.step();
    result.order_id = st.int64(0);
    st.run();
  }
  {
    auto st =
        db.prepare("INSERT INTO order_lines(order_id, product_id, qty, unit_price) VALUES (?1, ?2, 1, ?3)");
    st.bind(1, result.order_id).bind(2, product_id).bind(3, price).run();
  }
  {
    auto st = db.prepare(
        "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
        "VALUES (?1, 'pending', ?2, ?2, ?2)");
    st.bind(1, result.order_id).bind(2, r.now).run();
  }
  result.status = purchase_status::created;
  return result;
}

}  // namespace

purchase_result sqlite_store::flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    auto result = purchase_in(db, purchase_request{sale_id, user_id, now});
    if (result.status == purchase_status::created) tx.commit();  // else nothing changed: roll back
    return result;
  });
}

std::vector<purchase_outcome> sqlite_store::flash_purchases(std::span<const purchase_request> batch) {
  if (batch.size() > 1) {
    try {
      return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
        std::vector<purchase_outcome> out(batch.size());
        for (size_t i = 0; i < batch.size(); ++i) out[i].result = purchase_in(db, batch[i]);
        tx.commit();
        return out;
      });
    } catch (const std::exception&) {
      // Nothing of the batch was committed: run them one by one, so that one purchase's error is its own.
    }
  }
  return store::flash_purchases(batch);
}

std::vector<outbox_message> sqlite_store::claim_outbox(std::string_view owner, int64_t now, int64_t lease_ms,
                                                       int64_t max) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    std::vector<outbox_message> out;
    {
      auto st = db.prepare(
          "UPDATE outbox SET state = 'in_flight', lease_owner = ?1, lease_until = ?2, attempts = attempts + 1, "
          "updated_at = ?3 WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?3 "
          "UNION ALL SELECT id FROM outbox WHERE state = 'in_flight' AND lease_until < ?3 ORDER BY 1 LIMIT ?4) "
          "RETURNING id, order_id, attempts");
      st.bind(1, owner).bind(2, now + lease_ms).bind(3, now).bind(4, max);
      while (st.step()) out.push_back(outbox_message{st.int64(0), st.int64(1), st.int64(2), 0});
    }
    for (auto& m : out) {
      auto st = db.prepare("SELECT total FROM orders WHERE id = ?1");
      st.bind(1, m.order_id);
      if (st.step()) m.amount = st.int64(0);
    }
    tx.commit();
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
    return out;
  });
}

namespace {

// Moves a leased message on; false when `owner` lost the lease (another worker now owns the message).
bool settle_message(sqlite::connection& db, const outbox_message& m, std::string_view owner, const char* state,
                    std::string_view error, int64_t next_attempt_at, int64_t now) {
  auto st = db.prepare(
      "UPDATE outbox SET state = ?3, lease_owner = NULL, lease_until = NULL, last_error = ?4, "
      "next_attempt_at = ?5, updated_at = ?6 WHERE id = ?1 AND state = 'in_flight' AND lease_owner = ?2");
  st.bind(1, m.id).bind(2, owner).bind(3, state);
  if (error.empty()) {
    st.bind_null(4);
  } else {
    st.bind(4, error);
  }
  st.bind(5, next_attempt_at).bind(6, now).run();
  return db.changes() > 0;
}

}  // namespace

bool sqlite_store::complete_payment(const outbox_message& m, std::string_view owner, std::string_view gateway_ref,
                                    int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    if (!settle_message(db, m, owner, "done", {}, now, now)) return false;
    {
      auto st = db.prepare("UPDATE orders SET status = 'paid', updated_at = ?2 WHERE id = ?1 AND status = 'pending'");
      st.bind(1, m.order_id).bind(2, now).run();
    }
    {
      auto st = db.prepare(
          "INSERT INTO payments(order_id, kind, amount, gateway_ref, created_at) VALUES (?1, 'capture', ?2, ?3, ?4) "
          "ON CONFLICT(order_id, kind) DO NOTHING");
      st.bind(1, m.order_id).bind(2, m.amount).bind(3, gateway_ref).bind(4, now).run();
    }
    tx.commit();
    return true;
  });
}

void sqlite_store::release_stock(sqlite::connection& db, int64_t order_id) {
  int64_t user_id = 0;
  std::optional<int64_t> sale;
  {
    auto st = db.prepare("SELECT user_id, flash_sale_id FROM orders WHERE id = ?1");
    st.bind(1, order_id);
    if (!st.step()) return;
    user_id = st.int64(0);
    if (!st.is_null(1)) sale = st.int64(1);
  }
  if (sale) {
    auto st = db.prepare("UPDATE flash_sales SET remaining = remaining + 1 WHERE id = ?1");
    st.bind(1, *sale).run();
    auto pu = db.prepare("UPDATE flash_purchases SET count = count - 1 WHERE sale_id = ?1 AND user_id = ?2 AND count > 0");
    pu.bind(1, *sale).bind(2, user_id).run();
    return;
  }
  for (const auto& line : order_lines(db, order_id)) {
    auto st = db.prepare("UPDATE products SET stock = stock + ?2 WHERE id = ?1");
    st.bind(1, line.product_id).bind(2, line.qty).run();
  }
}

bool sqlite_store::fail_payment(const outbox_message& m, std::string_view owner, std::string_view reason,
                                bool dead_letter, int64_t now) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    if (!settle_message(db, m, owner, dead_letter ? "dead" : "done", reason, now, now)) return false;
    auto st = db.prepare(
        "UPDATE orders SET status = 'failed', failure = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'pending'");
    st.bind(1, m.order_id).bind(2, reason).bind(3, now).run();
    if (db.changes() > 0) release_stock(db, m.order_id);  // only on the transition: released once
    tx.commit();
    return true;
  });
}

bool sqlite_store::retry_payment(const outbox_message& m, std::string_view owner, std::string_view error,
                                 int64_t next_attempt_at) {
  return write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    if (!settle_message(db, m, owner, "pending", error, next_attempt_at, next_attempt_at)) return false;
    tx.commit();
    return true;
  });
}

void sqlite_store::record_refund(int64_t order_id, int64_t amount, std::string_view gateway_ref, int64_t now) {
  write([&](sqlite::connection& db, sqlite::write_transaction& tx) {
    auto st = db.prepare(
        "INSERT INTO payments(order_id, kind, amount, gateway_ref, created_at) VALUES (?1, 'refund', ?2, ?3, ?4) "
        "ON CONFLICT(order_id, kind) DO NOTHING");
    st.bind(1, order_id).bind(2, amount).bind(3, gateway_ref).bind(4, now).run();
    tx.commit();
    return 0;
  });
}

int64_t sqlite_store::outbox_due(int64_t now) {
  auto& conn = db();
  auto st = conn.prepare(
      "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1) + "
      "(SELECT COUNT(*) FROM outbox WHERE state = 'in_flight' AND lease_until < ?1)");
  st.bind(1, now);
  return st.step() ? st.int64(0) : 0;
}

}  // namespace stampede::shop
