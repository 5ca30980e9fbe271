#!/usr/bin/env bash
# Runs every test: the whole ctest suite of the release build, then each micro-benchmark once as
# a smoke test (performance figures themselves live in BENCHMARKS.md, never in tests).
# Usage: scripts/test.sh            (after scripts/setup.sh)
#        STAMPEDE_SANITIZERS=1 scripts/test.sh   also runs the whole suite under ASan+UBSan afterwards
#                                                (scripts/test-sanitizers.sh, build/asan)
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --test-dir build/release --output-on-failure -j2 --timeout 300
for bench in build/release/bench/*/*_benchmark; do
  [[ -x "$bench" ]] || continue
  echo "smoke: $bench"
  "$bench" --benchmark_min_time=0.001 >/dev/null
done
if [[ "${STAMPEDE_SANITIZERS:-0}" == 1 ]]; then
  scripts/test-sanitizers.sh
fi
echo "test.sh: all tests passed"
