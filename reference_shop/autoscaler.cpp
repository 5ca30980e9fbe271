#include "reference_shop/autoscaler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace stampede::shop::autoscale {

namespace {

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, pattern, a, b, c);
  return buffer;
}

// ceil that forgives the last bits of floating point: 16.000000001 / 8 needs 2 nodes, not 3.
int nodes_for(double in_flight, double target) {
  return static_cast<int>(std::ceil(in_flight / target - 1e-9));
}

double seconds(millis d) { return static_cast<double>(d.count()) / 1000.0; }

}  // namespace

std::optional<mode> parse_mode(std::string_view text) {
  if (text == "off") return mode::off;
  if (text == "rule") return mode::rule;
  if (text == "predictive") return mode::predictive;
  return std::nullopt;
}

std::string_view mode_name(mode m) {
  switch (m) {
    case mode::off:
      return "off";
    case mode::rule:
      return "rule";
    case mode::predictive:
      return "predictive";
  }
  return "off";
}

std::string_view action_name(action a) { return a == action::scale_out ? "scale_out" : "scale_in"; }

void holt_forecaster::observe(millis t, double value) {
  if (!last_) {
    last_ = t;
    level_ = value;
    trend_per_s_ = 0;
    return;
  }
  const double dt = std::max(seconds(t - *last_), 1e-3);
  const double previous = level_;
  level_ = alpha_ * value + (1 - alpha_) * (level_ + trend_per_s_ * dt);
  trend_per_s_ = beta_ * (level_ - previous) / dt + (1 - beta_) * trend_per_s_;
  last_ = t;
}

std::optional<double> holt_forecaster::forecast(millis ahead) const {
  if (!last_) return std::nullopt;
  return std::max(0.0, level_ + trend_per_s_ * seconds(ahead));
}

engine::engine(policy p) : p_(p), startup_(p.startup_estimate), holt_(p.holt_alpha, p.holt_beta) {}

int engine::clamp(int n) const { return std::clamp(n, p_.min_nodes, p_.max_nodes); }

std::pair<int, std::string> engine::desired(const sample& s) {
  const double in_flight = s.in_flight_per_node * s.ready_nodes;
  int wanted = nodes_for(in_flight, p_.target_in_flight);
  std::string reason =
      format("in flight per node %.1f vs target %.1f", s.in_flight_per_node, p_.target_in_flight);
  if (p_.kind == mode::predictive) {
    holt_.observe(s.t, s.rate_per_s);
    const millis horizon = startup_ + p_.tick;
    forecast_ = holt_.forecast(horizon);
    if (s.rate_per_s >= 1 && in_flight > 0) {  // Little's law needs traffic to say anything
      const double w = in_flight / s.rate_per_s;
      seconds_in_system_ = seconds_in_system_ ? 0.7 * *seconds_in_system_ + 0.3 * w : w;
    }
    if (forecast_ && seconds_in_system_) {
      const int ahead = nodes_for(*forecast_ * *seconds_in_system_, p_.target_in_flight);
      if (ahead > wanted) {
        wanted = ahead;
        reason =
            format("forecast %.1f req/s in %.1f s needs %.0f nodes", *forecast_, seconds(horizon), ahead);
      }
    }
  }
  if (p_.p99_threshold_ms > 0 && s.p99_ms && *s.p99_ms > p_.p99_threshold_ms && wanted <= s.nodes) {
    wanted = s.nodes + 1;
    reason = format("p99 %.1f ms above %.1f ms", *s.p99_ms, p_.p99_threshold_ms);
  }
  if (wanted < p_.min_nodes && s.nodes < p_.min_nodes) reason = "below --min-nodes";
  return {clamp(wanted), reason};
}

std::optional<decision> engine::observe(const sample& s) {
  auto [wanted, reason] = desired(s);
  const bool breach = p_.p99_threshold_ms > 0 && s.p99_ms && *s.p99_ms > p_.p99_threshold_ms;
  const bool below_band = s.in_flight_per_node < p_.scale_in_band * p_.target_in_flight && !breach;
  window_.push_back(recommendation{s.t, wanted, below_band});
  if (!first_sample_) first_sample_ = s.t;
  while (!window_.empty() && window_.front().t <= s.t - p_.stabilisation) window_.pop_front();

  if (wanted > s.nodes) {
    if (last_scale_out_ && s.t - *last_scale_out_ < p_.scale_out_cooldown) return std::nullopt;
    last_scale_out_ = last_scaling_ = s.t;
    return decision{action::scale_out, s.nodes, wanted, reason};
  }
  if (wanted < s.nodes) return scale_in(s);
  return std::nullopt;
}

std::optional<decision> engine::scale_in(const sample& s) {
  if (s.ready_nodes != s.nodes)
    return std::nullopt;  // a node is still starting: its capacity is not known yet
  if (s.t - *first_sample_ < p_.stabilisation) return std::nullopt;  // the window is not full yet
  if (last_scaling_ && s.t - *last_scaling_ < p_.scale_in_cooldown) return std::nullopt;
  int keep = p_.min_nodes;
  for (const auto& r : window_) {
    if (!r.below_band) return std::nullopt;  // hysteresis: the whole window below the band
    keep = std::max(keep, r.desired);
  }
  if (keep >= s.nodes) return std::nullopt;
  last_scaling_ = s.t;
  window_.clear();  // the next scale-in needs a window of its own at the new size
  first_sample_ = s.t;
  return decision{action::scale_in, s.nodes, keep,
                  format("in flight per node %.1f below %.1f for %.0f s", s.in_flight_per_node,
                         p_.scale_in_band * p_.target_in_flight, seconds(p_.stabilisation))};
}

}  // namespace stampede::shop::autoscale
