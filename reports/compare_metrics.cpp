// The custom metrics' rows of `stampede compare` (docs/REPORTS.md, "Custom metrics"): the script's
// metrics.* and the built-in sub-metrics a run keeps beside them ("metrics" in docs/RESULTS.md).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "reports/compare_noise.h"
#include "reports/compare_rows.h"
#include "results/custom_metrics.h"

namespace stampede::reports::detail {

using results::metric_result;

namespace {

bool is_latency_statistic(std::string_view m) {
  return m == "p50" || m == "p90" || m == "p95" || m == "p99" || m == "p999" || m == "max" || m == "mean";
}

const metric_result* find_metric(const run_results& r, std::string_view name) {
  for (const auto& m : r.metrics) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

// The row's value in one run; nullopt when the metric is absent or has no sample there.
std::optional<double> value_of(const run_results& r, std::string_view name, std::string_view statistic) {
  const metric_result* m = find_metric(r, name);
  if (m == nullptr || m->samples == 0) return std::nullopt;
  if (m->type == "trend") {
    const latency_stats& s = m->stats;
    if (statistic == "p50") return s.p50;
    if (statistic == "p90") return s.p90;
    if (statistic == "p95") return s.p95;
    if (statistic == "p99") return s.p99;
    if (statistic == "p999") return s.p999;
    if (statistic == "max") return s.max;
    return s.mean;
  }
  if (m->type == "counter" || m->type == "rate") return m->rate;  // per second, or trues / samples
  return m->value;
}

// The direction a threshold in `current` gives the metric: one on the row's own name first (a sub-metric),
// else one on its metric. `<`/`<=` mean higher is worse, `>`/`>=` lower is worse; several that disagree, or
// only
// `==`/`!=`, give none.
std::optional<metric_direction> threshold_direction(std::span<const run_results> current,
                                                    const metric_result& m, std::string& because) {
  bool undirected = false;  // a threshold that says nothing about a direction (== or !=)
  for (const bool own_name : {true, false}) {
    std::optional<metric_direction> found;
    std::string reason;
    bool conflict = false;
    for (const auto& r : current) {
      for (const auto& t : r.thresholds) {
        if (own_name ? t.metric != m.name : t.metric != m.metric) continue;
        results::threshold_expression e;
        try {
          const auto selector = results::parse_metric_selector(t.metric, results::catalogue_with(r.metrics));
          e = results::parse_threshold_expression(t.expression, selector.type);
        } catch (const std::invalid_argument&) {
          continue;
        }
        std::optional<metric_direction> d;
        if (e.op == results::comparison::less || e.op == results::comparison::less_equal) {
          d = metric_direction::higher_is_worse;
        } else if (e.op == results::comparison::greater || e.op == results::comparison::greater_equal) {
          d = metric_direction::lower_is_worse;
        }
        if (!d) {
          undirected = true;
          continue;
        }
        if (found && *found != *d) conflict = true;
        found = d;
        if (reason.empty()) reason = "threshold " + t.metric + " " + t.expression + " in current";
      }
    }
    if (conflict) {
      because = "thresholds in current disagree";
      return std::nullopt;
    }
    if (found) {
      because = reason;
      return found;
    }
  }
  because =
      undirected ? "its thresholds in current give no direction (== or !=)" : "no threshold on it in current";
  return std::nullopt;
}

double magnitude_of(const std::vector<budget_item>& budget, std::string_view metric, double fallback,
                    budget_unit& unit) {
  for (const auto& b : budget) {
    if (b.metric == metric) {
      unit = b.unit;
      return std::fabs(b.amount);
    }
  }
  return fallback;
}

}  // namespace

void compare_custom_metrics(comparison& c, std::span<const run_results> baseline,
                            std::span<const run_results> current, const std::vector<budget_item>& budget) {
  // Every metric and sub-metric of either side, in first-seen order; its type and unit from the first file.
  std::vector<const metric_result*> metrics;
  for (const auto* side : {&baseline, &current}) {
    for (const auto& r : *side) {
      for (const auto& m : r.metrics) {
        if (std::none_of(metrics.begin(), metrics.end(),
                         [&](const metric_result* x) { return x->name == m.name; })) {
          metrics.push_back(&m);
        }
      }
    }
  }
  const bool single = baseline.size() == 1 && current.size() == 1;
  for (const metric_result* m : metrics) {
    metric_comparison row;
    row.step = m->name;
    row.kind = m->type;
    row.is_time = m->is_time;
    // The statistics and budgets of this type: a trend's are the budget's latency items (ms only for time
    // trends); a counter and a gauge change by the rps budget's magnitude (%), a rate by the error rate's
    // (pp).
    std::vector<budget_item> items;
    if (m->type == "trend") {
      row.worse = metric_direction::higher_is_worse;
      row.worse_because = "a trend: higher is worse, as latency";
      for (const auto& b : budget) {
        if (is_latency_statistic(b.metric) && (b.unit != budget_unit::ms || m->is_time)) items.push_back(b);
      }
    } else {
      row.worse = threshold_direction(current, *m, row.worse_because);
      const bool rate = m->type == "rate";
      budget_item b;
      b.metric = m->type == "counter" ? "rate/s" : rate ? "rate" : "value";
      b.unit = rate ? budget_unit::points : budget_unit::percent;
      b.amount = magnitude_of(budget, rate ? "error_rate" : "rps", rate ? 0.5 : 5.0, b.unit);
      if (row.worse == metric_direction::lower_is_worse) b.amount = -b.amount;
      items.push_back(b);
    }
    for (const auto& b : items) {
      metric_comparison r = row;
      r.metric = b.metric;
      r.budget = b;
      std::vector<double> vb, vc;
      size_t missing = 0;
      for (const auto* side : {&baseline, &current}) {
        for (const auto& run : *side) {
          if (const auto v = value_of(run, m->name, b.metric)) {
            (side == &baseline ? vb : vc).push_back(*v);
          } else {
            ++missing;
          }
        }
      }
      if (vb.empty() || vc.empty()) {
        auto declared = [&](std::span<const run_results> side) {
          return std::any_of(side.begin(), side.end(),
                             [&](const run_results& run) { return find_metric(run, m->name) != nullptr; });
        };
        const bool in_baseline = declared(baseline), in_current = declared(current);
        r.verdict = comparison_verdict::missing;
        r.note = !in_baseline  ? "only in current"
                 : !in_current ? "only in baseline"
                 : vb.empty()  ? "no samples in baseline"
                               : "no samples in current";
        c.rows.push_back(std::move(r));
        continue;
      }
      if (missing > 0) r.note = "missing from some runs";
      // Single runs: a counter's count is Poisson, a rate's trues binomial (never below one in n); a trend's
      // statistic gets the block bootstrap over its per-second histograms (as the built-in steps'), a gauge
      // the spread of its per-second readings; without those series (older files, too few seconds) the
      // noise is unknown and the budget alone decides.
      auto single_run_se = [&](bool ratio) -> std::optional<double> {
        if (!single) return std::nullopt;
        const metric_result* mb = find_metric(baseline.front(), m->name);
        const metric_result* mc = find_metric(current.front(), m->name);
        if (mb == nullptr || mc == nullptr) return std::nullopt;
        const auto nb = std::max<double>(1.0, static_cast<double>(mb->samples));
        const auto nc = std::max<double>(1.0, static_cast<double>(mc->samples));
        if (m->type == "counter" && ratio) return std::sqrt(1.0 / nb + 1.0 / nc);
        if (m->type == "rate") {
          auto side = [](double p, double n) { return std::sqrt(std::max(p * (1 - p), 1.0 / n) / n); };
          return std::hypot(side(mb->rate, nb), side(mc->rate, nc));
        }
        if (m->type == "trend" && ratio) {
          const std::vector<std::string> statistic{b.metric};
          const auto sb = estimate_trend_noise(baseline.front(), m->name, statistic).log_se;
          const auto sc = estimate_trend_noise(current.front(), m->name, statistic).log_se;
          if (!sb.contains(b.metric) || !sc.contains(b.metric)) return std::nullopt;
          return std::hypot(sb.at(b.metric), sc.at(b.metric));
        }
        if (m->type == "gauge") {
          const auto sb = gauge_reading_sd(baseline.front(), m->name, ratio);
          const auto sc = gauge_reading_sd(current.front(), m->name, ratio);
          if (!sb || !sc) return std::nullopt;
          return std::hypot(*sb, *sc);
        }
        return std::nullopt;
      };
      judge_change(
          r, vb, vc, m->type != "rate", r.worse, single_run_se,
          "noise unknown: single runs without per-second series (metric_intervals) of 5 seconds or more");
      c.rows.push_back(std::move(r));
    }
  }
}

}  // namespace stampede::reports::detail
