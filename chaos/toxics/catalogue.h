// The fault catalogue: for each toxic type, where it acts, its place in a direction's pipeline, and
// the factory of its unit (defined in chaos/toxics/<type>.cpp). Adding a toxic = one file + one row.
#pragma once

#include <memory>

#include "chaos/toxics/toxic_unit.h"

namespace stampede::chaos::toxics {

struct catalogue_entry {
  toxic_type type;
  enum scope scope;
  // Stream toxics run in this order on each chunk, whatever order they were added in (same-type
  // toxics keep their add order): drop before delay, delay before cutting into writes.
  int rank;
  std::shared_ptr<toxic_unit> (*make)(unit_context);
};

const catalogue_entry& entry(toxic_type type) noexcept;

// Makes the unit of ctx.spec->type.
inline std::shared_ptr<toxic_unit> make_unit(unit_context ctx) {
  const auto make = entry(ctx.spec->type).make;
  return make(std::move(ctx));
}

std::shared_ptr<toxic_unit> make_latency(unit_context ctx);
std::shared_ptr<toxic_unit> make_bandwidth(unit_context ctx);
std::shared_ptr<toxic_unit> make_slow_close(unit_context ctx);
std::shared_ptr<toxic_unit> make_timeout(unit_context ctx);
std::shared_ptr<toxic_unit> make_reset_peer(unit_context ctx);
std::shared_ptr<toxic_unit> make_slicer(unit_context ctx);
std::shared_ptr<toxic_unit> make_limit_data(unit_context ctx);
std::shared_ptr<toxic_unit> make_limit_time(unit_context ctx);
std::shared_ptr<toxic_unit> make_slow_open(unit_context ctx);
std::shared_ptr<toxic_unit> make_packet_loss(unit_context ctx);
std::shared_ptr<toxic_unit> make_http_abort(unit_context ctx);
std::shared_ptr<toxic_unit> make_http_delay(unit_context ctx);

}  // namespace stampede::chaos::toxics
