#!/usr/bin/env bash
# The main job: a short flash-sale drill on the reference shop (`stampede drill`). It starts a fresh shop
# (3 nodes behind HAProxy, SQLite, payment emulator) with a fault proxy on every link, runs
# scenarios/flash_sale_drill.lua (browsing, checkouts and a spike of 200 buyers on a flash sale of 150 units,
# which sells out, while node2 is killed), heals, waits until the order queue is drained, checks every
# invariant (no lost, duplicated or phantom order, no oversell, one capture per paid order, queue
# accounting), computes recovery figures,
# writes every report into out/flash-sale/, and stops the shop.
# Exits with the drill's code (0 ok, 98 an invariant failed, 99 a threshold crossed, 1 the shop did not start).
#   scripts/main-job.sh [extra stampede drill flags]      env: OUT (out/flash-sale), NODES (3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${STAMPEDE:-build/release/stampede}"
out="${OUT:-out/flash-sale}"
nodes="${NODES:-3}"
[[ -x "$bin" ]] || { echo "main-job: $bin is missing: run scripts/setup.sh first" >&2; exit 2; }
if ! "$bin" drill --help >/dev/null 2>&1; then
  echo "main-job: $bin has no 'drill' command (built with STAMPEDE_APP_EXCLUDE?); run scripts/setup.sh" >&2
  exit 2
fi
mkdir -p "$out"
set +e
"$bin" drill scenarios/flash_sale_drill.lua --nodes "$nodes" --out "$out" "$@"
code=$?
set -e
echo "main-job: stampede drill exited with $code; open $out/report.html"
exit "$code"
