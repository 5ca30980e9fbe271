// `stampede run`: command-line parsing for the load generator.
#pragma once

#include <span>

#include "loadgen/run.h"

namespace stampede::loadgen {

// args[0] is "run". Returns the exit code (see run.h). `finish_results` (optional) completes the results
// before they are written (the app passes the reports component's recovery figures).
int run_command(std::span<char* const> args, const report_writer& write_reports,
                const std::function<void(boost::json::value&)>& finish_results = {});
inline int run_command(std::span<char* const> args) { return run_command(args, {}); }

}  // namespace stampede::loadgen
