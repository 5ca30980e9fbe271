#!/usr/bin/env bash
# The cost of tags and sub-metrics on the generator's hot path, side by side in one run: a one-GET-per-
# iteration scenario with 64 constant VUs on ONE worker thread against nginx (615-byte body) on 127.0.0.1,
# alternating ROUNDS times between
#   base    BASELINE_STAMPEDE (e.g. main's build, before tags existed), no tags;
#   plain   this build, the same scenario (no threshold names a tag: must cost nothing);
#   tagged  this build with params.tags on every request and two thresholds on tag sets
#           (http_req_duration{status:200}, http_req_failed{flow:buy}): what a user pays for using them.
#   bench/loadgen/tags_overhead.sh BASELINE_STAMPEDE [BUILD_DIR]     env: ROUNDS (5), DURATION (5s)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
baseline="${1:?usage: tags_overhead.sh BASELINE_STAMPEDE [BUILD_DIR]}"
build="${2:-$root/build/release}"
rounds="${ROUNDS:-5}"
duration="${DURATION:-5s}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
url="http://127.0.0.1:$NGINX_PORT/"
plain="$BENCH_WORK/plain.lua"
cat > "$plain" <<'LUA'
options = { userAgent = "" }
function default() http.get("/") end
LUA
tagged="$BENCH_WORK/tagged.lua"
cat > "$tagged" <<'LUA'
options = { userAgent = "", thresholds = {
  ["http_req_duration{status:200}"] = { "p(99)<10000" }, ["http_req_failed{flow:buy}"] = { "rate<1" } } }
function default() http.get("/", { tags = { flow = "buy" } }) end
LUA
run() {  # binary scenario -> req/s
  "$1" run "$2" --target "$url" --vus 64 --duration "$duration" --threads 1 -q --out "$BENCH_WORK/r.json" >/dev/null
  python3 -c "import json;print(round(json.load(open('$BENCH_WORK/r.json'))['summary']['rps']))"
}
base_total=0; plain_total=0; tagged_total=0
for round in $(seq "$rounds"); do
  b=$(run "$baseline" "$plain"); p=$(run "$build/stampede" "$plain"); t=$(run "$build/stampede" "$tagged")
  echo "round $round: base $b req/s, plain $p req/s ($(ratio "$p" "$b")), tagged $t req/s ($(ratio "$t" "$b"))"
  base_total=$((base_total + b)); plain_total=$((plain_total + p)); tagged_total=$((tagged_total + t))
done
echo "mean: base $((base_total / rounds)), plain $((plain_total / rounds)) ($(ratio "$plain_total" "$base_total")), tagged $((tagged_total / rounds)) ($(ratio "$tagged_total" "$base_total")) req/s"
