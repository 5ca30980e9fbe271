// The per-second series of custom metrics ("metric_intervals", docs/RESULTS.md) in `stampede merge` and the
// HTML report: two shards holding halves of a run's samples merge into exactly that run's series (also when
// one shard started later), and the report draws one chart per series.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "common/hdr_histogram.h"
#include "reports/formats.h"
#include "reports/merge.h"
#include "reports/results.h"
#include "results/custom_metrics.h"
#include "results/metric_series.h"
#include "synthetic_results.h"

namespace stampede::reports {
namespace {

using results::metric_interval;
using results::metric_result;
using testing::build_results_text;
using testing::lognormal_run;
using testing::synthetic_run;

// One add() of a script: when (seconds since its run's start), to which metric, what value.
struct sample {
  double t_s;
  std::string metric;  // "wait" (time trend), "orders" (counter), "ok" (rate), "depth" (gauge)
  double value;
};

const std::map<std::string, std::string> types = {
    {"wait", "trend"}, {"orders", "counter"}, {"ok", "rate"}, {"depth", "gauge"}};

// The metrics and their series as loadgen writes them, for samples of a run started at start_unix_ms.
void add_custom_metrics(run_results& r, const std::vector<sample>& samples) {
  std::map<std::pair<int64_t, std::string>, metric_interval> seconds;
  std::map<std::string, metric_result> whole;
  for (const auto& s : samples) {
    const std::string& type = types.at(s.metric);
    const auto t = static_cast<int64_t>(s.t_s);
    metric_interval one{.name = s.metric, .t = t, .samples = 1, .type = type};
    if (type == "trend") {
      hdr_histogram h(1, 1'000'000'000'000'000, 3);
      h.record(static_cast<int64_t>(s.value * 1000));
      one.histogram = h.encode_compressed_base64();
    }
    one.count = type == "counter" ? s.value : 0;
    one.trues = type == "rate" && s.value != 0 ? 1 : 0;
    if (type == "gauge") {
      one.value = one.min = one.max = s.value;
      one.last_unix_us = r.start_unix_ms * 1000 + static_cast<int64_t>(s.t_s * 1e6);
    }
    auto [it, fresh] =
        seconds.try_emplace({t, s.metric}, metric_interval{.name = s.metric, .t = t, .type = type});
    results::merge_metric_interval(it->second, one);
    metric_result m{.name = s.metric,
                    .metric = s.metric,
                    .type = type,
                    .is_time = type == "trend",
                    .samples = 1,
                    .histogram = one.histogram,
                    .count = one.count,
                    .trues = one.trues,
                    .value = one.value,
                    .min = one.min,
                    .max = one.max,
                    .last_unix_us = one.last_unix_us};
    std::vector<metric_result> into;
    if (auto w = whole.find(s.metric); w != whole.end()) into.push_back(w->second);
    results::merge_metrics(into, std::vector<metric_result>{m}, r.duration_s);
    whole[s.metric] = into.front();
  }
  for (const auto& name : {"wait", "orders", "ok", "depth"}) {
    if (whole.count(name)) r.metrics.push_back(whole.at(name));
  }
  for (auto& [key, row] : seconds) r.metric_intervals.push_back(std::move(row));
}

std::vector<sample> samples_of_a_run() {
  std::vector<sample> out;
  for (int i = 0; i < 400; ++i) {
    const double t = i * 0.05;  // 20 s
    out.push_back({t, "wait", 5.0 + (i * 37) % 90});
    out.push_back({t, "orders", static_cast<double>(i % 3)});
    out.push_back({t, "ok", static_cast<double>(i % 5 != 0)});
    out.push_back({t + 0.001, "depth", static_cast<double>((i * 13) % 17)});
  }
  return out;
}

void expect_same_series(const run_results& merged, const run_results& whole) {
  ASSERT_EQ(merged.metric_intervals.size(), whole.metric_intervals.size());
  for (size_t i = 0; i < whole.metric_intervals.size(); ++i) {
    const metric_interval& m = merged.metric_intervals[i];
    const metric_interval& w = whole.metric_intervals[i];
    EXPECT_EQ(m.name, w.name);
    EXPECT_EQ(m.t, w.t);
    EXPECT_EQ(m.samples, w.samples) << w.name << " t=" << w.t;
    EXPECT_EQ(m.count, w.count) << w.name << " t=" << w.t;
    EXPECT_EQ(m.trues, w.trues) << w.name << " t=" << w.t;
    EXPECT_EQ(m.value, w.value) << w.name << " t=" << w.t;
    EXPECT_EQ(m.min, w.min);
    EXPECT_EQ(m.max, w.max);
    if (!w.histogram.empty()) {
      EXPECT_EQ(*hdr_histogram::decode_base64(m.histogram), *hdr_histogram::decode_base64(w.histogram));
    }
  }
}

TEST(reports_metric_series, halves_of_a_run_merge_into_exactly_its_series) {
  synthetic_run full = lognormal_run(5, 20, 5, {"GET /a"});
  synthetic_run a = full, b = full;
  a.shard_count = b.shard_count = 2;
  b.shard_index = 1;
  run_results whole = results::parse_results(build_results_text(full));
  std::vector<run_results> shards{results::parse_results(build_results_text(a)),
                                  results::parse_results(build_results_text(b))};
  const auto all = samples_of_a_run();
  std::vector<sample> half_a, half_b;
  for (size_t i = 0; i < all.size(); ++i) (i % 8 < 4 ? half_a : half_b).push_back(all[i]);
  add_custom_metrics(whole, all);
  add_custom_metrics(shards[0], half_a);
  add_custom_metrics(shards[1], half_b);
  const run_results merged = results::parse_results(merge_results(shards).document);
  ASSERT_EQ(whole.metric_intervals.size(), 80u);  // 4 metrics x 20 s
  expect_same_series(merged, whole);
  // The series still adds up to the merged totals.
  double orders = 0;
  for (const auto& row : merged.metric_intervals) orders += row.name == "orders" ? row.count : 0;
  const auto it = std::find_if(merged.metrics.begin(), merged.metrics.end(),
                               [](const metric_result& m) { return m.name == "orders"; });
  ASSERT_NE(it, merged.metrics.end());
  EXPECT_EQ(orders, it->count);
}

TEST(reports_metric_series, a_shard_started_later_lands_on_the_merged_timeline) {
  synthetic_run full = lognormal_run(5, 20, 5, {"GET /a"});
  synthetic_run a = full, b = full;
  a.shard_count = b.shard_count = 2;
  b.shard_index = 1;
  b.start_unix_ms = full.start_unix_ms + 10'000;  // b's second 0 is the run's second 10
  a.duration_s = 10;
  b.duration_s = 10;
  a.requests.clear();
  b.requests.clear();
  for (const auto& r : full.requests) {
    auto shifted = r;
    if (r.t_s < 10) {
      a.requests.push_back(r);
    } else {
      shifted.t_s -= 10;
      b.requests.push_back(shifted);
    }
  }
  run_results whole = results::parse_results(build_results_text(full));
  std::vector<run_results> shards{results::parse_results(build_results_text(a)),
                                  results::parse_results(build_results_text(b))};
  std::vector<sample> early, late;
  for (const auto& s : samples_of_a_run()) {
    if (s.t_s < 10) {
      early.push_back(s);
    } else {
      late.push_back({s.t_s - 10, s.metric, s.value});
    }
  }
  add_custom_metrics(whole, samples_of_a_run());
  add_custom_metrics(shards[0], early);
  add_custom_metrics(shards[1], late);
  expect_same_series(results::parse_results(merge_results(shards).document), whole);
}

TEST(reports_metric_series, the_html_report_draws_one_chart_per_series) {
  run_results r = results::parse_results(build_results_text(lognormal_run(5, 20, 5, {"GET /a"})));
  const std::string without = render_html(r);
  EXPECT_EQ(without.find("Custom metrics over time"), std::string::npos);
  add_custom_metrics(r, samples_of_a_run());
  const std::string html = render_html(r);
  EXPECT_NE(html.find("Custom metrics over time"), std::string::npos);
  size_t charts = 0;
  for (size_t at = html.find("<figure class=\"chart small\">"); at != std::string::npos;
       at = html.find("<figure class=\"chart small\">", at + 1)) {
    ++charts;
  }
  EXPECT_EQ(charts, 4u);
  for (const char* title : {"wait per second", "orders per second", "ok per second", "depth per second"}) {
    EXPECT_NE(html.find(title), std::string::npos) << title;
  }
  // 20 points per line: one per second.
  const size_t wait = html.find("wait per second");
  const size_t line = html.find("<polyline", wait);
  const size_t end = html.find("\"><title>", line);
  const std::string points = html.substr(line, end - line);
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 20);
}

}  // namespace
}  // namespace stampede::reports
