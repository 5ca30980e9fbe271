// What the drill's two modes share (drill.cpp: the reference shop; target_drill.cpp: the user's system).
// Internal to stampede::drill.
#pragma once

#include <functional>

#include <boost/json/object.hpp>

#include "drill/drill.h"
#include "loadgen/run.h"

namespace stampede::drill::detail {

// Whether a SIGINT/SIGTERM is pending (blocked, not yet taken by the run): the drill's own waits end early
// on it and leave it to the run, whose next phase then ends as interrupted.
bool stop_signal_pending();

// Puts the shipped scenarios (find_scenarios_dir) on LUA_PATH, for require("lib.checkers").
void put_scenarios_on_lua_path();

// Fills the run's common fields from the request (scenario, out dir, reports, threads, seed, env, quiet,
// quiesce bound), runs it, adds recovery figures and results.drill = drill_section() to the results, and
// prints the drill summary. `after` (optional) then completes the results (the reference shop: alerts per
// fault, before the shop stops). Returns the run's exit code.
int execute_drill_run(loadgen::run_request& run, const drill_request& request,
                      const std::function<boost::json::object()>& drill_section,
                      const std::function<void(boost::json::value&)>& after = {});

}  // namespace stampede::drill::detail
