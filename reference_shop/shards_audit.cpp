// The sharded store's audit and gauges: each shard's own figures (one snapshot per shard, shard by shard:
// take it after the load quiesces), their totals in the single store's fields (docs/SHOP.md "Audit", so
// the checkers read it unchanged), plus `shards[]`, `prepared_transactions`, each order's parts and the
// parts without an order (`orphan_parts`).
#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "reference_shop/shards.h"
#include "reference_shop/shards_internal.h"

namespace stampede::shop {

namespace json = boost::json;

namespace {

void add_counts(json::object& into, const json::object& from) {
  for (const auto& [key, value] : from) {
    into[key] = (into.contains(key) ? into.at(key).as_int64() : 0) + value.as_int64();
  }
}

void sort_by(json::array& rows, const char* key) {
  std::sort(rows.begin(), rows.end(), [key](const json::value& a, const json::value& b) {
    return a.at(key).as_int64() < b.at(key).as_int64();
  });
}

// The shard's own SKUs (stock and sold from the parts still placed), its parts, and the shards each of its
// order headers spans.
struct shard_figures {
  json::array skus;
  json::object totals{{"skus", 0}, {"initial_stock", 0}, {"remaining", 0}, {"sold", 0}};
  std::map<int64_t, std::string> part_status;      // order -> placed | released
  std::map<int64_t, int64_t> part_subtotal;        // order -> its part's money (the money checker's evidence)
  std::map<int64_t, json::array> expected_shards;  // header order -> the shards of its lines
  int64_t prepared = 0;
  int64_t sagas_open = 0;                               // --txn saga: outbox messages in a saga stage
  json::object decisions{{"commit", 0}, {"abort", 0}};  // this shard's decision log (2pc)
  json::object sagas{{"running", 0}, {"compensating", 0}};  // messages in `place`, in `compensate`/`release`
};

shard_figures read_figures(pg::connection& db, int shard, int k, std::string_view gid_prefix) {
  shard_figures f;
  db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
  auto r = db.query(
      "SELECT p.id, p.initial_stock, p.stock, COALESCE((SELECT SUM(l.qty) FROM order_part_lines l JOIN "
      "order_parts o "
      "ON o.order_id = l.order_id WHERE l.product_id = p.id AND o.status = 'placed'), 0) FROM products p "
      "WHERE p.id % $1 = $2 ORDER BY p.id",
      int64_t{k}, int64_t{shard});
  int64_t initial = 0, remaining = 0, sold = 0;
  for (int i = 0; i < r.rows(); ++i) {
    initial += r.int64(i, 1);
    remaining += r.int64(i, 2);
    sold += r.int64(i, 3);
    if (r.int64(i, 1) != r.int64(i, 2) || r.int64(i, 3) != 0) {
      f.skus.push_back(json::object{{"product_id", r.int64(i, 0)},
                                    {"initial_stock", r.int64(i, 1)},
                                    {"remaining", r.int64(i, 2)},
                                    {"sold", r.int64(i, 3)},
                                    {"shard", shard}});
    }
  }
  f.totals =
      json::object{{"skus", r.rows()}, {"initial_stock", initial}, {"remaining", remaining}, {"sold", sold}};
  auto parts = db.exec("SELECT order_id, status, subtotal FROM order_parts ORDER BY order_id");
  for (int i = 0; i < parts.rows(); ++i) {
    f.part_status[parts.int64(i, 0)] = parts.text(i, 1);
    f.part_subtotal[parts.int64(i, 0)] = parts.int64(i, 2);
  }
  auto spans = db.query(
      "SELECT ol.order_id, string_agg(DISTINCT (ol.product_id % $1)::text, ',') FROM order_lines ol JOIN "
      "orders o ON "
      "o.id = ol.order_id WHERE o.status <> 'archived' AND o.flash_sale_id IS NULL GROUP BY ol.order_id",
      int64_t{k});
  for (int i = 0; i < spans.rows(); ++i) {
    json::array shards;
    const std::string list = spans.text(i, 1);
    for (size_t start = 0; start <= list.size();) {
      const size_t comma = std::min(list.find(',', start), list.size());
      shards.push_back(std::stoll(list.substr(start, comma - start)));
      start = comma + 1;
    }
    f.expected_shards[spans.int64(i, 0)] = std::move(shards);
  }
  // A saga's state is its order's outbox message: open while it is in a stage.
  f.sagas_open = db.exec("SELECT COUNT(*) FROM outbox WHERE saga IS NOT NULL").int64(0, 0);
  // The outcomes of the transactions whose home this shard is (results.drill.shards): the decisions, and
  // the sagas still open by stage (the compensated and the done ones are counted from the parts below).
  auto decisions = db.exec("SELECT decision, COUNT(*) FROM txn_decisions GROUP BY decision");
  for (int i = 0; i < decisions.rows(); ++i) f.decisions[decisions.text(i, 0)] = decisions.int64(i, 1);
  auto stages = db.exec("SELECT saga, COUNT(*) FROM outbox WHERE saga IS NOT NULL GROUP BY saga");
  for (int i = 0; i < stages.rows(); ++i) {
    const std::string stage = stages.text(i, 0);
    add_counts(f.sagas, json::object{{stage == "place" ? "running" : "compensating", stages.int64(i, 1)}});
  }
  db.exec("COMMIT");
  f.prepared = two_phase::prepared_count(db, gid_prefix);
  return f;
}

}  // namespace

json::object sharded_store::audit() {
  const int k = shards();
  json::object out;
  json::array skus, orders, flash_sales, dead_letters, shard_rows;
  json::object totals, by_state, outbox, payments;
  std::vector<shard_figures> figures;
  int64_t prepared = 0, sagas_open = 0;
  json::object decisions, sagas;
  for (int s = 0; s < k; ++s) {
    json::object a = shard(s).audit();
    shard_figures f;
    sharding::with_session(shard(s).pool(), [&](pg::connection& db) {
      f = read_figures(db, s, k, options_.coordinator.gid_prefix);
    });
    if (s == 0) {
      out["generation"] = a.at("generation");
      out["scale"] = a.at("scale");
    }
    for (auto& v : f.skus) skus.push_back(v);
    add_counts(totals, f.totals);
    add_counts(by_state, a.at("orders_by_state").as_object());
    for (auto& o : a.at("orders").as_array()) orders.push_back(o);
    for (auto& v : a.at("flash_sales").as_array()) flash_sales.push_back(v);
    add_counts(outbox, a.at("outbox").as_object());
    for (auto& v : a.at("dead_letters").as_array()) dead_letters.push_back(v);
    add_counts(payments, a.at("payments").as_object());
    prepared += f.prepared;
    sagas_open += f.sagas_open;
    add_counts(decisions, f.decisions);
    add_counts(sagas, f.sagas);
    shard_rows.push_back(json::object{{"shard", s},
                                      {"sku_totals", f.totals},
                                      {"orders_by_state", a.at("orders_by_state")},
                                      {"outbox", a.at("outbox")},
                                      {"payments", a.at("payments")},
                                      {"parts", static_cast<int64_t>(f.part_status.size())},
                                      {"prepared_transactions", f.prepared},
                                      {"sagas_open", f.sagas_open}});
    figures.push_back(std::move(f));
  }
  // Each order's parts as the shards hold them: the atomicity checker's evidence (an acknowledged order
  // must have a part `placed` on every shard of `shards`; a failed one, `released` ones).
  int64_t cross_shard = 0, cross_shard_failed = 0;
  for (auto& v : orders) {
    auto& o = v.as_object();
    const int64_t id = o.at("order_id").as_int64();
    const auto& header = figures[static_cast<size_t>(id % k)];
    const auto spans = header.expected_shards.find(id);
    if (spans == header.expected_shards.end()) continue;  // a flash order: whole on shard 0
    o["shards"] = spans->second;
    // The header's shard and each SKU's: more than one is a distributed transaction.
    std::set<int64_t> touched{id % k};
    for (const auto& sh : spans->second) touched.insert(sh.as_int64());
    if (touched.size() > 1) {
      ++cross_shard;
      if (o.at("status").as_string() == "failed") ++cross_shard_failed;
    }
    json::array parts;
    for (int s = 0; s < k; ++s) {
      const auto& status = figures[static_cast<size_t>(s)].part_status;
      if (const auto it = status.find(id); it != status.end()) {
        parts.push_back(json::object{{"shard", s},
                                     {"status", it->second},
                                     {"subtotal", figures[static_cast<size_t>(s)].part_subtotal.at(id)}});
      }
    }
    o["parts"] = std::move(parts);
  }
  // Parts whose order has no header on any shard: a partial order (what the broken mode leaves behind).
  std::set<int64_t> headers;
  for (const auto& v : orders) headers.insert(v.at("order_id").as_int64());
  json::array orphans;
  int64_t released_orphans = 0;
  std::set<int64_t> compensated;  // a compensated saga leaves released parts (tombstones) and no header
  for (int s = 0; s < k; ++s) {
    for (const auto& [id, status] : figures[static_cast<size_t>(s)].part_status) {
      if (!headers.contains(id)) {
        orphans.push_back(json::object{{"order_id", id}, {"shard", s}, {"status", status}});
        if (status == "released") {
          ++released_orphans;
          compensated.insert(id);
        }
      }
    }
  }
  {  // --txn saga: done (whole, out of its stages) and compensated; 0 with 2pc, whose failures are decisions
    const bool saga = two_phase::is_saga(options_.coordinator.mode);
    auto count = [&](const char* key) {
      const auto* v = sagas.if_contains(key);
      return v != nullptr ? v->to_number<int64_t>() : int64_t{0};
    };
    const int64_t running = count("running");
    sagas = json::object{{"running", running},
                         {"done", saga ? cross_shard - cross_shard_failed - running : 0},
                         {"compensating", count("compensating")},
                         {"compensated", saga ? static_cast<int64_t>(compensated.size()) : 0}};
  }
  // What became of the cross-shard transactions (results.drill.shards, docs/SHOP.md "Audit with shards").
  out["txn_outcomes"] = json::object{{"cross_shard_orders", cross_shard},
                                     {"cross_shard_failed", cross_shard_failed},
                                     {"decisions", std::move(decisions)},
                                     {"sagas", std::move(sagas)},
                                     {"released_parts_without_order", released_orphans}};
  out["orphan_parts"] = std::move(orphans);
  sort_by(skus, "product_id");
  sort_by(orders, "order_id");
  out["skus"] = std::move(skus);
  out["sku_totals"] = std::move(totals);
  out["orders_by_state"] = std::move(by_state);
  out["orders"] = std::move(orders);
  out["flash_sales"] = std::move(flash_sales);
  out["outbox"] = std::move(outbox);
  out["dead_letters"] = std::move(dead_letters);
  out["payments"] = std::move(payments);
  out["shards"] = std::move(shard_rows);
  out["prepared_transactions"] = prepared;
  out["sagas_open"] = sagas_open;
  out["txn"] = to_string(options_.coordinator.mode);
  return out;
}

store_gauges sharded_store::gauges() {
  std::map<std::string, int64_t> orders, outbox;
  store_gauges out;
  for (auto& s : shards_) {
    const store_gauges g = s->gauges();
    for (const auto& [state, n] : g.orders_by_state) orders[state] += n;
    for (const auto& [state, n] : g.outbox_by_state) outbox[state] += n;
    out.stock_units += g.stock_units;
    out.flash_remaining += g.flash_remaining;
  }
  out.orders_by_state.assign(orders.begin(), orders.end());
  out.outbox_by_state.assign(outbox.begin(), outbox.end());
  return out;
}

}  // namespace stampede::shop
