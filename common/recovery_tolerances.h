// Tolerances of the recovery figures (docs/DRILLS.md, "Recovery figures"): how a second is judged healthy
// against the baseline before the first fault, and how many healthy seconds make a recovery. A scenario
// sets them in `options.recovery` (loadgen reads and validates them), the run writes them into the results
// (`recovery_options`), and the reports component reads them back to compute the figures. One struct and
// one list of keys for all three, so the names, defaults and bounds cannot drift apart.
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace stampede {

struct recovery_tolerances {
  int64_t consecutive_healthy_s = 5;      // healthy seconds in a row after the heal that make a recovery
  double confidence = 0.999;              // per second and per signal: 1 - the false-alarm probability
  double p99_max_ratio = 1.5;             // a slow request is slower than max(ratio x baseline p99,
  double p99_min_slack_ms = 10;           //                                     baseline p99 + slack)
  double throughput_min_drop = 0.1;       // smallest relative drop of completed requests (or started
                                          // iterations of an open model) that counts as degraded
  double error_rate_min_increase = 0.01;  // smallest rise of the error rate over the baseline's that counts
  int64_t baseline_min_s = 3;             // comparable seconds before the first fault needed for a baseline
  int64_t baseline_max_s = 60;            // the most recent ones used
  double load_change_max = 0.1;           // a second whose planned load differs more from the baseline's
                                          // (relative, per scenario) is not compared
};

// One settable key: its name in options.recovery and in the results, and its bounds.
struct recovery_tolerance_key {
  std::string_view name;
  double min, max;
  bool min_inclusive, max_inclusive;
  std::variant<double recovery_tolerances::*, int64_t recovery_tolerances::*> member;
};

// Every key, in the order they are documented.
std::span<const recovery_tolerance_key> recovery_tolerance_keys() noexcept;

// Sets `key` to `value` after checking its bounds. Returns an empty string, or the problem ("unknown key
// (known: ...)", "must be between 0.5 and 1 (exclusive)"), without the key's path.
std::string set_recovery_tolerance(recovery_tolerances& t, std::string_view key, double value);

// Cross-field rules (baseline_max_s >= baseline_min_s). Empty when fine, else "key: problem".
std::string check_recovery_tolerances(const recovery_tolerances& t);

double recovery_tolerance_value(const recovery_tolerances& t, std::string_view key) noexcept;

// {"consecutive_healthy_s": 5, "confidence": 0.999, ...}: every key.
boost::json::object to_json(const recovery_tolerances& t);

}  // namespace stampede
