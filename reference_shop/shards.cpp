// The sharded store (shards.h): partitioning, schema and seed per shard, routing of the catalogue, users,
// sessions, carts and order reads, the outbox over every shard, and the recovery worker. Checkout and the
// payment failure that releases stock are in shards_orders.cpp, the audit in shards_audit.cpp.
#include "reference_shop/shards.h"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "reference_shop/shards_internal.h"

namespace stampede::shop {

namespace {

// The tables of sharding (beside the store's own schema, which stays the same as SQLite's): the decision
// log of the transactions whose home is this shard, and each order's part for this shard's SKUs; a saga's
// state is its order's outbox message (`saga`: the stage it is in, NULL for a payment message;
// `saga_settle`: how a payment failure's message ends once its parts are released). The `sagas` table of
// earlier versions is gone.
constexpr const char* sharding_schema = R"sql(
CREATE TABLE IF NOT EXISTS txn_decisions(
  gid text PRIMARY KEY,
  decision text NOT NULL CHECK (decision IN ('commit', 'abort')),
  decided_at bigint NOT NULL);
CREATE TABLE IF NOT EXISTS order_parts(
  order_id bigint PRIMARY KEY,
  user_id bigint NOT NULL,
  home_shard integer NOT NULL,
  status text NOT NULL CHECK (status IN ('placed', 'released')),
  subtotal bigint NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL);
CREATE TABLE IF NOT EXISTS order_part_lines(
  order_id bigint NOT NULL, product_id bigint NOT NULL, qty bigint NOT NULL CHECK (qty > 0),
  unit_price bigint NOT NULL,
  PRIMARY KEY (order_id, product_id));
CREATE INDEX IF NOT EXISTS order_part_lines_by_product ON order_part_lines(product_id);
CREATE INDEX IF NOT EXISTS order_parts_released ON order_parts(updated_at) WHERE status = 'released';
CREATE INDEX IF NOT EXISTS txn_decisions_by_time ON txn_decisions(decided_at);
DROP TABLE IF EXISTS sagas;
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS saga text CHECK (saga IN ('place', 'compensate', 'release'));
ALTER TABLE outbox ADD COLUMN IF NOT EXISTS saga_settle text CHECK (saga_settle IN ('done', 'dead'));
CREATE INDEX IF NOT EXISTS outbox_sagas ON outbox(state, next_attempt_at) WHERE saga IS NOT NULL;
)sql";

constexpr int64_t sharding_lock_key = 0x5354414d50454446;  // beside the store's migration lock

}  // namespace

int shard_of_product(int64_t product_id, int shards) noexcept {
  return static_cast<int>(((product_id % shards) + shards) % shards);
}

int home_of_user(int64_t user_id, int shards) noexcept {
  return static_cast<int>(((user_id % shards) + shards) % shards);
}

int shard_of_session(std::string_view token, int shards) noexcept {
  uint32_t h = 2166136261u;  // FNV-1a: stable across builds and processes (std::hash is not promised to be)
  for (const unsigned char c : token) h = (h ^ c) * 16777619u;
  return static_cast<int>(h % static_cast<uint32_t>(shards));
}

sharded_store::sharded_store(std::vector<std::string> conninfo, sharded_store_options options)
    : options_(std::move(options)) {
  if (conninfo.size() < 2) throw std::invalid_argument("a sharded store needs at least 2 shards");
  for (auto& c : conninfo) {
    postgres_store_options o = options_.shard;
    o.pool.guard = options_.guard;
    o.pool.label = "shard " + std::to_string(shards_.size());
    shards_.push_back(std::make_unique<postgres_store>(std::move(c), std::move(o)));
  }
  if (options_.recovery_interval.count() > 0) {
    recovery_ = std::jthread{[this](std::stop_token stop) { recovery_loop(stop); }};
  }
  if (options_.guard.failures_to_open > 0) {
    // Checks often whether a probe is due (cheap); probes at most every guard.open_for per shard.
    prober_ = std::jthread{[this](std::stop_token stop) {
      while (!stop.stop_requested()) {
        {
          std::unique_lock lock{stop_mutex_};
          stop_cv_.wait_for(lock, stop, std::chrono::milliseconds{100}, [] { return false; });
        }
        if (!stop.stop_requested()) probe_shards();
      }
    }};
  }
}

int sharded_store::probe_shards() {
  // A probe waits for its answer no longer than a catalogue read (it runs off the request path, but a cut
  // link must not keep the other shards' probes waiting long).
  const auto within =
      options_.read_timeout.count() > 0 ? options_.read_timeout : std::chrono::milliseconds{1000};
  int probed = 0;
  for (auto& s : shards_) probed += s->pool().probe(within) ? 1 : 0;
  return probed;
}

