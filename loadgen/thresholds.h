// The k6 threshold grammar lives in results/thresholds.h (one grammar for run, merge and capacity); loadgen
// uses it under its own namespace and adds the adapter from its flat run options.
#pragma once

#include <span>
#include <vector>

#include "results/thresholds.h"

namespace stampede::loadgen {

using results::aggregation;
using results::aggregation_method;
using results::all_ok;
using results::build_thresholds;
using results::comparison;
using results::evaluate_thresholds;
using results::holds;
using results::metric_catalogue;
using results::metric_definition;
using results::metric_selector;
using results::metric_thresholds_input;
using results::metric_type;
using results::metric_value_source;
using results::parse_metric_selector;
using results::parse_threshold_expression;
using results::selector_matches;
using results::should_abort;
using results::tag_filter;
using results::threshold;
using results::threshold_entry_input;
using results::threshold_expression;
using results::threshold_result;
using results::to_string;

// The thresholds of the flat run_options::thresholds of loadgen/options.h (delayAbortEval already parsed
// there), validated against `catalogue`. Errors are std::invalid_argument prefixed "thresholds['KEY']: ".
struct threshold_input;  // loadgen/options.h
std::vector<threshold> build_thresholds_from_options(
    std::span<const threshold_input> input, const metric_catalogue& catalogue = metric_catalogue::builtin());

}  // namespace stampede::loadgen
