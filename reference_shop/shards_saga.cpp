// --txn saga (shards.h, docs/SHOP.md "Sharding"): a cross-shard checkout as a saga of local transactions,
// one per shard, with compensations instead of PREPARE. The saga's log is a row of `sagas` on the home shard:
//   1. home: the header (the idempotency key decides), its lines, the saga `running`, leased to this call;
//   2. each SKU shard in ascending order: its part (conditional stock updates), one local transaction each;
//   3. home: the saga `done` (only while still running and ours), the payment message, the cart cleared:
//      only now is the order acknowledged (201) and visible to the payment pipeline.
// A part that finds no stock, or any failure, compensates: every part released (stock back; a released
// tombstone where none was placed yet, so a late step cannot place it), then the header removed and the saga
// `compensated`. A coordinator that dies leaves the saga `running`: once its lease expires a recovery pass on
// any node claims it (`compensating`, so the late coordinator's step 3 finds it gone) and compensates. A
// payment failure is a saga too (`release`): the order failed and the message settled on the home shard,
// then every part released. Every step is idempotent. What a saga gives up against 2PC: isolation (a
// concurrent reader may see a header or a part of an order that is then compensated) and an acknowledged
// answer only after every step; what it gains: no locks held across shards, nothing in doubt.
#include <random>
#include <set>

#include "reference_shop/shards.h"
#include "reference_shop/shards_internal.h"

namespace stampede::shop {

namespace {

// `fn` in one local transaction on a session of `pool`: committed when it returns true, rolled back
// otherwise.
template <class F>
void local_transaction(pg_pool& pool, F&& fn) {
  sharding::with_session(pool, [&](pg::connection& db) {
    db.exec("BEGIN ISOLATION LEVEL READ COMMITTED");
    if (fn(db)) {
      db.commit();
    } else {
      db.exec("ROLLBACK");
    }
  });
}

std::string join(const std::vector<int>& shards) {
  std::string out;
  for (const int s : shards) out += (out.empty() ? "" : ",") + std::to_string(s);
  return out;
}

std::vector<int> split(const std::string& text) {
  std::vector<int> out;
  for (size_t start = 0; start < text.size();) {
    const size_t comma = std::min(text.find(',', start), text.size());
    out.push_back(std::stoi(text.substr(start, comma - start)));
    start = comma + 1;
  }
  return out;
}

std::string new_owner() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return "saga-" + std::to_string(random() >> 1);
}

}  // namespace

