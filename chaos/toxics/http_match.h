// What the HTTP toxics (http_abort, http_delay) share: request matching, the per-request roll and the first_n
// budget.
#pragma once

#include "chaos/toxics/toxic_unit.h"

namespace stampede::chaos::toxics {

// True when request `index` (method, target) gets the toxic: it matches method and path, the
// per-request toxicity roll succeeds (seeded: context seed + index), and the first_n budget, shared by
// every connection of the proxy, is not spent.
bool request_hit(const unit_context& ctx, std::string_view method, std::string_view target, uint64_t index);

// "POST /checkout" (target cut at 200 bytes) for the injection log.
std::string request_label(std::string_view method, std::string_view target);

}  // namespace stampede::chaos::toxics
