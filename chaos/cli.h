// `stampede proxy`: the fault proxy with a Toxiproxy-compatible HTTP API.
#pragma once

#include <span>

namespace stampede::chaos {

// args[0] == "proxy". Returns the process exit code: 0 clean stop (SIGINT/SIGTERM), 1 start-up
// failure (port in use, unreadable or invalid --config), 2 bad flag or value.
int proxy_command(std::span<char* const> args);

}  // namespace stampede::chaos
