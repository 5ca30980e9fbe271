// Internal to the HTML report (html.cpp): one small chart per custom metric from its per-second series
// ("metric_intervals" in docs/RESULTS.md).
#pragma once

#include <string>

#include "results/model.h"

namespace stampede::reports {

// The "Custom metrics over time" section: per metric or sub-metric with a series, an inline SVG of what a
// second holds (trend: p50, p95 and max; counter: its sum; rate: trues / samples; gauge: its last value, min
// and max). Long runs are drawn in buckets of several seconds, merged exactly. Empty without any series
// (older files, runs without custom metrics).
std::string custom_metric_charts(const results::run_results& r);

}  // namespace stampede::reports
