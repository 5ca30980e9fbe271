// --txn saga (shards.h, docs/SHOP.md "Sharding"): a cross-shard checkout as a saga of local transactions,
// one per shard, with compensations instead of PREPARE, driven by the order's message in the existing
// outbox (its lease, attempts and backoff; the column `saga` says which stage the message is in):
//   1. home: the header (the idempotency key decides), its lines, and the message with saga `place`,
//      leased to this call (state in_flight);
//   2. each SKU shard in ascending order: its part (conditional stock updates), one local transaction each;
//      a part already there is not placed again (placed: done before; released: compensated);
//   3. home: the message becomes the order's payment message (saga NULL, pending, attempts 0) if still
//      ours, the cart cleared: only now is the order acknowledged (201) and visible to the payments.
// A part that finds no stock compensates (`compensate`): every part released (stock back; a released
// tombstone where none was placed yet, so a late step cannot place it), then the header and the message
// removed. A shard that does not answer gives the message back with the outbox's backoff (pending, next
// attempt later): the recovery worker of any node claims it then, as it claims a dead coordinator's message
// once its lease expired, and carries the saga on from its parts (forward: the steps are idempotent), or
// compensates it once `saga_max_attempts` forward attempts failed. A payment failure is a saga too
// (`release`): the order failed and the message marked on the home shard, every part released, then the
// message settled (done or dead). The step cursor is the parts themselves (each shard's order_parts row),
// so the outbox row is the whole saga state: no table of its own.
// What a saga gives up against 2PC: isolation (a concurrent reader may see a header or a part of an order
// that is then compensated) and an answer before every step is done; what it gains: no locks held across
// shards, nothing in doubt.
#include <algorithm>
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

std::string new_owner() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return "saga-" + std::to_string(random() >> 1);
}

// The outbox's exponential backoff for a saga's next attempt.
int64_t backoff_ms(int64_t attempts) {
  return std::min<int64_t>(int64_t{100} << std::clamp<int64_t>(attempts, 0, 10), 5000);
}

// The test seam abandoned the saga (a dead coordinator): nothing more is sent, the lease stays.
struct saga_abandoned {};

enum class part_state { placed, released, short_of_stock };

// Step 2 on one shard, idempotent: the part placed unless it is there already.
part_state place_step(pg_pool& pool, int64_t order_id, int64_t user_id, int home,
                      const std::vector<order_line>& lines, int64_t now, int64_t& short_of) {
  for (int attempt = 1;; ++attempt) {
    try {
      part_state state = part_state::placed;
      local_transaction(pool, [&](pg::connection& db) {
        auto r = db.query("SELECT status FROM order_parts WHERE order_id = $1", order_id);
        if (r.rows() > 0) {
          state = r.text(0, 0) == "placed" ? part_state::placed : part_state::released;
          return false;
        }
        if (!sharding::place_part(db, order_id, user_id, home, lines, now, short_of)) {
          state = part_state::short_of_stock;
          return false;
        }
        return true;
      });
      return state;
    } catch (const pg::error& e) {
      // Placed (or tombstoned) concurrently by the other holder of an expired lease: look again.
      if (!e.unique_violation() || attempt >= 3) throw;
    }
  }
}

}  // namespace

