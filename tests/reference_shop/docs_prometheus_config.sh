#!/bin/sh
# docs/OBSERVE.md's prometheus.yml, exactly as printed (the ```yaml block after its "tested" marker), with
# the shipped rule files where it loads them: `promtool check config` (which also checks the rules).
# Exit 77 (ctest's SKIP_RETURN_CODE) when promtool is missing.
# Usage: docs_prometheus_config.sh SOURCE_DIR
set -eu
promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "SKIP: promtool not found (Debian's prometheus package; scripts/setup.sh installs it)"
  exit 77
fi
src=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/stampede-docs-prometheus.XXXXXX")
trap 'rm -rf "$dir"' EXIT
awk '/<!-- prometheus.yml \(tested/ { marked = 1; next }
     marked && /^```yaml$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' "$src/docs/OBSERVE.md" > "$dir/prometheus.yml"
if ! grep -q '^scrape_configs:' "$dir/prometheus.yml"; then
  echo "FAIL: no prometheus.yml block after the tested marker in docs/OBSERVE.md" >&2
  exit 1
fi
mkdir "$dir/stampede"
cp "$src/reference_shop/observability/shop_rules_production.yml" "$src/reference_shop/observability/shop_rules_drill.yml" \
  "$dir/stampede/"
"$promtool" check config "$dir/prometheus.yml"
# The drill variant the page describes: the other rule file, 1 s intervals.
sed -e 's/shop_rules_production.yml/shop_rules_drill.yml/' -e 's/_interval: 15s/_interval: 1s/' \
  "$dir/prometheus.yml" > "$dir/prometheus-drill.yml"
"$promtool" check config "$dir/prometheus-drill.yml"
