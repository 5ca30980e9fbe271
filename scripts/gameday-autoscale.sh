#!/usr/bin/env bash
# The autoscale game day (scenarios/gameday_autoscale_flash_sale.lua, issue #15): the same flash sale on fixed
# capacity, with the rule autoscaler and with the predictive one, then the three side by side:
#   OUT/fixed/, OUT/rule/, OUT/predictive/   each drill's results and reports (results.drill.autoscale)
#   OUT/autoscale.md, OUT/autoscale.html     time to scale, SLO-violation seconds, node-seconds, peak nodes,
#                                            decisions, lost acknowledged orders; nodes over time
# Usage: scripts/gameday-autoscale.sh [OUT] [-- extra drill args, e.g. -e STEP_AT=5s -e HOLD=8s]
# Environment: STAMPEDE (default build/release/stampede), NODES (3, the fixed capacity and the start),
# MAX_NODES (6), AUTOSCALE_ARGS (`stampede shop` autoscaler flags for both modes; default
# "--autoscale-in-cooldown-ms 10000 --autoscale-stabilisation-ms 10000": the scale-in comes within the
# scenario's 30 s tail, so nodes also leave while buyers order). Exit: 0 when no drill found an invariant broken (a crossed threshold,
# exit 99, is a finding, not a failure), else the first failing drill's code.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-gameday-autoscale}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == -- ]] && shift
stampede=${STAMPEDE:-build/release/stampede}
nodes=${NODES:-3}
max_nodes=${MAX_NODES:-6}
read -r -a tuning <<<"${AUTOSCALE_ARGS---autoscale-in-cooldown-ms 10000 --autoscale-stabilisation-ms 10000}"
mkdir -p "$out"
status=0
for mode in fixed rule predictive; do
  shop_args=()
  if [[ $mode != fixed ]]; then
    shop_args=(--shop-arg --autoscale --shop-arg "$mode" --shop-arg --max-nodes --shop-arg "$max_nodes")
    for flag in "${tuning[@]}"; do shop_args+=(--shop-arg "$flag"); done
  fi
  echo "gameday-autoscale: $mode" >&2
  code=0
  "$stampede" drill scenarios/gameday_autoscale_flash_sale.lua --nodes "$nodes" --out "$out/$mode" --quiet \
    "${shop_args[@]}" "$@" || code=$?
  if [[ $code -ne 0 && $code -ne 99 && $status -eq 0 ]]; then status=$code; fi
done
runs=()
for mode in fixed rule predictive; do
  [[ -f $out/$mode/results.json ]] && runs+=("$out/$mode/results.json")
done
if [[ ${#runs[@]} -gt 0 ]]; then
  "$stampede" report --autoscale "${runs[@]}" -o "$out/autoscale.md"
  "$stampede" report --autoscale "${runs[@]}" -o "$out/autoscale.html"
  cat "$out/autoscale.md"
  echo "gameday-autoscale: $out/autoscale.md, $out/autoscale.html" >&2
fi
exit "$status"
