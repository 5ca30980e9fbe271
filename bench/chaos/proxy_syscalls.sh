#!/usr/bin/env bash
# Syscalls per request of the fault proxy vs HAProxy (TCP mode, one thread), no toxic: each proxy in
# turn under `wrk -t1 -c64` against nginx (615-byte body) with `strace -c -f` attached for DURATION,
# then each syscall's count divided by the requests wrk completed meanwhile. strace slows the traced
# process a lot, so only the counts per request mean anything, not the rates.
# usage: bench/chaos/proxy_syscalls.sh [path/to/stampede ...]   (default: build/release/stampede)
#        env: DURATION (3)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
(($#)) || set -- "$root/build/release/stampede"
duration="${DURATION:-3}"
for tool in nginx wrk haproxy strace; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615

# per_request NAME PID PORT: strace -c -f on PID while wrk runs against PORT; prints the table per request
per_request() {
  local name=$1 pid=$2 port=$3
  wrk -t1 -c64 -d1s "http://127.0.0.1:$port/" > /dev/null  # warm up: connections open, caches hot
  strace -c -f -p "$pid" -o "$BENCH_WORK/strace.${name//\//_}" &
  local strace_pid=$!
  sleep 0.5
  local out requests
  out=$(wrk -t1 -c64 -d"${duration}s" "http://127.0.0.1:$port/")
  kill -INT "$strace_pid"; wait "$strace_pid" 2>/dev/null || true
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  python3 - "$BENCH_WORK/strace.${name//\//_}" "$requests" "$name" <<'PY'
import sys
path, requests, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = {}
for line in open(path):
    f = line.split()
    if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
        # % time, seconds, usecs/call, calls, [errors], syscall
        calls[f[-1]] = (int(f[3]), int(f[4]) if len(f) == 6 else 0)
total = sum(c for c, _ in calls.values())
parts = ", ".join(f"{s} {c / requests:.2f}" + (f" ({e / requests:.2f} failed)" if e else "")
                  for s, (c, e) in sorted(calls.items(), key=lambda kv: -kv[1][0]) if c / requests >= 0.01)
print(f"{name}: {total / requests:.2f} syscalls per request over {requests} requests: {parts}")
PY
}

n=0
for stampede in "$@"; do
  n=$((n + 1))
  start_stampede_proxy "$stampede" "proxy$n"; port=$PROXY_PORT; pid=$PROXY_PID
  per_request "stampede($stampede)" "$pid" "$port"
done
haproxy_port=$(free_port)
start_haproxy_tcp "$haproxy_port"; haproxy_pid=$HAPROXY_PID
per_request haproxy "$haproxy_pid" "$haproxy_port"