sharded_store::~sharded_store() {
  if (prober_.joinable()) {
    prober_.request_stop();
    prober_.join();
  }
  if (recovery_.joinable()) {
    recovery_.request_stop();
    recovery_.join();
  }
}

std::vector<pg_pool*> sharded_store::pools() {
  std::vector<pg_pool*> out;
  for (auto& s : shards_) out.push_back(&s->pool());
  return out;
}

two_phase::recovery_report sharded_store::recover_in_doubt() {
  return two_phase::recover(pools(), options_.coordinator.gid_prefix, options_.lease);
}

void sharded_store::recovery_loop(std::stop_token stop) {
  auto next_gc = std::chrono::steady_clock::now() + options_.gc_interval;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock{stop_mutex_};
      stop_cv_.wait_for(lock, stop, options_.recovery_interval, [] { return false; });
    }
    if (stop.stop_requested()) return;
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    try {
      recover_in_doubt();  // unreachable shards are counted as left and tried again on the next pass
      if (two_phase::is_saga(options_.coordinator.mode)) recover_sagas(now);
      if (std::chrono::steady_clock::now() >= next_gc) {
        next_gc = std::chrono::steady_clock::now() + options_.gc_interval;
        collect_garbage(now);
      }
    } catch (const std::exception&) {
    }
  }
}

void sharded_store::migrate() {
  for (int s = 0; s < shards(); ++s) {
    shards_[static_cast<size_t>(s)]->migrate();
    sharding::with_session(shard(s).pool(), [](pg::connection& db) {
      db.exec("BEGIN");
      db.query("SELECT pg_advisory_xact_lock($1)", sharding_lock_key);
      db.exec(sharding_schema);
      db.exec("COMMIT");
    });
  }
}

// Every shard gets the whole seed, then keeps its partition: the stock of its SKUs, the archived orders
// of its users, the accounts and the flash sale on shard 0; order ids continue above the largest id of any
// shard, in steps of K from the shard's own residue.
void sharded_store::reseed(int64_t scale, std::string_view password_hash) {
  const int k = shards();
  for (auto& s : shards_) s->reseed(scale, password_hash);
  int64_t highest = 0;
  for (int s = 0; s < k; ++s) {
    sharding::with_session(shard(s).pool(), [&](pg::connection& db) {
      auto r = db.exec(
          "SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM orders), (SELECT last_value FROM "
          "orders_id_seq))");
      highest = std::max(highest, r.int64(0, 0));
    });
  }
  for (int s = 0; s < k; ++s) {
    const int64_t base = highest + ((s - highest % k) % k + k) % k;  // >= highest, = s (mod k)
    sharding::with_session(shard(s).pool(), [&](pg::connection& db) {
      db.exec("BEGIN");
      db.exec("SET LOCAL statement_timeout = 0");
      db.query("UPDATE products SET stock = 0, initial_stock = 0 WHERE id % $1 <> $2", int64_t{k},
               int64_t{s});
      db.query("DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE user_id % $1 <> $2)",
               int64_t{k}, int64_t{s});
      db.query("DELETE FROM orders WHERE user_id % $1 <> $2", int64_t{k}, int64_t{s});
      db.exec("TRUNCATE order_parts, order_part_lines, txn_decisions");
      if (s != 0) db.exec("DELETE FROM users; DELETE FROM flash_sales");
      db.exec("ALTER SEQUENCE orders_id_seq INCREMENT BY " + std::to_string(k));
      db.query("SELECT setval('orders_id_seq', $1, true)", base);
      db.exec("COMMIT");
    });
  }
}

template <class F>
auto sharded_store::from_any_copy(int first, F&& read) -> decltype(read(std::declval<postgres_store&>(), 0)) {
  for (int i = 0;; ++i) {
    const int s = (first + i) % shards();
    try {
      return read(shard(s), s);
    } catch (const store_unavailable&) {
      if (i + 1 == shards()) throw;  // no copy answered
    }
  }
}

// From the product's own shard; when it cannot answer, from another shard's copy of the catalogue with
// the stock unknown (a degraded page, never a blocked one).
std::optional<product> sharded_store::find_product(int64_t id) {
  const pg::answer_limit limit{options_.read_timeout};
  const int owner = shard_of_product(id, shards());
  return from_any_copy(owner, [&](postgres_store& s, int index) {
    auto p = s.find_product(id);
    if (p && index != owner) p->stock_known = false;
    return p;
  });
}

