#include "results/evaluate.h"

#include <stdexcept>

#include "common/hdr_histogram.h"
#include "results/custom_metrics.h"
#include "results/thresholds.h"

namespace stampede::results {

namespace {

std::string_view strip_group_prefix(std::string_view s) {
  while (s.starts_with("::")) s.remove_prefix(2);
  return s;
}

// A trend aggregate of one of a step's histograms (microseconds), in milliseconds.
std::optional<double> trend_value(const std::string& histogram, const aggregation& agg) {
  if (histogram.empty()) return std::nullopt;
  const auto h = hdr_histogram::decode_base64(histogram);
  if (!h) return std::nullopt;
  switch (agg.method) {
    case aggregation_method::avg:
      return h->mean() / 1000.0;
    case aggregation_method::min:
      return static_cast<double>(h->min()) / 1000.0;
    case aggregation_method::max:
      return static_cast<double>(h->max()) / 1000.0;
    case aggregation_method::med:
      return static_cast<double>(h->value_at_percentile(50)) / 1000.0;
    case aggregation_method::percentile:
      return static_cast<double>(h->value_at_percentile(agg.percentile)) / 1000.0;
    default:
      return std::nullopt;
  }
}

// A sub-metric of the HTTP metrics by a tag set other than a lone name: the "tagged" step loadgen names
// "{key:value,...}" (keys sorted, as the selector's).
const step_result* tagged_step(const run_results& r, const metric_selector& selector) {
  std::string name = "{";
  for (const auto& t : selector.tags) name += (name.size() > 1 ? "," : "") + t.key + ":" + t.value;
  name += "}";
  for (const auto& step : r.steps) {
    if (step.kind == "tagged" && step.name == name) return &step;
  }
  return nullptr;
}

bool is_tag_set(const metric_selector& selector) {
  return selector.metric.rfind("http_req", 0) == 0 && !selector.tags.empty() &&
         !(selector.tags.size() == 1 && selector.tags.front().key == "name");
}

// The step a trend selector names: the summary, a request by name, a group by group tag, or a tag set.
const step_result* trend_step(const run_results& r, const metric_selector& selector) {
  const bool http = selector.metric.rfind("http_req", 0) == 0;
  if (selector.tags.empty()) return http ? &r.summary : nullptr;
  if (is_tag_set(selector)) return tagged_step(r, selector);
  if (selector.tags.size() != 1) return nullptr;
  const tag_filter& tag = selector.tags.front();
  const bool group = tag.key == "group";
  if (!(group ? selector.metric == "group_duration" : tag.key == "name" && http)) {
    return nullptr;
  }
  const step_result* found = nullptr;
  for (const auto& step : r.steps) {
    if ((step.kind == "group") == group && strip_group_prefix(step.name) == strip_group_prefix(tag.value)) {
      found = &step;
    }
  }
  return found;
}

// The "timings_ms" phase of an HTTP phase metric (connecting holds the TLS handshake too), "" for others.
std::string_view phase_of(std::string_view metric) {
  if (metric == "http_req_blocked") return "blocked";
  if (metric == "http_req_connecting" || metric == "http_req_tls_handshaking") return "connect";
  if (metric == "http_req_sending") return "send";
  if (metric == "http_req_waiting") return "wait";
  if (metric == "http_req_receiving") return "receive";
  return {};
}

std::optional<double> count_or_rate(int64_t count, const aggregation& agg, double duration_s) {
  return agg.method == aggregation_method::count ? static_cast<double>(count)
                                                 : static_cast<double>(count) / duration_s;
}

// The step of an HTTP counter or rate sub-metric: a request by name, or a tag set.
const step_result* request_step(const run_results& r, const metric_selector& selector) {
  if (is_tag_set(selector)) return tagged_step(r, selector);
  if (selector.tags.size() != 1 || selector.tags.front().key != "name") return nullptr;
  const step_result* step = nullptr;
  for (const auto& s : r.steps) {
    if (s.kind == "request" && s.name == selector.tags.front().value) step = &s;
  }
  return step;
}

// checks{check:X}, checks{group:X} or both: the per-check counts of "checks".
std::optional<double> checks_by_name_or_group(const run_results& r, const metric_selector& selector) {
  int64_t passes = 0, total = 0;
  for (const auto& c : r.checks) {
    bool match = true;
    for (const auto& t : selector.tags) match = match && (t.key == "check" ? c.name : c.group) == t.value;
    if (!match) continue;
    passes += c.passes;
    total += c.passes + c.fails;
  }
  if (total == 0) return std::nullopt;
  return static_cast<double>(passes) / static_cast<double>(total);
}

std::optional<double> observed_value(const run_results& r, const metric_selector& selector,
                                     const threshold_expression& expression) {
  const double duration = r.duration_s > 0 ? r.duration_s : 1.0;
  if (!metric_catalogue::builtin().find(selector.metric) || recorded_in_metrics(selector)) {
    // Custom metrics, and sub-metrics of iteration_duration, iterations and checks by tag set
    return custom_metric_value(r.metrics, selector, expression.agg, duration);
  }
  if (selector.metric == "checks" && !selector.tags.empty()) return checks_by_name_or_group(r, selector);
  if (selector.type == metric_type::trend) {
    const step_result* step = trend_step(r, selector);
    if (step == nullptr) return std::nullopt;
    if (selector.metric == "http_req_duration" || selector.metric == "group_duration") {
      return trend_value(step->histogram, expression.agg);
    }
    if (selector.metric == "http_req_duration_uncorrected") {
      return trend_value(step->uncorrected_histogram, expression.agg);
    }
    // A phase: the file keeps its mean (exact over shards: merge weights the means by requests) and p99
    // (the largest shard's after a merge), so only avg is answered.
    const std::string_view phase = phase_of(selector.metric);
    if (phase.empty() || expression.agg.method != aggregation_method::avg || step->requests == 0)
      return std::nullopt;
    for (const auto& t : step->timings) {
      if (t.phase == phase) return t.mean;
    }
    return std::nullopt;
  }
  if ((selector.metric == "http_req_failed" || selector.metric == "http_reqs") && !selector.tags.empty()) {
    const step_result* step = request_step(r, selector);
    if (step == nullptr || step->requests == 0) return std::nullopt;
    if (selector.metric == "http_reqs") return count_or_rate(step->requests, expression.agg, duration);
    return static_cast<double>(step->errors) / static_cast<double>(step->requests);
  }
  if (!selector.tags.empty())
    return std::nullopt;  // other sub-metrics of counters and rates are not in the file
  const std::string& name = selector.metric;
  if (name == "http_req_failed") {
    return r.summary.requests > 0
               ? static_cast<double>(r.summary.errors) / static_cast<double>(r.summary.requests)
               : 0.0;
  }
  if (name == "http_reqs") return count_or_rate(r.summary.requests, expression.agg, duration);
  if (name == "iterations") return count_or_rate(r.iterations, expression.agg, duration);
  if (name == "dropped_iterations") return count_or_rate(r.dropped_iterations, expression.agg, duration);
  if (name == "checks") {
    int64_t passes = 0, total = 0;
    for (const auto& c : r.checks) {
      passes += c.passes;
      total += c.passes + c.fails;
    }
    return total > 0 ? static_cast<double>(passes) / static_cast<double>(total) : 0.0;
  }
  return std::nullopt;
}

}  // namespace

threshold_evaluation evaluate_threshold(const run_results& r, std::string_view metric, std::string_view expression) {
  threshold_evaluation out;
  metric_selector selector;
  threshold_expression parsed;
  try {
    selector = parse_metric_selector(metric, catalogue_with(r.metrics));
    parsed = parse_threshold_expression(expression, selector.type);
  } catch (const std::invalid_argument&) {
    return out;  // a custom metric or an expression of another tool: the shards' verdicts stand
  }
  const std::optional<double> observed = observed_value(r, selector, parsed);
  if (!observed) return out;
  out.evaluated = true;
  out.observed = *observed;
  out.ok = holds(parsed, *observed);
  return out;
}

}  // namespace stampede::results
