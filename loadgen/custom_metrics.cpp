#include "loadgen/custom_metrics.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "results/metric_series.h"

namespace stampede::loadgen {

using results::aggregation;
using results::aggregation_method;
using results::metric_selector;
using results::metric_type;

custom_sink::custom_sink(metric_type type) {
  if (type == metric_type::trend) histogram = std::make_unique<hdr_histogram>(1, trend_highest, 3);
}

void custom_sink::add(metric_type type, double value, int64_t unix_us) {
  ++samples;
  switch (type) {
    case metric_type::trend:
      if (!histogram) histogram = std::make_unique<hdr_histogram>(1, trend_highest, 3);
      // Clamped before the conversion (llround of a value past int64 is undefined); the histogram counts it.
      histogram->record(std::llround(std::min(value * static_cast<double>(trend_scale),
                                              static_cast<double>(trend_highest) + 1)));
      break;
    case metric_type::counter:
      sum += value;
      break;
    case metric_type::rate:
      if (value != 0) ++trues;
      break;
    case metric_type::gauge:
      min = samples == 1 ? value : std::min(min, value);
      max = samples == 1 ? value : std::max(max, value);
      // Within a worker the latest add wins even if the wall clock stepped back.
      last = value;
      last_unix_us = std::max(last_unix_us, unix_us);
      break;
  }
}

void custom_sink::merge(metric_type type, const custom_sink& other) {
  if (other.samples == 0) return;
  if (type == metric_type::gauge) {
    min = samples == 0 ? other.min : std::min(min, other.min);
    max = samples == 0 ? other.max : std::max(max, other.max);
    // "Last" across workers: the value added latest by the wall clock; a tie keeps the larger value so the
    // merge does not depend on the order workers are merged in.
    if (samples == 0 || other.last_unix_us > last_unix_us ||
        (other.last_unix_us == last_unix_us && other.last > last)) {
      last = other.last;
      last_unix_us = other.last_unix_us;
    }
  }
  samples += other.samples;
  sum += other.sum;
  trues += other.trues;
  if (other.histogram) {
    if (histogram)
      histogram->add(*other.histogram);
    else
      histogram = std::make_unique<hdr_histogram>(*other.histogram);
  }
}

std::optional<double> custom_sink::value(metric_type type, const aggregation& agg, double duration_s) const {
  if (samples == 0) return std::nullopt;
  constexpr auto scale = static_cast<double>(trend_scale);
  switch (type) {
    case metric_type::trend:
      switch (agg.method) {
        case aggregation_method::avg: return histogram->mean() / scale;
        case aggregation_method::min: return static_cast<double>(histogram->min()) / scale;
        case aggregation_method::max: return static_cast<double>(histogram->max()) / scale;
        case aggregation_method::med: return static_cast<double>(histogram->value_at_percentile(50)) / scale;
        case aggregation_method::percentile:
          return static_cast<double>(histogram->value_at_percentile(agg.percentile)) / scale;
        default: return std::nullopt;
      }
    case metric_type::counter:
      if (agg.method == aggregation_method::rate) return duration_s > 0 ? sum / duration_s : 0.0;
      return sum;
    case metric_type::rate:
      return static_cast<double>(trues) / static_cast<double>(samples);
    case metric_type::gauge:
      return last;
  }
  return std::nullopt;
}

custom_metric::custom_metric(std::string metric_name, metric_type metric_type, bool time)
    : name(std::move(metric_name)), type(metric_type), is_time(time), all(metric_type) {}

custom_metric::custom_metric(std::string metric_name, metric_type metric_type, bool time, custom_sink samples)
    : name(std::move(metric_name)), type(metric_type), is_time(time), all(std::move(samples)) {}

size_t custom_metrics::declare(std::string_view name, metric_type type, bool is_time) {
  const std::string quoted = "'" + std::string(name) + "'";
  if (results::metric_catalogue::builtin().find(name)) {
    throw std::invalid_argument("metric " + quoted + " is a built-in metric: choose another name");
  }
  for (size_t i = 0; i < metrics_.size(); ++i) {
    const custom_metric& m = *metrics_[i];
    if (m.name != name) continue;
    if (m.type != type || m.is_time != is_time) {
      throw std::invalid_argument("metric " + quoted + " was already declared as a " +
                                  std::string(results::to_string(m.type)) + (m.is_time ? " of times" : "") +
                                  ", not a " + std::string(results::to_string(type)) +
                                  (is_time ? " of times" : ""));
    }
    return i;
  }
  try {
    catalogue_.add(name, type);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("invalid metric name " + quoted +
                                ": use letters, digits and '_' (not first a digit), at most 128 characters");
  }
  metrics_.push_back(std::make_unique<custom_metric>(std::string(name), type, is_time));
  return metrics_.size() - 1;
}

void custom_metrics::add(size_t index, double value, int64_t unix_us, sample_tags tags) {
  custom_metric& m = *metrics_[index];
  // Strictly increasing per worker, so that "the latest sample" is the same whole-run and second by second.
  if (m.type == metric_type::gauge && m.all.samples > 0) unix_us = std::max(unix_us, m.all.last_unix_us + 1);
  m.all.add(m.type, value, unix_us);
  m.interval.add(m.type, value, unix_us);
  for (auto& sub : m.subs) {
    bool match = true;
    for (const auto& want : sub.tags) {
      const auto it = std::find_if(tags.begin(), tags.end(), [&](const auto& t) { return t.first == want.key; });
      if (it == tags.end() || it->second != want.value) {
        match = false;
        break;
      }
    }
    if (match) {
      sub.sink.add(m.type, value, unix_us);
      sub.interval.add(m.type, value, unix_us);
    }
  }
}

custom_metrics custom_metrics::roll_interval() {
  custom_metrics out;
  for (const auto& m : metrics_) {
    const bool subs_active =
        std::any_of(m->subs.begin(), m->subs.end(), [](const auto& sub) { return sub.interval.samples > 0; });
    if (m->interval.samples == 0 && !subs_active) continue;
    out.catalogue_.add(m->name, m->type);  // a valid name: declare() checked it
    auto copy = std::make_unique<custom_metric>(m->name, m->type, m->is_time, std::exchange(m->interval, {}));
    for (auto& sub : m->subs) {
      if (sub.interval.samples == 0) continue;
      copy->subs.push_back({sub.tags, sub.text, std::exchange(sub.interval, {})});
    }
    out.metrics_.push_back(std::move(copy));
  }
  return out;
}

void custom_metrics::track(const metric_selector& selector) {
  if (selector.tags.empty()) return;
  for (auto& m : metrics_) {
    if (m->name != selector.metric) continue;
    for (const auto& sub : m->subs) {
      if (sub.tags == selector.tags) return;
    }
    m->subs.push_back({selector.tags, selector.text, custom_sink(m->type)});
    return;
  }
}

const custom_metric* custom_metrics::find(std::string_view name) const noexcept {
  for (const auto& m : metrics_) {
    if (m->name == name) return m.get();
  }
  return nullptr;
}

void custom_metrics::merge(const custom_metrics& other) {
  for (const auto& theirs : other.metrics_) {
    auto it = std::find_if(metrics_.begin(), metrics_.end(), [&](const auto& m) { return m->name == theirs->name; });
    if (it == metrics_.end()) {
      const size_t index = declare(theirs->name, theirs->type, theirs->is_time);
      it = metrics_.begin() + static_cast<std::ptrdiff_t>(index);
    }
    custom_metric& mine = **it;
    if (mine.type != theirs->type) continue;  // declare() refused it already; keep the first
    mine.all.merge(mine.type, theirs->all);
    for (const auto& sub : theirs->subs) {
      auto s = std::find_if(mine.subs.begin(), mine.subs.end(), [&](const auto& x) { return x.tags == sub.tags; });
      if (s == mine.subs.end()) {
        mine.subs.push_back({sub.tags, sub.text, custom_sink(mine.type)});
        s = mine.subs.end() - 1;
      }
      s->sink.merge(mine.type, sub.sink);
    }
  }
}

std::optional<double> custom_metrics::value(const metric_selector& selector, const aggregation& agg,
                                            double duration_s) const {
  const custom_metric* m = find(selector.metric);
  if (m == nullptr) return std::nullopt;
  if (selector.tags.empty()) return m->all.value(m->type, agg, duration_s);
  for (const auto& sub : m->subs) {
    if (sub.tags == selector.tags) return sub.sink.value(m->type, agg, duration_s);
  }
  return std::nullopt;
}

results::metric_result sink_result(std::string_view metric, metric_type type, bool is_time,
                                   const custom_sink& sink, std::string name, double duration_s) {
  results::metric_result r;
  r.name = std::move(name);
  r.metric = std::string(metric);
  r.type = std::string(results::to_string(type));
  r.is_time = is_time;
  r.samples = sink.samples;
  switch (type) {
    case metric_type::trend: {
      const hdr_histogram empty(1, trend_highest, 3);
      const hdr_histogram& h = sink.histogram ? *sink.histogram : empty;
      r.stats = results::latency_stats::of(h);  // value x 1000 / 1000: the metric's unit
      r.histogram = h.encode_compressed_base64();
      break;
    }
    case metric_type::counter:
      r.count = sink.sum;
      r.rate = duration_s > 0 ? sink.sum / duration_s : 0;
      break;
    case metric_type::rate:
      r.trues = sink.trues;
      r.rate = sink.samples > 0 ? static_cast<double>(sink.trues) / static_cast<double>(sink.samples) : 0;
      break;
    case metric_type::gauge:
      r.value = sink.last;
      r.min = sink.min;
      r.max = sink.max;
      r.last_unix_us = sink.last_unix_us;
      break;
  }
  return r;
}

results::metric_interval sink_interval(metric_type type, const custom_sink& sink, std::string name,
                                       int64_t t) {
  results::metric_interval r;
  r.name = std::move(name);
  r.t = t;
  r.samples = sink.samples;
  r.type = std::string(results::to_string(type));
  if (sink.histogram) r.histogram = sink.histogram->encode_compressed_base64();
  r.count = sink.sum;
  r.trues = sink.trues;
  r.value = sink.last;
  r.min = sink.min;
  r.max = sink.max;
  r.last_unix_us = sink.last_unix_us;
  return r;
}

std::vector<results::metric_interval> to_intervals(const custom_metrics& second, int64_t t) {
  std::vector<results::metric_interval> out;
  for (const auto& m : second.metrics()) {
    if (m->all.samples > 0) out.push_back(sink_interval(m->type, m->all, m->name, t));
    for (const auto& sub : m->subs) {
      if (sub.sink.samples > 0) out.push_back(sink_interval(m->type, sub.sink, sub.text, t));
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

void add_to_second(std::vector<results::metric_interval>& rows,
                   std::vector<results::metric_interval> second) {
  for (auto& row : second) {
    const auto at = std::lower_bound(rows.begin(), rows.end(), row.name,
                                     [](const auto& r, const std::string& name) { return r.name < name; });
    if (at != rows.end() && at->name == row.name) {
      results::merge_metric_interval(*at, row);
    } else {
      rows.insert(at, std::move(row));
    }
  }
}

void add_to_second(std::vector<results::metric_interval>& rows, const custom_metrics& second, int64_t t) {
  add_to_second(rows, to_intervals(second, t));
}

std::vector<results::metric_result> to_results(const custom_metrics& metrics, double duration_s) {
  std::vector<results::metric_result> out;
  for (const auto& m : metrics.metrics()) {
    out.push_back(sink_result(m->name, m->type, m->is_time, m->all, m->name, duration_s));
    for (const auto& sub : m->subs) {
      out.push_back(sink_result(m->name, m->type, m->is_time, sub.sink, sub.text, duration_s));
    }
  }
  return out;
}

}  // namespace stampede::loadgen
