// The clock offset between an agent and the coordinator, NTP-style: the agent notes its clock when it sends
// (t0) and when the answer arrives (t3); the coordinator's clock when it answered (server) lies, on a
// symmetric path, halfway: offset = server - (t0 + t3) / 2, with an error of at most half the round trip.
// Of several samples the one with the shortest round trip is the best bound.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace stampede::distributed {

struct clock_sample {
  int64_t sent_us = 0;      // agent's clock when the request left (t0)
  int64_t server_us = 0;    // coordinator's clock when it answered
  int64_t received_us = 0;  // agent's clock when the answer arrived (t3)
};

struct clock_offset {
  int64_t offset_us = 0;  // coordinator's clock minus the agent's
  int64_t round_trip_us = 0;
  int64_t error_bound_us() const { return round_trip_us / 2; }
};

// nullopt without a usable sample (none, or every one with received < sent).
std::optional<clock_offset> estimate_offset(std::span<const clock_sample> samples);

}  // namespace stampede::distributed
