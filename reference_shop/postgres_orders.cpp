// The PostgreSQL store's orders: checkout, flash sales and the outbox (payment pipeline). Row locks are
// always taken in the same order (products by id; a user's flash purchase row before the sale's row), so
// concurrent transactions queue instead of deadlocking; a deadlock would still be retried by the runner.
#include <algorithm>
#include <chrono>
#include <thread>

#include "reference_shop/postgres_store.h"

namespace stampede::shop {

namespace {

order read_order_row(const pg::result& r, int row) {
  // Columns: id, user_id, status, total, flash_sale_id, failure, created_at
  order o;
  o.id = r.int64(row, 0);
  o.user_id = r.int64(row, 1);
  o.status = r.text(row, 2);
  o.total = r.int64(row, 3);
  if (!r.is_null(row, 4)) o.flash_sale_id = r.int64(row, 4);
  o.failure = r.text(row, 5);
  o.created_at = r.int64(row, 6);
  return o;
}

// "{1,2,3}": a bigint[] parameter.
template <class F>
std::string int_array(const std::vector<order_line>& lines, F field) {
  std::string out = "{";
  for (const auto& l : lines) {
    if (out.size() > 1) out += ',';
    out += std::to_string(field(l));
  }
  return out + "}";
}

// Moves a leased message on; false when `owner` no longer holds the lease (another worker owns it now).
bool settle_message(pg::connection& db, const outbox_message& m, std::string_view owner, const char* state,
                    std::string_view error, int64_t next_attempt_at, int64_t now) {
  return db.query(
               "UPDATE outbox SET state = $3, lease_owner = NULL, lease_until = NULL, last_error = $4, "
               "next_attempt_at = $5, updated_at = $6 WHERE id = $1 AND state = 'in_flight' AND lease_owner "
               "= $2",
               m.id, owner, state, error.empty() ? pg::param{std::nullopt} : pg::param{error},
               next_attempt_at, now)
             .affected() > 0;
}

}  // namespace

std::vector<order_line> postgres_store::order_lines(pg::connection& db, int64_t order_id) {
  std::vector<order_line> lines;
  auto r =
      db.query("SELECT product_id, qty, unit_price FROM order_lines WHERE order_id = $1 ORDER BY product_id",
               order_id);
  for (int i = 0; i < r.rows(); ++i) lines.push_back(order_line{r.int64(i, 0), r.int64(i, 1), r.int64(i, 2)});
  return lines;
}

std::optional<order> postgres_store::load_order(pg::connection& db, int64_t order_id) {
  auto r = db.query(
      "SELECT id, user_id, status, total, flash_sale_id, failure, created_at FROM orders WHERE id = $1",
      order_id);
  if (r.rows() == 0) return std::nullopt;
  order o = read_order_row(r, 0);
  o.lines = order_lines(db, order_id);
  return o;
}

checkout_result postgres_store::checkout(int64_t user_id, std::string_view idempotency_key,
                                         std::string_view request_hash,
                                         const std::vector<line_request>& items, int64_t now) {
  checkout_result result;
  const bool from_cart = items.empty();
  const std::vector<line_request> requested = merged_lines(items);
  const bool keyed = !idempotency_key.empty();
  run("checkout", mode::write, [&](pg::connection& db, transaction& tx) {
    result = {};
    // With a key, a second run finds the first run's order and replays it; without one it would place a
    // second order, so that call fails instead (store_unavailable).
    tx.rerun_after_unknown_commit(keyed);
    if (keyed) {
      auto r = db.query("SELECT id, request_hash FROM orders WHERE user_id = $1 AND idempotency_key = $2",
                        user_id, idempotency_key);
      if (r.rows() > 0) {
        if (r.text(0, 1) != request_hash) {
          result.status = checkout_status::key_conflict;
          return;
        }
        result.status = checkout_status::replayed;
        result.placed = *load_order(db, r.int64(0, 0));
        return;
      }
    }
    std::vector<line_request> lines = requested;
    if (from_cart) {
      auto r =
          db.query("SELECT product_id, qty FROM cart_items WHERE user_id = $1 ORDER BY product_id", user_id);
      for (int i = 0; i < r.rows(); ++i) lines.push_back(line_request{r.int64(i, 0), r.int64(i, 1)});
    }
    if (lines.empty()) {
      result.status = checkout_status::empty_cart;
      return;
    }
    std::vector<order_line> placed;
    int64_t total = 0;
    for (const auto& l : lines) {
      // The oversell guard: the row lock makes concurrent decrements queue, and the condition is checked
      // again on the newest row version, so stock cannot go below zero (CHECK (stock >= 0) backs it up).
      auto r =
          db.query("UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2 RETURNING price",
                   l.product_id, l.qty);
      if (r.rows() == 0) {
        const bool exists = db.query("SELECT 1 FROM products WHERE id = $1", l.product_id).rows() > 0;
        result.status = exists ? checkout_status::out_of_stock : checkout_status::unknown_product;
        result.product_id = l.product_id;
        return;  // rolled back: earlier decrements are undone
      }
      placed.push_back(order_line{l.product_id, l.qty, r.int64(0, 0)});
      total += r.int64(0, 0) * l.qty;
    }
    auto o = db.query(
        "INSERT INTO orders(user_id, status, total, line_count, idempotency_key, request_hash, created_at, "
        "updated_at) VALUES ($1, 'pending', $2, $3, $4, $5, $6, $6) "
        "ON CONFLICT (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING RETURNING id",
        user_id, total, static_cast<int64_t>(placed.size()),
        keyed ? pg::param{idempotency_key} : pg::param{std::nullopt},
        keyed ? pg::param{request_hash} : pg::param{std::nullopt}, now);
    // A concurrent request with the same key committed first (this insert waited for it): run again, and
    // the next run replays that order.
    if (o.rows() == 0) throw rerun_transaction{};
    const int64_t order_id = o.int64(0, 0);
    db.query(
        "INSERT INTO order_lines(order_id, product_id, qty, unit_price) "
        "SELECT $1::bigint, * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[])",
        order_id, int_array(placed, [](auto& l) { return l.product_id; }),
        int_array(placed, [](auto& l) { return l.qty; }),
        int_array(placed, [](auto& l) { return l.unit_price; }));
    db.query(
        "INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
        "VALUES ($1, 'pending', $2, $2, $2)",
        order_id, now);
    if (from_cart) db.query("DELETE FROM cart_items WHERE user_id = $1", user_id);
    tx.commit();
    result.status = checkout_status::created;
    result.placed = order{order_id, user_id, "pending", total, std::move(placed), std::nullopt, {}, now};
  });
  return result;
}

std::optional<order> postgres_store::find_order(int64_t user_id, int64_t order_id) {
  std::optional<order> out;
  run("find_order", mode::snapshot, [&](pg::connection& db, transaction& tx) {
    out = load_order(db, order_id);
    if (out && out->user_id != user_id) out.reset();  // another user's order does not exist for you
    tx.commit();
  });
  return out;
}

std::vector<order> postgres_store::list_orders(int64_t user_id, int64_t limit) {
  std::vector<order> out;
  run("list_orders", mode::snapshot, [&](pg::connection& db, transaction& tx) {
    out = orders_of(db, user_id, limit);
    tx.commit();
  });
  return out;
}

std::vector<order> postgres_store::orders_of(pg::connection& db, int64_t user_id, int64_t limit) {
  std::vector<order> out;
  auto r = db.query(
      "SELECT id, user_id, status, total, flash_sale_id, failure, created_at FROM orders WHERE user_id = $1 "
      "ORDER BY id DESC LIMIT $2",
      user_id, limit);
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_order_row(r, i));
  for (auto& o : out) o.lines = order_lines(db, o.id);
  return out;
}

