// The autoscaler's decision engine (`stampede shop --autoscale rule|predictive`): pure arithmetic on a series
// of samples, one per tick, tested on recorded series (tests/reference_shop/autoscaler_test.cpp). The
// supervisor measures and acts (supervisor_autoscale.cpp); this only decides.
//
//   rule        target tracking, as a cloud autoscaler: desired = ceil(in-flight requests over all ready
//               nodes / target per node), clamped to [min, max]; a p99 above its threshold asks for one node
//               more at least.
//   predictive  the rule, plus Holt's linear trend (double exponential smoothing) on the arrival rate,
//               forecast one node start-up time plus one tick ahead; the forecast becomes in-flight requests
//               by Little's law (in flight = rate x time in the system, the latter smoothed from the samples)
//               and the larger of the two answers wins.
//
// Scale-out waits for its (short) cooldown after the last scale-out. Scale-in is held back three ways:
// hysteresis (every sample of the stabilisation window below band x target per node and no p99 breach), the
// stabilisation window itself (scale in to the largest recommendation of the window, as Kubernetes' HPA), and
// its (long) cooldown after any scaling. No scale-in while a node is still starting.
//
// Thread-safety: none; one engine per supervisor.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace stampede::shop::autoscale {

using millis = std::chrono::milliseconds;

enum class mode { off, rule, predictive };
std::optional<mode> parse_mode(std::string_view text);  // off|rule|predictive
std::string_view mode_name(mode m);

struct policy {
  mode kind = mode::rule;
  int min_nodes = 1, max_nodes = 2;
  double target_in_flight =
      8;  // requests in flight (at HAProxy: on the node or queued for it) per ready node
  double p99_threshold_ms = 500;  // 0: latency never scales
  double scale_in_band = 0.6;     // scale in only below band x target per node
  millis tick{1000};
  millis scale_out_cooldown{5'000};
  millis scale_in_cooldown{30'000};
  millis stabilisation{30'000};
  double holt_alpha = 0.5;         // level
  double holt_beta = 0.3;          // trend
  millis startup_estimate{2'000};  // a node's start-up time until one is measured
};

// What the supervisor saw during one tick. `t`: monotonic time of the tick.
struct sample {
  millis t{0};
  int nodes = 0;                  // in the pool, ready or starting (not draining)
  int ready_nodes = 0;            // UP in HAProxy
  double rate_per_s = 0;          // requests arriving at HAProxy per second
  double in_flight_per_node = 0;  // requests in flight (on nodes + queued) / ready nodes
  std::optional<double> p99_ms;   // over the tick; none without requests
};

enum class action { scale_out, scale_in };
std::string_view action_name(action a);

struct decision {
  action what = action::scale_out;
  int from = 0, to = 0;
  std::string reason;
};

// Holt's linear trend on irregularly spaced observations: level and trend per second.
class holt_forecaster {
 public:
  holt_forecaster(double alpha, double beta) : alpha_(alpha), beta_(beta) {}
  void observe(millis t, double value);
  // The value `ahead` after the last observation (never below 0); none before the first observation.
  std::optional<double> forecast(millis ahead) const;

 private:
  double alpha_, beta_;
  std::optional<millis> last_;
  double level_ = 0, trend_per_s_ = 0;
};

class engine {
 public:
  explicit engine(policy p);

  // One tick's sample in; a decision out, or none (the usual answer).
  std::optional<decision> observe(const sample& s);
  // The predictive mode's forecast of the arrival rate made at the last sample.
  std::optional<double> last_forecast() const { return forecast_; }
  // A node's measured start-up time (spawn to UP in HAProxy): the forecast's horizon is this plus a tick.
  void set_startup_time(millis measured) { startup_ = measured; }
  const policy& settings() const { return p_; }

 private:
  struct recommendation {
    millis t;
    int desired;      // clamped
    bool below_band;  // in-flight per node under band x target, and no p99 breach
  };
  int clamp(int n) const;
  // Nodes needed now (rule) and, in predictive mode, for the forecast; the larger, with its reason.
  std::pair<int, std::string> desired(const sample& s);
  std::optional<decision> scale_in(const sample& s);

  policy p_;
  millis startup_;
  holt_forecaster holt_;
  std::optional<double> forecast_;
  std::optional<double> seconds_in_system_;  // smoothed in-flight / rate (Little's law)
  std::deque<recommendation> window_;        // the stabilisation window
  std::optional<millis> first_sample_;       // of the current window
  std::optional<millis> last_scale_out_, last_scaling_;
};

}  // namespace stampede::shop::autoscale
