#include "loadgen/fd_budget.h"

#include <algorithm>

namespace stampede::loadgen {

connection_budget connections_needed(const run_options& options, int threads) {
  connection_budget budget;
  for (const auto& s : options.scenarios) budget.vus += std::max<int64_t>(s.max_vus_needed(), 0);
  budget.connections = budget.vus;
  budget.what = "stampede: up to " + std::to_string(budget.vus) + " VUs";
  if (options.max_connections_per_host <= 0) return budget;
  const int64_t origins = 1 + static_cast<int64_t>(options.proxies.size());
  int64_t capped = 0;
  if (__builtin_mul_overflow(options.max_connections_per_host, std::max(threads, 1), &capped) ||
      __builtin_mul_overflow(capped, origins, &capped)) {
    return budget;  // a cap beyond any VU count caps nothing
  }
  if (capped >= budget.vus) return budget;
  budget.connections = capped;
  budget.what += " through at most " + std::to_string(options.max_connections_per_host) +
                 " connections per host (maxConnectionsPerHost) x " + std::to_string(std::max(threads, 1)) +
                 " thread(s) x " + std::to_string(origins) + " origin(s)";
  return budget;
}

}  // namespace stampede::loadgen
