#!/usr/bin/env bash
# Memory per VU: VUS virtual users that sleep between requests (one GET every ~2 s each) against
# nginx; prints peak RSS and bytes per VU (peak minus a 1-VU run's peak, divided by VUS - 1).
#   bench/loadgen/memory.sh [BUILD_DIR]      env: VUS (10000), DURATION (10s)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
vus="${VUS:-10000}"
duration="${DURATION:-10s}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
scenario="$BENCH_WORK/sleepy.lua"
cat > "$scenario" <<'LUA'
function default()
  http.get("/")
  sleep(1.5 + math.random())
end
LUA
measure() {  # vus -> peak RSS in kB
  "$build/stampede" run "$scenario" --target "http://127.0.0.1:$NGINX_PORT/" --vus "$1" --duration "$duration" -q \
      --out "$BENCH_WORK/r.json" >/dev/null &
  local pid=$! peak=0 now
  while kill -0 "$pid" 2>/dev/null; do
    now=$(peak_rss_kb "$pid"); [[ -n "$now" && "$now" -gt "$peak" ]] && peak=$now
    sleep 0.2
  done
  wait "$pid" || true
  echo "$peak"
}
base=$(measure 1)
peak=$(measure "$vus")
reqs=$(python3 -c "import json;print(json.load(open('$BENCH_WORK/r.json'))['summary']['requests'])")
echo "1 VU: peak RSS $((base / 1024)) MB; $vus VUs: peak RSS $((peak / 1024)) MB ($reqs requests);" \
     "$(( (peak - base) * 1024 / (vus - 1) )) bytes per VU"