bool sharded_store::saga_checkout(const saga_order& o, checkout_result& result) {
  std::vector<int> part_shards;
  for (const auto& [s, unused] : o.parts) part_shards.push_back(s);
  const std::string owner = new_owner();
  bool inserted = false;
  local_transaction(shard(o.home).pool(), [&](pg::connection& db) {
    auto r = db.query(
        "INSERT INTO orders(id, user_id, status, total, line_count, idempotency_key, request_hash, "
        "created_at, "
        "updated_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $7) "
        "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
        o.order_id, o.user_id, o.total, static_cast<int64_t>(o.lines.size()),
        o.keyed ? pg::param{o.key} : pg::param{std::nullopt},
        o.keyed ? pg::param{o.hash} : pg::param{std::nullopt}, o.now);
    if (r.rows() == 0) return false;
    db.query(
        "INSERT INTO order_lines(order_id, product_id, qty, unit_price) "
        "SELECT $1::bigint, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[])",
        o.order_id, sharding::bigint_array(o.lines, &order_line::product_id),
        sharding::bigint_array(o.lines, &order_line::qty),
        sharding::bigint_array(o.lines, &order_line::unit_price));
    db.query(
        "INSERT INTO sagas(order_id, user_id, kind, state, part_shards, lease_owner, lease_until, "
        "updated_at) "
        "VALUES ($1, $2, 'checkout', 'running', $3, $4, $5, $6)",
        o.order_id, o.user_id, join(part_shards), owner, o.now + options_.lease.count(), o.now);
    inserted = true;
    return true;
  });
  if (!inserted) return false;
  for (const auto& part : o.parts) {
    const auto s = part.first;
    const auto& lines = part.second;  // named, not a structured binding: the lambda below uses it (clang 14)
    int64_t short_of = 0;
    bool placed = false;
    try {
      local_transaction(shard(s).pool(), [&](pg::connection& db) {
        placed = sharding::place_part(db, o.order_id, o.user_id, o.home, lines, o.now, short_of);
        return placed;
      });
    } catch (const pg::error& e) {
      if (!e.unique_violation()) throw;  // recovery compensated first: its tombstone holds the part's key
    }
    if (!placed) {
      compensate(o.home, o.order_id, o.user_id, part_shards, true, o.now);
      if (short_of == 0) throw store_unavailable("checkout: the saga was compensated; nothing was changed");
      result.status = checkout_status::out_of_stock;
      result.product_id = short_of;
      return true;
    }
    // Test seam and game days: `prepared` is "a part is placed" in a saga.
    const auto& hook = options_.coordinator.hook;
    if (hook && !hook(two_phase::point::prepared, "saga:" + std::to_string(o.order_id))) {
      throw store_unavailable("saga abandoned after a part (test seam)");
    }
  }
  bool done = false;
  local_transaction(shard(o.home).pool(), [&](pg::connection& db) {
    done = db.query(
                 "UPDATE sagas SET state = 'done', updated_at = $3 WHERE order_id = $1 AND state = 'running' "
                 "AND "
                 "lease_owner = $2",
                 o.order_id, owner, o.now)
               .affected() > 0;
    if (!done) return false;
    db.query(
        "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
        "VALUES ($1, 'pending', $2, $2, $2)",
        o.order_id, o.now);
    if (o.from_cart) db.query("DELETE FROM cart_items WHERE user_id = $1", o.user_id);
    return true;
  });
  if (!done) throw store_unavailable("checkout: the saga outlived its lease and recovery compensated it");
  result.status = checkout_status::created;
  result.placed = order{o.order_id, o.user_id, "pending", o.total, o.lines, std::nullopt, {}, o.now};
  return true;
}

void sharded_store::release_part(int s, int64_t order_id, int64_t user_id, int home, int64_t now) {
  for (int attempt = 1;; ++attempt) {
    try {
      local_transaction(shard(s).pool(), [&](pg::connection& db) {
        auto r = db.query("SELECT status FROM order_parts WHERE order_id = $1 FOR UPDATE", order_id);
        if (r.rows() == 0) {  // not placed (yet): a tombstone, so that a late step cannot place it
          db.query(
              "INSERT INTO order_parts(order_id, user_id, home_shard, status, subtotal, created_at, "
              "updated_at) "
              "VALUES ($1, $2, $3, 'released', 0, $4, $4)",
              order_id, user_id, int64_t{home}, now);
          return true;
        }
        if (r.text(0, 0) != "placed") return false;  // released before
        db.query("UPDATE order_parts SET status = 'released', updated_at = $2 WHERE order_id = $1", order_id,
                 now);
        auto lines = db.query(
            "SELECT product_id, qty FROM order_part_lines WHERE order_id = $1 ORDER BY product_id", order_id);
        for (int i = 0; i < lines.rows(); ++i) {  // in product order, as checkouts lock them
          db.query("UPDATE products SET stock = stock + $2 WHERE id = $1", lines.int64(i, 0),
                   lines.int64(i, 1));
        }
        return true;
      });
      return;
    } catch (const pg::error& e) {
      // The part was being placed while we inserted the tombstone: it is there now, release it.
      if (!e.unique_violation() || attempt >= 3) throw;
    }
  }
}