std::optional<std::string> postgres_store::wal_position() {
  std::optional<std::string> out;
  run("wal_position", mode::read, [&](pg::connection& db, transaction&) {
    // On a replica (reads routed there by mistake) the position it has received; on the primary, written.
    auto r = db.exec(
        "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() "
        "END::text");
    if (r.rows() == 1 && !r.is_null(0, 0)) out = r.text(0, 0);
  });
  return out;
}

// Whether the server of `db` has replayed WAL up to `lsn` (a server out of recovery has all of its WAL),
// asking every 5 ms until `bound` passes. On the session the read then uses: a replica behind HAProxy's
// round robin is the one that was asked.
bool postgres_store::replayed(pg::connection& db, std::string_view lsn, std::chrono::milliseconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  const std::string wanted{lsn};
  while (true) {
    auto r = db.query(
        "SELECT NOT pg_is_in_recovery() OR coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", wanted);
    if (r.rows() == 1 && r.text(0, 0) == "t") return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // replay has no event a client can wait on
  }
}

// A snapshot read after the replay wait, on the same session (run()'s read mode opens no transaction).
template <class T, class F>
std::optional<T> postgres_store::read_replayed(std::string_view name, std::string_view lsn,
                                               std::chrono::milliseconds bound, F&& read) {
  std::optional<T> out;
  run(name, mode::read, [&](pg::connection& db, transaction&) {
    out.reset();
    if (!replayed(db, lsn, bound)) return;
    db.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    try {
      T value = read(db);
      db.exec("COMMIT");
      out = std::move(value);
    } catch (const pg::error& e) {
      if (!e.connection_lost()) db.exec("ROLLBACK");
      throw;
    }
  });
  return out;
}

