// The results file as reports read it: the typed model of the results component (results/model.h), named in
// this namespace so that report code reads `run_results`, `step_result`, ... unqualified.
#pragma once

#include "results/evaluate.h"
#include "results/model.h"

namespace stampede::reports {

using results::abort_info;
using results::chaos_fault;
using results::check_result;
using results::counters;
using results::interval_row;
using results::invariant_result;
using results::latency_stats;
using results::link_info;
using results::load_results;
using results::parse_results;
using results::phase_timing;
using results::results_error;
using results::run_results;
using results::scenario_plan;
using results::step_result;
using results::supported_results_version;
using results::threshold_evaluation;
using results::threshold_result;
using results::timeseries_row;

}  // namespace stampede::reports
