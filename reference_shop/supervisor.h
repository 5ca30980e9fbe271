// `stampede shop`: starts a whole shop on 127.0.0.1 (payment emulator, N shop nodes, HAProxy in front),
// writes the topology JSON, prints the entry URL, reports children that die (restarting HAProxy, and nodes
// with --respawn-ms), and stops everything on SIGINT/SIGTERM. Children get PR_SET_PDEATHSIG so that none
// outlives the supervisor, even if it is SIGKILLed. `stampede shop seed --scale S --data DIR` seeds a
// database without starting anything.
#pragma once

#include <span>

#include "reference_shop/haproxy_config.h"

namespace stampede::shop {

// Exit codes: 0 stopped by SIGINT/SIGTERM; 1 could not start, or HAProxy died and could not be restarted;
// 2 bad command line.
int supervisor_command(std::span<char* const> args);

}  // namespace stampede::shop
