// The node -> database and node -> Redis links, for fault proxies (`stampede drill` makes them): the shop's
// flags that fix the ports the nodes reach the data tier and the cache tier on, and route each node through
// an address of its own, as --node-ports/--node-via do for HAProxy -> node.
//
//   --db-port P          the database port the nodes reach: the PostgreSQL server's (--db postgres) or the
//                        database HAProxy's primary frontend (--ha patroni)
//   --db-via A1,A2,...   node i reaches the database at Ai (HOST:PORT), one address per node
//   --redis-port P       Redis's port (--cache redis)
//   --redis-via A1,...   node i reaches Redis at Ai
//   --db-shard-ports P1,...,P(K-1)   --shards K: the ports of shards 1..K-1's servers (shard 0's is
//   --db-port)
//   --db-shard-via A,...  --shards K: node i reaches shard s >= 1 at the ((s-1) x nodes + i)-th address:
//                        shard 1's addresses for node1..nodeN, then shard 2's, ... ((K-1) x N in all;
//                        shard 0's are --db-via's)
//
// What the via addresses carry: a node's primary pool (--db-url) and its Redis client (--redis). A node's
// replica-read pool (--db-replica-url, --replica-reads) is not routed. The supervisor's own sessions
// (migrations, seeding) and HAProxy's checks go to the servers directly.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "reference_shop/options.h"

namespace stampede::shop {

struct data_link_options {
  uint16_t db_port = 0, redis_port = 0;    // 0: a free port, chosen at start
  std::vector<std::string> db_via;         // empty, or one HOST:PORT per node
  std::vector<std::string> redis_via;
  std::vector<uint16_t> db_shard_ports;                // --shards: shards 1..K-1 (empty: free ports)
  std::vector<std::vector<std::string>> db_shard_via;  // [s - 1][node - 1]: shard s >= 1's address per node
};

// Reads the six flags. `nodes`: --nodes; `db_kind`: --db; `cache_kind`: --cache; `shards`: --shards. Throws
// std::invalid_argument naming the flag (a via list whose length is not the node count, a bad address, a
// database flag without --db postgres, a Redis flag without --cache redis, a shard flag without --shards).
data_link_options parse_data_link_options(const arg_list& a, int64_t nodes, const std::string& db_kind,
                                          const std::string& cache_kind, int64_t shards = 1);

// Node `index`'s command line (1-based) with its --db-url's host:port replaced by its --db-via address and
// its --redis value by its --redis-via address, and each URL of its --db-shards by that shard's address
// (shard 0: --db-via; the others: --db-shard-via); the arguments unchanged when no via is given.
void route_node_links(std::vector<std::string>& node_argv, const data_link_options& links, int64_t index);

}  // namespace stampede::shop
