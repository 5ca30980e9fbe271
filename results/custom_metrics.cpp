#include "results/custom_metrics.h"

#include <algorithm>
#include <stdexcept>

#include "common/hdr_histogram.h"

namespace stampede::results {

namespace {

std::optional<metric_type> type_of(const metric_result& m) {
  if (m.type == "trend") return metric_type::trend;
  if (m.type == "counter") return metric_type::counter;
  if (m.type == "rate") return metric_type::rate;
  if (m.type == "gauge") return metric_type::gauge;
  return std::nullopt;
}

void add_histogram(metric_result& into, const metric_result& from) {
  if (from.histogram.empty()) return;
  auto theirs = hdr_histogram::decode_base64(from.histogram);
  if (!theirs) throw results_error("metrics \"" + from.name + "\": the histogram is not a valid HdrHistogram");
  if (into.histogram.empty()) {
    into.histogram = from.histogram;
    into.stats = latency_stats::of(*theirs);
    return;
  }
  auto mine = hdr_histogram::decode_base64(into.histogram);
  if (!mine) throw results_error("metrics \"" + into.name + "\": the histogram is not a valid HdrHistogram");
  mine->add(*theirs);
  into.histogram = mine->encode_compressed_base64();
  into.stats = latency_stats::of(*mine);
}

}  // namespace

void merge_metrics(std::vector<metric_result>& into, std::span<const metric_result> from, double duration_s) {
  for (const auto& m : from) {
    auto it = std::find_if(into.begin(), into.end(), [&](const metric_result& x) { return x.name == m.name; });
    if (it == into.end()) {
      into.push_back(m);
      into.back().histogram.clear();
      into.back().samples = 0;
      into.back().count = 0;
      into.back().trues = 0;
      it = into.end() - 1;
    } else if (it->type != m.type) {
      throw results_error("metrics \"" + m.name + "\" is a " + it->type + " in one file and a " + m.type +
                          " in another");
    }
    if (m.type == "trend") add_histogram(*it, m);
    if (m.type == "gauge" && m.samples > 0) {
      const bool first = it->samples == 0;
      it->min = first ? m.min : std::min(it->min, m.min);
      it->max = first ? m.max : std::max(it->max, m.max);
      if (first || m.last_unix_us > it->last_unix_us || (m.last_unix_us == it->last_unix_us && m.value > it->value)) {
        it->value = m.value;
        it->last_unix_us = m.last_unix_us;
      }
    }
    it->samples += m.samples;
    it->count += m.count;
    it->trues += m.trues;
  }
  for (auto& m : into) {
    if (m.type == "counter") m.rate = duration_s > 0 ? m.count / duration_s : 0;
    if (m.type == "rate") m.rate = m.samples > 0 ? static_cast<double>(m.trues) / static_cast<double>(m.samples) : 0;
  }
}

bool recorded_in_metrics(const metric_selector& selector) {
  if (selector.tags.empty()) return false;
  const std::string& m = selector.metric;
  if (m == "iteration_duration" || m == "iterations" || m == "dropped_iterations") return true;
  return selector.metric == "checks" &&
         std::any_of(selector.tags.begin(), selector.tags.end(),
                     [](const tag_filter& t) { return t.key != "check" && t.key != "group"; });
}

metric_catalogue catalogue_with(std::span<const metric_result> metrics) {
  metric_catalogue catalogue;
  for (const auto& m : metrics) {
    const auto type = type_of(m);
    if (!type || metric_catalogue::builtin().find(m.metric)) continue;
    try {
      catalogue.add(m.metric, *type);
    } catch (const std::invalid_argument&) {  // a bad name or a type clash: thresholds on it stay unanswered
    }
  }
  return catalogue;
}

std::optional<double> custom_metric_value(std::span<const metric_result> metrics, const metric_selector& selector,
                                          const aggregation& agg, double duration_s) {
  const metric_catalogue catalogue = catalogue_with(metrics);
  const metric_result* found = nullptr;
  for (const auto& m : metrics) {
    if (m.metric != selector.metric) continue;
    try {
      if (parse_metric_selector(m.name, catalogue).tags == selector.tags) found = &m;
    } catch (const std::invalid_argument&) {
    }
  }
  if (found == nullptr || found->samples == 0) return std::nullopt;
  const metric_result& m = *found;
  if (m.type == "trend") {
    const auto h = hdr_histogram::decode_base64(m.histogram);
    if (!h) return std::nullopt;
    switch (agg.method) {
      case aggregation_method::avg: return h->mean() / 1000.0;
      case aggregation_method::min: return static_cast<double>(h->min()) / 1000.0;
      case aggregation_method::max: return static_cast<double>(h->max()) / 1000.0;
      case aggregation_method::med: return static_cast<double>(h->value_at_percentile(50)) / 1000.0;
      case aggregation_method::percentile: return static_cast<double>(h->value_at_percentile(agg.percentile)) / 1000.0;
      default: return std::nullopt;
    }
  }
  if (m.type == "counter") return agg.method == aggregation_method::rate ? m.count / duration_s : m.count;
  if (m.type == "rate") return static_cast<double>(m.trues) / static_cast<double>(m.samples);
  return m.value;
}

}  // namespace stampede::results
