#!/usr/bin/env bash
# Fixed-rate accuracy: a constant-arrival-rate run at RATE iterations/s (one GET each) against nginx
# on 127.0.0.1; prints the achieved rate, its error against the target, and the latency median,
# measured from the intended send time (coordinated-omission corrected).
# Wall-clock rates suffer when other programs share the cores: the load average is printed with each round.
#   bench/loadgen/fixed_rate.sh [BUILD_DIR]      env: RATE (50000), DURATION (10s), THREADS (1),
#   MAX_VUS (2000), CONNECTIONS (64: keep-alive pool per thread; 0 = one connection per busy VU), ROUNDS (1),
#   RT (0; 1: run the generator and nginx's worker SCHED_FIFO, as root, so that other programs' builds on a
#   shared machine do not take their cores; CPU figures then are not comparable with normal-priority runs)
# #17's two goals: `bench/loadgen/fixed_rate.sh` (50,000/s, one thread, a pool of 64) and
# `RATE=100000 THREADS=2 bench/loadgen/fixed_rate.sh` (100,000/s, two threads, 64 connections each).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
rate="${RATE:-50000}"
duration="${DURATION:-10s}"
threads="${THREADS:-1}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
scenario="$BENCH_WORK/rate.lua"
cat > "$scenario" <<LUA
options = { scenarios = { fixed = { executor = "constant-arrival-rate", rate = $rate, timeUnit = "1s",
  duration = "$duration", preAllocatedVUs = 200, maxVUs = ${MAX_VUS:-2000} } },
  maxConnectionsPerHost = ${CONNECTIONS:-64} }
function default() http.get("/") end
LUA
for round in $(seq "${ROUNDS:-1}"); do
echo "round $round, load average $(cut -d' ' -f1-3 /proc/loadavg):"
# Run-queue waits (/proc/PID/schedstat: CPU time, time runnable but waiting for a CPU, in ns) show whether
# the generator and nginx got the cores the rate needs.
nginx_worker=$(pgrep -P "$NGINX_PID" | head -1)  # the master only supervises
priority=()
if [[ "${RT:-0}" == 1 ]]; then
  chrt -f -p 10 "$nginx_worker"
  priority=(chrt -f 10)
fi
read -r nginx_cpu0 nginx_wait0 _ < "/proc/$nginx_worker/schedstat"
"${priority[@]}" "$build/stampede" run "$scenario" --target "http://127.0.0.1:$NGINX_PORT/" --threads "$threads" -q \
    --out "$BENCH_WORK/r.json" >/dev/null &
gen_pid=$!
gen_stat="0 0"
while kill -0 "$gen_pid" 2>/dev/null; do
  # every thread's figures: the process line only counts the main thread
  # a read racing with the exit misses exited threads: keep the largest total seen
  stat=$(cat /proc/"$gen_pid"/task/*/schedstat 2>/dev/null | awk '{c+=$1; w+=$2} END {printf "%.0f %.0f\n", c, w}') || true
  if [[ -n "$stat" && "${stat%% *}" -gt "${gen_stat%% *}" ]]; then gen_stat=$stat; fi
  sleep 0.2
done
wait "$gen_pid"
read -r nginx_cpu1 nginx_wait1 _ < "/proc/$nginx_worker/schedstat"
python3 -c "import sys; g,gw,n,nw=(int(x)/1e9 for x in sys.argv[1:]); print(f'CPU time: generator {g:.2f} s (waited {gw:.2f} s for a core), nginx {n:.2f} s (waited {nw:.2f} s)')" \
  $gen_stat $((nginx_cpu1 - nginx_cpu0)) $((nginx_wait1 - nginx_wait0))
python3 - "$BENCH_WORK/r.json" "$rate" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); target = float(sys.argv[2])
s = r["summary"]; sc = r["scenarios"][0]
planned = sc["end_s"] - sc["start_s"]
achieved = s["requests"] / planned
print(f"target {target:.0f}/s, achieved {achieved:.0f}/s ({(achieved - target) / target * 100:+.2f}%), "
      f"dropped {s['dropped_iterations']}, errors {s['errors']}")
l, u = s["latency_ms"], s["uncorrected_latency_ms"]
print(f"latency (corrected) p50 {l['p50']*1000:.0f}us p90 {l['p90']*1000:.0f}us p99 {l['p99']*1000:.0f}us max {l['max']:.2f}ms")
print(f"service time        p50 {u['p50']*1000:.0f}us p99 {u['p99']*1000:.0f}us; "
      f"event-loop lag p99 {r['meta']['generator']['p99_event_loop_lag_ms']:.3f}ms")
PY
done
