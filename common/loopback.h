// Loopback helpers shared by the components that start local processes (the shop's supervisor, drills).
#pragma once

#include <cstdint>

namespace stampede {

// A free TCP port on 127.0.0.1: bound to port 0, read back, released. The caller binds it soon after
// (another process could take it in between; the starters retry or fail with a clear message).
// Throws std::runtime_error if no socket can be made.
uint16_t free_loopback_port();

}  // namespace stampede
