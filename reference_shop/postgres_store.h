// PostgreSQL backend of the shop's store (PostgreSQL 15 through libpq), behind the same interface, audit
// and invariants as the SQLite store. Every node process has its own bounded pool of sessions (pg_pool.h);
// statements are prepared once per session.
//
// Transactions (docs/SHOP.md "Data tier"):
//  - writes run at READ COMMITTED. Every invariant is carried by a row lock or a constraint, never by a
//    read followed by a write: stock and flash units move by conditional updates (`stock = stock - q
//    WHERE stock >= q`), which lock the row and re-check the condition on its newest version; per-user
//    flash purchases by an upsert that only counts up while below the limit; idempotency keys by a unique
//    index; outbox leases by `FOR UPDATE SKIP LOCKED`. CHECK constraints (stock >= 0, 0 <= remaining <=
//    stock, count <= per_user_limit) are the second line. SERIALIZABLE would add aborts on the hot rows
//    and protect nothing more, so no transaction uses it;
//  - multi-statement reads (product pages, orders, audit, gauges) run at REPEATABLE READ READ ONLY: one
//    snapshot, as SQLite's read transactions;
//  - migrations take an advisory lock, so nodes starting together migrate once.
// Retries: a transaction is run again (up to max_attempts) after a serialization failure or deadlock
// (40001, 40P01), and after its session was lost before COMMIT was sent (the server rolled it back). A
// session lost *while committing* leaves the outcome unknown: the transaction is run again only where a
// second run cannot change the data or the answer (each method says so below, in `rerun_after_unknown_commit`
// calls), otherwise the call throws store_unavailable.
// Thread-safety: all methods may be called concurrently from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "reference_shop/pg_pool.h"
#include "reference_shop/store.h"

namespace stampede::shop {

struct postgres_store_options {
  pg_pool_options pool;
  int max_attempts = 5;  // runs of one transaction (conflicts, lost sessions), then store_unavailable
  // Test seam: called in every write transaction before COMMIT is sent (`sent` = false) and after it was
  // sent but before its answer is read (`sent` = true), with the transaction's name ("checkout", ...).
  std::function<void(std::string_view transaction, bool sent, pg::connection& session)> commit_hook;
};

class postgres_store final : public store {
 public:
  // `conninfo`: a postgresql:// URL or key=value pairs (the password may come from $PGPASSWORD). Connects
  // lazily; throws store_unavailable on first use if the server cannot be reached.
  explicit postgres_store(std::string conninfo, postgres_store_options options = {});
  ~postgres_store() override;

  void migrate() override;
  int schema_version() override;
  void reseed(int64_t scale, std::string_view password_hash) override;
  bool seeded() override;
  int64_t data_generation() override;

  std::vector<category> categories() override;
  std::optional<product> find_product(int64_t id) override;
  product_page list_products(const product_query& query) override;
  std::vector<int64_t> product_ids() override;
  std::vector<bestseller> bestsellers(int64_t recent_orders, int64_t limit) override;

  std::optional<int64_t> create_user(std::string_view email, std::string_view name,
                                     std::string_view password_hash) override;
  std::optional<user_credentials> find_user_by_email(std::string_view email) override;
  void create_session(std::string_view token, int64_t user_id, int64_t expires_at) override;
  std::optional<int64_t> session_user(std::string_view token, int64_t now) override;
  bool delete_session(std::string_view token) override;

  std::vector<cart_line> cart(int64_t user_id) override;
  cart_status put_cart_item(int64_t user_id, int64_t product_id, int64_t qty, bool add) override;
  cart_status remove_cart_item(int64_t user_id, int64_t product_id) override;

  checkout_result checkout(int64_t user_id, std::string_view idempotency_key, std::string_view request_hash,
                           const std::vector<line_request>& items, int64_t now) override;
  std::optional<order> find_order(int64_t user_id, int64_t order_id) override;
  std::vector<order> list_orders(int64_t user_id, int64_t limit) override;
  std::optional<std::string> wal_position() override;
  std::optional<std::optional<order>> find_order_replayed(int64_t user_id, int64_t order_id,
                                                          std::string_view lsn,
                                                          std::chrono::milliseconds bound) override;
  std::optional<std::vector<order>> list_orders_replayed(int64_t user_id, int64_t limit, std::string_view lsn,
                                                         std::chrono::milliseconds bound) override;

  std::optional<int64_t> create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                           int64_t per_user_limit, int64_t starts_at) override;
  std::optional<flash_sale> find_flash_sale(int64_t id) override;
  purchase_result flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) override;
  // The batch in one transaction (one COMMIT, one flush, one hold of the sale's row lock for all of them).
  // A COMMIT lost where the batch cannot be run again gives every member store_unavailable with the outcome
  // unknown, as flash_purchase() throws it; any other error means nothing of the batch was done.
  std::vector<purchase_outcome> flash_purchases(std::span<const purchase_request> batch) override;
  bool commits_purchase_batches() const override { return true; }

  std::vector<outbox_message> claim_outbox(std::string_view owner, int64_t now, int64_t lease_ms,
                                           int64_t max) override;
  bool complete_payment(const outbox_message& message, std::string_view owner, std::string_view gateway_ref,
                        int64_t now) override;
  bool fail_payment(const outbox_message& message, std::string_view owner, std::string_view reason,
                    bool dead_letter, int64_t now) override;
  bool retry_payment(const outbox_message& message, std::string_view owner, std::string_view error,
                     int64_t next_attempt_at) override;
  void record_refund(int64_t order_id, int64_t amount, std::string_view gateway_ref, int64_t now) override;
  int64_t outbox_due(int64_t now) override;

  boost::json::object audit() override;
  store_gauges gauges() override;

  pg_pool& pool() noexcept { return pool_; }

  // How a transaction body talks to the runner.
  class transaction {
   public:
    void commit() noexcept { commit_ = true; }  // otherwise the runner rolls back
    // A second run after a lost COMMIT cannot change the data or the answer (see the header comment).
    void rerun_after_unknown_commit(bool safe = true) noexcept { rerun_safe_ = safe; }
    // True in a run that follows a COMMIT whose outcome is unknown: the first run may have committed.
    bool after_unknown_commit() const noexcept { return after_unknown_commit_; }

   private:
    friend class postgres_store;
    bool commit_ = false;
    bool rerun_safe_ = false;
    bool after_unknown_commit_ = false;
  };

 private:
  enum class mode { read, snapshot, write };
  // Thrown by a body to roll back and run again (a concurrent request got there first).
  struct rerun_transaction {};
  static void wait_until_durable(pg::connection& db, bool& committing);
  using body = std::function<void(pg::connection&, transaction&)>;
  // Runs `fn` in a transaction of `mode` (read: one statement, no transaction) with the retry rules above.
  void run(std::string_view name, mode m, const body& fn);
  std::optional<order> load_order(pg::connection& db, int64_t order_id);
  std::vector<order_line> order_lines(pg::connection& db, int64_t order_id);
  std::vector<order> orders_of(pg::connection& db, int64_t user_id, int64_t limit);
  void release_stock(pg::connection& db, int64_t order_id);
  static bool replayed(pg::connection& db, std::string_view lsn, std::chrono::milliseconds bound);
  template <class T, class F>
  std::optional<T> read_replayed(std::string_view name, std::string_view lsn, std::chrono::milliseconds bound,
                                 F&& read);

  postgres_store_options options_;
  pg_pool pool_;
};

}  // namespace stampede::shop
