// The shop's store over K PostgreSQL shards (`stampede shop --db postgres --shards K`, docs/SHOP.md
// "Sharding"): the same store interface, with the data partitioned and cross-shard writes made atomic by
// two-phase commit (two_phase.h; shards_orders.cpp) or by sagas with compensations (shards_saga.cpp), as
// --txn says; a cart on one shard takes the one-phase path either way. The recovery worker (a thread of
// this object, on every node) resolves in-doubt prepared transactions, drives the sagas whose outbox
// message is due (retries, or a dead coordinator's lease expired) and collects old decisions and saga
// tombstones.
//
// Partitioning (stable for a given K; changing K needs a reseed):
//  - SKUs: product P's stock, and every order's part for P (order_parts, order_part_lines), live on shard
//    P mod K (shard_of_product). The catalogue's descriptive columns (title, price, category...) are
//    reference data copied to every shard (they never change after the seed), so carts and order headers
//    can show titles and prices locally; on a shard that does not own P, P's stock and initial stock are 0.
//  - users: a user's carts and order headers (idempotency keys, outbox, payments) live on the home shard
//    U mod K (home_of_user); order ids are drawn from the home shard's sequence, which steps by K, so order
//    id O's header is on shard O mod K (seeded archived orders keep their ids on their user's home).
//  - accounts (email -> user, password hash) live on shard 0: the email's uniqueness is one index; logins
//    are rare. Sessions live on shard fnv1a(token) mod K, the key every request looks them up by.
//  - flash sales live on shard 0 with their purchases and orders (one shard: the flash sale's guarantees
//    are unchanged).
// Reads that span shards (the audit, bestsellers, a product page's stock) read each shard in turn, not in
// one snapshot.
//
// Thread-safety: all methods may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "reference_shop/postgres_store.h"
#include "reference_shop/two_phase.h"

namespace stampede::shop {

int shard_of_product(int64_t product_id, int shards) noexcept;
int home_of_user(int64_t user_id, int shards) noexcept;
int shard_of_session(std::string_view token, int shards) noexcept;

struct sharded_store_options {
  postgres_store_options shard;  // each shard's pool and retries
  two_phase::coordinator_options coordinator;
  // The recovery worker: every `recovery_interval` (0: no worker; recover_in_doubt() by hand), prepared
  // transactions older than `lease` are resolved.
  std::chrono::milliseconds recovery_interval{1000};
  std::chrono::milliseconds lease{10'000};
  // A saga's forward steps are tried this many times (its outbox message's attempts) before it is
  // compensated instead; compensations are retried until they succeed.
  int saga_max_attempts = 5;
  // Garbage collection (every `gc_interval` on the worker; collect_garbage() by hand): decision records
  // and saga tombstones older than `retention` whose transaction has nothing left unresolved.
  std::chrono::milliseconds retention{std::chrono::minutes{10}};
  std::chrono::milliseconds gc_interval{std::chrono::seconds{30}};
  // The shard bulkheads (shard_guard.h; off by default here, on in the shop's nodes): each shard's pool
  // gets this guard, and a prober thread closes an open circuit when `SELECT 1` works again.
  shard_guard_options guard;
  // The catalogue's reads (find_product, list_products, bestsellers) wait at most this long for each
  // answer (0: the session's own bound): they run on the node's server threads. A product whose shard
  // fails them is served from another shard's copy with its stock unknown.
  std::chrono::milliseconds read_timeout{0};
};

struct garbage_report {
  int64_t decisions = 0;   // txn_decisions rows deleted
  int64_t tombstones = 0;  // released parts of compensated sagas deleted (their order has no header)
};

class sharded_store final : public store {
 public:
  // One conninfo per shard (at least 2). Connects lazily.
  sharded_store(std::vector<std::string> shard_conninfo, sharded_store_options options = {});
  ~sharded_store() override;  // stops the recovery worker

