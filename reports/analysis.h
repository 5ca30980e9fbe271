// Figures derived from a results file that several formats show: merged interval histograms and the run
// verdict (the recovery figures of each fault are in recovery.h).
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/hdr_histogram.h"
#include "reports/results.h"

namespace stampede::reports {

// Sum of the interval histograms with from_t <= t < to_t whose step passes the filter: `step` empty means
// every request-kind step (the "all requests" series); otherwise that step only. Undecodable intervals are
// skipped and counted in *skipped when given.
hdr_histogram merge_intervals(const run_results& r, std::string_view step, int64_t from_t, int64_t to_t,
                              int* skipped = nullptr);

// Decodes a base64 histogram or throws results_error naming `what`.
hdr_histogram decode_histogram(std::string_view base64, std::string_view what);

enum class verdict { pass, fail };
verdict run_verdict(const run_results& r);

// Short text shared by the formats: "PASS", "FAIL: 1 of 3 thresholds crossed, 1 invariant violated".
std::string verdict_text(const run_results& r);

}  // namespace stampede::reports
