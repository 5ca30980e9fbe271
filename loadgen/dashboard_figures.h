// What a run hands the live dashboard (dashboard/live_view.h) from its live aggregate: shared by `stampede
// run
// --dashboard` (run_dashboard.cpp, on its threads' merged view) and `stampede coordinate --dashboard`
// (distributed/live_view.cpp, on its agents' merged view), so both pages say the same things the same way.
//
// Thread-safety: pure functions; the caller owns `live` (under its own lock when shared).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/hdr_histogram.h"
#include "dashboard/live_view.h"
#include "loadgen/aggregate.h"
#include "loadgen/thresholds.h"

namespace stampede::loadgen {

// p50, p90, p95, p99 and max in ms of a histogram of microseconds (zeros when empty).
dashboard::latency_ms latency_of(const hdr_histogram& h);

// The figures so far, into `u`: requests, errors and latency of every request, the steps (requests and
// groups; not the tag-set sub-metrics), and each threshold's state as abortOnFail judges it. Sets
// live.duration_s to `elapsed_s` (rates divide by it).
void fill_live_figures(aggregate& live, std::span<const threshold> thresholds, double elapsed_s,
                       dashboard::live_update& u);

// "passed", "thresholds crossed", ... for `stampede run`'s exit codes (run.h).
std::string_view outcome_text(int exit_code);

// The end the page shows: the outcome and the results file and HTML report (DIR/report.html) when written.
dashboard::run_end run_end_of(std::string outcome, bool ok, const std::optional<std::string>& out_path,
                              const std::optional<std::string>& report_dir);

}  // namespace stampede::loadgen