  int shards() const noexcept { return static_cast<int>(shards_.size()); }
  postgres_store& shard(int index) { return *shards_.at(static_cast<size_t>(index)); }
  // Probes every shard whose circuit is open and due (what the prober thread does). The number probed.
  int probe_shards();
  shard_guard_stats guard_stats(int index) { return shard(index).pool().guard_stats(); }
  // One recovery pass now (what the worker does).
  two_phase::recovery_report recover_in_doubt();
  // --txn saga: drives every saga whose outbox message is due (a retry's time came, or its holder's lease
  // expired) to its end: placed (then the message is the order's payment message), compensated or
  // released; what the worker does. The number that ended in this pass.
  int recover_sagas(int64_t now);
  // Old rows nothing needs any more (what the worker does every gc_interval): decisions older than the
  // retention (by their home shard's clock) whose transaction has no part prepared on any shard, and
  // tombstones (released parts whose order has no header) updated before `now` - retention. Nothing is
  // deleted while a shard cannot be read.
  garbage_report collect_garbage(int64_t now);

  void migrate() override;
  int schema_version() override { return shards_[0]->schema_version(); }
  void reseed(int64_t scale, std::string_view password_hash) override;
  bool seeded() override { return shards_[0]->seeded(); }
  int64_t data_generation() override { return shards_[0]->data_generation(); }

  std::vector<category> categories() override { return shards_[0]->categories(); }
  std::optional<product> find_product(int64_t id) override;
  product_page list_products(const product_query& query) override;
  std::vector<int64_t> product_ids() override { return shards_[0]->product_ids(); }
  std::vector<bestseller> bestsellers(int64_t recent_orders, int64_t limit) override;

  std::optional<int64_t> create_user(std::string_view email, std::string_view name,
                                     std::string_view password_hash) override {
    return shards_[0]->create_user(email, name, password_hash);
  }
  std::optional<user_credentials> find_user_by_email(std::string_view email) override {
    return shards_[0]->find_user_by_email(email);
  }
  void create_session(std::string_view token, int64_t user_id, int64_t expires_at) override {
    session_shard(token).create_session(token, user_id, expires_at);
  }
  std::optional<int64_t> session_user(std::string_view token, int64_t now) override {
    return session_shard(token).session_user(token, now);
  }
  bool delete_session(std::string_view token) override { return session_shard(token).delete_session(token); }

  std::vector<cart_line> cart(int64_t user_id) override { return home(user_id).cart(user_id); }
  cart_status put_cart_item(int64_t user_id, int64_t product_id, int64_t qty, bool add) override {
    return home(user_id).put_cart_item(user_id, product_id, qty, add);
  }
  cart_status remove_cart_item(int64_t user_id, int64_t product_id) override {
    return home(user_id).remove_cart_item(user_id, product_id);
  }

  checkout_result checkout(int64_t user_id, std::string_view idempotency_key, std::string_view request_hash,
                           const std::vector<line_request>& items, int64_t now) override;
  std::optional<order> find_order(int64_t user_id, int64_t order_id) override;
  std::vector<order> list_orders(int64_t user_id, int64_t limit) override;

  std::optional<int64_t> create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                           int64_t per_user_limit, int64_t starts_at) override {
    return shards_[0]->create_flash_sale(product_id, stock, price, per_user_limit, starts_at);
  }
  std::optional<flash_sale> find_flash_sale(int64_t id) override { return shards_[0]->find_flash_sale(id); }
  purchase_result flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) override {
    return shards_[0]->flash_purchase(sale_id, user_id, now);
  }

  std::vector<outbox_message> claim_outbox(std::string_view owner, int64_t now, int64_t lease_ms,
                                           int64_t max) override;
  bool complete_payment(const outbox_message& message, std::string_view owner, std::string_view gateway_ref,
                        int64_t now) override {
    return order_shard(message.order_id).complete_payment(message, owner, gateway_ref, now);
  }
  bool fail_payment(const outbox_message& message, std::string_view owner, std::string_view reason,
                    bool dead_letter, int64_t now) override;
  bool retry_payment(const outbox_message& message, std::string_view owner, std::string_view error,
                     int64_t next_attempt_at) override {
    return order_shard(message.order_id).retry_payment(message, owner, error, next_attempt_at);
  }
  void record_refund(int64_t order_id, int64_t amount, std::string_view gateway_ref, int64_t now) override {
    order_shard(order_id).record_refund(order_id, amount, gateway_ref, now);
  }
  int64_t outbox_due(int64_t now) override;

