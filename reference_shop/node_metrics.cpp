// The shop node's /metrics: request durations per route, the cache, admission control, checkouts, logins,
// payments and the shared database's gauges, in the Prometheus text format (common/prometheus_text.h).
#include "reference_shop/node.h"
#include "reference_shop/shards.h"

namespace stampede::shop {

std::string node::render_metrics() {
  using prometheus::metric_type;
  prometheus::text_writer out;
  out.reserve(16 * 1024);
  durations_.render(out, "shop_http_request_duration_seconds",
                    "HTTP request duration by route, method and status.");
  cache_->render_metrics(out);
  out.family("shop_bloom_rejections_total", metric_type::counter,
             "Product lookups refused by the Bloom filter.");
  out.sample("shop_bloom_rejections_total", {}, bloom_rejections_.load());
  out.family("shop_rate_limited_total", metric_type::counter,
             "Requests refused with 429 by the rate limiter.");
  out.sample("shop_rate_limited_total", {}, rate_limited_.load());
  out.family("shop_flash_purchases_total", metric_type::counter, "Flash-sale purchase attempts by result.");
  out.sample("shop_flash_purchases_total", {{"result", "created"}}, flash_created_.load());
  out.sample("shop_flash_purchases_total", {{"result", "already_bought"}}, flash_already_.load());
  out.sample("shop_flash_purchases_total", {{"result", "sold_out"}}, flash_sold_out_.load());
  out.sample("shop_flash_purchases_total", {{"result", "shed"}}, flash_shed_.load());
  const auto batches = purchases_ ? purchases_->counters() : purchase_batcher::stats{};
  out.family("shop_flash_batches_total", metric_type::counter,
             "Flash-purchase batches committed together (group commit; --flash-batch).");
  out.sample("shop_flash_batches_total", {}, batches.batches);
  out.family("shop_flash_batched_purchases_total", metric_type::counter,
             "Flash purchases tried in those batches (mean batch size: this / shop_flash_batches_total).");
  out.sample("shop_flash_batched_purchases_total", {}, batches.purchases);
  out.family("shop_checkouts_total", metric_type::counter, "Checkouts by result.");
  out.sample("shop_checkouts_total", {{"result", "created"}}, checkouts_created_.load());
  out.sample("shop_checkouts_total", {{"result", "replayed"}}, checkouts_replayed_.load());
  out.sample("shop_checkouts_total", {{"result", "out_of_stock"}}, checkouts_out_of_stock_.load());
  accounts_->render_metrics(out);
  out.family("shop_order_reads_total", metric_type::counter,
             "Order reads (history, status) by the database that answered them (--replica-reads).");
  out.sample("shop_order_reads_total", {{"database", "primary"}}, order_reads_primary_.load());
  out.sample("shop_order_reads_total", {{"database", "replica"}}, order_reads_replica_.load());
  out.family("shop_order_reads_lsn_fallback_total", metric_type::counter,
             "read-your-writes-lsn: order reads sent to the primary because no replica had replayed the "
             "client's last write within the wait bound.");
  out.sample("shop_order_reads_lsn_fallback_total", {}, order_reads_lsn_fallback_.load());
  out.family("shop_login_shed_total", metric_type::counter,
             "Logins and registrations refused with 429 before hashing, by reason.");
  out.sample("shop_login_shed_total", {{"reason", "busy"}}, kdf_shed_busy_.load());
  out.sample("shop_login_shed_total", {{"reason", "source_rate"}}, kdf_shed_source_.load());
  out.sample("shop_login_shed_total", {{"reason", "expired"}}, kdf_shed_expired_.load());
  if (kdf_pool_) {
    out.family("shop_password_hashing", metric_type::gauge,
               "Password hashes running and waiting on this node.");
    out.sample("shop_password_hashing", {{"state", "running"}}, kdf_pool_->running());
    out.sample("shop_password_hashing", {{"state", "waiting"}}, kdf_pool_->waiting());
  }
  out.family("shop_database_shed_total", metric_type::counter,
             "Requests that may wait on a row lock refused with 503 before running, by reason.");
  out.sample("shop_database_shed_total", {{"reason", "busy"}}, database_shed_busy_.load());
  out.sample("shop_database_shed_total", {{"reason", "expired"}}, database_shed_expired_.load());
  if (database_pool_) {
    out.family("shop_database_requests", metric_type::gauge,
               "Requests that may wait on a row lock, running and waiting for a worker on this node.");
    out.sample("shop_database_requests", {{"state", "running"}}, database_pool_->running());
    out.sample("shop_database_requests", {{"state", "waiting"}}, database_pool_->waiting());
  }
  if (pipeline_) {
    const auto ps = pipeline_->stats();
    out.family("shop_payments_total", metric_type::counter,
               "Payment outcomes handled by this node's workers.");
    out.sample("shop_payments_total", {{"result", "captured"}}, ps.captured);
    out.sample("shop_payments_total", {{"result", "declined"}}, ps.declined);
    out.sample("shop_payments_total", {{"result", "retried"}}, ps.retries);
    out.sample("shop_payments_total", {{"result", "dead_lettered"}}, ps.dead_lettered);
    out.sample("shop_payments_total", {{"result", "refunded"}}, ps.refunds);
    out.sample("shop_payments_total", {{"result", "lease_lost"}}, ps.lease_lost);
  }
  write_shard_guards(out);
  write_database_gauges(out);
  if (server_) {
    const auto ss = server_->stats();
    out.family("shop_http_connections_active", metric_type::gauge, "Open client connections.");
    out.sample("shop_http_connections_active", {}, ss.connections_active);
    out.family("shop_http_bad_requests_total", metric_type::counter, "Malformed or oversized requests.");
    out.sample("shop_http_bad_requests_total", {}, ss.bad_requests);
  }
  return out.take();
}

// Gauges of the shared database. A busy database leaves them out: the metrics above are still worth
// serving. They are read before any family is written, so a failure leaves no family half written.
void node::write_database_gauges(prometheus::text_writer& out) {
  using prometheus::metric_type;
  store_gauges g;
  int64_t due = 0;
  // On the server's threads too: with shards, bounded as the catalogue's reads (a lost shard leaves them
  // out).
  const pg::answer_limit limit{options_.db_shards.empty() ? std::chrono::milliseconds{0}
                                                          : options_.shard_read_timeout};
  try {
    g = store_->gauges();
    due = store_->outbox_due(unix_millis());
  } catch (const std::exception&) {
    return;
  }
  out.family("shop_orders", metric_type::gauge, "Orders by state (shared database).");
  for (const auto& [state, count] : g.orders_by_state) out.sample("shop_orders", {{"state", state}}, count);
  out.family("shop_outbox_messages", metric_type::gauge, "Order pipeline messages by state.");
  int64_t dead = 0;
  for (const auto& [state, count] : g.outbox_by_state) {
    out.sample("shop_outbox_messages", {{"state", state}}, count);
    if (state == "dead") dead = count;
  }
  out.family("shop_dead_letters", metric_type::gauge, "Messages in the dead-letter state.");
  out.sample("shop_dead_letters", {}, dead);
  out.family("shop_queue_depth", metric_type::gauge, "Messages due for a payment worker now.");
  out.sample("shop_queue_depth", {}, due);
  out.family("shop_stock_units", metric_type::gauge, "Units in stock over all products.");
  out.sample("shop_stock_units", {}, g.stock_units);
  out.family("shop_flash_remaining_units", metric_type::gauge, "Units left over all flash sales.");
  out.sample("shop_flash_remaining_units", {}, g.flash_remaining);
}

// Read from memory, never from a database: they are what to look at while a shard is away.
void node::write_shard_guards(prometheus::text_writer& out) {
  using prometheus::metric_type;
  auto* sharded = dynamic_cast<sharded_store*>(store_.get());
  if (sharded == nullptr) return;
  std::vector<shard_guard_stats> guards;
  for (int s = 0; s < sharded->shards(); ++s) guards.push_back(sharded->guard_stats(s));
  auto each = [&](const char* name, metric_type type, const char* help, auto value) {
    out.family(name, type, help);
    for (size_t s = 0; s < guards.size(); ++s)
      out.sample(name, {{"shard", std::to_string(s)}}, value(guards[s]));
  };
  each("shop_shard_circuit_open", metric_type::gauge,
       "1 while the shard's circuit is open (calls refused at once).",
       [](const shard_guard_stats& g) { return g.open ? 1 : 0; });
  each("shop_shard_inflight", metric_type::gauge, "Calls using the shard now (its bulkhead's occupancy).",
       [](const shard_guard_stats& g) { return g.inflight; });
  each("shop_shard_circuit_opened_total", metric_type::counter, "Times the shard's circuit opened.",
       [](const shard_guard_stats& g) { return g.opened; });
  each("shop_shard_lost_connections_total", metric_type::counter,
       "Calls and probes that lost their connection to the shard.",
       [](const shard_guard_stats& g) { return g.failures; });
  out.family("shop_shard_refused_total", metric_type::counter,
             "Calls refused at once: bulkhead full, or circuit open.");
  for (size_t s = 0; s < guards.size(); ++s) {
    out.sample("shop_shard_refused_total", {{"shard", std::to_string(s)}, {"reason", "full"}},
               guards[s].refused_full);
    out.sample("shop_shard_refused_total", {{"shard", std::to_string(s)}, {"reason", "open"}},
               guards[s].refused_open);
  }
}

}  // namespace stampede::shop
