#!/usr/bin/env bash
# Flash sale: 500 concurrent buyers on 3 nodes behind HAProxy, 1,000 units, one per user (the buyers
# cycle through 2,000 seeded customers, so the sale can sell out with nobody buying twice). Reports
# purchase attempts/s and orders/s, checks the audit (exactly 1,000 sold, nobody twice), then measures
# checkout orders/s with the same 3 nodes.
# usage: bench/reference_shop/flash_sale.sh [STAMPEDE_BINARY]
set -euo pipefail
bin=${1:-build/release/stampede}
work=$(mktemp -d /tmp/stampede-shop-flash.XXXXXX)
shop_pid=""
cleanup() {
  [[ -n "$shop_pid" ]] && kill -TERM "$shop_pid" 2>/dev/null && wait "$shop_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin" shop --nodes 3 --threads 4 --port 0 --kdf minimal --scale 2 --data "$work/shop" > "$work/entry" 2> "$work/shop.log" &
shop_pid=$!
for _ in $(seq 300); do [[ -s "$work/entry" ]] && break; sleep 0.1; done
python3 "$(dirname "$0")/flash_sale_driver.py" "$work/shop/topology.json"