// The page from shard 0's copy of the catalogue (another's when shard 0 cannot answer), with each
// product's stock from its own shard: unknown for the shards that cannot answer now.
product_page sharded_store::list_products(const product_query& query) {
  const pg::answer_limit limit{options_.read_timeout};
  int source = 0;
  product_page page = from_any_copy(0, [&](postgres_store& s, int index) {
    source = index;
    return s.list_products(query);
  });
  std::map<int, std::vector<product*>> elsewhere;
  for (auto& p : page.items) {
    if (const int s = shard_of_product(p.id, shards()); s != source) elsewhere[s].push_back(&p);
  }
  for (auto& entry : elsewhere) {
    const int s = entry.first;
    std::vector<product*>& products =
        entry.second;  // named, not a structured binding: the lambda below uses it
    std::string ids = "{";
    for (const auto* p : products) ids += (ids.size() > 1 ? "," : "") + std::to_string(p->id);
    ids += "}";
    try {
      sharding::with_session(shard(s).pool(), [&](pg::connection& db) {
        auto r = db.query("SELECT id, stock FROM products WHERE id = ANY($1::bigint[])", ids);
        std::map<int64_t, int64_t> stock;
        for (int i = 0; i < r.rows(); ++i) stock[r.int64(i, 0)] = r.int64(i, 1);
        for (auto* p : products) p->stock = stock[p->id];
      });
    } catch (const store_unavailable&) {
      for (auto* p : products) {
        p->stock = 0;
        p->stock_known = false;
      }
    }
  }
  return page;
}

// Each shard's best sellers over its own recent orders, added up (an approximation: each shard ranks
// twice `limit` products, and "recent" is per shard).
std::vector<bestseller> sharded_store::bestsellers(int64_t recent_orders, int64_t limit) {
  const pg::answer_limit answer{options_.read_timeout};
  std::map<int64_t, bestseller> units;
  int answered = 0;
  for (auto& s : shards_) {
    std::vector<bestseller> ranked;
    try {
      ranked = s->bestsellers(recent_orders, limit * 2);
      ++answered;
    } catch (const store_unavailable&) {
      continue;  // the shards that answer: one more approximation, while a shard is away
    }
    for (const auto& b : ranked) {
      auto& total = units[b.product_id];
      total.product_id = b.product_id;
      total.title = b.title;
      total.units += b.units;
    }
  }
  if (answered == 0) throw store_unavailable("bestsellers: no shard answered");
  std::vector<bestseller> out;
  for (auto& [id, b] : units) out.push_back(std::move(b));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.units != b.units ? a.units > b.units : a.product_id < b.product_id;
  });
  if (static_cast<int64_t>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
  return out;
}

std::optional<order> sharded_store::find_order(int64_t user_id, int64_t order_id) {
  auto o = order_shard(order_id).find_order(user_id, order_id);
  // Seeded archived orders keep their ids on their user's home shard.
  if (!o && order_id % shards() != home_of_user(user_id, shards()))
    o = home(user_id).find_order(user_id, order_id);
  return o;
}

// The home shard's orders, and the user's flash orders on shard 0.
std::vector<order> sharded_store::list_orders(int64_t user_id, int64_t limit) {
  std::vector<order> out = home(user_id).list_orders(user_id, limit);
  if (home_of_user(user_id, shards()) != 0) {
    for (auto& o : shards_[0]->list_orders(user_id, limit)) out.push_back(std::move(o));
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.id > b.id; });
    if (static_cast<int64_t>(out.size()) > limit) out.resize(static_cast<size_t>(limit));
  }
  return out;
}

std::vector<outbox_message> sharded_store::claim_outbox(std::string_view owner, int64_t now, int64_t lease_ms,
                                                        int64_t max) {
  std::vector<outbox_message> out;
  const int first = static_cast<int>(next_claim_.fetch_add(1) % static_cast<unsigned>(shards()));
  for (int i = 0; i < shards() && static_cast<int64_t>(out.size()) < max; ++i) {
    // A shard that cannot be reached leaves its messages to a later claim; the others still go out.
    try {
      for (auto& m : claim_payments((first + i) % shards(), owner, now, lease_ms,
                                    max - static_cast<int64_t>(out.size()))) {
        out.push_back(m);
      }
    } catch (const store_unavailable&) {
      if (i + 1 == shards() && out.empty()) throw;
    }
  }
  return out;
}

int64_t sharded_store::outbox_due(int64_t now) {
  int64_t due = 0;
  for (auto& s : shards_) due += s->outbox_due(now);
  return due;
}

}  // namespace stampede::shop
