#!/usr/bin/env bash
# The fault proxy with no toxic, side by side in one run with its peer: nginx direct, through
# `stampede proxy`, and through HAProxy in TCP mode (one thread; the fastest proxy in Debian), with
# `wrk -t1 -c64 -d5s`, alternating ROUNDS times. Then the added median latency of sequential requests
# (bench/chaos/added_latency.py: p50 through the proxy - p50 direct, requests to the targets in rotating turns).
# Each round also prints each proxy's CPU (user + system, /proc) per request: on a loaded machine
# requests/s swing between rounds, CPU per request much less. The latency part runs ROUNDS times.
# Targets: throughput >= 0.7x of direct, >= 1.1x HAProxy (issue #17), added median latency < 50 us.
# usage: bench/chaos/proxy_bench.sh [path/to/stampede]   (default: build/release/stampede)
#        env: ROUNDS (3), DURATION (5s), BEFORE=path/to/other/stampede (a second proxy binary in the
#        same rounds, e.g. main's, for a before/after ratio)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
stampede="${1:-$root/build/release/stampede}"
duration="${DURATION:-5s}"
rounds="${ROUNDS:-3}"
for tool in nginx wrk haproxy; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
[[ -x $stampede ]] || { echo "missing $stampede (cmake --build build/release --target stampede)" >&2; exit 1; }
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615

start_stampede_proxy "$stampede" proxy; proxy_port=$PROXY_PORT; proxy_pid=$PROXY_PID
before_port=""
if [[ -n ${BEFORE:-} ]]; then
  start_stampede_proxy "$BEFORE" before; before_port=$PROXY_PORT; before_pid=$PROXY_PID
fi
haproxy_port=$(free_port); start_haproxy_tcp "$haproxy_port"; haproxy_pid=$HAPROXY_PID

# rate PORT [PID]: requests/s; with PID, also sets CPU_US to that process's CPU (user + system, from
# /proc) per request: a loaded machine moves requests/s a lot, CPU per request much less.
rate() {
  local before_ticks=0 out
  [[ -n ${2:-} ]] && before_ticks=$(awk '{print $14 + $15}' "/proc/$2/stat")
  out=$(wrk -t1 -c64 -d"$duration" "http://127.0.0.1:$1/")
  if [[ -n ${2:-} ]]; then
    local ticks requests
    ticks=$(( $(awk '{print $14 + $15}' "/proc/$2/stat") - before_ticks ))
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    CPU_US=$(python3 -c "import os,sys; print(f'{int(sys.argv[1]) * 1e6 / os.sysconf(\"SC_CLK_TCK\") / int(sys.argv[2]):.2f}')" "$ticks" "$requests")
  fi
  awk '/Requests\/sec/ {print int($2)}' <<<"$out"
}

direct_sum=0; ours_sum=0; haproxy_sum=0; before_sum=0
for r in $(seq "$rounds"); do
  d=$(rate "$NGINX_PORT")
  rate "$proxy_port" "$proxy_pid" > "$BENCH_WORK/rate"; o=$(<"$BENCH_WORK/rate"); o_cpu=$CPU_US
  rate "$haproxy_port" "$haproxy_pid" > "$BENCH_WORK/rate"; h=$(<"$BENCH_WORK/rate"); h_cpu=$CPU_US
  line="round $r: direct $d req/s, stampede proxy $o ($(ratio "$o" "$d")x), haproxy $h ($(ratio "$h" "$d")x)"
  line+=", stampede / haproxy $(ratio "$o" "$h")x; CPU per request: stampede $o_cpu us, haproxy $h_cpu us"
  if [[ -n $before_port ]]; then
    rate "$before_port" "$before_pid" > "$BENCH_WORK/rate"; b=$(<"$BENCH_WORK/rate"); b_cpu=$CPU_US
    before_sum=$((before_sum + b))
    line+=", before $b req/s, $b_cpu us (after / before $(ratio "$o" "$b")x)"
  fi
  echo "$line"
  direct_sum=$((direct_sum + d)); ours_sum=$((ours_sum + o)); haproxy_sum=$((haproxy_sum + h))
done
[[ -n $before_port ]] && echo "after / before (sum of rounds): $(ratio "$ours_sum" "$before_sum")x"
echo "mean: direct $((direct_sum / rounds)) req/s, stampede proxy $((ours_sum / rounds)) req/s" \
     "($(ratio "$ours_sum" "$direct_sum")x of direct, target >= 0.7x), haproxy $((haproxy_sum / rounds)) req/s" \
     "($(ratio "$haproxy_sum" "$direct_sum")x); stampede proxy / haproxy $(ratio "$ours_sum" "$haproxy_sum")x"
# Added latency of sequential requests: one request to each target in rotating turns (added_latency.py:
# wrk -c1 runs of a few seconds each drifted by +-20 us here, and the target right after the direct
# request came out slow on this VM), ROUNDS runs of 10,000 turns.
targets=("stampede=$proxy_port" "haproxy=$haproxy_port")
[[ -n $before_port ]] && targets+=("before=$before_port")
for r in $(seq "$rounds"); do
  echo "latency run $r: $(python3 "$root/bench/chaos/added_latency.py" 10000 "$NGINX_PORT" "${targets[@]}" \
    | grep -v '^direct' | awk '{printf "%s %s us; ", $1, $4}')(target: stampede <= haproxy, < 50 us)"
done