std::optional<std::optional<order>> postgres_store::find_order_replayed(int64_t user_id, int64_t order_id,
                                                                        std::string_view lsn,
                                                                        std::chrono::milliseconds bound) {
  return read_replayed<std::optional<order>>("find_order_replayed", lsn, bound, [&](pg::connection& db) {
    auto o = load_order(db, order_id);
    if (o && o->user_id != user_id) o.reset();  // another user's order does not exist for you
    return o;
  });
}

std::optional<std::vector<order>> postgres_store::list_orders_replayed(int64_t user_id, int64_t limit,
                                                                       std::string_view lsn,
                                                                       std::chrono::milliseconds bound) {
  return read_replayed<std::vector<order>>("list_orders_replayed", lsn, bound,
                                           [&](pg::connection& db) { return orders_of(db, user_id, limit); });
}

std::optional<int64_t> postgres_store::create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                                         int64_t per_user_limit, int64_t starts_at) {
  std::optional<int64_t> id;
  // Not run again after an unknown commit: a second run would create a second sale.
  run("create_flash_sale", mode::write, [&](pg::connection& db, transaction& tx) {
    auto r = db.query(
        "INSERT INTO flash_sales(product_id, price, stock, remaining, per_user_limit, starts_at) "
        "SELECT id, $2, $3, $3, $4, $5 FROM products WHERE id = $1 RETURNING id",
        product_id, price, stock, per_user_limit, starts_at);
    id = r.rows() > 0 ? std::optional{r.int64(0, 0)} : std::nullopt;
    tx.commit();
  });
  return id;
}

std::optional<flash_sale> postgres_store::find_flash_sale(int64_t id) {
  std::optional<flash_sale> out;
  run("find_flash_sale", mode::read, [&](pg::connection& db, transaction&) {
    auto r = db.query(
        "SELECT id, product_id, price, stock, remaining, per_user_limit, starts_at FROM flash_sales WHERE id "
        "= $1",
        id);
    out = r.rows() == 0 ? std::nullopt
                        : std::optional{flash_sale{r.int64(0, 0), r.int64(0, 1), r.int64(0, 2), r.int64(0, 3),
                                                   r.int64(0, 4), r.int64(0, 5), r.int64(0, 6)}};
  });
  return out;
}

