#!/usr/bin/env bash
# Throughput, Stampede vs wrk, side by side in one run: a one-GET-per-iteration scenario with 64
# constant VUs on ONE worker thread against nginx (one worker, 615-byte body) on 127.0.0.1, and
# `wrk -t1 -c64` without a script on the same target, alternating ROUNDS times. Stampede runs twice per
# round: sending exactly wrk's request bytes (`userAgent = ""`: wrk sends no User-Agent; this is the
# like-for-like figure), and with its default User-Agent header (nginx parses one more header).
#   bench/loadgen/vs_wrk.sh [BUILD_DIR]      env: ROUNDS (5), DURATION (5s)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
rounds="${ROUNDS:-5}"
duration="${DURATION:-5s}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
url="http://127.0.0.1:$NGINX_PORT/"
same_bytes="$BENCH_WORK/get.lua"
cat > "$same_bytes" <<'LUA'
options = { userAgent = "" }  -- the request wrk sends: GET / HTTP/1.1, Host
function default() http.get("/") end
LUA
default_ua="$BENCH_WORK/get_with_user_agent.lua"
cat > "$default_ua" <<'LUA'
function default() http.get("/") end
LUA
ours() {  # scenario -> req/s
  "$build/stampede" run "$1" --target "$url" --vus 64 --duration "$duration" --threads 1 -q \
      --out "$BENCH_WORK/r.json" >/dev/null
  python3 -c "import json;print(round(json.load(open('$BENCH_WORK/r.json'))['summary']['rps']))"
}
ours_total=0; ua_total=0; wrk_total=0
for round in $(seq "$rounds"); do
  o=$(ours "$same_bytes")
  w=$(wrk -t1 -c64 -d"$duration" "$url" | awk '/Requests\/sec/{print int($2)}')
  u=$(ours "$default_ua")
  echo "round $round: stampede $o req/s, wrk $w req/s, ratio $(ratio "$o" "$w"); with User-Agent $u req/s ($(ratio "$u" "$w"))"
  ours_total=$((ours_total + o)); wrk_total=$((wrk_total + w)); ua_total=$((ua_total + u))
done
echo "mean: stampede $((ours_total / rounds)) req/s, wrk $((wrk_total / rounds)) req/s, ratio $(ratio "$ours_total" "$wrk_total") (target >= 1.0x);" \
     "with User-Agent $((ua_total / rounds)) req/s, ratio $(ratio "$ua_total" "$wrk_total")"
