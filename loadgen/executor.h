// The executors' arithmetic: where every planned iteration falls in time, how many VUs a closed
// model wants at an instant, and how totals are split over workers and shards. Pure functions,
// no I/O, so every executor's schedule is unit-tested exactly.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "loadgen/options.h"

namespace stampede::loadgen {

// A worker's place among all workers of all shards: worker w of T in shard i of n has
// index = i * T + w and count = n * T. Totals are split so that the slots add up exactly.
struct slot {
  int64_t index = 0;
  int64_t count = 1;
};

// Share of `total` for a slot: total / count, plus one for the first total % count slots.
int64_t share_of(int64_t total, slot s) noexcept;

// shared-iterations: a slot's share of `iterations` spread over `vus` VUs. The iterations belong to
// the VUs (VU g of all slots takes iterations / vus, plus one for g < iterations % vus) and VU g runs
// in slot g % count, the way share_of() places VUs; so a slot without a VU gets no iteration and the
// slots together run exactly `iterations`, whatever the thread and shard counts.
int64_t shared_iterations_share(int64_t iterations, int64_t vus, slot s) noexcept;

// Piecewise-linear rate curve (iterations per second) of an arrival-rate scenario, and the time of
// its k-th arrival (k = 0, 1, 2, ...): the instant where the cumulative count reaches k, so a
// constant rate r puts arrival k at k / r seconds. Arrivals of the whole test are numbered globally;
// slot s takes those with k % count == index, which makes the union over slots the exact schedule.
class arrival_schedule {
 public:
  explicit arrival_schedule(const scenario_options& scenario);
  // Seconds from the scenario's start of arrival k; nullopt when it falls after the end.
  std::optional<double> time_of(int64_t k) const;
  // Expected arrivals in [0, t] seconds (the cumulative integral of the rate).
  double cumulative(double t) const;
  double rate_at(double t) const;          // iterations per second at t
  double duration() const { return total_duration_; }

 private:
  struct segment {
    double start;      // seconds
    double length;     // seconds
    double from_rate;  // per second
    double to_rate;
    double arrivals_before;
  };
  std::vector<segment> segments_;
  double total_duration_ = 0;
  double total_arrivals_ = 0;
};

// Target VU count of a ramping-vus scenario at t seconds after its start (linear between stages).
double ramping_vus_target(const scenario_options& scenario, double t);

// Iterator over one slot's arrivals: next() returns scenario-relative seconds or nullopt at the end.
class slot_arrivals {
 public:
  slot_arrivals(const arrival_schedule& schedule, slot s) : schedule_(&schedule), slot_(s), k_(s.index) {}
  std::optional<double> next() {
    auto t = schedule_->time_of(k_);
    k_ += slot_.count;
    return t;
  }
  // The arrival next() returns next, without taking it.
  std::optional<double> peek() const { return schedule_->time_of(k_); }

 private:
  const arrival_schedule* schedule_;
  slot slot_;
  int64_t k_;
};

}  // namespace stampede::loadgen
