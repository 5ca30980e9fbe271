// The sharded store's writes that span shards: checkout (the order's header on the user's home shard, its
// part on the shard of each SKU) and the payment failure that returns the parts' stock. Both run through
// two_phase::run: one shard takes the one-phase fast path, several commit by two-phase commit.
#include <algorithm>
#include <map>
#include <set>

#include "reference_shop/shards.h"
#include "reference_shop/shards_internal.h"

namespace stampede::shop {

namespace sharding {

std::string bigint_array(const std::vector<order_line>& lines, int64_t order_line::*field) {
  std::string out = "{";
  for (const auto& l : lines) out += (out.size() > 1 ? "," : "") + std::to_string(l.*field);
  return out + "}";
}

// This shard's part of an order: stock taken by conditional updates in product order (the oversell guard,
// as the single store's), then the part and its lines. False when a product lacks stock (`short_of` says
// which): the caller aborts everything.
bool place_part(pg::connection& db, int64_t order_id, int64_t user_id, int home,
                const std::vector<order_line>& lines, int64_t now, int64_t& short_of) {
  int64_t subtotal = 0;
  for (const auto& l : lines) {
    auto r =
        db.query("UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2", l.product_id, l.qty);
    if (r.affected() == 0) {
      short_of = l.product_id;
      return false;
    }
    subtotal += l.qty * l.unit_price;
  }
  db.query(
      "INSERT INTO order_parts(order_id, user_id, home_shard, status, subtotal, created_at, updated_at) "
      "VALUES ($1, $2, $3, 'placed', $4, $5, $5)",
      order_id, user_id, int64_t{home}, subtotal, now);
  db.query(
      "INSERT INTO order_part_lines(order_id, product_id, qty, unit_price) "
      "SELECT $1::bigint, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[])",
      order_id, bigint_array(lines, &order_line::product_id), bigint_array(lines, &order_line::qty),
      bigint_array(lines, &order_line::unit_price));
  return true;
}

}  // namespace sharding

using sharding::bigint_array;
using sharding::place_part;

checkout_result sharded_store::checkout(int64_t user_id, std::string_view idempotency_key,
                                        std::string_view request_hash, const std::vector<line_request>& items,
                                        int64_t now) {
  const int k = shards();
  const int h = home_of_user(user_id, k);
  const bool from_cart = items.empty();
  const bool keyed = !idempotency_key.empty();
  for (int run = 1;; ++run) {
    checkout_result result;
    // On the home shard, before any transaction: a replay, the lines, their prices (reference data, the
    // same on every shard) and the order's id (from the home shard's sequence: id = home (mod K)).
    std::vector<line_request> requested = merged_lines(items);
    std::optional<int64_t> replay;
    std::map<int64_t, int64_t> price;
    int64_t order_id = 0;
    sharding::with_session(shard(h).pool(), [&](pg::connection& db) {
      if (keyed) {
        // A saga still placing (or compensating) its order is not an order yet: replaying it would
        // acknowledge what may still be undone, so the retry waits (503) until the saga has ended.
        auto r = db.query(
            "SELECT o.id, o.request_hash, COALESCE(x.saga, '') FROM orders o LEFT JOIN outbox x ON "
            "x.order_id "
            "= o.id WHERE o.user_id = $1 AND o.idempotency_key = $2",
            user_id, idempotency_key);
        if (r.rows() > 0 && (r.text(0, 2) == "place" || r.text(0, 2) == "compensate")) {
          throw store_unavailable(
              "checkout: the order with this Idempotency-Key is still being placed; retry");
        }
        if (r.rows() > 0) {
          if (r.text(0, 1) != request_hash) result.status = checkout_status::key_conflict;
          replay = r.int64(0, 0);
          return;
        }
      }
      if (from_cart) {
        auto r = db.query("SELECT product_id, qty FROM cart_items WHERE user_id = $1 ORDER BY product_id",
                          user_id);
        for (int i = 0; i < r.rows(); ++i) requested.push_back(line_request{r.int64(i, 0), r.int64(i, 1)});
      }
      if (requested.empty()) return;
      std::string ids = "{";
      for (const auto& l : requested) ids += (ids.size() > 1 ? "," : "") + std::to_string(l.product_id);
      auto p = db.query("SELECT id, price FROM products WHERE id = ANY($1::bigint[])", ids + "}");
      for (int i = 0; i < p.rows(); ++i) price[p.int64(i, 0)] = p.int64(i, 1);
      order_id = db.exec("SELECT nextval('orders_id_seq')").int64(0, 0);
    });
    if (result.status == checkout_status::key_conflict) return result;
    if (replay) {
      auto placed = shard(h).find_order(user_id, *replay);
      if (!placed) continue;  // cannot happen: orders are never deleted
      result.status = checkout_status::replayed;
      result.placed = std::move(*placed);
      return result;
    }
    if (requested.empty()) {
      result.status = checkout_status::empty_cart;
      return result;
    }
    std::map<int, std::vector<order_line>> parts;  // shard -> its lines, in product order
    std::vector<order_line> lines;
    int64_t total = 0;
    for (const auto& l : requested) {
      const auto it = price.find(l.product_id);
      if (it == price.end()) {
        result.status = checkout_status::unknown_product;
        result.product_id = l.product_id;
        return result;
      }
      lines.push_back(order_line{l.product_id, l.qty, it->second});
      parts[shard_of_product(l.product_id, k)].push_back(lines.back());
      total += l.qty * it->second;
    }
    // A cart whose SKUs are all on the home shard takes the one-phase path (two_phase::run with one shard) in
    // both modes; a saga is for carts that span shards.
    const bool single_shard = parts.size() == 1 && parts.begin()->first == h;
    if (two_phase::is_saga(options_.coordinator.mode) && !single_shard) {
      const saga_order o{user_id,
                         order_id,
                         total,
                         h,
                         keyed,
                         from_cart,
                         std::string{idempotency_key},
                         std::string{request_hash},
                         now,
                         lines,
                         parts};
      if (saga_checkout(o, result)) return result;
      if (run >= options_.shard.max_attempts) throw store_unavailable("checkout: kept conflicting");
      continue;  // the key was taken concurrently: replay
    }
    std::set<int> touched{h};
    for (const auto& [s, unused] : parts) touched.insert(s);
    const std::vector<int> participants(touched.begin(), touched.end());
    auto work = [&](int s, pg::connection& db) {
      if (s == h) {
        // The header first: the idempotency key's unique index decides between concurrent requests (a
        // second insert waits for the first transaction, prepared or not, then does nothing: run again and
        // replay), before this run writes anything else under the order's id (a run after a lost one-phase
        // COMMIT would otherwise hit its own part's primary key).
        auto o = db.query(
            "INSERT INTO orders(id, user_id, status, total, line_count, idempotency_key, request_hash, "
            "created_at, "
            "updated_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $7) "
            "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING "
            "id",
            order_id, user_id, total, static_cast<int64_t>(lines.size()),
            keyed ? pg::param{idempotency_key} : pg::param{std::nullopt},
            keyed ? pg::param{request_hash} : pg::param{std::nullopt}, now);
        if (o.rows() == 0) throw two_phase::rerun_transaction{};
        db.query(
            "INSERT INTO order_lines(order_id, product_id, qty, unit_price) "
            "SELECT $1::bigint, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[])",
            order_id, bigint_array(lines, &order_line::product_id), bigint_array(lines, &order_line::qty),
            bigint_array(lines, &order_line::unit_price));
        db.query(
            "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
            "VALUES ($1, 'pending', $2, $2, $2)",
            order_id, now);
        if (from_cart) db.query("DELETE FROM cart_items WHERE user_id = $1", user_id);
      }
      if (const auto part = parts.find(s); part != parts.end()) {
        int64_t short_of = 0;
        if (!place_part(db, order_id, user_id, h, part->second, now, short_of)) {
          result.status = checkout_status::out_of_stock;
          result.product_id = short_of;
          throw two_phase::abort_transaction{};
        }
      }
    };
    // With a key, a checkout whose one-phase commit was lost runs again and replays; without one, a second
    // run would place a second order (store_unavailable instead).
    const auto outcome = two_phase::run(pools(), participants, h, options_.coordinator, work, keyed);
    if (outcome == two_phase::outcome::rerun) {
      if (run >= options_.shard.max_attempts) {
        throw store_unavailable("checkout: kept conflicting with concurrent requests");
      }
      continue;
    }
    if (outcome == two_phase::outcome::aborted) return result;  // out of stock: nothing changed anywhere
    result.status = checkout_status::created;
    result.placed = order{order_id, user_id, "pending", total, std::move(lines), std::nullopt, {}, now};
    return result;
  }
}

// A definitive payment failure: the message settled and the order failed on its header's shard, and each
// part released (its stock returned) on its SKUs' shard, all or nothing. Every effect is conditional (the
// lease, the order still pending, the part still placed), so a second run changes nothing.
bool sharded_store::fail_payment(const outbox_message& m, std::string_view owner, std::string_view reason,
                                 bool dead_letter, int64_t now) {
  const int k = shards();
  const int h = static_cast<int>(m.order_id % k);
  std::set<int> touched{h};
  bool flash = false;
  sharding::with_session(shard(h).pool(), [&](pg::connection& db) {
    auto o = db.query("SELECT flash_sale_id IS NOT NULL FROM orders WHERE id = $1", m.order_id);
    flash = o.rows() > 0 && o.text(0, 0) == "t";
    auto r = db.query("SELECT product_id FROM order_lines WHERE order_id = $1", m.order_id);
    for (int i = 0; i < r.rows(); ++i) touched.insert(shard_of_product(r.int64(i, 0), k));
  });
  // A flash order is whole on shard 0 with its sale: the single store's own transaction.
  if (flash) return shard(h).fail_payment(m, owner, reason, dead_letter, now);
  if (two_phase::is_saga(options_.coordinator.mode))
    return saga_fail_payment(m, owner, reason, dead_letter, now);
  bool settled = false;
  auto work = [&](int s, pg::connection& db) {
    if (s == h) {
      settled =
          db.query(
                "UPDATE outbox SET state = $3, lease_owner = NULL, lease_until = NULL, last_error = $4, "
                "next_attempt_at = $5, updated_at = $5 WHERE id = $1 AND state = 'in_flight' AND "
                "lease_owner = $2",
                m.id, owner, dead_letter ? "dead" : "done", reason, now)
              .affected() > 0;
      if (!settled) throw two_phase::abort_transaction{};  // another worker holds the message now
      db.query(
          "UPDATE orders SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1 AND status = "
          "'pending'",
          m.order_id, reason, now);
    }
    auto part = db.query(
        "UPDATE order_parts SET status = 'released', updated_at = $2 WHERE order_id = $1 AND status = "
        "'placed'",
        m.order_id, now);
    if (part.affected() == 0) return;
    auto lines = db.query(
        "SELECT product_id, qty FROM order_part_lines WHERE order_id = $1 ORDER BY product_id", m.order_id);
    for (int i = 0; i < lines.rows(); ++i) {  // in product order, as checkout locks them
      db.query("UPDATE products SET stock = stock + $2 WHERE id = $1", lines.int64(i, 0), lines.int64(i, 1));
    }
  };
  const std::vector<int> participants(touched.begin(), touched.end());
  for (int run = 1; run <= options_.shard.max_attempts; ++run) {
    settled = false;
    const auto outcome = two_phase::run(pools(), participants, h, options_.coordinator, work, true);
    if (outcome != two_phase::outcome::rerun) return outcome == two_phase::outcome::committed && settled;
  }
  throw store_unavailable("fail_payment: kept conflicting with concurrent requests");
}

}  // namespace stampede::shop
