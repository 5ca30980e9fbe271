#!/usr/bin/env bash
# Builds every libFuzzer target (preset `fuzz`, clang) and runs each on its committed seed corpus for a
# few seconds. New inputs go to a scratch corpus (the committed one stays as is); a crash leaves its
# input as build/.../<fuzzer>-crash-* and fails the script: turn it into a regression test, then fix it.
# Usage: scripts/fuzz-smoke.sh [SECONDS_PER_FUZZER=20] [fuzzer names...]
# Environment: BUILD_DIR (default build/fuzz), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
shift || true
build="${BUILD_DIR:-build/fuzz}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset fuzz -B "$build" >/dev/null
cmake --build "$build" -j"${JOBS:-$(nproc)}"
if [[ $# -gt 0 ]]; then
  fuzzers=("$@")
else
  fuzzers=()
  for source in fuzz/*_fuzz.cpp; do fuzzers+=("$(basename "$source" .cpp)"); done
fi
failed=()
for name in "${fuzzers[@]}"; do
  binary="$build/fuzz/$name"
  seeds="fuzz/corpus/$name"
  scratch="$build/fuzz/corpus-$name"
  mkdir -p "$scratch"
  echo "fuzz-smoke: $name for ${seconds}s"
  # -timeout: an input slower than 10 s is a hang; -rss_limit_mb: a bound on memory per input.
  if ! "$binary" "$scratch" "$seeds" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/fuzz/$name-" -print_final_stats=1 >"$build/fuzz/$name.log" 2>&1; then
    echo "fuzz-smoke: $name FAILED (see $build/fuzz/$name.log and $build/fuzz/$name-crash-*)"
    tail -n 30 "$build/fuzz/$name.log"
    failed+=("$name")
  else
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$build/fuzz/$name.log" | tr '\n' ' '
    echo
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz-smoke: failures: ${failed[*]}"
  exit 1
fi
echo "fuzz-smoke: ${#fuzzers[@]} fuzzers ran ${seconds}s each without a finding"
