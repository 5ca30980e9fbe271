#!/usr/bin/env bash
# Cached GET /api/products/{id} on one shop node with one thread, addressed directly: the node's own
# in-process cache (`--cache local`) against the Redis cache tier (`--cache redis`, one redis-server on
# 127.0.0.1), driven by `wrk -t1 -c64`, in alternating runs; then each at one connection (`-c1`) for the
# added latency of the Redis round trip. Both shops run side by side from the start.
# usage: bench/reference_shop/cached_get_redis_vs_local.sh [STAMPEDE_BINARY] [SECONDS] [ROUNDS]
set -euo pipefail
bin=${1:-build/release/stampede}
seconds=${2:-10}
rounds=${3:-3}
work=$(mktemp -d /tmp/stampede-shop-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start_shop() {  # NAME CACHE
  "$bin" shop --nodes 1 --threads 1 --port 0 --kdf minimal --cache "$2" --data "$work/$1" > "$work/$1.entry" 2> "$work/$1.log" &
  pids+=($!)
  for _ in $(seq 150); do [[ -s "$work/$1.entry" ]] && break; sleep 0.1; done
  [[ -s "$work/$1.entry" ]] || { cat "$work/$1.log" >&2; exit 1; }
  python3 -c "import json;print(json.load(open('$work/$1/topology.json'))['nodes'][0]['url'])"
}
local_url=$(start_shop local local)
redis_url=$(start_shop redis redis)
curl -sf "$local_url/api/products/1" > "$work/body.json"   # warms both caches
curl -sf "$redis_url/api/products/1" > /dev/null
size=$(stat -c %s "$work/body.json")

run() {  # URL CONNECTIONS -> "rps p50"
  wrk -t1 -c"$2" -d"${seconds}s" --latency "$1" |
    awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} END {print rps, p50}'
}
echo "body: $size bytes; wrk -t1 -d${seconds}s; local node $local_url, redis node $redis_url"
printf "%-6s %-4s %12s %12s %7s %10s %10s\n" round conn local_rps redis_rps ratio local_p50 redis_p50
for c in 64 1; do
  for r in $(seq "$rounds"); do
    read -r l lp < <(run "$local_url/api/products/1" "$c")
    read -r s sp < <(run "$redis_url/api/products/1" "$c")
    printf "%-6s %-4s %12s %12s %7.3f %10s %10s\n" "$r" "$c" "$l" "$s" "$(echo "$s / $l" | bc -l)" "$lp" "$sp"
  done
done
curl -sf "$redis_url/metrics" | grep -E '^shop_cache_(requests_total\{result="hit"\}|loads_total|redis_errors_total\{kind="timeout"\})'
