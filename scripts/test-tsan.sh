#!/usr/bin/env bash
# The multi-threaded parts under ThreadSanitizer: the load engine (workers, coordinator, chaos
# timeline), the fault proxy and the shop node (strands, thread pools). Any data race fails the test.
# Usage: scripts/test-tsan.sh [ctest args...]      env: BUILD_DIR (build/tsan), JOBS (nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build/tsan}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
cmake --preset tsan -B "$build" -DSTAMPEDE_TEST_COMPONENTS="support;common;loadgen;chaos;reference_shop" >/dev/null
cmake --build "$build" --target stampede_tests -j"${JOBS:-$(nproc)}"
# As under ASan, a test that only missed a timing bound gets one more try; a race aborts at once.
ctest --test-dir "$build" --output-on-failure -j2 --timeout 600 --repeat until-pass:2 -L "loadgen|chaos|shop|common" "$@"
echo "test-tsan.sh: passed under ThreadSanitizer"