void sharded_store::compensate(int home, int64_t order_id, int64_t user_id,
                               const std::vector<int>& part_shards, bool checkout, int64_t now) {
  // The broken mode skips the compensating steps themselves: the parts keep their stock.
  if (options_.coordinator.mode != two_phase::protocol::saga_no_compensation) {
    for (const int s : part_shards) release_part(s, order_id, user_id, home, now);
  }
  local_transaction(shard(home).pool(), [&](pg::connection& db) {
    auto r = db.query(
        "UPDATE sagas SET state = 'compensated', updated_at = $2 WHERE order_id = $1 AND state IN "
        "('running', "
        "'compensating') RETURNING kind",
        order_id, now);
    if (r.rows() == 0) return false;  // compensated by someone else already
    if (checkout && r.text(0, 0) == "checkout") {
      // Never acknowledged (the 201 comes after `done`): the order never existed for the customer.
      db.query("DELETE FROM order_lines WHERE order_id = $1", order_id);
      db.query("DELETE FROM orders WHERE id = $1 AND status = 'pending'", order_id);
    }
    return true;
  });
}

bool sharded_store::saga_fail_payment(const outbox_message& m, std::string_view owner,
                                      std::string_view reason, bool dead_letter, int64_t now,
                                      const std::vector<int>& part_shards) {
  const int h = static_cast<int>(m.order_id % shards());
  bool settled = false;
  int64_t user_id = 0;
  local_transaction(shard(h).pool(), [&](pg::connection& db) {
    settled = db.query(
                    "UPDATE outbox SET state = $3, lease_owner = NULL, lease_until = NULL, last_error = $4, "
                    "next_attempt_at = $5, updated_at = $5 WHERE id = $1 AND state = 'in_flight' AND "
                    "lease_owner = $2",
                    m.id, owner, dead_letter ? "dead" : "done", reason, now)
                  .affected() > 0;
    if (!settled) return false;
    db.query(
        "UPDATE orders SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1 AND status = "
        "'pending'",
        m.order_id, reason, now);
    user_id = db.query("SELECT user_id FROM orders WHERE id = $1", m.order_id).int64(0, 0);
    // The release saga, leased: if this call dies half-way, recovery releases the rest.
    db.query(
        "INSERT INTO sagas(order_id, user_id, kind, state, part_shards, lease_owner, lease_until, "
        "updated_at) "
        "VALUES ($1, $2, 'release', 'compensating', $3, $4, $5, $6) ON CONFLICT (order_id) DO UPDATE SET "
        "kind = 'release', state = 'compensating', part_shards = excluded.part_shards, lease_owner = "
        "excluded.lease_owner, lease_until = excluded.lease_until, updated_at = excluded.updated_at",
        m.order_id, user_id, join(part_shards), new_owner(), now + options_.lease.count(), now);
    return true;
  });
  if (!settled) return false;
  compensate(h, m.order_id, user_id, part_shards, false, now);
  return true;
}

int sharded_store::recover_sagas(int64_t now) {
  int compensated = 0;
  const std::string owner = new_owner();
  for (int h = 0; h < shards(); ++h) {
    struct claimed {
      int64_t order_id, user_id;
      std::vector<int> part_shards;
      bool checkout;
    };
    std::vector<claimed> sagas;
    try {
      sharding::with_session(shard(h).pool(), [&](pg::connection& db) {
        // Claimed as `compensating`: a late coordinator's last step (state = 'running') then finds it gone.
        auto r = db.query(
            "UPDATE sagas SET state = 'compensating', lease_owner = $1, lease_until = $2 + $3, updated_at = "
            "$2 "
            "WHERE order_id IN (SELECT order_id FROM sagas WHERE state IN ('running', 'compensating') AND "
            "lease_until < $2 ORDER BY order_id LIMIT 100 FOR UPDATE SKIP LOCKED) "
            "RETURNING order_id, user_id, part_shards, kind",
            owner, now, static_cast<int64_t>(options_.lease.count()));
        for (int i = 0; i < r.rows(); ++i) {
          sagas.push_back(
              claimed{r.int64(i, 0), r.int64(i, 1), split(r.text(i, 2)), r.text(i, 3) == "checkout"});
        }
      });
      for (const auto& s : sagas) {
        compensate(h, s.order_id, s.user_id, s.part_shards, s.checkout, now);
        ++compensated;
      }
    } catch (const store_unavailable&) {
      // a shard out of reach: the claimed sagas' leases expire again and the next pass retries
    }
  }
  return compensated;
}

}  // namespace stampede::shop
