// `stampede shop --autoscale rule|predictive|off` and its knobs, read and checked (docs/SHOP.md, "Elastic
// scaling"). Usage errors are std::invalid_argument naming the flag.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "reference_shop/autoscaler.h"
#include "reference_shop/options.h"

namespace stampede::shop {

struct autoscale_options {
  autoscale::policy policy;                         // policy.kind == off: no autoscaler, no event log
  std::chrono::milliseconds drain_timeout{10'000};  // a draining node's sessions get this long to finish
  bool enabled() const { return policy.kind != autoscale::mode::off; }
};

// `nodes`: --nodes (the initial pool, also the default --min-nodes); `lb`: --lb (HAProxy must be able to add
// servers at run time, which `source`'s map-based hashing cannot).
autoscale_options parse_autoscale_options(const arg_list& a, int64_t nodes, const std::string& lb);

}  // namespace stampede::shop
