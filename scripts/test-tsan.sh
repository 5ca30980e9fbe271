#!/usr/bin/env bash
# The multi-threaded parts under ThreadSanitizer: the load engine (workers, coordinator, chaos
# timeline), the fault proxy and the shop node (strands, thread pools). Any data race fails the test.
# Reports go to files under $BUILD_DIR/sanitizer-reports and are printed at the end; a test with a
# report is never retried (scripts/sanitizer-ctest.sh).
# Usage: scripts/test-tsan.sh [ctest args...]      e.g. scripts/test-tsan.sh -R abort
# Environment: BUILD_DIR (build/tsan), JOBS (nproc), COMPONENTS (test folders to build, default
# "support;common;loadgen;chaos;reference_shop"), LABELS (ctest label regex, default
# "loadgen|chaos|shop|common"), EXCLUDE_LABELS (label regex left out, default slow-e2e: multi-process game
# days on PostgreSQL, shards and Patroni, run by the release suite; '^$' runs them too).
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build/tsan}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
cmake --preset tsan -B "$build" -DSTAMPEDE_TEST_COMPONENTS="${COMPONENTS:-support;common;loadgen;chaos;reference_shop}" >/dev/null
cmake --build "$build" --target stampede_tests -j"${JOBS:-$(nproc)}"
# As under ASan, a test that only missed a timing bound gets one more try; a race is never retried.
source scripts/sanitizer-ctest.sh
sanitizer_report_dir "$build/sanitizer-reports"
sanitizer_ctest --test-dir "$build" --output-on-failure -j"${TEST_JOBS:-$(nproc)}" --timeout 600 -L "${LABELS:-loadgen|chaos|shop|common}" \
  -LE "${EXCLUDE_LABELS:-slow-e2e}" "$@"
echo "test-tsan.sh: passed under ThreadSanitizer"
