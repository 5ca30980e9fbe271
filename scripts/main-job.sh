#!/usr/bin/env bash
# The main job: a short flash-sale run on the embedded default shop. Starts the reference shop
# (3 nodes behind HAProxy, SQLite, payment emulator) on free loopback ports, runs
# scenarios/flash_sale.lua against it (a browsing crowd plus a spike of 300 buyers), reconciles the
# sale from the shop's audit, writes every report into results/flash-sale/, and stops the shop.
# Exits with `stampede run`'s code (0 ok, 99 a threshold crossed, ...).
#   scripts/main-job.sh [extra stampede run flags]      env: OUT (results/flash-sale), NODES (3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${STAMPEDE:-build/release/stampede}"
out="${OUT:-results/flash-sale}"
nodes="${NODES:-3}"
[[ -x "$bin" ]] || { echo "main-job: $bin is missing: run scripts/setup.sh first" >&2; exit 2; }
work="$(mktemp -d /tmp/stampede-main.XXXXXX)"
mkdir -p "$out"

"$bin" shop --nodes "$nodes" --port 0 --kdf minimal --data "$work/shop" --topology "$work/topology.json" \
    >"$work/shop.log" 2>&1 &
shop_pid=$!
stop_shop() {
  kill -TERM "$shop_pid" 2>/dev/null || true
  wait "$shop_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop_shop EXIT

for _ in $(seq 600); do
  [[ -s "$work/topology.json" ]] && break
  kill -0 "$shop_pid" 2>/dev/null || { echo "main-job: the shop did not start:" >&2; cat "$work/shop.log" >&2; exit 1; }
  sleep 0.1
done
[[ -s "$work/topology.json" ]] || { echo "main-job: the shop did not start in 60 s" >&2; cat "$work/shop.log" >&2; exit 1; }
read -r entry token < <(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["entry_url"], t["admin_token"])' "$work/topology.json")
echo "main-job: shop at $entry ($nodes nodes behind HAProxy); reports in $out/"

set +e
"$bin" run scenarios/flash_sale.lua --target "$entry" -e ADMIN_TOKEN="$token" \
    --out "$out/results.json" --report "$out" "$@"
code=$?
set -e
echo "main-job: stampede run exited with $code; open $out/report.html"
exit "$code"
