#!/usr/bin/env bash
# The shop on SQLite vs on PostgreSQL 15 (`--db postgres`, no replicas) vs PostgreSQL with Patroni (a primary
# and 2 streaming replicas behind the database HAProxy) asynchronous and synchronous, side by side in one run,
# alternating backends for ROUNDS rounds; each round a fresh shop (3 nodes x 4 threads, scale 2). Per run,
# flash_sale_driver.py: 500 concurrent buyers on 1,000 units, one per user (checks exactly 1,000 sold,
# nobody twice; attempts/s and orders/s), then checkout with 64 clients x 40 orders of 3 items (orders/s,
# client-side p50/p99). Then pgbench's built-in simple-update on the same PostgreSQL server (same settings,
# the shop idle, as many clients as the nodes' pools hold) as the database's own ceiling on this machine.
# usage: bench/reference_shop/sqlite_vs_postgres.sh [STAMPEDE_BINARY] [ROUNDS=2] [PGBENCH_SECONDS=20]
#   env DBS: the backends, in order (default "sqlite postgres patroni-async patroni-sync")
set -euo pipefail
bin=${1:-build/release/stampede}
rounds=${2:-2}
pgbench_seconds=${3:-20}
here=$(cd "$(dirname "$0")" && pwd)
pg_bin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/stampede-shop-db.XXXXXX)
# PostgreSQL runs as the postgres user when we are root: it must be able to enter the work directory.
chmod o+x "$work"
source "$here/../lib/peers.sh"
cleanup() {
  shop_stop
  rm -rf "$work"
}
trap cleanup EXIT
start_shop() {  # $1 = sqlite|postgres|patroni-async|patroni-sync, $2 = data directory
  local db_flags
  case "$1" in
    sqlite) db_flags=(--db sqlite) ;;
    postgres) db_flags=(--db postgres) ;;
    patroni-async) db_flags=(--db postgres --ha patroni --replicas 2 --sync-replication off) ;;
    patroni-sync) db_flags=(--db postgres --ha patroni --replicas 2 --sync-replication on) ;;
    *) echo "unknown backend '$1' (sqlite, postgres, patroni-async, patroni-sync)" >&2; exit 2 ;;
  esac
  # Patroni: etcd, a leader and streaming replicas first (~20-40 s).
  shop_start "$bin" "$2" 180 "${db_flags[@]}" --nodes 3 --threads 4 --port 0 --kdf minimal --scale 2 || exit 1
}

for round in $(seq "$rounds"); do
  for db in ${DBS:-sqlite postgres patroni-async patroni-sync}; do
    echo "== round $round: $db"
    start_shop "$db" "$work/$db-$round"
    python3 "$here/flash_sale_driver.py" "$work/$db-$round/topology.json"
    shop_stop
  done
done

echo "== pgbench simple-update on the shop's PostgreSQL server (shop idle)"
start_shop postgres "$work/pgbench"
url=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["database"]["url"])' "$work/pgbench/topology.json")
clients=$(python3 -c 'import json, sys; t = json.load(open(sys.argv[1])); print(len(t["nodes"]) * t["database"]["pool_per_node"])' "$work/pgbench/topology.json")
"$pg_bin/pgbench" -i -q -s 10 "$url" > "$work/pgbench.init.log" 2>&1 || { tail -5 "$work/pgbench.init.log"; exit 1; }
"$pg_bin/pgbench" -n -b simple-update -c "$clients" -j 2 -T "$pgbench_seconds" "$url" 2>&1 |
  grep -E 'number of clients|latency average|^tps' | sed 's/^/  /'
shop_stop
