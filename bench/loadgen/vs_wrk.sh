#!/usr/bin/env bash
# Throughput, Stampede vs wrk, side by side in one run: a one-GET-per-iteration scenario with 64
# constant VUs on ONE worker thread against nginx (one worker, 615-byte body) on 127.0.0.1, and
# `wrk -t1 -c64` without a script on the same target, alternating ROUNDS times.
#   bench/loadgen/vs_wrk.sh [BUILD_DIR]      env: ROUNDS (3), DURATION (5s)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
rounds="${ROUNDS:-3}"
duration="${DURATION:-5s}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
url="http://127.0.0.1:$NGINX_PORT/"
scenario="$BENCH_WORK/get.lua"
cat > "$scenario" <<'LUA'
function default() http.get("/") end
LUA
ours_total=0; wrk_total=0
for round in $(seq "$rounds"); do
  "$build/stampede" run "$scenario" --target "$url" --vus 64 --duration "$duration" --threads 1 -q \
      --out "$BENCH_WORK/r.json" >/dev/null
  ours=$(python3 -c "import json;print(round(json.load(open('$BENCH_WORK/r.json'))['summary']['rps']))")
  wrk_rps=$(wrk -t1 -c64 -d"$duration" "$url" | awk '/Requests\/sec/{print int($2)}')
  echo "round $round: stampede $ours req/s, wrk $wrk_rps req/s, ratio $(ratio "$ours" "$wrk_rps")"
  ours_total=$((ours_total + ours)); wrk_total=$((wrk_total + wrk_rps))
done
echo "mean: stampede $((ours_total / rounds)) req/s, wrk $((wrk_total / rounds)) req/s, ratio $(ratio "$ours_total" "$wrk_total")"
