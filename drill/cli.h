// Command lines of `stampede drill` and `stampede capacity` (args[0] is the subcommand name).
// Return the exit code (see drill.h and capacity.h; 2 for a bad command line).
#pragma once

#include <span>

namespace stampede::drill {

int drill_command(std::span<char* const> args);
int capacity_command(std::span<char* const> args);

}  // namespace stampede::drill
