# Sourced by test-sanitizers.sh and test-tsan.sh: runs ctest so that every sanitizer report reaches the
# log and is never retried away.
#
# The tests redirect a run's stderr (to capture what it prints), which used to swallow the report: the
# test failed with exit 66 and nothing in the log. So every sanitizer writes its reports to files
# (log_path=<dir>/<sanitizer>.<pid>), in the test processes and in everything they start.
# sanitizer_ctest then: runs ctest once; if any report file exists, prints them all and fails (a race or
# a memory error is a failure, not a timing miss); otherwise re-runs the tests that failed, once, since
# under a sanitizer's slowdown a test may only have missed a timing bound; and checks for reports again.

# sanitizer_report_dir DIR: an empty directory for the reports; appends log_path to the sanitizers'
# options (also when the caller set its own options).
sanitizer_report_dir() {
  SANITIZER_REPORTS="$(mkdir -p "$1" && cd "$1" && pwd)"
  rm -f "$SANITIZER_REPORTS"/*
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$SANITIZER_REPORTS/asan"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$SANITIZER_REPORTS/ubsan"
  export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$SANITIZER_REPORTS/tsan"
  # LeakSanitizer under ASan writes where ASan does.
}

# Prints every report and returns 1 if there is any.
sanitizer_reports_found() {
  local files=("$SANITIZER_REPORTS"/*)
  [[ -e "${files[0]}" ]] || return 1
  echo
  echo "=== ${#files[@]} sanitizer report(s) in $SANITIZER_REPORTS (file name: sanitizer.pid) ==="
  local f
  for f in "${files[@]}"; do
    echo "--- $f"
    cat "$f"
  done
  echo "=== a sanitizer report is a failure: the tests above are not retried ==="
  return 0
}

# sanitizer_ctest CTEST_ARGS...: returns ctest's verdict, or 1 when a sanitizer reported anything.
sanitizer_ctest() {
  local status=0
  ctest "$@" || status=$?
  if sanitizer_reports_found; then return 1; fi
  if ((status != 0)); then
    echo "sanitizer_ctest: no sanitizer report; re-running the failed tests once (timing bounds under the slowdown)"
    status=0
    ctest --test-dir "$build" --output-on-failure -j"${TEST_JOBS:-$(nproc)}" --timeout 600 --rerun-failed || status=$?
    if sanitizer_reports_found; then return 1; fi
  fi
  return "$status"
}
