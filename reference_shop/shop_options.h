// `stampede shop`'s options: the flags of options.h's shop table read into shop_options and checked
// (usage errors are std::invalid_argument naming the flag), and `stampede shop seed`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "reference_shop/autoscale_options.h"
#include "reference_shop/cache_tier.h"
#include "reference_shop/data_links.h"
#include "reference_shop/haproxy_config.h"
#include "reference_shop/member_links.h"
#include "reference_shop/observability.h"
#include "reference_shop/options.h"
#include "reference_shop/replica_reads.h"

namespace stampede::shop {

// Everything `stampede shop` was asked for, validated.
struct shop_options {
  int64_t nodes = 3, threads = 2, scale = 1, port = 8080, payment_port = 0, respawn_ms = -1;
  std::string lb, data, topology_path, kdf_text, haproxy_bin;
  std::string db_kind, pg_bin, ha;
  int64_t db_pool = 8, replicas = 2;
  bool sync_replication = false;
  bool wal_archive = false;  // --wal-archive on
  int64_t shards = 1;        // --shards K: PostgreSQL shards (shards.h); 1 = one database
  std::string txn = "2pc";   // --txn: how a cross-shard checkout commits (two_phase.h)
  replica_tier_options replica;  // --replica-reads, --replica-pin-ms, --pg-ports, --replication-via
  member_link_options member_links;  // --dcs-via, --postgres-via, --rest-via (member_links.h)
  std::vector<int> weights;
  std::vector<uint16_t> node_ports;                        // empty: any
  std::vector<std::pair<std::string, uint16_t>> node_via;  // empty: HAProxy reaches the nodes directly
  std::optional<std::pair<std::string, uint16_t>> payment_via;
  haproxy_config edge;  // the limits and timeouts part (ports and servers are filled in at start)
  cache_tier_options cache;
  data_link_options data_links;  // --db-port, --db-via, --redis-port, --redis-via (data_links.h)
  bool observe = false;           // --observe: Prometheus + Alertmanager (observability.h)
  observe_options observability;  // --observe-rules, --prometheus, --alertmanager
  autoscale_options autoscale;    // --autoscale, --min-nodes, --max-nodes, --autoscale-*
};

// Throws std::invalid_argument for a bad flag (usage error), std::runtime_error for the environment
// (the data directory cannot be made).
shop_options parse_shop_options(const arg_list& a);

// `stampede shop seed`: seeds DIR/shop.db (SQLite) without starting anything. Returns the exit code.
int seed_command(const arg_list& a);

}  // namespace stampede::shop
