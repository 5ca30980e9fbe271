// The PostgreSQL store's reconciliation snapshot and gauges: one REPEATABLE READ READ ONLY transaction each,
// with the same JSON fields, in the same order, as sqlite_store's audit (docs/SHOP.md "Audit"), so the
// checkers read either store unchanged (shop_store_test compares the two byte for byte).
#include <boost/json.hpp>

#include "reference_shop/postgres_store.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

void audit_skus(pg::connection& db, json::object& out) {
  // Per SKU; SKUs whose stock never moved (initial = remaining, nothing sold) are only in the totals.
  json::array skus;
  int64_t initial = 0, remaining = 0, sold = 0, count = 0;
  // One aggregation joined to the products, not a subquery per product: with the seed's statistics (no
  // pending or paid order yet, until autovacuum analyses) the planner ran the subquery as a scan of every
  // live order per product, and after a few thousand checkouts the audit hit the statement timeout.
  auto r = db.query(
      "SELECT p.id, p.initial_stock, p.stock, COALESCE(s.sold, 0) FROM products p LEFT JOIN "
      "(SELECT ol.product_id, SUM(ol.qty) AS sold FROM order_lines ol JOIN orders o ON o.id = ol.order_id "
      "WHERE o.flash_sale_id IS NULL AND o.status IN ('pending', 'paid') GROUP BY ol.product_id) s "
      "ON s.product_id = p.id ORDER BY p.id");
  for (int i = 0; i < r.rows(); ++i) {
    ++count;
    initial += r.int64(i, 1);
    remaining += r.int64(i, 2);
    sold += r.int64(i, 3);
    if (r.int64(i, 1) != r.int64(i, 2) || r.int64(i, 3) != 0) {
      skus.push_back(json::object{{"product_id", r.int64(i, 0)},
                                  {"initial_stock", r.int64(i, 1)},
                                  {"remaining", r.int64(i, 2)},
                                  {"sold", r.int64(i, 3)}});
    }
  }
  out["skus"] = std::move(skus);
  out["sku_totals"] =
      json::object{{"skus", count}, {"initial_stock", initial}, {"remaining", remaining}, {"sold", sold}};
}

void audit_orders(pg::connection& db, json::object& out) {
  json::object states{{"pending", 0}, {"paid", 0}, {"failed", 0}, {"archived", 0}};
  auto st = db.query("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status");
  for (int i = 0; i < st.rows(); ++i) states[st.text(i, 0)] = st.int64(i, 1);
  out["orders_by_state"] = std::move(states);
  // Every live (non-archived) order with its payments, for money reconciliation.
  json::array orders;
  auto r = db.query(
      "SELECT o.id, o.user_id, o.status, o.total, o.flash_sale_id, "
      "COALESCE((SELECT amount FROM payments WHERE order_id = o.id AND kind = 'capture'), 0), "
      "COALESCE((SELECT amount FROM payments WHERE order_id = o.id AND kind = 'refund'), 0), "
      "o.idempotency_key FROM orders o WHERE o.status <> 'archived' ORDER BY o.id");
  for (int i = 0; i < r.rows(); ++i) {
    json::object o{{"order_id", r.int64(i, 0)}, {"user_id", r.int64(i, 1)},  {"status", r.text(i, 2)},
                   {"total", r.int64(i, 3)},    {"captured", r.int64(i, 5)}, {"refunded", r.int64(i, 6)}};
    if (!r.is_null(i, 4)) o["flash_sale_id"] = r.int64(i, 4);
    if (!r.is_null(i, 7)) o["idempotency_key"] = r.text(i, 7);
    orders.push_back(std::move(o));
  }
  out["orders"] = std::move(orders);
}

