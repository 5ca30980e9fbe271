#!/usr/bin/env bash
# Memory per VU: VUS virtual users that sleep between requests (one GET every ~2 s each) against
# nginx; prints peak RSS and bytes per VU (peak minus a 1-VU run's peak, divided by VUS - 1), the requests,
# the failed ones and the iterations the run interrupted (the only ones a constant-vus run may drop).
#   bench/loadgen/memory.sh [BUILD_DIR]
#   env: VUS (10000), DURATION (10s), THREADS (2), POOL (0 = unlimited): connections in all, split over the
#        threads as maxConnectionsPerHost = POOL / THREADS (the option is per worker thread)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
vus="${VUS:-10000}"
duration="${DURATION:-10s}"
threads="${THREADS:-2}"
pool="${POOL:-0}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
scenario="$BENCH_WORK/sleepy.lua"
cat > "$scenario" <<LUA
options = { maxConnectionsPerHost = $((pool / threads)) }
function default()
  http.get("/")
  sleep(1.5 + math.random())
end
LUA
ticks_per_s=$(getconf CLK_TCK)
measure() {  # vus -> peak RSS in kB; the run's CPU time (user + system, clock ticks) in $BENCH_WORK/cpu
  "$build/stampede" run "$scenario" --target "http://127.0.0.1:$NGINX_PORT/" --vus "$1" --duration "$duration" -q \
      --threads "$threads" --out "$BENCH_WORK/r.json" >/dev/null &
  local pid=$! peak=0 now cpu=0
  while kill -0 "$pid" 2>/dev/null; do
    now=$(peak_rss_kb "$pid"); [[ -n "$now" && "$now" -gt "$peak" ]] && peak=$now
    now=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || true); [[ -n "$now" ]] && cpu=$now
    sleep 0.2
  done
  wait "$pid" || echo "stampede run exited $? ($1 VUs)" >&2
  echo "$cpu" > "$BENCH_WORK/cpu"
  echo "$peak"
}
base=$(measure 1)
peak=$(measure "$vus")
counts=$(python3 - "$BENCH_WORK/r.json" "$(cat "$BENCH_WORK/cpu")" "$ticks_per_s" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, sc = r["summary"], r["scenarios"]
print(f"{s['requests']} requests, CPU {int(sys.argv[2]) / int(sys.argv[3]):.1f} s,  {s['errors']} failed, {s['iterations']} iterations, "
      f"{sum(x['dropped_iterations'] for x in sc)} dropped, {sum(x['interrupted_iterations'] for x in sc)} interrupted, "
      f"vus_max {s['vus_max']}")
PY
)
echo "pool ${pool:-0} over $threads thread(s); 1 VU: peak RSS $((base / 1024)) MB; $vus VUs: peak RSS" \
     "$((peak / 1024)) MB ($counts); $(( (peak - base) * 1024 / (vus - 1) )) bytes per VU"
