// One shop node: the JSON API on common's http::server (io_context run by N threads, strand per
// connection), the read cache, rate limiting, flash-sale admission control, metrics, and the order
// pipeline's workers. Every node of a shop shares one database. Requests are handled synchronously on the
// server's threads, except two kinds that would hold them: the two that hash a password (registration,
// login) run on a bounded pool of their own (work_pool.h) and are shed with 429 + Retry-After beyond it,
// and the ones that can wait on a row lock (cart, orders, flash purchases, admin) run on a second bounded
// pool and are shed with 503 + Retry-After beyond it. So health checks, metrics and the catalogue are
// answered during a login storm and while a flash sale's buyers queue on its one row.
// The API is a table of routes (node_routes.cpp: method + path pattern -> handler); the handlers live
// by area in node_routes.cpp (probes, accounts, admin), node_catalogue.cpp and node_orders.cpp (cart,
// orders, flash sales); /metrics is written in node_metrics.cpp.
// Thread-safety: handle() is called concurrently by the server's and the pool's threads; start/stop from
// one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/http_server.h"
#include "reference_shop/accounts.h"
#include "reference_shop/cache.h"
#include "reference_shop/metrics.h"
#include "reference_shop/order_pipeline.h"
#include "reference_shop/passwords.h"
#include "reference_shop/purchase_batcher.h"
#include "reference_shop/rate_limiter.h"
#include "reference_shop/redis_cache.h"
#include "reference_shop/replica_reads.h"
#include "reference_shop/route_table.h"
#include "reference_shop/store.h"
#include "reference_shop/work_pool.h"

