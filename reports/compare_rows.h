// Internals of `stampede compare` shared by the built-in rows (compare.cpp) and the custom metrics' rows
// (compare_metrics.cpp). Internal to stampede::reports.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "reports/compare.h"

namespace stampede::reports::detail {

// Fills m's means, change, interval and verdict from the per-run values of both sides (vb, vc; m.budget set).
// positive: a ratio scale (log intervals) when every value is > 0, else a difference. Repeated runs give the
// noise (Welch); with a single run per side, single_run_se(ratio) gives the standard error of the change (of
// its logarithm when ratio), nullopt when unknown: then the budget alone decides and m.note gets
// unknown_noise_note. worse_when unset: never a regression, improvement or within_budget: `changed` when the
// change is visible and significant (or the noise unknown), else no_change.
void judge_change(metric_comparison& m, const std::vector<double>& vb, const std::vector<double>& vc,
                  bool positive, std::optional<metric_direction> worse_when,
                  const std::function<std::optional<double>(bool ratio)>& single_run_se,
                  std::string_view unknown_noise_note);

// Appends the rows of the custom metrics of both sides to c.rows (after the steps' rows).
void compare_custom_metrics(comparison& c, std::span<const run_results> baseline,
                            std::span<const run_results> current, const std::vector<budget_item>& budget);

}  // namespace stampede::reports::detail
