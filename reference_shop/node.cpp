// Shop node. Concurrency model: common's http::server runs one io_context on N threads with a strand per
// connection; handlers are synchronous and use this thread's own SQLite connection, except registration and
// login, which run on the password-hashing pool (bounded; the excess is shed with 429). Background threads:
// that pool, the order pipeline's workers and a refresher that notices reseeds done by other nodes.
// This file holds the node's life cycle and the request path up to dispatch; the route table and the
// handlers are in node_routes.cpp, node_catalogue.cpp and node_orders.cpp, /metrics in node_metrics.cpp.
#include "reference_shop/node.h"

#include <algorithm>

#include "reference_shop/request_fields.h"
#include "reference_shop/seed.h"
#include "reference_shop/sqlite.h"
#include "reference_shop/store_factory.h"

namespace stampede::shop {

namespace {

std::unique_ptr<read_cache> make_cache(const node_options& o) {
  if (o.cache_kind != "redis") return std::make_unique<response_cache>(o.cache);
  auto ro = o.redis_cache;
  ro.ttl = o.cache.ttl;
  ro.jitter = o.cache.jitter;
  ro.negative_ttl = o.cache.negative_ttl;
  return std::make_unique<redis_cache>(std::move(ro));
}

}  // namespace

node::node(node_options options)
    : options_(std::move(options)),
      cache_(make_cache(options_)),
      limiter_(options_.rate_per_client, options_.rate_global),
      login_sources_(options_.login_per_source, bucket_spec{}) {
  store_config config{options_.db_path, options_.db_url, options_.db_pool, options_.db_pool_wait,
                      "stampede-" + options_.name, {}};
  if (!options_.db_shards.empty()) {  // shard 0 is also --db-url
    config.postgres_url.clear();
    config.shard_urls = options_.db_shards;
    config.txn = options_.txn;
    config.txn_lease = options_.txn_lease;
    config.txn_fault = options_.txn_fault;
    config.txn_hold = options_.txn_hold;
    config.shard_guard.max_inflight =
        options_.shard_max_inflight > 0 ? options_.shard_max_inflight : options_.db_pool;
    config.shard_guard.failures_to_open = options_.shard_breaker_failures;
    config.shard_guard.open_for = options_.shard_breaker_open;
    config.shard_read_timeout = options_.shard_read_timeout;
  }
  auto db = open_store(config);
  db->migrate();
  if (options_.seed_scale > 0 && !db->seeded()) db->reseed(options_.seed_scale, hash_password(seed_password, options_.kdf));
  store_ = std::move(db);
  if (options_.replica_reads.mode != replica_read_mode::off) {
    replica_store_ = open_store(store_config{{},
                                             options_.replica_reads.url,
                                             options_.db_pool,
                                             options_.db_pool_wait,
                                             "stampede-" + options_.name + "-replica",
                                             {}});
  }
  accounts_ = std::make_unique<accounts>(
      *store_, account_options{options_.kdf, options_.session_ttl, options_.login_failures_per_account});
  refresh_generation(true);
  if (options_.pipeline_enabled) {
    pipeline_ = std::make_unique<order_pipeline>(*store_, options_.name, options_.pipeline);
  }
  if (options_.flash_batch > 1 && store_->commits_purchase_batches()) {
    purchases_ = std::make_unique<purchase_batcher>(
        [this](std::span<const purchase_request> batch) { return store_->flash_purchases(batch); },
        purchase_batcher::limits{static_cast<size_t>(options_.flash_batch),
                                 static_cast<size_t>(options_.database_queue), options_.database_max_wait});
  }
}

node::~node() { stop(); }

void node::start() {
  http::server_options so;
  so.address = options_.address;
  so.port = options_.port;
  so.threads = options_.threads;
  so.limits.max_body_bytes = 64 * 1024;
  // Seeded with the start-up hash's duration, so the first burst is not admitted blind.
  kdf_pool_ = std::make_unique<work_pool>(options_.kdf_workers, options_.kdf_queue, options_.kdf_max_wait,
                                          accounts_->hash_duration());
  // At the server threads' priority: this is the requests' own work, only moved off the threads that must
  // stay free for health checks. Seeded with 5 ms, a short transaction.
  database_pool_ = std::make_unique<work_pool>(
      options_.database_workers > 0 ? options_.database_workers : options_.threads, options_.database_queue,
      options_.database_max_wait, std::chrono::milliseconds{5}, 0);
  server_ = std::make_unique<http::server>(
      so, [this](http::request& r) { return handle(r); },
      [this](http::request& r, http::responder reply) { serve_offloaded(r, std::move(reply)); },
      [](const http::request& r) { return offloaded(r); });
  server_->start();
  if (pipeline_) pipeline_->start();
  refresher_ = std::thread([this] {
    std::unique_lock lock{refresher_mutex_};
    while (!refresher_cv_.wait_for(lock, options_.generation_poll, [this] { return stopping_; })) {
      lock.unlock();
      try {
        refresh_generation(false);
      } catch (const std::exception&) {
        // Busy database: try again next round.
      }
      lock.lock();
    }
  });
}

uint16_t node::port() const { return server_ ? server_->port() : 0; }

void node::drain() { draining_ = true; }

void node::stop() {
  {
    std::lock_guard lock{refresher_mutex_};
    if (stopping_) return;
    stopping_ = true;
  }
  refresher_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  if (server_) server_->stop();
  if (kdf_pool_) kdf_pool_->stop();  // after the server: requests it let finish may still be in the pools
  if (database_pool_) database_pool_->stop();
  purchases_.reset();  // after the pool, whose last tasks may queue purchases: commits or answers them
  if (pipeline_) pipeline_->stop();
}

void node::refresh_generation(bool force) {
  const int64_t generation = store_->data_generation();
  if (!force && generation == generation_.load()) return;
  // New data set: drop everything cached from the old one and rebuild the Bloom filter of product ids.
  auto filter = std::make_shared<const bloom_filter>(store_->product_ids());
  {
    std::lock_guard lock{bloom_mutex_};
    bloom_ = std::move(filter);
  }
  cache_->start_generation(generation);
  {
    std::lock_guard lock{sold_out_mutex_};
    sold_out_until_.clear();
  }
  generation_ = generation;
}

void node::serve_offloaded(http::request& request, http::responder reply) {
  const api_route* route = route_of(request);
  if (route != nullptr && route->hashes_password) return serve_hashing(request, std::move(reply));
  serve_database(request, std::move(reply));
}

// Requests that may wait on a row lock go to the database pool; beyond its bound they get a fast 503 +
// Retry-After (nothing done), instead of holding the server's threads until health checks time out and
// the load balancer takes every node out at once.
void node::serve_database(http::request& request, http::responder reply) {
  const auto start = std::chrono::steady_clock::now();
  auto busy = [this](std::string_view method, std::chrono::steady_clock::time_point since) {
    auto r = http::response::error(503, "busy", "too many requests waiting for the database, retry");
    const auto drain = database_pool_->drain_time();
    r.headers.emplace_back("Retry-After",
                           std::to_string(std::clamp<int64_t>((drain.count() + 999) / 1000, 1, 30)));
    durations_.observe("database_shed", method, 503,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count());
    return r;
  };
  auto task = [this, copy = request, reply, start, busy](bool run) mutable {
    if (run) {
      auto response = handle_since(copy, start, &reply);
      if (response.status != 0) reply(std::move(response));  // 0: the handler answers later
      return;
    }
    ++database_shed_expired_;  // waited past database_max_wait
    reply(busy(copy.method, start));
  };
  if (!database_pool_->try_submit(std::move(task))) {
    ++database_shed_busy_;
    reply(busy(request.method, start));
  }
}

// Requests that hash go to the bounded pool, shed first per client address, then when the pool is full.
// Everything else (health checks included) is answered synchronously on the server's threads, or on the
// database pool, and therefore never waits behind a hash.
void node::serve_hashing(http::request& request, http::responder reply) {
  const auto start = std::chrono::steady_clock::now();
  auto shed = [&](std::string_view error, std::string_view detail, int retry_after, const char* route) {
    auto r = http::response::error(429, error, detail);
    r.headers.emplace_back("Retry-After", std::to_string(retry_after));
    durations_.observe(route, request.method, 429, 0);
    reply(std::move(r));
  };
  if (login_sources_.enabled()) {
    auto decision = login_sources_.try_acquire(client_key(request), monotonic_seconds());
    if (!decision.allowed) {
      ++kdf_shed_source_;
      return shed("rate_limited", "too many logins and registrations from this address",
                  decision.retry_after_seconds, "login_rate_limited");
    }
  }
  // Come back when the tasks waiting now will have started (whole seconds, 1 to 30).
  auto retry_after = [this] {
    const auto drain = kdf_pool_->drain_time();
    return static_cast<int>(std::clamp<int64_t>((drain.count() + 999) / 1000, 1, 30));
  };
  auto task = [this, copy = request, reply, start, retry_after](bool run) mutable {
    if (run) return reply(handle_since(copy, start));
    ++kdf_shed_expired_;  // waited past --kdf-max-wait-ms: the CPU is slower than the estimate said
    auto r = http::response::error(429, "busy", "too many logins in progress, retry");
    r.headers.emplace_back("Retry-After", std::to_string(retry_after()));
    durations_.observe("login_shed", copy.method, 429,
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    reply(std::move(r));
  };
  if (!kdf_pool_->try_submit(std::move(task))) {
    ++kdf_shed_busy_;
    return shed("busy", "too many logins in progress, retry", retry_after(), "login_shed");
  }
}

http::response node::handle(http::request& request) { return handle_since(request, std::chrono::steady_clock::now()); }

http::response node::handle_since(http::request& request, std::chrono::steady_clock::time_point start,
                                  const http::responder* later) {
  std::string route = "unmatched";
  http::response response = answer([&] { return dispatch(request, route, start, later); });
  if (response.status == 0) return response;  // answered later, and counted then
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  durations_.observe(route, request.method, response.status, seconds);
  return response;
}

http::response node::answer(const std::function<http::response()>& make) {
  http::response response;
  try {
    response = make();
  } catch (const bad_input& e) {
    response = http::response::error(e.status, e.error, e.detail);
  } catch (const sqlite::error& e) {
    response = e.busy() ? http::response::error(503, "unavailable", "database busy, retry")
                        : http::response::error(500, "internal", "database error");
    if (e.busy()) response.headers.emplace_back("Retry-After", "1");
  } catch (const store_unavailable& e) {
    response = http::response::error(503, "unavailable", e.what());
    response.headers.emplace_back("Retry-After", "1");
  } catch (const cache_overloaded& e) {
    // Redis is away and this node already runs its bound of database loads for the cache.
    response = http::response::error(503, "unavailable", e.what());
    response.headers.emplace_back("Retry-After", "1");
  } catch (const std::exception& e) {
    response = http::response::error(500, "internal", e.what());
  }
  return response;
}

}  // namespace stampede::shop
