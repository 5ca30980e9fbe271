// `stampede run`: command-line parsing for the load generator.
#pragma once

#include <span>

#include "loadgen/run.h"

namespace stampede::loadgen {

// args[0] is "run". Returns the exit code (see run.h).
int run_command(std::span<char* const> args, const report_writer& write_reports);
inline int run_command(std::span<char* const> args) { return run_command(args, {}); }

}  // namespace stampede::loadgen
