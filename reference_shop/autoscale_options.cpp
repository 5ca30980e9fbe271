#include "reference_shop/autoscale_options.h"

#include <algorithm>
#include <stdexcept>

namespace stampede::shop {

namespace {

using std::chrono::milliseconds;

constexpr const char* knobs[] = {"min-nodes",
                                 "max-nodes",
                                 "autoscale-target-in-flight",
                                 "autoscale-p99-ms",
                                 "autoscale-tick-ms",
                                 "autoscale-out-cooldown-ms",
                                 "autoscale-in-cooldown-ms",
                                 "autoscale-stabilisation-ms",
                                 "autoscale-in-band",
                                 "autoscale-drain-ms"};

}  // namespace

autoscale_options parse_autoscale_options(const arg_list& a, int64_t nodes, const std::string& lb) {
  autoscale_options o;
  auto& p = o.policy;
  const auto kind = autoscale::parse_mode(a.get("autoscale", "off"));
  if (!kind) throw std::invalid_argument("--autoscale must be rule, predictive or off");
  p.kind = *kind;
  if (!o.enabled()) {
    for (const char* flag : knobs) {
      if (a.has(flag))
        throw std::invalid_argument(std::string{"--"} + flag + " needs --autoscale rule or predictive");
    }
    return o;
  }
  // A weight per initial node: a node added at run time would have none, so HAProxy's balance would not be
  // the one asked for. The fault-proxy flags (--node-via, --db-via, --redis-via) are allowed: they route the
  // initial nodes (a drill's links name those), and added nodes reach HAProxy and the data tier directly.
  for (const char* flag : {"weights"}) {
    if (a.has(flag)) {
      throw std::invalid_argument(std::string{"--"} + flag +
                                  " gives one value per initial node and cannot be used with --autoscale " +
                                  a.get("autoscale") + " (added nodes would have none)");
    }
  }
  if (lb == "source") {
    throw std::invalid_argument(
        "--autoscale needs a --lb HAProxy can add servers to at run time: roundrobin, leastconn, random, "
        "first "
        "or uri (not source)");
  }
  p.min_nodes = static_cast<int>(a.get_int("min-nodes", nodes, 1, 64));
  p.max_nodes = static_cast<int>(a.get_int("max-nodes", std::min<int64_t>(64, 2 * nodes), 1, 64));
  if (p.min_nodes > nodes)
    throw std::invalid_argument("--min-nodes must be at most --nodes (" + std::to_string(nodes) + ")");
  if (p.max_nodes < nodes)
    throw std::invalid_argument("--max-nodes must be at least --nodes (" + std::to_string(nodes) + ")");
  p.target_in_flight = a.get_double("autoscale-target-in-flight", p.target_in_flight, 0.1, 100'000);
  p.p99_threshold_ms = a.get_double("autoscale-p99-ms", p.p99_threshold_ms, 0, 600'000);
  p.tick = milliseconds{a.get_int("autoscale-tick-ms", p.tick.count(), 100, 60'000)};
  p.scale_out_cooldown =
      milliseconds{a.get_int("autoscale-out-cooldown-ms", p.scale_out_cooldown.count(), 0, 3'600'000)};
  p.scale_in_cooldown =
      milliseconds{a.get_int("autoscale-in-cooldown-ms", p.scale_in_cooldown.count(), 0, 3'600'000)};
  p.stabilisation =
      milliseconds{a.get_int("autoscale-stabilisation-ms", p.stabilisation.count(), 0, 3'600'000)};
  p.scale_in_band = a.get_double("autoscale-in-band", p.scale_in_band, 0.05, 0.95);
  o.drain_timeout = milliseconds{a.get_int("autoscale-drain-ms", o.drain_timeout.count(), 100, 600'000)};
  return o;
}

}  // namespace stampede::shop
