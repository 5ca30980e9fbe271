// SQLite backend of the shop's store: one database file (WAL) shared by every node process, a connection
// per thread, prepared statements only, write transactions retried on BUSY, versioned migrations.
// Thread-safety: all methods may be called concurrently from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "reference_shop/sqlite.h"
#include "reference_shop/store.h"

namespace stampede::shop {

struct sqlite_store_options {
  std::chrono::milliseconds busy_timeout{5000};
  int busy_retries = 50;  // whole-transaction retries after the busy timeout expired
};

class sqlite_store final : public store {
 public:
  // Opens (creating if needed) the database file; does not migrate. Throws sqlite::error.
  explicit sqlite_store(std::string path, sqlite_store_options options = {});
  ~sqlite_store() override;

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

  std::optional<int64_t> create_flash_sale(int64_t product_id, int64_t stock, int64_t price,
                                           int64_t per_user_limit, int64_t starts_at) override;
  std::optional<flash_sale> find_flash_sale(int64_t id) override;
  purchase_result flash_purchase(int64_t sale_id, int64_t user_id, int64_t now) override;
  // The batch in one write transaction (one commit, one write-lock hold for all of them).
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

  const std::string& path() const noexcept { return path_; }

 private:
  sqlite::connection& db();
  // Runs fn(connection&, write_transaction&) in a write transaction, retrying it while the database is busy.
  template <class F>
  auto write(F&& fn);
  std::vector<order_line> order_lines(sqlite::connection& db, int64_t order_id);
  std::optional<order> load_order(sqlite::connection& db, int64_t order_id);
  void release_stock(sqlite::connection& db, int64_t order_id);

  std::string path_;
  sqlite_store_options options_;
  uint64_t instance_id_;
  std::mutex mutex_;  // guards connections_
  std::vector<std::unique_ptr<sqlite::connection>> connections_;
};

}  // namespace stampede::shop
