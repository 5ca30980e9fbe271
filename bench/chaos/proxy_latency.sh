#!/usr/bin/env bash
# The fault proxy's added median latency (no toxic) against HAProxy's (TCP mode, one thread), side by side
# in one run, under three conditions of the machine (bench/chaos/proxy_latency.py explains them: as it is,
# with the guest's halt polling on, everything on one CPU), RUNS runs of SAMPLES interleaved turns each.
# Root is needed for halt-poll (it writes /sys/module/haltpoll/parameters/guest_halt_poll_ns and puts the
# old value back).
# usage: bench/chaos/proxy_latency.sh [path/to/stampede]
#        env: RUNS (8), SAMPLES (10000), CONDITIONS (default,halt-poll,one-cpu), HALT_POLL_NS (200000),
#        BEFORE=path/to/other/stampede (a third target, e.g. main's binary or STAMPEDE_PROXY_LOOP=0)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
stampede="${1:-$root/build/release/stampede}"
for tool in nginx haproxy; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
[[ -x $stampede ]] || { echo "missing $stampede (cmake --build build/release --target stampede)" >&2; exit 1; }
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
start_stampede_proxy "$stampede" proxy; targets=("stampede=$PROXY_PORT"); pids="$PROXY_PID"
haproxy_port=$(free_port); start_haproxy_tcp "$haproxy_port"
targets+=("haproxy=$haproxy_port"); pids+=",$HAPROXY_PID"
if [[ -n ${BEFORE:-} ]]; then
  start_stampede_proxy "$BEFORE" before; targets+=("before=$PROXY_PORT"); pids+=",$PROXY_PID"
fi
pids+=",$NGINX_PID$(pgrep -P "$NGINX_PID" | sed 's/^/,/' | tr -d '\n')"
echo "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), guest_halt_poll_ns" \
     "$(cat /sys/module/haltpoll/parameters/guest_halt_poll_ns 2>/dev/null || echo '(none)')"
python3 "$root/bench/chaos/proxy_latency.py" "${SAMPLES:-10000}" "${RUNS:-8}" \
  "${CONDITIONS:-default,halt-poll,one-cpu}" "$NGINX_PORT" "$pids" "${targets[@]}"
