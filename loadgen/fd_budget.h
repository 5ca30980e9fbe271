// How many connections a run can open at once, for the start-up file-descriptor check (common/limits.h).
#pragma once

#include <cstdint>
#include <string>

#include "loadgen/options.h"

namespace stampede::loadgen {

struct connection_budget {
  int64_t vus = 0;          // most VUs the scenarios may hold together
  int64_t connections = 0;  // most connections they can open together
  std::string what;         // who needs them, for the message ("stampede: up to 5000 VUs")
};

// Without maxConnectionsPerHost every VU may hold a connection: one per VU. With it, the pools cap them:
// the cap x `threads` (it is per worker thread) x the origins known before the load (the target, and each
// fault proxy of options.proxies, which a script reaches as an origin of its own), and never more than one
// per VU. Origins a script reaches by absolute URL besides those, and http.batch's parallel requests of
// one VU, are not counted (as one connection per VU never counted them).
connection_budget connections_needed(const run_options& options, int threads);

}  // namespace stampede::loadgen
