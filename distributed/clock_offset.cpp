#include "distributed/clock_offset.h"

namespace stampede::distributed {

std::optional<clock_offset> estimate_offset(std::span<const clock_sample> samples) {
  std::optional<clock_offset> best;
  for (const clock_sample& s : samples) {
    const int64_t round_trip = s.received_us - s.sent_us;
    if (round_trip < 0) continue;  // the agent's clock stepped back during the exchange
    if (best && best->round_trip_us <= round_trip) continue;
    // server - midpoint, without overflow for any realistic microsecond timestamps
    const int64_t midpoint = s.sent_us + round_trip / 2;
    best = clock_offset{.offset_us = s.server_us - midpoint, .round_trip_us = round_trip};
  }
  return best;
}

}  // namespace stampede::distributed
