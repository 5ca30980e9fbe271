// The shop's flag tables (options.h). --help of each command is generated from them.
#include <vector>

#include "reference_shop/options.h"

namespace stampede::shop {

namespace {

const std::vector<cli::flag> tuning{
    {"--kdf-workers", {}, "N", "password-hashing threads per node (default 2)"},
    {"--kdf-queue", {}, "N", "hashes waiting for a hashing thread at most (default 64)"},
    {"--kdf-max-wait-ms", {}, "MS", "a hash that would start later is refused with 429 (default 2000)"},
    {"--login-rate-source", {}, "R[:B]|off", "registrations + logins a second per client address (default 50:100)"},
    {"--login-failures-account", {}, "R[:B]|off", "failed logins a second per email (default 0.2:20)"},
    {"--workers", {}, "N", "payment workers of the order pipeline per node (default 2)"},
    {"--lease-ms", {}, "MS", "how long a worker holds an order before another may take it (default 5000)"},
    {"--max-attempts", {}, "N", "payment attempts before an order is refunded and failed (default 5)"},
    {"--rate-limit-client", {}, "R[:B]", "requests a second per client address (default: off)"},
    {"--rate-limit-global", {}, "R[:B]", "requests a second per node (default: off)"},
    {"--flash-max-inflight", {}, "N", "flash-sale requests in flight at most, beyond: 429 (default: no limit)"},
    {"--flash-batch", {}, "N", "flash purchases committed together, 1 = one each (default 64)"},
    {"--inject-bug", {}, "double-capture", "break the shop on purpose: every order is charged twice (checker tests)"},
    {"--cache-ttl-ms", {}, "MS", "freshness of a cached catalogue entry (default 30000)"},
    {"--cache-db-loads", {}, "N", "database loads at once per node without Redis (default 4)"},
    {"--cache-lock-wait-ms", {}, "MS", "how long a miss waits for another node's rebuild (default 250)"},
    {"--redis-timeout-ms", {}, "MS", "bound of a Redis command (default 100)"},
    {"--txn-lease-ms", {}, "MS", "--shards: recovery resolves transactions prepared longer ago (default 10000)"},
    {"--txn-hold-ms", {}, "MS", "--shards, game days: a coordinator waits MS after its PREPAREs (default 0)"},
    {"--shard-max-inflight", {}, "N", "--shards: calls on one shard at once per node, beyond: 503 (default --db-pool)"},
    {"--shard-breaker-failures", {}, "N", "--shards: lost connections in a row that open a shard's circuit, 0 = off (default 1)"},
    {"--shard-breaker-open-ms", {}, "MS", "--shards: an open circuit's probes, one every MS (default 1000)"},
    {"--shard-read-timeout-ms", {}, "MS", "--shards: a catalogue read's bound on one shard, then a degraded page (default 500)"},
};

const cli::flag kdf{"--kdf", {}, "interactive|moderate|minimal", "argon2id cost of password hashes (default interactive)"};

std::vector<cli::flag> with_tuning(std::vector<cli::flag> flags) {
  flags.insert(flags.end(), tuning.begin(), tuning.end());
  return flags;
}

}  // namespace

std::span<const cli::flag> node_tuning_flags() { return tuning; }

const cli::command& shop_spec() {
  static const cli::command spec{
      "stampede shop",
      "[flags]\nseed [--scale S] [--data DIR] [--kdf ...]      (SQLite only)",
      "Starts N shop nodes behind HAProxy plus a payment emulator on 127.0.0.1, writes the topology JSON\n"
      "(default DIR/topology.json), prints the entry URL, and stops everything on Ctrl-C or SIGTERM.\n"
      "HAProxy is restarted when it dies; the shop exits 1 when it cannot be restarted (5 tries in a row).\n"
      "Links (for fault proxies, as `stampede drill` does): --node-ports/--payment-port fix the listening ports,\n"
      "--node-via makes HAProxy reach node i at the i-th address, --payment-via makes nodes call the payment\n"
      "emulator at that address; --respawn-ms restarts a node that died, on the same port, after MS;\n"
      "--db-port/--db-via and --redis-port/--redis-via do the same for each node's database and Redis links.\n"
      "--db postgres runs one PostgreSQL 15 server (DIR/postgres) instead of the SQLite file DIR/shop.db.\n"
      "--ha patroni (with --db postgres) runs a Patroni cluster instead: etcd, a primary and --replicas N\n"
      "streaming replicas (DIR/patroni, fresh on every start); nodes reach the current primary through a\n"
      "second HAProxy; with --shards K each shard is such a cluster (one etcd, a scope per shard,\n"
      "DIR/patroni-shardI, --replicas 1 unless given).\n"
      "--cache redis runs one redis-server (DIR/redis, 127.0.0.1, a free port) shared by all\n"
      "nodes instead of their own caches. --observe adds Prometheus and Alertmanager (DIR/observe). The node\n"
      "tuning flags (--kdf-workers to --redis-timeout-ms) are passed to every node (see stampede shop-node\n"
      "--help). docs/SHOP.md describes it all.",
      with_tuning({
          {"--nodes", {}, "N", "shop nodes, 1..64 (default 3)"},
          cli::threads_flag("threads of each node (default 2)"),
          {"--lb", {}, "ALGORITHM", "HAProxy's balance: roundrobin|leastconn|source|uri|random|first (default roundrobin)"},
          {"--data", {}, "DIR", "data directory (default: a new temporary directory)"},
          {"--scale", {}, "S", "seed S x 1000 products and customers, 1..1000 (default 1)"},
          {"--port", {}, "P", "HAProxy's front door (default 8080; 0 = any)"},
          {"--topology", {}, "FILE", "where to write the topology JSON (default DIR/topology.json)"},
          kdf,
          {"--weights", {}, "W1,W2,...", "HAProxy weight of each node, 0..256"},
          {"--payment-latency-median-ms", {}, "MS", "the payment emulator's median latency"},
          {"--payment-latency-p99-ms", {}, "MS", "the payment emulator's p99 latency"},
          {"--payment-failure-rate", {}, "R", "share of payments that fail (0..1)"},
          {"--payment-decline-rate", {}, "R", "share of payments declined (0..1)"},
          {"--payment-lose-rate", {}, "R", "share of payment responses lost (0..1)"},
          {"--haproxy", {}, "PATH", "the HAProxy binary (default /usr/sbin/haproxy)"},
          {"--server-maxconn", {}, "N", "connections per node at most; beyond, HAProxy queues (default 64)"},
          {"--queue-timeout-ms", {}, "MS", "how long a request waits in HAProxy's queue (default 10000)"},
          {"--edge-conn-limit", {}, "N", "concurrent connections per client address (default 2000)"},
          {"--edge-conn-rate", {}, "N", "new connections per client address per 10 s (default 20000)"},
          {"--edge-request-timeout-ms", {}, "MS", "the whole request head must arrive within it (default 5000)"},
          {"--node-ports", {}, "P1,P2,...", "the listening port of each node"},
          {"--payment-port", {}, "P", "the payment emulator's port (default: any)"},
          {"--node-via", {}, "HOST:PORT,...", "HAProxy reaches node i at the i-th address (a fault proxy)"},
          {"--payment-via", {}, "HOST:PORT", "nodes reach the payment emulator at this address (a fault proxy)"},
          {"--respawn-ms", {}, "MS", "restart a node that died, on the same port, after MS (default: never)"},
          {"--db", {}, "sqlite|postgres", "the data tier (default sqlite)"},
          {"--db-pool", {}, "N", "database sessions per node, 1..200 (default 8)"},
          {"--shards", {}, "K",
           "--db postgres over K PostgreSQL servers, 1..8: stock by SKU (product id mod K), carts and\n"
           "orders by user (user id mod K); a cross-shard checkout commits by --txn (default 1);\n"
           "with --ha patroni each shard is a Patroni cluster"},
          {"--txn", {}, "2pc|saga|2pc-no-decision-log|saga-no-compensation",
           "cross-shard commit with --shards: two-phase commit with a decision log (default 2pc), or a\n"
           "saga of local transactions with compensations; the last two are DELIBERATELY BROKEN"},
          {"--txn-fault", {}, "after-prepare|after-decision|after-first-commit",
           "game days: node1 SIGKILLs itself at that point of each cross-shard checkout it coordinates"},
          {"--pg-bin", {}, "DIR", "PostgreSQL's binaries (default /usr/lib/postgresql/15/bin)"},
          {"--ha", {}, "none|patroni", "--db postgres as a Patroni cluster (default none)"},
          {"--replicas", {}, "N", "Patroni replicas, 0..8 (default 2; per shard with --shards, default 1)"},
          {"--sync-replication", {}, "on|off", "Patroni's synchronous mode (default off)"},
          {"--wal-archive", {}, "on|off",
           "continuous WAL archiving into DIR/postgres/wal_archive, for base backups and point-in-time\n"
           "restores (default off; --db postgres without --ha patroni)"},
          {"--replica-reads", {}, "off|on|read-your-writes|read-your-writes-lsn",
           "order reads from the replicas; read-your-writes keeps a customer's on the primary for\n"
           "--replica-pin-ms after their last order; read-your-writes-lsn waits (200 ms at most) for a\n"
           "replica that has replayed their last order's WAL, else reads the primary\n"
           "(default off; needs --ha patroni)"},
          {"--replica-pin-ms", {}, "MS", "read-your-writes: how long reads stay on the primary (default 5000)"},
          {"--pg-ports", {}, "P1,P2,...", "the Patroni members' PostgreSQL ports (for fault proxies)"},
          {"--replication-via", {}, "pg1=HOST:PORT,...",
           "the other members replicate from pgK via this address (a fault proxy)"},
          {"--db-port", {}, "P", "the database port nodes reach: the PostgreSQL server's, or with --ha patroni\n"
                                 "the database HAProxy's primary frontend (for fault proxies; default: any)"},
          {"--db-via", {}, "HOST:PORT,...", "node i reaches the database at the i-th address (a fault proxy)"},
          {"--db-shard-ports", {}, "P1,...", "--shards K: the ports of shards 1..K-1 (for fault proxies; default: any)"},
          {"--db-shard-via", {}, "HOST:PORT,...",
           "--shards K: node i reaches shard s >= 1 at the ((s-1) x nodes + i)-th address (fault proxies;\n"
           "shard 0's are --db-via's)"},
          {"--dcs-via", {}, "pg1=HOST:PORT,...", "pgK's Patroni reaches etcd via this address (a fault proxy)"},
          {"--postgres-via", {}, "pg1=HOST:PORT,...",
           "the database HAProxy reaches pgK's PostgreSQL via this address (a fault proxy)"},
          {"--rest-via", {}, "pg1=HOST:PORT,...",
           "HAProxy's checks and the other members reach pgK's Patroni REST API via this address"},
          {"--etcd-port", {}, "P", "etcd's client port (for fault proxies; default: any)"},
          {"--rest-ports", {}, "P1,P2,...", "the Patroni members' REST API ports (for fault proxies)"},
          {"--cache", {}, "local|redis", "each node's own cache, or one shared Redis (default local)"},
          {"--redis-port", {}, "P", "Redis's port (for fault proxies; default: any)"},
          {"--redis-via", {}, "HOST:PORT,...", "node i reaches Redis at the i-th address (a fault proxy)"},
          {"--redis-bin", {}, "PATH", "the redis-server binary (default /usr/bin/redis-server)"},
          {"--redis-maxmemory-mb", {}, "N", "Redis's maxmemory (default 64)"},
          {"--redis-respawn-ms", {}, "MS|off", "start a dead Redis again after MS (default 1000)"},
          {"--observe", {}, {},
           "also run Prometheus (scraping HAProxy and every node each second, with the shipped alert rules)\n"
           "and Alertmanager, whose notifications go to DIR/observe/alerts.jsonl (docs/SHOP.md)"},
          {"--observe-rules", {}, "drill|production",
           "the shipped rule set: drill (windows and for: divided by 60) or production (default drill)"},
          {"--prometheus", {}, "PATH", "the Prometheus binary (default /usr/bin/prometheus)"},
          {"--alertmanager", {}, "PATH", "the Alertmanager binary (default /usr/bin/prometheus-alertmanager)"},
          {"--observe-generator", {}, "IP:PORT",
           "also scrape the load generator's live metrics there (`stampede run --metrics-listen`), job\n"
           "\"stampede\"; `stampede drill --observe` passes it"},
          {"--autoscale", {}, "rule|predictive|off",
           "add and remove nodes at run time (docs/SHOP.md, \"Elastic scaling\"); events in\n"
           "DIR/autoscale.jsonl (default off); not with --weights; --node-via, --db-via and\n"
           "--redis-via route the initial nodes only"},
          {"--min-nodes", {}, "N", "--autoscale: never fewer nodes (default --nodes)"},
          {"--max-nodes", {}, "N", "--autoscale: never more nodes, 1..64 (default 2 x --nodes)"},
          {"--autoscale-target-in-flight", {}, "N", "requests in flight per node to keep (default 8)"},
          {"--autoscale-p99-ms", {}, "MS", "a p99 above it adds a node (default 500; 0: never)"},
          {"--autoscale-tick-ms", {}, "MS", "how often the autoscaler decides (default 1000)"},
          {"--autoscale-out-cooldown-ms", {}, "MS", "no scale-out sooner after a scale-out (default 5000)"},
          {"--autoscale-in-cooldown-ms", {}, "MS", "no scale-in sooner after any scaling (default 30000)"},
          {"--autoscale-stabilisation-ms", {}, "MS",
           "scale in only after the load stayed below the band this long (default 30000)"},
          {"--autoscale-in-band", {}, "R", "scale in only below R x the target, 0.05..0.95 (default 0.6)"},
          {"--autoscale-drain-ms", {}, "MS", "a draining node's requests get this long (default 10000)"},
      }),
      "Exit: 0 stopped by SIGINT/SIGTERM; 1 could not start, or HAProxy died and could not be restarted;\n"
      "2 bad command line."};
  return spec;
}

const cli::command& node_spec() {
  static const cli::command spec{
      "stampede shop-node",
      "--db FILE | --db-url URL [flags]",
      "One reference shop node (started by `stampede shop`). The admin token comes from\n"
      "$STAMPEDE_SHOP_ADMIN_TOKEN. SIGTERM drains (readyz 503) then stops; SIGINT stops.",
      with_tuning({
          {"--db", {}, "FILE", "the SQLite database"},
          {"--db-url", {}, "URL",
           "postgresql://USER@HOST:PORT/DB: PostgreSQL (password in the URL or $PGPASSWORD);\n"
           "a request that finds no free session within 1 s gets 503"},
          {"--db-pool", {}, "N", "PostgreSQL sessions at most, 1..1000 (default 8)"},
          {"--db-shards", {}, "URL0,URL1,...", "PostgreSQL shards (at least 2; --db-url is then shard 0's)"},
          {"--txn", {}, "2pc|saga|2pc-no-decision-log|saga-no-compensation",
           "cross-shard commit with --db-shards (default 2pc)"},
          {"--txn-fault", {}, "after-prepare|after-decision|after-first-commit",
           "game days: SIGKILL this node at that point of its cross-shard checkouts (a crashed coordinator)"},
          {"--db-replica-url", {}, "URL", "a second pool on the replicas, for order reads (with --replica-reads)"},
          {"--replica-reads", {}, "off|on|read-your-writes|read-your-writes-lsn",
           "order reads from --db-replica-url; read-your-writes keeps them on the primary for\n"
           "--replica-pin-ms after the client's last order; read-your-writes-lsn waits (200 ms at most)\n"
           "for the replica to replay the client's last order, else reads the primary (default off)"},
          {"--replica-pin-ms", {}, "MS", "read-your-writes: how long reads stay on the primary (default 5000)"},
          {"--name", {}, "NAME", "the node's name (default node1)"},
          {"--address", {}, "A", "listening address (default 127.0.0.1)"},
          {"--port", {}, "P", "listening port (default 0: any)"},
          cli::threads_flag("io threads, 1..256 (default 2)"),
          kdf,
          {"--seed-scale", {}, "S", "seed the database at scale S first (default 0: do not)"},
          {"--no-cache", {}, {}, "no catalogue cache"},
          {"--cache", {}, "local|redis", "the node's own cache, or a shared Redis (default local)"},
          {"--redis", {}, "HOST:PORT", "the Redis of --cache redis (password from $STAMPEDE_REDIS_PASSWORD)"},
          {"--redis-connect-timeout-ms", {}, "MS", "bound of a Redis connect (default 200)"},
          {"--redis-pool", {}, "N", "Redis connections at most (default 8)"},
          {"--payment", {}, "HOST:PORT", "the payment gateway: enables the order pipeline"},
          {"--payment-timeout-ms", {}, "MS", "bound of a payment call (default 1000)"},
          {"--drain-ms", {}, "MS", "after SIGTERM, readyz answers 503 for MS before the node stops (default 1500)"},
          {"--ready-fd", {}, "FD", "write the listening port to FD once ready"},
      }),
      {}};
  return spec;
}

const cli::command& emulator_spec() {
  static const cli::command spec{
      "stampede payment-emulator",
      "[flags]",
      "The payment gateway emulator (started by `stampede shop`).",
      {{"--address", {}, "A", "listening address (default 127.0.0.1)"},
       {"--port", {}, "P", "listening port (default 0: any)"},
       cli::threads_flag("io threads, 1..64 (default 2)"),
       {"--latency-median-ms", {}, "MS", "median latency of a payment"},
       {"--latency-p99-ms", {}, "MS", "p99 latency of a payment"},
       {"--failure-rate", {}, "R", "share of payments that fail (0..1, default 0)"},
       {"--decline-rate", {}, "R", "share of payments declined (0..1, default 0)"},
       {"--lose-response-rate", {}, "R", "share of responses lost: the payment is made, the answer never sent (0..1)"},
       {"--lose-delay-ms", {}, "MS", "how long a lost response holds the connection (default 3000)"},
       cli::seed_flag("seed of the emulator's random choices (default 1)"),
       {"--ready-fd", {}, "FD", "write the listening port to FD once ready"}},
      {}};
  return spec;
}

}  // namespace stampede::shop