  boost::json::object audit() override;
  store_gauges gauges() override;

 private:
  // A checkout being placed by saga (shards_saga.cpp).
  struct saga_order {
    int64_t user_id = 0, order_id = 0, total = 0;
    int home = 0;
    bool keyed = false, from_cart = false;
    std::string key, hash;
    int64_t now = 0;
    std::vector<order_line> lines;
    std::map<int, std::vector<order_line>> parts;  // shard -> its lines
  };
  // A saga held by this call: its outbox message on the home shard is leased to `owner`.
  struct saga_job {
    int64_t order_id = 0, user_id = 0;
    int home = 0;
    std::string stage;  // the message's `saga`: place | compensate | release
    std::string owner;
    std::chrono::steady_clock::time_point lease_end;  // no forward step starts after it
    std::map<int, std::vector<order_line>> parts;     // shard -> its lines
    int64_t attempts = 1;
  };
  enum class saga_end { placed, compensated, released, retry_later, lease_lost };
  struct saga_result {
    saga_end end = saga_end::retry_later;
    int64_t short_of = 0;  // a forward step found this product out of stock (then compensated)
  };
  // False: the idempotency key was taken concurrently (run again: replay). Otherwise `result` is final.
  bool saga_checkout(const saga_order& o, checkout_result& result);
  // Runs the saga's remaining steps while `job.owner` holds its message; `inline_checkout`: the request's
  // own call (clears the cart, passes the test seam's point).
  saga_result drive_saga(saga_job& job, int64_t now, const saga_order* inline_checkout);
  // `job.stage` becomes `stage` if the message is still ours; false when it is not.
  bool switch_stage(saga_job& job, const char* stage, int64_t now);
  // Gives the message back for a later attempt (the outbox's backoff), best effort.
  void retry_saga_later(const saga_job& job, int64_t now, std::string_view error);
  bool saga_fail_payment(const outbox_message& m, std::string_view owner, std::string_view reason,
                         bool dead_letter, int64_t now);
  // Releases order `order_id`'s part on `shard` (stock back), or leaves a released tombstone when there is
  // none yet, so that a late step cannot place it afterwards. Idempotent.
  void release_part(int shard, int64_t order_id, int64_t user_id, int home, int64_t now);
  // The payment messages (saga IS NULL) of shard `s` due now, leased to `owner` (claim_outbox per shard).
  std::vector<outbox_message> claim_payments(int s, std::string_view owner, int64_t now, int64_t lease_ms,
                                             int64_t max);
  int64_t collect_tombstones(int64_t cutoff);
  postgres_store& home(int64_t user_id) { return shard(home_of_user(user_id, shards())); }
  postgres_store& session_shard(std::string_view token) { return shard(shard_of_session(token, shards())); }
  // The shard of an order's header (order ids step by K on each home shard).
  postgres_store& order_shard(int64_t order_id) { return shard(static_cast<int>(order_id % shards())); }
  std::vector<pg_pool*> pools();
  void recovery_loop(std::stop_token stop);
  // The catalogue from the first shard whose copy answers, starting with `first`: `read(shard, index)`.
  template <class F>
  auto from_any_copy(int first, F&& read) -> decltype(read(std::declval<postgres_store&>(), 0));

  sharded_store_options options_;
  std::vector<std::unique_ptr<postgres_store>> shards_;
  std::atomic<unsigned> next_claim_{0};  // the shard claim_outbox starts with, in turn
  std::mutex stop_mutex_;
  std::condition_variable_any stop_cv_;
  std::jthread recovery_;  // last: stopped first
  std::jthread prober_;
};

}  // namespace stampede::shop