purchase_result postgres_store::flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) {
  purchase_result result;
  run("flash_purchase", mode::write, [&](pg::connection& db, transaction& tx) {
    result = {};
    auto s = db.query(
        "SELECT s.product_id, s.price, s.per_user_limit, s.starts_at, s.remaining, COALESCE(p.count, 0) "
        "FROM flash_sales s LEFT JOIN flash_purchases p ON p.sale_id = s.id AND p.user_id = $2 WHERE s.id = "
        "$1",
        sale_id, user_id);
    if (s.rows() == 0) {
      result.status = purchase_status::unknown_sale;
      return;
    }
    const int64_t product_id = s.int64(0, 0), price = s.int64(0, 1), limit = s.int64(0, 2);
    if (now < s.int64(0, 3)) {
      result.status = purchase_status::not_started;
      return;
    }
    // With one unit per user, "this user holds a unit of this sale" is exactly what the first run did, so
    // a second run answers with that order; with more per user it cannot tell, and the call fails instead.
    tx.rerun_after_unknown_commit(limit == 1);
    if (tx.after_unknown_commit() && limit == 1) {
      auto mine = db.query(
          "SELECT id FROM orders WHERE flash_sale_id = $1 AND user_id = $2 AND status IN ('pending', 'paid') "
          "ORDER BY id DESC LIMIT 1",
          sale_id, user_id);
      if (mine.rows() > 0) {
        result.order_id = mine.int64(0, 0);
        return;  // created (by the first run)
      }
    }
    // Cheap answers from the snapshot; the guarded statements below decide when it matters.
    if (s.int64(0, 5) >= limit) {
      result.status = purchase_status::already_bought;
      return;
    }
    if (s.int64(0, 4) <= 0) {
      result.status = purchase_status::sold_out;
      return;
    }
    // The per-user guard: counts up only below the limit (the row lock queues the same user's purchases;
    // CHECK (count <= per_user_limit) backs it up).
    auto claimed = db.query(
        "INSERT INTO flash_purchases(sale_id, user_id, count, per_user_limit) VALUES ($1, $2, 1, $3) "
        "ON CONFLICT (sale_id, user_id) DO UPDATE SET count = flash_purchases.count + 1 "
        "WHERE flash_purchases.count < flash_purchases.per_user_limit RETURNING count",
        sale_id, user_id, limit);
    if (claimed.rows() == 0) {
      result.status = purchase_status::already_bought;
      return;
    }
    auto o = db.query(
        "WITH o AS (INSERT INTO orders(user_id, status, total, line_count, flash_sale_id, created_at, "
        "updated_at) "
        "VALUES ($1, 'pending', $2, 1, $3, $4, $4) RETURNING id), "
        "l AS (INSERT INTO order_lines(order_id, product_id, qty, unit_price) SELECT id, $5::bigint, 1, "
        "$2::bigint FROM o), "
        "x AS (INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
        "SELECT id, 'pending', $4::bigint, $4::bigint, $4::bigint FROM o) SELECT id FROM o",
        user_id, price, sale_id, now, product_id);
    // The stock guard, last: the sale's row is the hot one, so its lock is held only until COMMIT.
    if (db.query("UPDATE flash_sales SET remaining = remaining - 1 WHERE id = $1 AND remaining >= 1", sale_id)
            .affected() == 0) {
      result.status = purchase_status::sold_out;
      return;  // rolled back: the purchase row and the order go too
    }
    tx.commit();
    result.order_id = o.int64(0, 0);
  });
  return result;
}

namespace {

// Why a batch member took no unit (its decrement matched no row), in the order flash_purchase() answers:
// unknown sale, not started, the user's limit reached, sold out.
purchase_status refusal(pg::connection& db, const purchase_request& r) {
  auto s = db.query(
      "SELECT s.per_user_limit, s.starts_at, COALESCE(p.count, 0) FROM flash_sales s "
      "LEFT JOIN flash_purchases p ON p.sale_id = s.id AND p.user_id = $2 WHERE s.id = $1",
      r.sale_id, r.user_id);
  if (s.rows() == 0) return purchase_status::unknown_sale;
  if (r.now < s.int64(0, 1)) return purchase_status::not_started;
  return s.int64(0, 2) >= s.int64(0, 0) ? purchase_status::already_bought : purchase_status::sold_out;
}

}  // namespace

