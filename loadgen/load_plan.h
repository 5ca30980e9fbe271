// The load a scenario plans, as the results file records it (scenarios[i].load, docs/RESULTS.md): a
// piecewise-linear curve of VUs (closed models) or arrivals per second (open models) over the run's
// timeline. Reports use it to tell a planned load change (a spike scenario starting, a ramp stage) from
// a fault's effect, and to know how many iterations an open model scheduled in each second.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/object.hpp>

#include "loadgen/options.h"

namespace stampede::loadgen {

// {"unit": "vus" | "arrivals_per_s", "points": [[t_s, level], ...], "ends": "planned" | "when_done"}.
// Times are seconds from the run's start; levels are the whole test's (all shards). "when_done": the
// scenario (per-vu-iterations, shared-iterations) ends when its iterations are done, at the latest at the
// last point.
boost::json::object planned_load_json(const scenario_options& s);

}  // namespace stampede::loadgen