bool sharded_store::saga_checkout(const saga_order& o, checkout_result& result) {
  saga_job job{
      o.order_id, o.user_id, o.home, "place", new_owner(), std::chrono::steady_clock::now() + options_.lease,
      o.parts,    1};
  bool inserted = false;
  local_transaction(shard(o.home).pool(), [&](pg::connection& db) {
    auto r = db.query(
        "INSERT INTO orders(id, user_id, status, total, line_count, idempotency_key, request_hash, "
        "created_at, updated_at) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $7) "
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
        "INSERT INTO outbox(order_id, state, attempts, lease_owner, lease_until, next_attempt_at, "
        "created_at, "
        "updated_at, saga) VALUES ($1, 'in_flight', 1, $2, $3, $4, $4, $4, 'place')",
        o.order_id, job.owner, o.now + static_cast<int64_t>(options_.lease.count()), o.now);
    inserted = true;
    return true;
  });
  if (!inserted) return false;
  saga_result r;
  try {
    r = drive_saga(job, o.now, &o);
  } catch (const saga_abandoned&) {
    throw store_unavailable("saga abandoned after a part (test seam)");
  }
  switch (r.end) {
    case saga_end::placed:
      result.status = checkout_status::created;
      result.placed = order{o.order_id, o.user_id, "pending", o.total, o.lines, std::nullopt, {}, o.now};
      return true;
    case saga_end::compensated:
    case saga_end::released:
      if (r.short_of == 0) throw store_unavailable("checkout: the saga was compensated; nothing was changed");
      result.status = checkout_status::out_of_stock;
      result.product_id = r.short_of;
      return true;
    case saga_end::retry_later:
      throw store_unavailable(
          "checkout: a shard did not answer; the saga is retried in the background (retry with the same "
          "Idempotency-Key for its outcome)");
    case saga_end::lease_lost:
      break;
  }
  throw store_unavailable("checkout: the saga outlived its lease; another node finishes it");
}

sharded_store::saga_result sharded_store::drive_saga(saga_job& job, int64_t now,
                                                     const saga_order* inline_checkout) {
  saga_result out;
  pg_pool& home = shard(job.home).pool();
  try {
    if (job.stage == "place") {
      for (const auto& part : job.parts) {
        // A holder past its lease stops: another node may own the saga now (a late step that got through
        // anyway finds the part placed or tombstoned: idempotent).
        if (std::chrono::steady_clock::now() >= job.lease_end) return {saga_end::lease_lost, 0};
        const auto state = place_step(shard(part.first).pool(), job.order_id, job.user_id, job.home,
                                      part.second, now, out.short_of);
        if (state == part_state::released) return {saga_end::lease_lost, 0};  // compensated by another
        if (state == part_state::short_of_stock) {
          if (!switch_stage(job, "compensate", now)) return {saga_end::lease_lost, 0};
          break;
        }
        // Test seam and game days: `prepared` is "a part is placed" in a saga (the request's own call only).
        const auto& hook = options_.coordinator.hook;
        if (inline_checkout && hook &&
            !hook(two_phase::point::prepared, "saga:" + std::to_string(job.order_id))) {
          throw saga_abandoned{};
        }
      }
    }
    if (job.stage == "place") {
      bool done = false;
      local_transaction(home, [&](pg::connection& db) {
        // The message becomes the order's payment message: its attempts count the payment's from now.
        done = db.query(
                     "UPDATE outbox SET saga = NULL, state = 'pending', attempts = 0, lease_owner = NULL, "
                     "lease_until = NULL, next_attempt_at = $3, last_error = NULL, updated_at = $3 "
                     "WHERE order_id = $1 AND saga = 'place' AND lease_owner = $2",
                     job.order_id, job.owner, now)
                   .affected() > 0;
        if (done && inline_checkout && inline_checkout->from_cart) {
          db.query("DELETE FROM cart_items WHERE user_id = $1", job.user_id);
        }
        return done;
      });
      return {done ? saga_end::placed : saga_end::lease_lost, 0};
    }
    // compensate or release: every part back (idempotent), then the message ends if still ours. The broken
    // mode skips the compensating steps themselves: the parts keep their stock.
    if (options_.coordinator.mode != two_phase::protocol::saga_no_compensation) {
      for (const auto& part : job.parts) release_part(part.first, job.order_id, job.user_id, job.home, now);
    }
    bool ended = false;
    local_transaction(home, [&](pg::connection& db) {
      if (job.stage == "compensate") {
        // Never acknowledged (the 201 comes after step 3): the order never existed for the customer, and
        // its idempotency key is free again.
        ended =
            db.query("DELETE FROM outbox WHERE order_id = $1 AND saga = 'compensate' AND lease_owner = $2",
                     job.order_id, job.owner)
                .affected() > 0;
        if (!ended) return false;
        db.query("DELETE FROM order_lines WHERE order_id = $1", job.order_id);
        db.query("DELETE FROM orders WHERE id = $1 AND status = 'pending'", job.order_id);
        return true;
      }
      ended = db.query(
                    "UPDATE outbox SET state = saga_settle, saga = NULL, saga_settle = NULL, lease_owner = "
                    "NULL, lease_until = NULL, updated_at = $3 WHERE order_id = $1 AND saga = 'release' AND "
                    "lease_owner = $2",
                    job.order_id, job.owner, now)
                  .affected() > 0;
      return ended;
    });
    if (!ended) return {saga_end::lease_lost, 0};
    out.end = job.stage == "compensate" ? saga_end::compensated : saga_end::released;
    return out;
  } catch (const store_unavailable& e) {
    retry_saga_later(job, now, e.what());
  } catch (const pg::error& e) {
    retry_saga_later(job, now, e.what());
  }
  out.end = saga_end::retry_later;
  return out;
}

