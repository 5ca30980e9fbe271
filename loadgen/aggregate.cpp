#include "loadgen/aggregate.h"

#include <algorithm>
#include <set>
#include <stdexcept>

#include "results/custom_metrics.h"

namespace stampede::loadgen {

namespace {
std::optional<double> from_histogram(const hdr_histogram& h, const aggregation& agg) {
  if (h.total_count() == 0) return std::nullopt;
  constexpr double ms = 1000.0;
  switch (agg.method) {
    case aggregation_method::avg: return h.mean() / ms;
    case aggregation_method::min: return static_cast<double>(h.min()) / ms;
    case aggregation_method::max: return static_cast<double>(h.max()) / ms;
    case aggregation_method::med: return static_cast<double>(h.value_at_percentile(50)) / ms;
    case aggregation_method::percentile: return static_cast<double>(h.value_at_percentile(agg.percentile)) / ms;
    default: return std::nullopt;
  }
}

std::string_view tag(const metric_selector& selector, std::string_view key) {
  for (const auto& t : selector.tags) {
    if (t.key == key) return t.value;
  }
  return {};
}
}  // namespace

aggregate::aggregate() : all_requests(std::make_unique<step_metrics>("all", step_kind::request)) {}

void aggregate::add_worker(worker_metrics& metrics) {
  for (const auto& step : metrics.steps()) {
    auto it = steps.find(step->name);
    if (it == steps.end()) it = steps.emplace(step->name, std::make_unique<step_metrics>(step->name, step->kind)).first;
    it->second->merge(*step);
    if (step->kind == step_kind::request) all_requests->merge(*step);
  }
  iteration_durations.add(metrics.iteration_durations());
  event_loop_lag.add(metrics.event_loop_lag());
  for (const auto& [key, counts] : metrics.checks()) {
    checks[key].passes += counts.passes;
    checks[key].fails += counts.fails;
  }
  if (scenarios.size() < metrics.scenarios().size()) scenarios.resize(metrics.scenarios().size());
  for (size_t i = 0; i < metrics.scenarios().size(); ++i) {
    const auto& c = metrics.scenarios()[i];
    scenarios[i].iterations += c.iterations;
    scenarios[i].dropped_iterations += c.dropped_iterations;
    scenarios[i].interrupted_iterations += c.interrupted_iterations;
    scenarios[i].failed_iterations += c.failed_iterations;
    scenarios[i].vus_max += c.vus_max;
    scenarios[i].end_s = std::max(scenarios[i].end_s, c.end_s);
  }
  custom.merge(metrics.custom());
  builtin_subs.merge(metrics.builtin_subs());
  data_sent += metrics.data_sent;
  data_received += metrics.data_received;
}

void aggregate::add_interval(const interval_snapshot& snapshot) {
  for (const auto& step : snapshot.steps) {
    auto it = steps.find(step.name);
    if (it == steps.end()) it = steps.emplace(step.name, std::make_unique<step_metrics>(step.name, step.kind)).first;
    it->second->corrected.add(step.corrected);
    it->second->requests += step.requests;
    it->second->errors += step.errors;
    if (step.kind == step_kind::request) {
      all_requests->corrected.add(step.corrected);
      all_requests->requests += step.requests;
      all_requests->errors += step.errors;
    }
  }
  if (scenarios.empty()) scenarios.resize(1);
  scenarios[0].iterations += snapshot.iterations;
  scenarios[0].dropped_iterations += snapshot.dropped_iterations;
  if (snapshot.iteration_durations) iteration_durations.add(*snapshot.iteration_durations);
  for (const auto& [key, counts] : snapshot.checks) {
    checks[key].passes += counts.passes;
    checks[key].fails += counts.fails;
  }
  custom.merge(snapshot.custom);
  builtin_subs.merge(snapshot.builtin_subs);
}

int64_t aggregate::iterations() const {
  int64_t n = 0;
  for (const auto& s : scenarios) n += s.iterations;
  return n;
}

int64_t aggregate::dropped_iterations() const {
  int64_t n = 0;
  for (const auto& s : scenarios) n += s.dropped_iterations;
  return n;
}

std::optional<std::vector<std::pair<std::string, std::string>>> http_tag_set(const metric_selector& selector) {
  if (selector.metric.rfind("http_req", 0) != 0 || selector.tags.empty()) return std::nullopt;
  if (selector.tags.size() == 1 && selector.tags.front().key == "name") return std::nullopt;
  std::vector<std::pair<std::string, std::string>> set;
  for (const auto& t : selector.tags) set.emplace_back(t.key, t.value);  // sorted by key already
  return set;
}

std::string tag_set_name(const std::vector<std::pair<std::string, std::string>>& tags) {
  std::string name = "{";
  for (const auto& [key, value] : tags) name += (name.size() > 1 ? "," : "") + key + ":" + value;
  return name + "}";
}

void validate_threshold_tags(std::span<const threshold> thresholds, const run_options& options) {
  // The keys an iteration carries besides `scenario`: run-wide and scenario tags.
  std::set<std::string, std::less<>> iteration_keys{"scenario"};
  std::string iteration_list = "scenario";
  auto add_keys = [&](const std::map<std::string, std::string>& tags) {
    for (const auto& [key, value] : tags) {
      if (iteration_keys.insert(key).second) iteration_list += ", " + key;
    }
  };
  add_keys(options.tags);
  for (const auto& s : options.scenarios) add_keys(s.tags);
  for (const auto& t : thresholds) {
    const std::string& m = t.selector.metric;
    if (!metric_catalogue::builtin().find(m)) continue;  // a custom metric: its sub-metrics are tracked
    const bool iteration_metric = m == "iteration_duration" || m == "iterations" || m == "dropped_iterations";
    for (const auto& tg : t.selector.tags) {
      const bool request_metric = m.rfind("http_req", 0) == 0;
      const bool ok = request_metric || (m == "group_duration" && tg.key == "group") ||
                      (m == "checks" && (tg.key == "check" || tg.key == "group")) ||
                      ((iteration_metric || m == "checks") && iteration_keys.contains(tg.key));
      if (ok) continue;
      std::string supported;
      if (iteration_metric) {
        supported = iteration_list + " (scenario and the keys of options.tags and scenario tags)";
      } else if (m == "checks") {
        supported = "check, group, " + iteration_list;
      } else if (m == "group_duration") {
        supported = "group";
      } else {
        supported = "none: " + m + " is not recorded by tag";
      }
      throw std::invalid_argument("thresholds['" + t.selector.text + "']: tag '" + tg.key +
                                  "' is not recorded for " + m + " (supported: " + supported + ")");
    }
  }
}

std::optional<double> aggregate::value(const metric_selector& selector, const threshold_expression& e) const {
  const std::string& m = selector.metric;
  const aggregation& agg = e.agg;
  if (results::recorded_in_metrics(selector)) return builtin_subs.value(selector, agg, duration_s);
  const auto rate_of = [&](double count) -> std::optional<double> {
    if (agg.method == aggregation_method::rate) return duration_s > 0 ? count / duration_s : 0.0;
    return count;
  };
  if (m.rfind("http_req", 0) == 0 || m == "group_duration") {
    const step_metrics* step = all_requests.get();
    const auto tagged = http_tag_set(selector);
    const std::string tagged_name = tagged ? tag_set_name(*tagged) : std::string();
    const std::string_view name = tagged ? std::string_view(tagged_name)
                                         : tag(selector, m == "group_duration" ? "group" : "name");
    if (!name.empty() || m == "group_duration") {
      auto it = steps.find(name);
      if (it == steps.end()) return std::nullopt;
      step = it->second.get();
    }
    if (m == "http_reqs") return step->requests == 0 ? std::nullopt : rate_of(static_cast<double>(step->requests));
    if (m == "http_req_failed") {
      if (step->requests == 0) return std::nullopt;
      return static_cast<double>(step->errors) / static_cast<double>(step->requests);
    }
    if (m == "http_req_duration" || m == "group_duration") return from_histogram(step->corrected, agg);
    if (m == "http_req_duration_uncorrected") return from_histogram(step->uncorrected, agg);
    if (m == "http_req_blocked") return from_histogram(step->phases[0], agg);
    if (m == "http_req_connecting" || m == "http_req_tls_handshaking") return from_histogram(step->phases[1], agg);
    if (m == "http_req_sending") return from_histogram(step->phases[2], agg);
    if (m == "http_req_waiting") return from_histogram(step->phases[3], agg);
    if (m == "http_req_receiving") return from_histogram(step->phases[4], agg);
    return std::nullopt;
  }
  if (m == "iteration_duration") return from_histogram(iteration_durations, agg);
  if (m == "iterations") return rate_of(static_cast<double>(iterations()));
  if (m == "dropped_iterations") return rate_of(static_cast<double>(dropped_iterations()));
  if (m == "data_sent") return rate_of(static_cast<double>(data_sent));
  if (m == "data_received") return rate_of(static_cast<double>(data_received));
  if (m == "vus" || m == "vus_max") return static_cast<double>(vus_max);
  if (!metric_catalogue::builtin().find(m)) return custom.value(selector, agg, duration_s);
  if (m == "checks") {
    const std::string_view check_name = tag(selector, "check");
    const std::string_view group = tag(selector, "group");
    int64_t passes = 0, fails = 0;
    for (const auto& [key, counts] : checks) {
      if (!check_name.empty() && key.name != check_name) continue;
      if (!group.empty() && key.group != group) continue;
      passes += counts.passes;
      fails += counts.fails;
    }
    if (passes + fails == 0) return std::nullopt;
    return static_cast<double>(passes) / static_cast<double>(passes + fails);
  }
  return std::nullopt;
}

}  // namespace stampede::loadgen
