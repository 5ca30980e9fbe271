#!/usr/bin/env bash
# Compares stampede's http::server with nginx on one thread each: a cached/static GET of a 615-byte
# body, `wrk -t1 -c64 -d5s`, alternating the two servers for 3 rounds; prints req/s and the ratio.
#   bench/common/http_server_bench.sh [BUILD_DIR]      (default build/release; needs target http_server_bench)
# Environment: ROUNDS (3), DURATION (5s), CONNECTIONS (64), VERBOSE (show both responses).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
bench_bin="$build/bench/common/http_server_bench"
rounds="${ROUNDS:-3}"
duration="${DURATION:-5s}"
connections="${CONNECTIONS:-64}"

[[ -x "$bench_bin" ]] || { echo "missing $bench_bin (cmake --build $build --target http_server_bench)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 2; }
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
nginx_port="$NGINX_PORT"

"$bench_bin" --threads 1 > "$BENCH_WORK/ours.out" &
BENCH_PIDS+=($!)
for _ in $(seq 100); do grep -q '^port ' "$BENCH_WORK/ours.out" && break; sleep 0.05; done
ours_port="$(awk '/^port /{print $2}' "$BENCH_WORK/ours.out")"
wait_for_port "$ours_port"

body_size() { curl -s "http://127.0.0.1:$1/" | wc -c; }
show() { curl -s -i "http://127.0.0.1:$1/" | head -c 400; echo; }
if command -v curl >/dev/null; then
  # Same body on both sides, or the comparison is void (an nginx 404 page is smaller and faster).
  echo "body bytes: nginx $(body_size "$nginx_port"), stampede $(body_size "$ours_port")"
  [[ -n "${VERBOSE:-}" ]] && { show "$nginx_port"; show "$ours_port"; }
fi

run_wrk() {  # port -> requests/s
  wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$1/" | awk '/^Requests\/sec:/{print $2}'
}

total_nginx=0
total_ours=0
for round in $(seq "$rounds"); do
  n="$(run_wrk "$nginx_port")"
  o="$(run_wrk "$ours_port")"
  printf 'round %d: nginx %10.0f req/s   stampede %10.0f req/s   ratio %s\n' "$round" "$n" "$o" "$(ratio "$o" "$n")"
  total_nginx="$(echo "$total_nginx + $n" | bc -l)"
  total_ours="$(echo "$total_ours + $o" | bc -l)"
done
printf 'mean:    nginx %10.0f req/s   stampede %10.0f req/s   ratio %s (target >= 0.85)\n' \
  "$(echo "$total_nginx / $rounds" | bc -l)" "$(echo "$total_ours / $rounds" | bc -l)" \
  "$(ratio "$total_ours" "$total_nginx")"
