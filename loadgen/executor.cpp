#include "loadgen/executor.h"

#include <algorithm>
#include <cmath>

namespace stampede::loadgen {

namespace {
double seconds(nanos d) { return std::chrono::duration<double>(d).count(); }
}  // namespace

std::string_view to_string(executor_kind kind) noexcept {
  switch (kind) {
    case executor_kind::constant_vus: return "constant-vus";
    case executor_kind::ramping_vus: return "ramping-vus";
    case executor_kind::per_vu_iterations: return "per-vu-iterations";
    case executor_kind::shared_iterations: return "shared-iterations";
    case executor_kind::constant_arrival_rate: return "constant-arrival-rate";
    case executor_kind::ramping_arrival_rate: return "ramping-arrival-rate";
  }
  return "?";
}

bool is_arrival_rate(executor_kind kind) noexcept {
  return kind == executor_kind::constant_arrival_rate || kind == executor_kind::ramping_arrival_rate;
}

nanos scenario_options::planned_duration() const {
  switch (executor) {
    case executor_kind::constant_vus:
    case executor_kind::constant_arrival_rate: return duration;
    case executor_kind::ramping_vus:
    case executor_kind::ramping_arrival_rate: {
      nanos total{0};
      for (const auto& s : stages) total += s.duration;
      return total;
    }
    case executor_kind::per_vu_iterations:
    case executor_kind::shared_iterations: return max_duration;
  }
  return duration;
}

int64_t scenario_options::max_vus_needed() const {
  switch (executor) {
    case executor_kind::constant_vus:
    case executor_kind::per_vu_iterations:
    case executor_kind::shared_iterations: return vus;
    case executor_kind::ramping_vus: {
      double most = static_cast<double>(start_vus);
      for (const auto& s : stages) most = std::max(most, s.target);
      return static_cast<int64_t>(std::ceil(most));
    }
    case executor_kind::constant_arrival_rate:
    case executor_kind::ramping_arrival_rate: return std::max(max_vus, pre_allocated_vus);
  }
  return vus;
}

int64_t share_of(int64_t total, slot s) noexcept {
  if (s.count <= 0 || total <= 0) return 0;
  return total / s.count + (s.index < total % s.count ? 1 : 0);
}

int64_t shared_iterations_share(int64_t iterations, int64_t vus, slot s) noexcept {
  if (vus <= 0 || iterations <= 0) return 0;
  // The slot holds share_of(vus, s) VUs, numbered s.index, s.index + count, ...; those below
  // iterations % vus take one more.
  return share_of(vus, s) * (iterations / vus) + share_of(iterations % vus, s);
}

arrival_schedule::arrival_schedule(const scenario_options& scenario) {
  const double unit = seconds(scenario.time_unit);
  const double per_second = unit > 0 ? 1.0 / unit : 0;
  double start = 0;
  auto add = [&](double length, double from, double to) {
    if (length <= 0) return;
    segments_.push_back({start, length, from * per_second, to * per_second, total_arrivals_});
    total_arrivals_ += length * (from + to) / 2 * per_second;
    start += length;
  };
  if (scenario.executor == executor_kind::constant_arrival_rate) {
    add(seconds(scenario.duration), scenario.rate, scenario.rate);
  } else {
    double from = scenario.start_rate;
    for (const auto& s : scenario.stages) {
      add(seconds(s.duration), from, s.target);
      from = s.target;
    }
  }
  total_duration_ = start;
}

double arrival_schedule::cumulative(double t) const {
  double count = 0;
  for (const auto& seg : segments_) {
    if (t <= seg.start) break;
    const double tau = std::min(t - seg.start, seg.length);
    const double slope = (seg.to_rate - seg.from_rate) / seg.length;
    count = seg.arrivals_before + seg.from_rate * tau + slope * tau * tau / 2;
  }
  return count;
}

double arrival_schedule::rate_at(double t) const {
  for (const auto& seg : segments_) {
    if (t >= seg.start && t < seg.start + seg.length)
      return seg.from_rate + (seg.to_rate - seg.from_rate) * (t - seg.start) / seg.length;
  }
  return 0;
}

std::optional<double> arrival_schedule::time_of(int64_t k) const {
  const double n = static_cast<double>(k);
  // Arrival k happens where the cumulative count reaches k; the last one must be strictly inside.
  if (k < 0 || n >= total_arrivals_ - 1e-9) return std::nullopt;
  for (const auto& seg : segments_) {
    const double in_segment = (seg.from_rate + seg.to_rate) / 2 * seg.length;
    if (n >= seg.arrivals_before + in_segment) continue;
    const double need = n - seg.arrivals_before;  // arrivals still to reach inside this segment
    if (need <= 0) return seg.start;
    const double half_slope = (seg.to_rate - seg.from_rate) / seg.length / 2;
    double tau;
    if (std::abs(half_slope) < 1e-12) {
      tau = need / seg.from_rate;
    } else {
      // half_slope * tau^2 + from_rate * tau - need = 0, in the cancellation-free form.
      const double disc = seg.from_rate * seg.from_rate + 4 * half_slope * need;
      tau = 2 * need / (seg.from_rate + std::sqrt(std::max(0.0, disc)));
    }
    return seg.start + std::min(tau, seg.length);
  }
  return std::nullopt;
}

double ramping_vus_target(const scenario_options& scenario, double t) {
  double from = static_cast<double>(scenario.start_vus);
  double start = 0;
  for (const auto& s : scenario.stages) {
    const double length = seconds(s.duration);
    if (t < start + length) return from + (s.target - from) * (t - start) / length;
    start += length;
    from = s.target;
  }
  return from;
}

}  // namespace stampede::loadgen
