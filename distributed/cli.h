// `stampede coordinate` and `stampede agent` (docs/DISTRIBUTED.md).
#pragma once

#include <span>

#include "loadgen/run.h"

namespace stampede::distributed {

int coordinate_command(std::span<char* const> args, const loadgen::report_writer& write_reports = {});
int agent_command(std::span<char* const> args);

}  // namespace stampede::distributed
