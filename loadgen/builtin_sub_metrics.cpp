#include "loadgen/builtin_sub_metrics.h"

#include <algorithm>
#include <utility>

namespace stampede::loadgen {

using results::metric_type;

namespace {

std::optional<std::string_view> find_in(const std::map<std::string, std::string>* tags,
                                        std::string_view key) {
  if (tags == nullptr) return std::nullopt;
  const auto it = tags->find(std::string(key));
  return it == tags->end() ? std::nullopt : std::optional<std::string_view>(it->second);
}

bool matches(const results::metric_selector& selector, const builtin_sample_tags& tags) {
  return std::all_of(selector.tags.begin(), selector.tags.end(), [&](const results::tag_filter& want) {
    const auto have = tags.tag(want.key);
    return have && *have == want.value;
  });
}

metric_type type_of(std::string_view metric) {
  if (metric == "iteration_duration") return metric_type::trend;
  return metric == "checks" ? metric_type::rate : metric_type::counter;
}

}  // namespace

std::optional<std::string_view> builtin_sample_tags::tag(std::string_view key) const {
  if (key == "scenario") return scenario;
  if (key == "check" && check) return check;
  if (key == "group" && group) return group;
  if (auto value = find_in(scenario_tags, key)) return value;
  return find_in(run_tags, key);
}

void builtin_sub_metrics::track(const results::metric_selector& selector) {
  for (const auto& s : subs_) {
    if (s.selector.metric == selector.metric && s.selector.tags == selector.tags) return;
  }
  const metric_type type = type_of(selector.metric);
  subs_.push_back({selector, type, custom_sink(type)});
}

void builtin_sub_metrics::sub::add(double value) {
  sink.add(type, value, 0);
  interval.add(type, value, 0);
}

void builtin_sub_metrics::record_iteration(int64_t duration_us, const builtin_sample_tags& tags) {
  for (auto& s : subs_) {
    const bool iteration = s.selector.metric == "iteration_duration" || s.selector.metric == "iterations";
    if (!iteration || !matches(s.selector, tags)) continue;
    // Trend samples are in the metric's unit (ms) and recorded x 1000: the microseconds again.
    s.add(s.type == metric_type::trend ? static_cast<double>(duration_us) / 1000.0 : 1.0);
  }
}

void builtin_sub_metrics::record_dropped(const builtin_sample_tags& tags) {
  for (auto& s : subs_) {
    if (s.selector.metric == "dropped_iterations" && matches(s.selector, tags)) s.add(1.0);
  }
}

void builtin_sub_metrics::record_check(bool ok, const builtin_sample_tags& tags) {
  for (auto& s : subs_) {
    if (s.selector.metric == "checks" && matches(s.selector, tags)) s.add(ok ? 1.0 : 0.0);
  }
}

void builtin_sub_metrics::merge(const builtin_sub_metrics& other) {
  for (const auto& theirs : other.subs_) {
    track(theirs.selector);
    auto mine = std::find_if(subs_.begin(), subs_.end(), [&](const sub& s) {
      return s.selector.metric == theirs.selector.metric && s.selector.tags == theirs.selector.tags;
    });
    mine->sink.merge(mine->type, theirs.sink);
  }
}

void builtin_sub_metrics::add_samples(const results::metric_selector& selector, const custom_sink& samples) {
  track(selector);
  for (auto& s : subs_) {
    if (s.selector.metric == selector.metric && s.selector.tags == selector.tags)
      s.sink.merge(s.type, samples);
  }
}

builtin_sub_metrics builtin_sub_metrics::roll_interval() {
  builtin_sub_metrics out;
  for (auto& s : subs_) {
    if (s.interval.samples > 0) out.subs_.push_back({s.selector, s.type, std::exchange(s.interval, {})});
  }
  return out;
}

std::vector<results::metric_interval> builtin_sub_metrics::to_intervals(int64_t t) const {
  std::vector<results::metric_interval> out;
  for (const auto& s : subs_) {
    if (s.sink.samples > 0) out.push_back(sink_interval(s.type, s.sink, s.selector.text, t));
  }
  return out;
}

std::optional<double> builtin_sub_metrics::value(const results::metric_selector& selector,
                                                 const results::aggregation& agg, double duration_s) const {
  for (const auto& s : subs_) {
    if (s.selector.metric == selector.metric && s.selector.tags == selector.tags) {
      return s.sink.value(s.type, agg, duration_s);
    }
  }
  return std::nullopt;
}

std::vector<results::metric_result> builtin_sub_metrics::to_results(double duration_s) const {
  std::vector<results::metric_result> out;
  for (const auto& s : subs_) {
    out.push_back(sink_result(s.selector.metric, s.type, s.type == metric_type::trend, s.sink,
                              s.selector.text, duration_s));
  }
  return out;
}

}  // namespace stampede::loadgen
