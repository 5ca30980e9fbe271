#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer at exit):
# configures the `asan` preset (Debug, -fsanitize=address,undefined, no recovery), builds it, runs ctest.
# Any sanitizer report fails the test that triggered it, and the script: reports go to files under
# $BUILD_DIR/sanitizer-reports and are printed at the end (scripts/sanitizer-ctest.sh).
# Usage: scripts/test-sanitizers.sh [ctest args...]     e.g. scripts/test-sanitizers.sh -L shop
# Environment: BUILD_DIR (default build/asan), JOBS (default nproc), COMPONENTS (test folders to build,
# default all, e.g. "support;common;loadgen;chaos": a cold ASan build of everything takes ~40 min on 2 cores),
# EXCLUDE_LABELS (ctest label regex of tests not run here, default slow-e2e: the multi-process game days on
# PostgreSQL, shards and Patroni, which the release run runs; EXCLUDE_LABELS='^$' runs them too).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build/asan}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
# abort_on_error: a report fails the test with a core-less abort; detect_leaks: "no leaks at exit".
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
start=$(date +%s)
components="${COMPONENTS:-support;common;loadgen;chaos;reference_shop;reports;drill}"
cmake --preset asan -B "$build" -DSTAMPEDE_TEST_COMPONENTS="$components" >/dev/null
cmake --build "$build" --target stampede_tests -j"${JOBS:-$(nproc)}"
built=$(date +%s)
# Timing assertions are for the release run; here a test that only missed a timing bound under the
# sanitizers' slowdown gets one more try, but never a test a sanitizer reported on.
source scripts/sanitizer-ctest.sh
sanitizer_report_dir "$build/sanitizer-reports"
sanitizer_ctest --test-dir "$build" --output-on-failure -j"${TEST_JOBS:-$(nproc)}" --timeout 600 -LE "${EXCLUDE_LABELS:-slow-e2e}" "$@"
end=$(date +%s)
echo "test-sanitizers.sh: all tests passed under ASan+UBSan (build $((built - start)) s, tests $((end - built)) s)"