bool sharded_store::switch_stage(saga_job& job, const char* stage, int64_t now) {
  bool switched = false;
  local_transaction(shard(job.home).pool(), [&](pg::connection& db) {
    switched = db.query(
                     "UPDATE outbox SET saga = $3, updated_at = $4 WHERE order_id = $1 AND saga = $5 AND "
                     "lease_owner = $2",
                     job.order_id, job.owner, stage, now, job.stage)
                   .affected() > 0;
    return switched;
  });
  if (switched) job.stage = stage;
  return switched;
}

void sharded_store::retry_saga_later(const saga_job& job, int64_t now, std::string_view error) {
  try {
    local_transaction(shard(job.home).pool(), [&](pg::connection& db) {
      return db.query(
                   "UPDATE outbox SET state = 'pending', lease_owner = NULL, lease_until = NULL, "
                   "next_attempt_at = $3, last_error = $4, updated_at = $5 WHERE order_id = $1 AND "
                   "lease_owner = $2 AND saga IS NOT NULL",
                   job.order_id, job.owner, now + backoff_ms(job.attempts), error, now)
                 .affected() > 0;
    });
  } catch (const std::exception&) {
    // The home shard is out of reach too: the lease expires and the next claim retries.
  }
}

void sharded_store::release_part(int s, int64_t order_id, int64_t user_id, int home, int64_t now) {
  for (int attempt = 1;; ++attempt) {
    try {
      local_transaction(shard(s).pool(), [&](pg::connection& db) {
        auto r = db.query("SELECT status FROM order_parts WHERE order_id = $1 FOR UPDATE", order_id);
        if (r.rows() == 0) {  // not placed (yet): a tombstone, so that a late step cannot place it
          db.query(
              "INSERT INTO order_parts(order_id, user_id, home_shard, status, subtotal, created_at, "
              "updated_at) VALUES ($1, $2, $3, 'released', 0, $4, $4)",
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

bool sharded_store::saga_fail_payment(const outbox_message& m, std::string_view owner,
                                      std::string_view reason, bool dead_letter, int64_t now) {
  const int h = static_cast<int>(m.order_id % shards());
  saga_job job{m.order_id, 0,           h,
               "release",  new_owner(), std::chrono::steady_clock::now() + options_.lease,
               {},         m.attempts};
  bool settled = false;
  local_transaction(shard(h).pool(), [&](pg::connection& db) {
    // The message stays in flight, now leased to the release saga: if this call dies half-way, the
    // recovery worker claims it after the lease and releases the rest; it settles once every part is back.
    settled =
        db.query(
              "UPDATE outbox SET saga = 'release', saga_settle = $3, lease_owner = $6, lease_until = $7, "
              "last_error = $4, updated_at = $5 WHERE id = $1 AND state = 'in_flight' AND lease_owner = "
              "$2 AND saga IS NULL",
              m.id, owner, dead_letter ? "dead" : "done", reason, now, job.owner,
              now + static_cast<int64_t>(options_.lease.count()))
            .affected() > 0;
    if (!settled) return false;
    db.query(
        "UPDATE orders SET status = 'failed', failure = $2, updated_at = $3 WHERE id = $1 AND status = "
        "'pending'",
        m.order_id, reason, now);
    job.user_id = db.query("SELECT user_id FROM orders WHERE id = $1", m.order_id).int64(0, 0);
    auto r =
        db.query("SELECT product_id FROM order_lines WHERE order_id = $1 ORDER BY product_id", m.order_id);
    for (int i = 0; i < r.rows(); ++i) job.parts[shard_of_product(r.int64(i, 0), shards())];
    return true;
  });
  if (!settled) return false;
  drive_saga(job, now, nullptr);  // what it cannot finish now, the recovery worker finishes
  return true;
}

int sharded_store::recover_sagas(int64_t now) {
  int ended = 0;
  const std::string owner = new_owner();
  for (int h = 0; h < shards(); ++h) {
    std::vector<saga_job> jobs;
    try {
      sharding::with_session(shard(h).pool(), [&](pg::connection& db) {
        // The outbox's claim, for saga messages: due for a retry, or their holder's lease expired.
        auto r = db.query(
            "WITH due AS (SELECT id FROM outbox WHERE saga IS NOT NULL AND ((state = 'pending' AND "
            "next_attempt_at <= $2) OR (state = 'in_flight' AND lease_until < $2)) ORDER BY id LIMIT 50 FOR "
            "UPDATE SKIP LOCKED) "
            "UPDATE outbox o SET state = 'in_flight', lease_owner = $1, lease_until = $2 + $3, attempts = "
            "o.attempts + 1, updated_at = $2 FROM due WHERE o.id = due.id "
            "RETURNING o.order_id, o.saga, o.attempts, (SELECT user_id FROM orders WHERE id = o.order_id)",
            owner, now, static_cast<int64_t>(options_.lease.count()));
        const auto claimed_at = std::chrono::steady_clock::now();
        for (int i = 0; i < r.rows(); ++i) {
          if (r.is_null(i, 3)) {  // no header (cannot happen: they go together); nothing to drive
            db.query("DELETE FROM outbox WHERE order_id = $1 AND lease_owner = $2", r.int64(i, 0), owner);
            continue;
          }
          jobs.push_back(saga_job{r.int64(i, 0),
                                  r.is_null(i, 3) ? 0 : r.int64(i, 3),
                                  h,
                                  r.text(i, 1),
                                  owner,
                                  claimed_at + options_.lease,
                                  {},
                                  r.int64(i, 2)});
        }
        for (auto& job : jobs) {  // the parts from the header's lines (the home shard has them all)
          auto lines = db.query(
              "SELECT product_id, qty, unit_price FROM order_lines WHERE order_id = $1 ORDER BY product_id",
              job.order_id);
          for (int i = 0; i < lines.rows(); ++i) {
            job.parts[shard_of_product(lines.int64(i, 0), shards())].push_back(
                order_line{lines.int64(i, 0), lines.int64(i, 1), lines.int64(i, 2)});
          }
        }
      });
    } catch (const store_unavailable&) {
      continue;  // the home shard out of reach: its sagas wait for a later pass
    }
    for (auto& job : jobs) {
      try {
        // Forward steps failed too often (a shard down for long): the saga is compensated instead. The
        // broken mode gives up every saga it did not finish itself (and then skips the releases).
        const bool give_up = job.attempts > options_.saga_max_attempts ||
                             options_.coordinator.mode == two_phase::protocol::saga_no_compensation;
        if (job.stage == "place" && give_up && !switch_stage(job, "compensate", now)) {
          continue;
        }
        const auto r = drive_saga(job, now, nullptr);
        if (r.end != saga_end::retry_later && r.end != saga_end::lease_lost) ++ended;
      } catch (const std::exception&) {
        // the lease expires and a later pass tries again
      }
    }
  }
  return ended;
}

std::vector<outbox_message> sharded_store::claim_payments(int s, std::string_view owner, int64_t now,
                                                          int64_t lease_ms, int64_t max) {
  std::vector<outbox_message> out;
  sharding::with_session(shard(s).pool(), [&](pg::connection& db) {
    // postgres_store::claim_outbox's claim, without the messages a saga still holds.
    auto r = db.query(
        "WITH due AS (SELECT id FROM outbox WHERE saga IS NULL AND ((state = 'pending' AND next_attempt_at "
        "<= "
        "$3) OR (state = 'in_flight' AND lease_until < $3)) ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) "
        "UPDATE outbox o SET state = 'in_flight', lease_owner = $1, lease_until = $2, attempts = o.attempts "
        "+ 1, updated_at = $3 FROM due WHERE o.id = due.id "
        "RETURNING o.id, o.order_id, o.attempts, (SELECT total FROM orders WHERE id = o.order_id)",
        owner, now + lease_ms, now, max);
    for (int i = 0; i < r.rows(); ++i) {
      out.push_back(
          outbox_message{r.int64(i, 0), r.int64(i, 1), r.int64(i, 2), r.is_null(i, 3) ? 0 : r.int64(i, 3)});
    }
  });
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return out;
}

// A tombstone (a released part whose order has no header: a compensated checkout's) guards against a late
// step of the saga's earlier holder placing that part again. Such a step starts only within the holder's
// lease and ends within the statement and idle-in-transaction timeouts, so once the retention (far longer)
// has passed nothing can arrive any more and the row can go.
int64_t sharded_store::collect_tombstones(int64_t cutoff) {
  std::map<int, std::vector<int64_t>> by_header;  // header shard -> released parts' orders
  std::map<int64_t, std::vector<int>> holders;    // order -> the shards with its released part
  for (int s = 0; s < shards(); ++s) {
    sharding::with_session(shard(s).pool(), [&](pg::connection& db) {
      auto r = db.query(
          "SELECT order_id, home_shard FROM order_parts WHERE status = 'released' AND updated_at < $1 ORDER "
          "BY "
          "order_id LIMIT 1000",
          cutoff);
      for (int i = 0; i < r.rows(); ++i) {
        const int64_t id = r.int64(i, 0);
        if (holders[id].empty()) by_header[static_cast<int>(r.int64(i, 1))].push_back(id);
        holders[id].push_back(s);
      }
    });
  }
  std::map<int, std::vector<int64_t>> gone;  // part shard -> orders without a header
  for (auto& entry : by_header) {
    std::string ids = "{";
    for (const int64_t id : entry.second) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
    std::set<int64_t> headers;
    sharding::with_session(shard(entry.first).pool(), [&](pg::connection& db) {
      auto r = db.query("SELECT id FROM orders WHERE id = ANY($1::bigint[])", ids + "}");
      for (int i = 0; i < r.rows(); ++i) headers.insert(r.int64(i, 0));
    });
    for (const int64_t id : entry.second) {
      if (headers.contains(id)) continue;  // a failed order's released parts: its record, kept
      for (const int s : holders[id]) gone[s].push_back(id);
    }
  }
  int64_t deleted = 0;
  for (auto& entry : gone) {
    std::string ids = "{";
    for (const int64_t id : entry.second) ids += (ids.size() > 1 ? "," : "") + std::to_string(id);
    ids += "}";
    local_transaction(shard(entry.first).pool(), [&](pg::connection& db) {
      db.query("DELETE FROM order_part_lines WHERE order_id = ANY($1::bigint[])", ids);
      deleted +=
          db.query("DELETE FROM order_parts WHERE order_id = ANY($1::bigint[]) AND status = 'released'", ids)
              .affected();
      return true;
    });
  }
  return deleted;
}

garbage_report sharded_store::collect_garbage(int64_t now) {
  garbage_report report;
  report.decisions =
      two_phase::collect_decisions(pools(), options_.coordinator.gid_prefix, options_.retention);
  try {
    report.tombstones = collect_tombstones(now - static_cast<int64_t>(options_.retention.count()));
  } catch (const store_unavailable&) {
    // a shard out of reach: nothing is deleted on partial knowledge; the next pass tries again
  }
  return report;
}

}  // namespace stampede::shop