// The batch in one transaction: the sale's row is locked by the first decrement and held to the one COMMIT
// (one flush for the whole batch, where flash_purchase() takes the lock and a flush per purchase). Each
// member is one statement: the decrement (which reads the sale), the per-user upsert (at the limit the unit
// is given back) and the order with its line and outbox message. Members after the first lock a purchase row
// while holding the sale's row (release_stock takes them the other way round): a payment failing for a buyer
// of the batch at that moment can deadlock with it, and PostgreSQL's detection aborts one of the two, which
// run() retries (40P01).
std::vector<purchase_outcome> postgres_store::flash_purchases(std::span<const purchase_request> batch) {
  if (batch.size() <= 1) return store::flash_purchases(batch);
  std::vector<purchase_outcome> out;
  try {
    run("flash_purchases", mode::write, [&](pg::connection& db, transaction& tx) {
      out.assign(batch.size(), purchase_outcome{});
      // After a lost COMMIT a member with one unit per user that holds an order of the sale got it from the
      // first run (as in flash_purchase()); with more per user a second run cannot tell, so the batch is run
      // again only if every unit it took was of a one-per-user sale.
      bool rerun_safe = true;
      for (size_t i = 0; i < batch.size(); ++i) {
        const auto& r = batch[i];
        auto& result = out[i].result;
        if (tx.after_unknown_commit()) {
          auto mine = db.query(
              "SELECT o.id FROM orders o JOIN flash_sales s ON s.id = o.flash_sale_id "
              "WHERE o.flash_sale_id = $1 AND o.user_id = $2 AND o.status IN ('pending', 'paid') "
              "AND s.per_user_limit = 1 "
              "ORDER BY o.id DESC LIMIT 1",
              r.sale_id, r.user_id);
          if (mine.rows() > 0) {
            result.order_id = mine.int64(0, 0);
            continue;  // created (by the first run)
          }
        }
        // One statement, one round trip while the batch holds the sale's row: the decrement, the per-user
        // upsert fed by it, and the order with its line and outbox message fed by both.
        auto p = db.query(
            "WITH s AS (UPDATE flash_sales SET remaining = remaining - 1 "
            "WHERE id = $1::bigint AND remaining >= 1 AND starts_at <= $3::bigint "
            "RETURNING product_id, price, per_user_limit), "
            "c AS (INSERT INTO flash_purchases(sale_id, user_id, count, per_user_limit) "
            "SELECT $1::bigint, $2::bigint, 1, per_user_limit FROM s "
            "ON CONFLICT (sale_id, user_id) DO UPDATE SET count = flash_purchases.count + 1 "
            "WHERE flash_purchases.count < flash_purchases.per_user_limit RETURNING count), "
            "o AS (INSERT INTO orders(user_id, status, total, line_count, flash_sale_id, created_at, "
            "updated_at) SELECT $2::bigint, 'pending', s.price, 1, $1::bigint, $3::bigint, $3::bigint "
            "FROM s, c RETURNING id), "
            "l AS (INSERT INTO order_lines(order_id, product_id, qty, unit_price) "
            "SELECT o.id, s.product_id, 1, s.price FROM o, s), "
            "x AS (INSERT INTO outbox(order_id, state, next_attempt_at, created_at, updated_at) "
            "SELECT o.id, 'pending', $3::bigint, $3::bigint, $3::bigint FROM o) "
            "SELECT (SELECT count(*) FROM s), (SELECT id FROM o), (SELECT per_user_limit FROM s)",
            r.sale_id, r.user_id, r.now);
        if (p.int64(0, 0) == 0) {
          result.status = refusal(db, r);
          continue;
        }
        if (p.is_null(0, 1)) {  // at the user's limit: the unit goes back
          db.query("UPDATE flash_sales SET remaining = remaining + 1 WHERE id = $1", r.sale_id);
          result.status = purchase_status::already_bought;
          continue;
        }
        if (p.int64(0, 2) != 1) rerun_safe = false;
        result.order_id = p.int64(0, 1);
      }
      tx.rerun_after_unknown_commit(rerun_safe);
      tx.commit();
    });
  } catch (...) {
    // Nothing was committed, or (a lost COMMIT that could not be run again) the outcome is unknown: every
    // member gets the error, as flash_purchase() would answer each.
    out.assign(batch.size(), purchase_outcome{{}, std::current_exception()});
  }
  return out;
}

std::vector<outbox_message> postgres_store::claim_outbox(std::string_view owner, int64_t now,
                                                         int64_t lease_ms, int64_t max) {
  std::vector<outbox_message> out;
  // Not run again after an unknown commit: the leases expire and the messages are delivered again.
  run("claim_outbox", mode::write, [&](pg::connection& db, transaction& tx) {
    out.clear();
    // SKIP LOCKED: workers of every node claim different messages without waiting for each other.
    auto r = db.query(
        "WITH due AS (SELECT id FROM outbox WHERE (state = 'pending' AND next_attempt_at <= $3) "
        "OR (state = 'in_flight' AND lease_until < $3) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) "
        "UPDATE outbox o SET state = 'in_flight', lease_owner = $1, lease_until = $2, attempts = o.attempts "
        "+ 1, "
        "updated_at = $3 FROM due WHERE o.id = due.id "
        "RETURNING o.id, o.order_id, o.attempts, (SELECT total FROM orders WHERE id = o.order_id)",
        owner, now + lease_ms, now, max);
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(
          outbox_message{r.int64(i, 0), r.int64(i, 1), r.int64(i, 2), r.is_null(i, 3) ? 0 : r.int64(i, 3)});
    }
    tx.commit();
  });
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

