#!/usr/bin/env bash
# Runs every test: the whole ctest suite on the release build, every micro-benchmark once as a smoke
# test (figures live in BENCHMARKS.md, never in tests), the whole suite again under ASan+UBSan (leak
# checks at exit), the engine, proxy and shop suites under ThreadSanitizer, and each libFuzzer target
# for a few seconds on its committed corpus. The sanitizer runs leave out the label slow-e2e (multi-process
# game days on PostgreSQL, shards and Patroni), which the release suite runs; docs/TESTING.md has each
# stage and its time (~30-35 min on 2 cores with a warm ccache).
# Usage: scripts/test.sh        (after scripts/setup.sh)
# Environment: QUICK=1 runs only the release suite and the benchmark smoke; FUZZ_SECONDS (10); TEST_JOBS
# (ctest's -j in every stage, default nproc: most of a drill's time is waiting, but its timing bounds assume
# no more tests than cores).
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
ctest --test-dir build/release --output-on-failure -j"${TEST_JOBS:-$(nproc)}" --timeout 300
for bench in build/release/bench/*/*_benchmark; do
  [[ -x "$bench" ]] || continue
  echo "smoke: $bench"
  "$bench" --benchmark_min_time=0.001 >/dev/null
done
if [[ "${QUICK:-0}" != 1 ]]; then
  scripts/test-sanitizers.sh
  scripts/test-tsan.sh
  scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-10}"
fi
echo "test.sh: all tests passed"
