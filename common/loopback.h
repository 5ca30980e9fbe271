// Loopback helpers shared by the components that start local processes (the shop's supervisor, drills).
#pragma once

#include <cstdint>

namespace stampede {

// The kernel's ephemeral ports (net.ipv4.ip_local_port_range), from which it picks the local port of
// every outgoing connection and of a bind to port 0.
struct port_range {
  uint16_t first = 0;
  uint16_t last = 0;
};
port_range ephemeral_port_range();

// A free TCP port on 127.0.0.1 for a process started soon after: chosen at random outside the ephemeral
// range (so that no outgoing connection takes it in between) and bound once to check it is free, then
// released. Only another explicit bind can take it before the caller's; the starters fail with a clear
// message if that happens. Falls back to a kernel-picked port when the ephemeral range leaves no room.
// Throws std::runtime_error if no socket can be made.
uint16_t free_loopback_port();

}  // namespace stampede