bool postgres_store::complete_payment(const outbox_message& m, std::string_view owner,
                                      std::string_view gateway_ref, int64_t now) {
  bool settled = false;
  run("complete_payment", mode::write, [&](pg::connection& db, transaction& tx) {
    // Every effect is conditional (lease held, order pending, one capture per order): a second run
    // changes nothing and answers false ("already settled").
    tx.rerun_after_unknown_commit();
    settled = settle_message(db, m, owner, "done", {}, now, now);
    if (!settled) return;
    db.query("UPDATE orders SET status = 'paid', updated_at = $2 WHERE id = $1 AND status = 'pending'",
             m.order_id, now);
    db.query(
        "INSERT INTO payments(order_id, kind, amount, gateway_ref, created_at) VALUES ($1, 'capture', $2, "
        "$3, $4) "
        "ON CONFLICT (order_id, kind) DO NOTHING",
        m.order_id, m.amount, gateway_ref, now);
    tx.commit();
  });
  return settled;
}

void postgres_store::release_stock(pg::connection& db, int64_t order_id) {
  auto r = db.query("SELECT user_id, flash_sale_id FROM orders WHERE id = $1", order_id);
  if (r.rows() == 0) return;
  if (!r.is_null(0, 1)) {
    // The purchase row before the sale's row: the order flash_purchase locks them in.
    db.query("UPDATE flash_purchases SET count = count - 1 WHERE sale_id = $1 AND user_id = $2 AND count > 0",
             r.int64(0, 1), r.int64(0, 0));
    db.query("UPDATE flash_sales SET remaining = remaining + 1 WHERE id = $1", r.int64(0, 1));
    return;
  }
  for (const auto& line : order_lines(db, order_id)) {  // in product order, as checkout locks them
    db.query("UPDATE products SET stock = stock + $2 WHERE id = $1", line.product_id, line.qty);
  }
}

bool postgres_store::fail_payment(const outbox_message& m, std::string_view owner, std::string_view reason,
                                  bool dead_letter, int64_t now) {
  bool settled = false;
  run("fail_payment", mode::write, [&](pg::connection& db, transaction& tx) {
    tx.rerun_after_unknown_commit();  // conditional on the lease and on the order still pending
    settled = settle_message(db, m, owner, dead_letter ? "dead" : "done", reason, now, now);
    if (!settled) return;
    auto r = db.query(
        "UPDATE orders SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1 AND status = "
        "'pending'",
        m.order_id, reason, now);
    if (r.affected() > 0) release_stock(db, m.order_id);  // only on the transition: released once
    tx.commit();
  });
  return settled;
}

bool postgres_store::retry_payment(const outbox_message& m, std::string_view owner, std::string_view error,
                                   int64_t next_attempt_at) {
  bool settled = false;
  run("retry_payment", mode::write, [&](pg::connection& db, transaction& tx) {
    tx.rerun_after_unknown_commit();  // conditional on the lease
    settled = settle_message(db, m, owner, "pending", error, next_attempt_at, next_attempt_at);
    if (settled) tx.commit();
  });
  return settled;
}

void postgres_store::record_refund(int64_t order_id, int64_t amount, std::string_view gateway_ref,
                                   int64_t now) {
  run("record_refund", mode::write, [&](pg::connection& db, transaction& tx) {
    tx.rerun_after_unknown_commit();  // one refund row per order
    db.query(
        "INSERT INTO payments(order_id, kind, amount, gateway_ref, created_at) VALUES ($1, 'refund', $2, $3, "
        "$4) "
        "ON CONFLICT (order_id, kind) DO NOTHING",
        order_id, amount, gateway_ref, now);
    tx.commit();
  });
}

int64_t postgres_store::outbox_due(int64_t now) {
  int64_t due = 0;
  run("outbox_due", mode::read, [&](pg::connection& db, transaction&) {
    due = db.query(
                "SELECT (SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND next_attempt_at <= $1) + "
                "(SELECT COUNT(*) FROM outbox WHERE state = 'in_flight' AND lease_until < $1)",
                now)
              .int64(0, 0);
  });
  return due;
}

}  // namespace stampede::shop