void audit_flash_sales(pg::connection& db, json::object& out) {
  json::array sales;
  auto r = db.query(
      "SELECT s.id, s.product_id, s.stock, s.remaining, s.per_user_limit, (SELECT COUNT(*) FROM orders o "
      "WHERE o.flash_sale_id = s.id AND o.status IN ('pending', 'paid')) FROM flash_sales s ORDER BY s.id");
  for (int i = 0; i < r.rows(); ++i) {
    sales.push_back(json::object{{"sale_id", r.int64(i, 0)},
                                 {"product_id", r.int64(i, 1)},
                                 {"stock", r.int64(i, 2)},
                                 {"remaining", r.int64(i, 3)},
                                 {"per_user_limit", r.int64(i, 4)},
                                 {"sold", r.int64(i, 5)},
                                 {"purchases", json::array{}}});
  }
  for (auto& s : sales) {
    auto& sale = s.as_object();
    auto pu = db.query(
        "SELECT user_id, count FROM flash_purchases WHERE sale_id = $1 AND count > 0 ORDER BY user_id",
        sale["sale_id"].as_int64());
    auto& purchases = sale["purchases"].as_array();
    for (int i = 0; i < pu.rows(); ++i) {
      purchases.push_back(json::object{{"user_id", pu.int64(i, 0)}, {"count", pu.int64(i, 1)}});
    }
  }
  out["flash_sales"] = std::move(sales);
}

void audit_outbox(pg::connection& db, json::object& out) {
  json::object states{{"pending", 0}, {"in_flight", 0}, {"done", 0}, {"dead", 0}};
  auto st = db.query("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state");
  for (int i = 0; i < st.rows(); ++i) states[st.text(i, 0)] = st.int64(i, 1);
  out["outbox"] = std::move(states);
  json::array dead;
  auto dl = db.query(
      "SELECT order_id, attempts, COALESCE(last_error, '') FROM outbox WHERE state = 'dead' ORDER BY id");
  for (int i = 0; i < dl.rows(); ++i) {
    dead.push_back(json::object{
        {"order_id", dl.int64(i, 0)}, {"attempts", dl.int64(i, 1)}, {"last_error", dl.text(i, 2)}});
  }
  out["dead_letters"] = std::move(dead);
  auto p = db.query(
      "SELECT COALESCE(SUM(CASE kind WHEN 'capture' THEN amount END), 0), "
      "COALESCE(SUM(CASE kind WHEN 'refund' THEN amount END), 0) FROM payments");
  out["payments"] = json::object{{"captured", p.int64(0, 0)}, {"refunded", p.int64(0, 1)}};
}

int64_t meta(pg::connection& db, const char* key) {
  auto r = db.query("SELECT value FROM meta WHERE key = $1", key);
  return r.rows() > 0 ? r.int64(0, 0) : 0;
}

}  // namespace

json::object postgres_store::audit() {
  json::object out;
  run("audit", mode::snapshot, [&](pg::connection& db, transaction& tx) {
    out = {};
    out["generation"] = meta(db, "generation");
    out["scale"] = meta(db, "scale");
    audit_skus(db, out);
    audit_orders(db, out);
    audit_flash_sales(db, out);
    audit_outbox(db, out);
    tx.commit();
  });
  return out;
}

store_gauges postgres_store::gauges() {
  store_gauges g;
  run("gauges", mode::snapshot, [&](pg::connection& db, transaction& tx) {
    g = {};
    auto o = db.query("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status");
    for (int i = 0; i < o.rows(); ++i) g.orders_by_state.emplace_back(o.text(i, 0), o.int64(i, 1));
    auto b = db.query("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state");
    for (int i = 0; i < b.rows(); ++i) g.outbox_by_state.emplace_back(b.text(i, 0), b.int64(i, 1));
    g.stock_units = db.query("SELECT COALESCE(SUM(stock), 0) FROM products").int64(0, 0);
    g.flash_remaining = db.query("SELECT COALESCE(SUM(remaining), 0) FROM flash_sales").int64(0, 0);
    tx.commit();
  });
  return g;
}

}  // namespace stampede::shop
