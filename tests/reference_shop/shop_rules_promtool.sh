#!/bin/sh
# The shipped Prometheus rules (reference_shop/observability/): `promtool check rules` and their unit
# tests (`promtool test rules`). Exit 77 (ctest's SKIP_RETURN_CODE) when promtool is missing.
# Usage: shop_rules_promtool.sh check|test OBSERVABILITY_DIR
set -eu
promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "SKIP: promtool not found (Debian's prometheus package; scripts/setup.sh installs it)"
  exit 77
fi
cd "$2"
case "$1" in
  check) exec "$promtool" check rules shop_rules_production.yml shop_rules_drill.yml ;;
  test) exec "$promtool" test rules tests/shop_rules_production_test.yml tests/shop_rules_drill_test.yml ;;
  *) echo "usage: $0 check|test DIR" >&2; exit 2 ;;
esac