namespace stampede::shop {

struct node_options {
  std::string name = "node1";
  std::string db_path;  // SQLite file shared by all nodes, or:
  std::string db_url;   // PostgreSQL server shared by all nodes (password in the URL or $PGPASSWORD)
  std::vector<std::string> db_shards;  // or PostgreSQL shards (shards.h), at least 2
  std::string txn = "2pc";
  std::chrono::milliseconds txn_lease{10'000};
  std::string txn_fault;  // game days: after-prepare|after-decision|after-first-commit (two_phase.h)
  std::chrono::milliseconds txn_hold{0};  // game days: the coordinator's wait after its PREPAREs
  // Shard bulkheads (--shards; shard_guard.h): calls on one shard at once (0: --db-pool), lost connections
  // in a row that open its circuit (0: no breaker), the time between probes of an open circuit, and the
  // catalogue reads' answer bound.
  int shard_max_inflight = 0;
  int shard_breaker_failures = 1;
  std::chrono::milliseconds shard_breaker_open{1000};
  std::chrono::milliseconds shard_read_timeout{500};
  int db_pool = 8;      // PostgreSQL sessions of this node; a request waits at most db_pool_wait for one
  std::chrono::milliseconds db_pool_wait{1000};
  replica_read_options replica_reads;  // order reads from replicas (replica_reads.h); off: all on db_url
  std::string address = "127.0.0.1";
  uint16_t port = 0;
  int threads = 2;
  std::string admin_token;  // empty: admin endpoints refuse everything
  kdf_cost kdf = kdf_cost::interactive;
  int64_t seed_scale = 0;  // > 0: seed at start if the database was never seeded
  bool cache_enabled = true;
  std::string cache_kind = "local";  // local: in-process (cache); redis: shared by all nodes (redis_cache)
  cache_options cache;
  redis_cache_options redis_cache;  // with cache_kind redis (the TTLs come from `cache`)
  std::chrono::milliseconds bestsellers_ttl{10'000};
  bucket_spec rate_per_client;  // off unless set
  bucket_spec rate_global;
  int flash_max_inflight = 0;   // admission control for flash purchases: 0 = off
  // Flash purchases committed together at most (group commit, purchase_batcher.h, with a store that commits
  // a batch at once: SQLite, PostgreSQL); 1 = one transaction each.
  int flash_batch = 64;
  bool pipeline_enabled = false;  // needs pipeline.payment_port
  pipeline_options pipeline;
  std::chrono::milliseconds generation_poll{1000};  // how often to look for a reseed by another node
  std::chrono::milliseconds session_ttl{24 * 3600 * 1000};
  int kdf_workers = 2;  // password hashes at once (each holds the KDF's memory, 64 MiB at interactive cost)
  int kdf_queue = 64;   // at most this many wait for a worker ...
  std::chrono::milliseconds kdf_max_wait{2000};  // ... and none longer than this; else 429
  bucket_spec login_per_source{50, 100};         // registrations + logins per client address; rate 0 = off
  bucket_spec login_failures_per_account{0.2, 20};  // failed logins per email; rate 0 = off
  // Requests that may wait on the database's row locks, at once (0: as many as `threads`, the concurrency
  // they had on the server's threads) ...
  int database_workers = 0;
  int database_queue = 1024;                             // ... at most this many waiting for a worker ...
  std::chrono::milliseconds database_max_wait{5000};    // ... none longer than this; else 503 + Retry-After
};

class node {
 public:
  // Opens the store (migrating it) and seeds it if asked. Throws on a bad database path.
  explicit node(node_options options);
  ~node();
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  void start();               // listens, starts the workers; returns at once
  uint16_t port() const;
  void drain();               // /readyz answers 503 from now on (load balancers take the node out)
  void stop();                // stops workers and the server
  // The whole API, synchronously (password hashing included, without the pool's admission control): for
  // in-process tests and the pool's workers.
  http::response handle(http::request& request);
  store& database() { return *store_; }

  // One request to a route of the API: the request, the pattern's parameters, the time it is handled.
  struct api_call {
    http::request& request;
    const path_params& params;
    int64_t now;  // unix milliseconds
    std::chrono::steady_clock::time_point start{};  // when the request was taken up (its duration's start)
    // On the database pool: a handler may answer later through this (its return value then has status 0:
    // nothing to send now, nothing to count yet).
    const http::responder* later = nullptr;
  };
  // A row of the route table: the handler, and whether it hashes a password (then it runs on the pool).
  struct api_route {
    http::response (node::*handle)(api_call&);
    bool hashes_password = false;
    bool waits_on_database = false;  // may wait on a row lock: runs on the database pool
  };
  // The API's routes (node_routes.cpp), in matching order.
  static const route_table<api_route>& routes();

 private:
  static const api_route* route_of(const http::request& request);
  static bool offloaded(const http::request& request);  // hashes or waits on the database
  void serve_offloaded(http::request& request, http::responder reply);  // the server's asynchronous handler
  void serve_hashing(http::request& request, http::responder reply);
  void serve_database(http::request& request, http::responder reply);
  http::response handle_since(http::request& request, std::chrono::steady_clock::time_point start,
                              const http::responder* later = nullptr);
  http::response dispatch(http::request& request, std::string& route,
                          std::chrono::steady_clock::time_point start, const http::responder* later);
  // The response `make` returns, or the one its exception maps to (bad input, database busy, ...).
  static http::response answer(const std::function<http::response()>& make);
  void refresh_generation(bool force);
  std::string render_metrics();  // node_metrics.cpp
  void write_database_gauges(prometheus::text_writer& out);
  void write_shard_guards(prometheus::text_writer& out);  // with --shards: each shard's bulkhead and circuit

  // Shared by the handlers (node_routes.cpp). Each rejects (throws bad_input) when it fails.
  int64_t session(const api_call& call);  // the session's user
  void require_admin(const api_call& call);
  read_cache::value cached(const std::string& key, const read_cache::loader& load);
  store& order_reads(const api_call& call);  // the replica or the primary, by the replica-reads mode
  template <class T>
  T read_after_lsn(const api_call& call, const std::function<std::optional<T>(store&, std::string_view)>& replayed,
                   const std::function<T(store&)>& read);
  void mark_write(const api_call& call, http::response& response) const;  // the last_write cookie
  void mark_write(int64_t now, http::response& response) const;
  http::response purchase_answer(int64_t sale_id, const purchase_result& result, int64_t now);

  // Handlers, one per route (the table is in node_routes.cpp).
  // Probes, accounts and admin (node_routes.cpp):
  http::response healthz(api_call& call);
  http::response readyz(api_call& call);
  http::response metrics(api_call& call);
  http::response register_user(api_call& call);
  http::response login(api_call& call);
  http::response logout(api_call& call);
  http::response admin_audit(api_call& call);
  http::response admin_reset(api_call& call);
  http::response admin_create_flash_sale(api_call& call);
  // Catalogue (node_catalogue.cpp):
  http::response categories(api_call& call);
  http::response product(api_call& call);
  http::response products(api_call& call);
  http::response bestsellers(api_call& call);
  // Cart, orders and flash sales (node_orders.cpp):
  http::response cart(api_call& call);
  http::response add_cart_item(api_call& call);
  http::response set_cart_item(api_call& call);
  http::response remove_cart_item(api_call& call);
  http::response list_orders(api_call& call);
  http::response checkout(api_call& call);
  http::response get_order(api_call& call);
  http::response flash_sale(api_call& call);
  http::response flash_purchase(api_call& call);

  node_options options_;
  std::unique_ptr<store> store_;
  std::unique_ptr<store> replica_store_;  // with replica reads on: a second pool, on the replicas
  std::atomic<uint64_t> order_reads_replica_{0}, order_reads_primary_{0};
  std::atomic<uint64_t> order_reads_lsn_fallback_{0};  // read-your-writes-lsn: the replica was not there in time
  std::unique_ptr<read_cache> cache_;
  std::shared_ptr<const bloom_filter> bloom_;  // guarded by bloom_mutex_
  std::mutex bloom_mutex_;
  std::atomic<int64_t> generation_{-1};
  rate_limiter limiter_;
  duration_histograms durations_;
  std::atomic<int> flash_inflight_{0};
  std::atomic<bool> draining_{false};
  std::atomic<uint64_t> rate_limited_{0}, flash_shed_{0}, bloom_rejections_{0};
  std::atomic<uint64_t> flash_created_{0}, flash_sold_out_{0}, flash_already_{0};
  std::atomic<uint64_t> checkouts_created_{0}, checkouts_replayed_{0}, checkouts_out_of_stock_{0};
  std::mutex sold_out_mutex_;
  std::unordered_map<int64_t, std::chrono::steady_clock::time_point> sold_out_until_;
  std::unique_ptr<accounts> accounts_;
  rate_limiter login_sources_;
  std::unique_ptr<work_pool> kdf_pool_;
  std::atomic<uint64_t> kdf_shed_busy_{0}, kdf_shed_source_{0}, kdf_shed_expired_{0};
  std::unique_ptr<work_pool> database_pool_;
  std::atomic<uint64_t> database_shed_busy_{0}, database_shed_expired_{0};
  std::unique_ptr<order_pipeline> pipeline_;
  std::unique_ptr<purchase_batcher> purchases_;  // with flash_batch > 1
  std::unique_ptr<http::server> server_;
  std::thread refresher_;
  std::mutex refresher_mutex_;
  std::condition_variable refresher_cv_;
  bool stopping_ = false;
};

}  // namespace stampede::shop
