#include "common/recovery_tolerances.h"

#include <array>
#include <cmath>
#include <cstdio>

namespace stampede {

namespace {

using rt = recovery_tolerances;

constexpr std::array<recovery_tolerance_key, 9> keys{{
    {"consecutive_healthy_s", 1, 3600, true, true, &rt::consecutive_healthy_s},
    {"confidence", 0.5, 1, true, false, &rt::confidence},
    {"p99_max_ratio", 1, 1000, true, true, &rt::p99_max_ratio},
    {"p99_min_slack_ms", 0, 3.6e6, true, true, &rt::p99_min_slack_ms},
    {"throughput_min_drop", 0, 1, true, true, &rt::throughput_min_drop},
    {"error_rate_min_increase", 0, 1, true, true, &rt::error_rate_min_increase},
    {"baseline_min_s", 2, 3600, true, true, &rt::baseline_min_s},
    {"baseline_max_s", 2, 86400, true, true, &rt::baseline_max_s},
    {"load_change_max", 0, 10, true, true, &rt::load_change_max},
}};

const recovery_tolerance_key* find_key(std::string_view name) noexcept {
  for (const auto& k : keys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

bool is_whole(const recovery_tolerance_key& k) noexcept {
  return std::holds_alternative<int64_t rt::*>(k.member);
}

std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

}  // namespace

std::span<const recovery_tolerance_key> recovery_tolerance_keys() noexcept { return keys; }

std::string set_recovery_tolerance(recovery_tolerances& t, std::string_view key, double value) {
  const recovery_tolerance_key* k = find_key(key);
  if (k == nullptr) {
    std::string known;
    for (const auto& candidate : keys) known += (known.empty() ? "" : ", ") + std::string(candidate.name);
    return "unknown key (known: " + known + ")";
  }
  const bool low_ok = k->min_inclusive ? value >= k->min : value > k->min;
  const bool high_ok = k->max_inclusive ? value <= k->max : value < k->max;
  if (!std::isfinite(value) || !low_ok || !high_ok) {
    std::string excluded;
    if (!k->min_inclusive) excluded = " (" + number_text(k->min) + " excluded)";
    if (!k->max_inclusive) excluded = " (" + number_text(k->max) + " excluded)";
    return "must be between " + number_text(k->min) + " and " + number_text(k->max) + excluded;
  }
  if (is_whole(*k)) {
    if (value != std::floor(value)) return "must be a whole number";
    t.*std::get<int64_t rt::*>(k->member) = static_cast<int64_t>(value);
  } else {
    t.*std::get<double rt::*>(k->member) = value;
  }
  return {};
}

std::string check_recovery_tolerances(const recovery_tolerances& t) {
  if (t.baseline_max_s < t.baseline_min_s) {
    return "baseline_max_s: must be at least baseline_min_s (" + std::to_string(t.baseline_min_s) + ")";
  }
  return {};
}

double recovery_tolerance_value(const recovery_tolerances& t, std::string_view key) noexcept {
  const recovery_tolerance_key* k = find_key(key);
  if (k == nullptr) return 0;
  if (is_whole(*k)) return static_cast<double>(t.*std::get<int64_t rt::*>(k->member));
  return t.*std::get<double rt::*>(k->member);
}

boost::json::object to_json(const recovery_tolerances& t) {
  boost::json::object o;
  for (const auto& k : keys) {
    if (is_whole(k)) {
      o[k.name] = t.*std::get<int64_t rt::*>(k.member);
    } else {
      o[k.name] = t.*std::get<double rt::*>(k.member);
    }
  }
  return o;
}

}  // namespace stampede
