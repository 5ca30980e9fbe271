// The SQLite store's audit (the invariants' raw material, read in one snapshot) and its gauges.
#include <boost/json.hpp>

#include "reference_shop/sqlite_store_detail.h"

namespace stampede::shop {

namespace json = boost::json;

using sqlite_detail::meta_value;

namespace {

void audit_skus(sqlite::connection& conn, json::object& out) {
  // Per SKU; SKUs whose stock never moved (initial = remaining, nothing sold) are only in the totals.
  json::array skus;
  int64_t initial = 0, remaining = 0, sold = 0, count = 0;
  auto st = conn.prepare(
      "SELECT p.id, p.initial_stock, p.stock, COALESCE((SELECT SUM(ol.qty) FROM order_lines ol JOIN orders o "
      "ON o.id = ol.order_id WHERE ol.product_id = p.id AND o.flash_sale_id IS NULL AND o.status IN "
      "('pending', 'paid')), 0) FROM products p ORDER BY p.id");
  while (st.step()) {
    ++count;
    initial += st.int64(1);
    remaining += st.int64(2);
    sold += st.int64(3);
    if (st.int64(1) != st.int64(2) || st.int64(3) != 0) {
      skus.push_back(json::object{{"product_id", st.int64(0)},
                                  {"initial_stock", st.int64(1)},
                                  {"remaining", st.int64(2)},
                                  {"sold", st.int64(3)}});
    }
  }
  out["skus"] = std::move(skus);
  out["sku_totals"] =
      json::object{{"skus", count}, {"initial_stock", initial}, {"remaining", remaining}, {"sold", sold}};
}

void audit_orders(sqlite::connection& conn, json::object& out) {
  {
    json::object states{{"pending", 0}, {"paid", 0}, {"failed", 0}, {"archived", 0}};
    auto st = conn.prepare("SELECT status, COUNT(*) FROM orders GROUP BY status");
    while (st.step()) states[st.text(0)] = st.int64(1);
    out["orders_by_state"] = std::move(states);
  }
  // Every live (non-archived) order with its payments, for money reconciliation.
  json::array orders;
  auto st = conn.prepare(
      "SELECT o.id, o.user_id, o.status, o.total, o.flash_sale_id, "
      "COALESCE((SELECT amount FROM payments WHERE order_id = o.id AND kind = 'capture'), 0), "
      "COALESCE((SELECT amount FROM payments WHERE order_id = o.id AND kind = 'refund'), 0), "
      "o.idempotency_key FROM orders o WHERE o.status <> 'archived' ORDER BY o.id");
  while (st.step()) {
    json::object o{{"order_id", st.int64(0)}, {"user_id", st.int64(1)},  {"status", st.text(2)},
                   {"total", st.int64(3)},    {"captured", st.int64(5)}, {"refunded", st.int64(6)}};
    if (!st.is_null(4)) o["flash_sale_id"] = st.int64(4);
    if (!st.is_null(7)) o["idempotency_key"] = st.text(7);
    orders.push_back(std::move(o));
  }
  out["orders"] = std::move(orders);
}

void audit_flash_sales(sqlite::connection& conn, json::object& out) {
  json::array sales;
  auto st = conn.prepare(
      "SELECT s.id, s.product_id, s.stock, s.remaining, s.per_user_limit, (SELECT COUNT(*) FROM orders o "
      "WHERE o.flash_sale_id = s.id AND o.status IN ('pending', 'paid')) FROM flash_sales s ORDER BY s.id");
  while (st.step()) {
    sales.push_back(json::object{{"sale_id", st.int64(0)},
                                 {"product_id", st.int64(1)},
                                 {"stock", st.int64(2)},
                                 {"remaining", st.int64(3)},
                                 {"per_user_limit", st.int64(4)},
                                 {"sold", st.int64(5)},
                                 {"purchases", json::array{}}});
  }
  for (auto& s : sales) {
    auto& sale = s.as_object();
    auto pu = conn.prepare("SELECT user_id, count FROM flash_purchases WHERE sale_id = ?1 AND count > 0 ORDER BY user_id");
    pu.bind(1, sale["sale_id"].as_int64());
    auto& purchases = sale["purchases"].as_array();
    while (pu.step()) purchases.push_back(json::object{{"user_id", pu.int64(0)}, {"count", pu.int64(1)}});
  }
  out["flash_sales"] = std::move(sales);
}

void audit_outbox(sqlite::connection& conn, json::object& out) {
  json::object states{{"pending", 0}, {"in_flight", 0}, {"done", 0}, {"dead", 0}};
  auto st = conn.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state");
  while (st.step()) states[st.text(0)] = st.int64(1);
  out["outbox"] = std::move(states);
  json::array dead;
  auto dl = conn.prepare("SELECT order_id, attempts, COALESCE(last_error, '') FROM outbox WHERE state = 'dead' ORDER BY id");
  while (dl.step()) {
    dead.push_back(json::object{{"order_id", dl.int64(0)}, {"attempts", dl.int64(1)}, {"last_error", dl.text(2)}});
  }
  out["dead_letters"] = std::move(dead);
  auto pay = conn.prepare(
      "SELECT COALESCE(SUM(CASE kind WHEN 'capture' THEN amount END), 0), "
      "COALESCE(SUM(CASE kind WHEN 'refund' THEN amount END), 0) FROM payments");
  if (pay.step()) out["payments"] = json::object{{"captured", pay.int64(0)}, {"refunded", pay.int64(1)}};
}

}  // namespace

json::object sqlite_store::audit() {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  json::object out;
  out["generation"] = meta_value(conn, "generation");
  out["scale"] = meta_value(conn, "scale");
  audit_skus(conn, out);
  audit_orders(conn, out);
  audit_flash_sales(conn, out);
  audit_outbox(conn, out);
  return out;
}

store_gauges sqlite_store::gauges() {
  auto& conn = db();
  sqlite::read_transaction rt{conn};
  store_gauges g;
  {
    auto st = conn.prepare("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status");
    while (st.step()) g.orders_by_state.emplace_back(st.text(0), st.int64(1));
  }
  {
    auto st = conn.prepare("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state");
    while (st.step()) g.outbox_by_state.emplace_back(st.text(0), st.int64(1));
  }
  {
    auto st = conn.prepare("SELECT COALESCE(SUM(stock), 0) FROM products");
    if (st.step()) g.stock_units = st.int64(0);
  }
  {
    auto st = conn.prepare("SELECT COALESCE(SUM(remaining), 0) FROM flash_sales");
    if (st.step()) g.flash_remaining = st.int64(0);
  }
  return g;
}

}  // namespace stampede::shop
