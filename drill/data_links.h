// Fault proxies on each node's database and Redis links, for `stampede drill` on the reference shop.
//
// With `--db postgres` (one server, or `--ha patroni`: then the database HAProxy's primary frontend, so the
// link follows a failover) the drill fixes the port the nodes reach the database on (`--db-port`) and puts
// one proxy `db:nodeK` per node in front of it, passed as `--db-via` (node K's primary pool goes through
// it). With `--cache redis`, the same for Redis: `--redis-port`, one proxy `redis:nodeK` per node,
// `--redis-via`. So a fault on `db:node2` cuts, slows or resets node2's database sessions and nobody
// else's; `db:*` in a chaos entry targets every node's link (loadgen/chaos_timeline.h).
// With `--shards K` every shard's server gets its proxies, named `db:shardS:nodeK` (shard 0's too: with
// shards there is no plain `db:nodeK`), shard 0's passed as `--db-port`/`--db-via` and the others' as
// `--db-shard-ports`/`--db-shard-via`: `db:shard1:*` cuts shard 1 off from every node, `db:shard1:node2`
// only from node2, `db:*` every database link.
//
// Thread-safety: none (the drill's thread, before the shop starts).
#pragma once

#include <boost/json/array.hpp>
#include <string>
#include <vector>

#include "chaos/proxy_server.h"

namespace stampede::drill {

// The shop flags for the links (empty when the arguments use neither PostgreSQL nor Redis); adds the
// proxies to `proxies` and their entries ({name, from, to, listen, upstream}) to `links`. Throws
// std::invalid_argument for a --nodes it cannot read.
std::vector<std::string> add_data_links(const std::vector<std::string>& shop_args, chaos::proxy_server& proxies,
                                        boost::json::array& links);

}  // namespace stampede::drill
