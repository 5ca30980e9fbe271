#!/usr/bin/env bash
# CPU budget of a proxied request: wrk, nginx and the proxy's CPU per request through `stampede proxy` and
# through HAProxy (TCP mode, one thread), and the proxy CPU per request 1.1x HAProxy's requests/s would need
# on this machine's saturated cores (issue #17). The arithmetic is in proxy_budget.py.
# With the floor relays built (build/release/bench/chaos/floor_relay, where liburing-dev is installed), they run
# in every round too: the least a proxy can do, with epoll and with io_uring.
# usage: bench/chaos/proxy_budget.sh [path/to/stampede]   env: ROUNDS (3), DURATION (5), FLOOR (path to floor_relay)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
stampede="${1:-$root/build/release/stampede}"
for tool in nginx wrk haproxy; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
start_stampede_proxy "$stampede" proxy; proxy_port=$PROXY_PORT; proxy_pid=$PROXY_PID
haproxy_port=$(free_port); start_haproxy_tcp "$haproxy_port"
# nginx's master forks one worker: the worker does the work
worker_pid=$(pgrep -P "$NGINX_PID" | head -1)
[[ -n $worker_pid ]] || worker_pid=$(pgrep -f "nginx: worker" | head -1)
floor="${FLOOR:-$(dirname "$stampede")/bench/chaos/floor_relay}"
extras=()
if [[ -x $floor ]]; then
  for mode in epoll epoll-deferred uring; do
    port=$(free_port)
    "$floor" "$mode" "$port" "$NGINX_PORT" > "$BENCH_WORK/floor-$mode.log" 2>&1 &
    BENCH_PIDS+=($!); extras+=("floor-$mode=$port,$!")
    wait_for_port "$port"
  done
fi
python3 "$root/bench/chaos/proxy_budget.py" "${DURATION:-5}" "${ROUNDS:-3}" "$NGINX_PORT" "$worker_pid" \
  "$proxy_port" "$proxy_pid" "$haproxy_port" "$HAPROXY_PID" "${extras[@]}"
