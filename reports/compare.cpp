#include "reports/compare.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>

#include "reports/compare_noise.h"
#include "reports/compare_rows.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace {

using detail::all_requests;

bool is_latency_metric(std::string_view m) {
  return m == "p50" || m == "p90" || m == "p95" || m == "p99" || m == "p999" || m == "max" || m == "mean";
}

metric_direction direction_of(std::string_view m) {
  return m == "rps" ? metric_direction::lower_is_worse : metric_direction::higher_is_worse;
}

double metric_value(const step_result& s, std::string_view m) {
  const latency_stats& l = s.latency;
  if (m == "p50") return l.p50;
  if (m == "p90") return l.p90;
  if (m == "p95") return l.p95;
  if (m == "p99") return l.p99;
  if (m == "p999") return l.p999;
  if (m == "max") return l.max;
  if (m == "mean") return l.mean;
  if (m == "rps") return s.rps;
  return s.error_rate;  // error_rate
}

std::string metric_label(std::string_view m) {
  if (m == "p999") return "p99.9 (ms)";
  if (is_latency_metric(m)) return std::string(m) + " (ms)";
  if (m == "rps") return "requests/s";
  return "error rate";
}

std::string format_value(std::string_view m, double v) {
  if (is_latency_metric(m)) return text::ms(v);
  if (m == "rps") return text::num(v, 1);
  return text::percent(v, 2);
}

std::string format_change(const budget_item& b, double v) {
  if (!std::isfinite(v)) return v > 0 ? "+inf" : "-inf";
  std::string sign = v > 0 ? "+" : "";
  switch (b.unit) {
    case budget_unit::percent: return sign + text::num(v, 1) + "%";
    case budget_unit::points: return sign + text::num(v, 2) + "pp";
    case budget_unit::ms: return sign + text::ms(v) + "ms";
  }
  return {};
}

// Change in the budget's unit.
double to_unit(const budget_item& b, double base, double delta) {
  switch (b.unit) {
    case budget_unit::percent:
      if (base == 0) return delta == 0 ? 0 : (delta > 0 ? INFINITY : -INFINITY);
      return delta / std::fabs(base) * 100.0;
    case budget_unit::points: return delta * 100.0;
    case budget_unit::ms: return delta;
  }
  return delta;
}

void mean_sd(const std::vector<double>& v, double& mean, double& sd) {
  mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  sd = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
}

const step_result* step_of(const run_results& r, std::string_view name) {
  return name == all_requests ? &r.summary : r.find_step(name);
}

// A change smaller than this is not called a change at all: below what the figures resolve (HdrHistogram
// keeps 3 significant digits) and below what the report prints.
double resolution(const budget_item& b, double base) {
  switch (b.unit) {
    case budget_unit::percent: return 0.1;
    case budget_unit::points: return 0.005;
    case budget_unit::ms: return std::max(0.0005, 0.001 * std::fabs(base));
  }
  return 0;
}

struct estimate {
  double change = 0, low = 0, high = 0;  // in the budget's unit
};

// A positive quantity: the ratio current / baseline, its interval exp(ln ratio +- crit x se) from the standard
// error of the log ratio. A ratio cannot fall below 0, so a change is never below -100%.
estimate ratio_estimate(const budget_item& b, double base, double cur, double log_se, double crit) {
  const double lr = std::log(cur / base);
  auto unit = [&](double ratio) { return b.unit == budget_unit::ms ? base * (ratio - 1) : (ratio - 1) * 100.0; };
  return {unit(cur / base), unit(std::exp(lr - crit * log_se)), unit(std::exp(lr + crit * log_se))};
}

// A difference of fractions (the error rate), its interval clamped to what the current side can reach.
estimate difference_estimate(const budget_item& b, double base, double cur, double se, double crit) {
  const double d = cur - base;
  const double low = std::max(d - crit * se, -base), high = std::min(d + crit * se, 1.0 - base);
  return {to_unit(b, base, d), to_unit(b, base, low), to_unit(b, base, high)};
}

// Fallback for a quantity that is zero on a side (no ratio): the plain difference, never below -100%.
estimate absolute_estimate(const budget_item& b, double base, double cur, double se, double crit) {
  const double d = cur - base;
  return {to_unit(b, base, d), to_unit(b, base, std::max(d - crit * se, -base)), to_unit(b, base, d + crit * se)};
}

bool positive_scale(std::string_view metric) { return metric != "error_rate"; }

}  // namespace

double t_critical_95(double df) {
  static constexpr double table[] = {0,      12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                     2.201,  2.179,  2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080,
                                     2.074,  2.069,  2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (!(df >= 1)) return table[1];
  if (df <= 30) return table[static_cast<int>(std::floor(df))];  // rounding df down is conservative
  // Cornish-Fisher expansion around the normal quantile; accurate to 1e-3 above 30 df.
  const double z = 1.959964;
  return z + (z * z * z + z) / (4 * df) + (5 * std::pow(z, 5) + 16 * z * z * z + 3 * z) / (96 * df * df);
}

std::vector<budget_item> parse_budget(std::string_view text) {
  std::vector<budget_item> out;
  while (!text.empty()) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      throw std::invalid_argument("budget item \"" + std::string(item) + "\" is not METRIC:CHANGE");
    }
    budget_item b;
    b.metric = std::string(item.substr(0, colon));
    if (b.metric == "p99.9") b.metric = "p999";
    if (b.metric == "error-rate" || b.metric == "errors") b.metric = "error_rate";
    if (!is_latency_metric(b.metric) && b.metric != "rps" && b.metric != "error_rate") {
      throw std::invalid_argument("budget: unknown metric \"" + b.metric +
                                  "\" (p50 p90 p95 p99 p999 max mean rps error_rate)");
    }
    std::string_view amount = item.substr(colon + 1);
    if (amount.size() >= 2 && amount.substr(amount.size() - 2) == "pp") {
      b.unit = budget_unit::points;
      amount.remove_suffix(2);
    } else if (amount.size() >= 2 && amount.substr(amount.size() - 2) == "ms") {
      b.unit = budget_unit::ms;
      amount.remove_suffix(2);
    } else if (!amount.empty() && amount.back() == '%') {
      b.unit = budget_unit::percent;
      amount.remove_suffix(1);
    } else {
      throw std::invalid_argument("budget \"" + std::string(item) + "\": give a unit (%, pp or ms)");
    }
    if (!amount.empty() && amount.front() == '+') amount.remove_prefix(1);
    auto [p, ec] = std::from_chars(amount.data(), amount.data() + amount.size(), b.amount);
    if (ec != std::errc() || p != amount.data() + amount.size() || !std::isfinite(b.amount)) {
      throw std::invalid_argument("budget \"" + std::string(item) + "\": bad number");
    }
    if (b.unit == budget_unit::points && b.metric != "error_rate") {
      throw std::invalid_argument("budget \"" + std::string(item) + "\": pp applies to error_rate only");
    }
    if (b.unit == budget_unit::ms && !is_latency_metric(b.metric)) {
      throw std::invalid_argument("budget \"" + std::string(item) + "\": ms applies to latency metrics only");
    }
    bool worse_up = direction_of(b.metric) == metric_direction::higher_is_worse;
    if ((worse_up && b.amount < 0) || (!worse_up && b.amount > 0)) {
      throw std::invalid_argument("budget \"" + std::string(item) + "\": " + b.metric + " gets worse when it " +
                                  (worse_up ? "rises; write +N" : "falls; write -N"));
    }
    std::erase_if(out, [&](const budget_item& x) { return x.metric == b.metric; });
    out.push_back(b);
  }
  if (out.empty()) throw std::invalid_argument("budget is empty");
  return out;
}

std::string_view verdict_name(comparison_verdict v) {
  switch (v) {
    case comparison_verdict::regression: return "regression";
    case comparison_verdict::within_budget: return "worse, within budget";
    case comparison_verdict::no_change: return "no significant change";
    case comparison_verdict::improvement: return "improvement";
    case comparison_verdict::missing: return "missing";
    case comparison_verdict::changed: return "changed (no direction)";
  }
  return "?";
}

bool comparison::regression() const noexcept {
  return std::any_of(rows.begin(), rows.end(),
                     [](const metric_comparison& r) { return r.verdict == comparison_verdict::regression; });
}

bool comparison::failed() const noexcept { return regression() || (fail_on_missing && !disappeared_steps.empty()); }

void detail::judge_change(metric_comparison& m, const std::vector<double>& vb, const std::vector<double>& vc,
                          bool positive, std::optional<metric_direction> worse_when,
                          const std::function<std::optional<double>(bool ratio)>& single_run_se,
                          std::string_view unknown_noise_note) {
  const budget_item& b = m.budget;
  mean_sd(vb, m.baseline, m.baseline_sd);
  mean_sd(vc, m.current, m.current_sd);
  const auto nb = static_cast<double>(vb.size()), nc = static_cast<double>(vc.size());
  const bool ratio = positive && std::all_of(vb.begin(), vb.end(), [](double v) { return v > 0; }) &&
                     std::all_of(vc.begin(), vc.end(), [](double v) { return v > 0; });
  // Spread on the scale of the interval: coefficients of variation for a ratio (delta method:
  // var ln(mean) ~ cv^2 / n), absolute standard deviations for a difference.
  const double sb = ratio ? m.baseline_sd / m.baseline : m.baseline_sd;
  const double sc = ratio ? m.current_sd / m.current : m.current_sd;
  double se = 0, crit = 1.959964;
  bool noise_known = true;
  if (vb.size() >= 2 && vc.size() >= 2) {  // Welch
    const double qb = sb * sb / nb, qc = sc * sc / nc;
    se = std::sqrt(qb + qc);
    if (se > 0) crit = t_critical_95((qb + qc) * (qb + qc) / (qb * qb / (nb - 1) + qc * qc / (nc - 1)));
  } else if (vb.size() >= 2 || vc.size() >= 2) {  // the repeated side's spread for both
    se = (vb.size() >= 2 ? sb : sc) * std::sqrt(1.0 / nb + 1.0 / nc);
    crit = t_critical_95(std::max(nb, nc) - 1);
  } else if (const std::optional<double> single = single_run_se(ratio)) {  // single runs: within-run noise
    se = *single;
  } else {
    noise_known = false;
  }
  const estimate e = !positive ? difference_estimate(b, m.baseline, m.current, se, crit)
                     : ratio   ? ratio_estimate(b, m.baseline, m.current, se, crit)
                               : absolute_estimate(b, m.baseline, m.current, se, crit);
  m.change = e.change;
  m.ci_low = e.low;
  m.ci_high = e.high;
  const bool visible = std::fabs(m.change) >= resolution(b, m.baseline);
  m.significant = noise_known && visible && (m.ci_low > 0 || m.ci_high < 0);
  auto add_note = [&](std::string_view text) { m.note += (m.note.empty() ? "" : "; ") + std::string(text); };
  m.noise_known = noise_known;
  if (!noise_known) add_note(unknown_noise_note);
  if (!worse_when) {  // no direction is worse: the change is reported, never judged
    m.verdict = visible && (m.significant || !noise_known) ? comparison_verdict::changed
                                                           : comparison_verdict::no_change;
    return;
  }
  const bool worse_up = *worse_when == metric_direction::higher_is_worse;
  const bool worse = visible && (worse_up ? m.change > 0 : m.change < 0);
  const bool beyond_budget = worse_up ? m.change > b.amount : m.change < b.amount;
  const bool better_beyond = worse_up ? m.change < -b.amount : m.change > -b.amount;
  if (!noise_known) {
    // Without a noise estimate the budget alone decides: a gate must still be able to fail.
    m.verdict = beyond_budget ? comparison_verdict::regression : comparison_verdict::no_change;
  } else if (m.significant && worse && beyond_budget) {
    m.verdict = comparison_verdict::regression;
  } else if (m.significant && worse) {
    m.verdict = comparison_verdict::within_budget;
  } else if (m.significant && !worse && better_beyond) {
    m.verdict = comparison_verdict::improvement;
  } else {
    m.verdict = comparison_verdict::no_change;
  }
  if (m.verdict == comparison_verdict::no_change && beyond_budget && noise_known) add_note("beyond budget but within noise");
}

namespace {

// One built-in row: its noise with single runs (binomial or the seconds' spread for the error rate, the block
// bootstrap for the others), then the generic judgement.
void judge_row(metric_comparison& m, const std::vector<double>& vb, const std::vector<double>& vc,
               const detail::within_run_noise* noise_b, const detail::within_run_noise* noise_c,
               const step_result* single_b, const step_result* single_c) {
  const std::string& metric = m.budget.metric;
  auto single_run_se = [&](bool ratio) -> std::optional<double> {
    // One value per side only because the step is missing from the other runs: no noise estimate.
    if (noise_b == nullptr || noise_c == nullptr) return std::nullopt;
    if (metric == "error_rate") {  // binomial, or the seconds' spread when larger
      auto side_se = [](const step_result* s, const detail::within_run_noise* n) {
        const double p = s->error_rate, count = std::max<double>(1.0, static_cast<double>(s->requests));
        // Never below one error in n, so a clean run does not claim zero noise.
        const double binomial = std::sqrt(std::max(p * (1 - p), 1.0 / count) / count);
        return std::max(binomial, n != nullptr && n->error_rate_se ? *n->error_rate_se : 0.0);
      };
      return std::hypot(side_se(single_b, noise_b), side_se(single_c, noise_c));
    }
    auto ib = noise_b->log_se.find(metric), ic = noise_c->log_se.find(metric);
    if (ib == noise_b->log_se.end() || ic == noise_c->log_se.end() || !ratio) return std::nullopt;
    return std::hypot(ib->second, ic->second);
  };
  detail::judge_change(m, vb, vc, positive_scale(metric), direction_of(metric), single_run_se,
                       "noise unknown (no interval histograms)");
}

}  // namespace

comparison compare_runs(std::span<const run_results> baseline, std::span<const run_results> current,
                        const std::vector<budget_item>& budget, const compare_options& options) {
  if (baseline.empty() || current.empty()) throw results_error("compare: a side has no results");
  comparison c;
  c.baseline_runs = baseline.size();
  c.current_runs = current.size();
  c.repeated = baseline.size() >= 2 && current.size() >= 2;
  c.fail_on_missing = options.fail_on_missing;
  c.budget = budget;
  if (c.repeated) {
    c.method = "Welch's t-test on per-run values, 95% confidence interval of the change (ratios on the log scale)";
  } else if (baseline.size() >= 2 || current.size() >= 2) {
    c.method = "t interval using the run-to-run spread of the side with repeated runs (95%, ratios on the log scale)";
  } else {
    c.method = "single runs: 95% interval of within-run sampling noise only (block bootstrap over blocks of "
               "seconds, the block length from the autocorrelation of the per-second series; ratios on the log "
               "scale); run-to-run noise is not measured: repeat each side 3 or more times to rule it out";
  }
  if (baseline.front().scenario != current.front().scenario) {
    c.warnings.push_back("baseline and current ran different scenarios (\"" + baseline.front().scenario +
                         "\" vs \"" + current.front().scenario + "\")");
  }
  for (const auto* side : {&baseline, &current}) {
    for (const auto& r : *side) {
      if (r.saturated) c.warnings.push_back("a run was saturated (" + r.scenario + "): its latency is suspect");
    }
  }

  // Steps: summary first, then every step name seen on either side, in first-seen order.
  std::vector<std::string> steps{std::string(all_requests)};
  for (const auto* side : {&baseline, &current}) {
    for (const auto& r : *side) {
      for (const auto& s : r.steps) {
        if (std::find(steps.begin(), steps.end(), s.name) == steps.end()) steps.push_back(s.name);
      }
    }
  }
  std::vector<std::string> metrics;
  for (const auto& b : budget) metrics.push_back(b.metric);
  const bool single = baseline.size() == 1 && current.size() == 1;

  for (const auto& step : steps) {
    auto values = [&](std::span<const run_results> side, std::string_view metric, size_t& missing) {
      std::vector<double> v;
      for (const auto& r : side) {
        const step_result* s = step_of(r, step);
        if (s == nullptr || (s->requests == 0 && metric != "rps")) {
          ++missing;
          continue;
        }
        v.push_back(metric_value(*s, metric));
      }
      return v;
    };
    auto served = [&](std::span<const run_results> side) {
      return std::any_of(side.begin(), side.end(), [&](const run_results& r) {
        const step_result* s = step_of(r, step);
        return s != nullptr && s->requests > 0;
      });
    };
    const bool disappeared = served(baseline) && !served(current);
    if (disappeared) c.disappeared_steps.push_back(step);
    detail::within_run_noise noise_b, noise_c;
    if (single) {
      noise_b = detail::estimate_within_run_noise(baseline.front(), step, metrics);
      noise_c = detail::estimate_within_run_noise(current.front(), step, metrics);
    }
    for (const auto& b : budget) {
      metric_comparison m;
      m.step = step;
      m.metric = b.metric;
      m.budget = b;
      m.worse = direction_of(b.metric);
      size_t missing_b = 0, missing_c = 0;
      std::vector<double> vb = values(baseline, b.metric, missing_b), vc = values(current, b.metric, missing_c);
      if (vb.empty() || vc.empty()) {
        m.verdict = comparison_verdict::missing;
        m.note = vb.empty() ? "not in baseline" : "not in current";
        c.rows.push_back(std::move(m));
        continue;
      }
      if (missing_b + missing_c > 0) m.note = "step missing from some runs";
      judge_row(m, vb, vc, single ? &noise_b : nullptr, single ? &noise_c : nullptr,
                single ? step_of(baseline.front(), step) : nullptr, single ? step_of(current.front(), step) : nullptr);
      c.rows.push_back(std::move(m));
    }
  }
  detail::compare_custom_metrics(c, baseline, current, budget);
  return c;
}

namespace {

std::string budget_text(const std::vector<budget_item>& budget) {
  std::string s;
  for (const auto& b : budget) {
    if (!s.empty()) s += ", ";
    s += b.metric + ":" + format_change(b, b.amount);
  }
  return s;
}

// A value of a row: built-in rows by their metric, custom rows by their metric's type and unit.
std::string row_value(const metric_comparison& m, double v) {
  if (m.kind.empty()) return format_value(m.metric, v);
  if (m.kind == "trend") return m.is_time ? text::ms(v) : text::num(v, 3);
  if (m.kind == "counter") return text::num(v, 2) + "/s";
  if (m.kind == "rate") return text::percent(v, 2);
  return text::num(v, 3);
}

std::string side_value(const metric_comparison& m, double mean, double sd, size_t runs) {
  std::string s = row_value(m, mean);
  if (runs >= 2) s += " ± " + row_value(m, sd);
  return s;
}

std::string row_budget(const metric_comparison& m) {
  return m.worse ? format_change(m.budget, m.budget.amount) : "—";
}

std::string custom_label(const metric_comparison& m) {
  if (m.kind == "trend" && m.is_time) return metric_label(m.metric);
  return m.metric == "p999" ? "p99.9" : m.metric;
}

std::string worse_text(const metric_comparison& m) {
  if (!m.worse) return "— (" + m.worse_because + ")";
  return std::string(*m.worse == metric_direction::higher_is_worse ? "higher" : "lower") + " (" +
         m.worse_because + ")";
}

std::string verdict_cell(const metric_comparison& r) {
  std::string verdict(verdict_name(r.verdict));
  if (r.verdict == comparison_verdict::regression)
    verdict = "❌ **regression**";
  else if (r.verdict == comparison_verdict::improvement)
    verdict = "✅ improvement";
  else if (r.verdict == comparison_verdict::within_budget)
    verdict = "⚠️ worse, within budget";
  if (!r.note.empty()) verdict += " <small>(" + text::md_cell(r.note) + ")</small>";
  return verdict;
}

}  // namespace

std::string render_comparison_markdown(const comparison& c) {
  size_t regressions = 0, improvements = 0;
  for (const auto& r : c.rows) {
    regressions += r.verdict == comparison_verdict::regression;
    improvements += r.verdict == comparison_verdict::improvement;
  }
  std::string missing_steps;
  for (const auto& step : c.disappeared_steps) missing_steps += (missing_steps.empty() ? "`" : ", `") + text::md_cell(step) + "`";
  std::string md = regressions > 0
                       ? "## ❌ Regression: " + std::to_string(regressions) + " of " + std::to_string(c.rows.size()) +
                             " comparisons worse than the budget\n\n"
                   : c.failed()
                       ? "## ❌ Missing: " + std::to_string(c.disappeared_steps.size()) +
                             " step(s) of the baseline not served by the current runs\n\n"
                       : "## ✅ No regression beyond the budget (" + std::to_string(c.rows.size()) +
                             " comparisons" +
                             (improvements > 0 ? ", " + std::to_string(improvements) + " improved" : "") + ")\n\n";
  if (!c.disappeared_steps.empty()) {
    md += "> **Missing from current:** " + missing_steps +
          (c.fail_on_missing ? " (fails the gate: --fail-on-missing)" : " (use --fail-on-missing to fail the gate)") +
          "\n\n";
  }
  md += "Baseline: " + std::to_string(c.baseline_runs) + (c.baseline_runs == 1 ? " run" : " runs") +
        " · current: " + std::to_string(c.current_runs) + (c.current_runs == 1 ? " run" : " runs") +
        " · budget: `" + budget_text(c.budget) + "`\n\nMethod: " + c.method + "." +
        (c.baseline_runs > 1 || c.current_runs > 1 ? " (± is the run-to-run standard deviation.)" : "") + "\n\n";
  if (!c.repeated) {
    md += "> **Single runs cannot separate a real change from run-to-run noise.** The interval below is the "
          "noise this comparison can rule out; repeat each side 3+ times (`compare DIR DIR`) for a verdict.\n\n";
  }
  for (const auto& w : c.warnings) md += "> **Warning:** " + text::md_cell(w) + "\n\n";
  md += "| step | metric | baseline | current | change | 95% interval | budget | verdict |\n"
        "|---|---|--:|--:|--:|--:|--:|---|\n";
  for (const auto& r : c.rows) {
    if (!r.kind.empty()) continue;
    const std::string verdict = verdict_cell(r);
    if (r.verdict == comparison_verdict::missing) {
      md += "| " + text::md_cell(r.step) + " | " + metric_label(r.metric) + " | | | | | | " + verdict + " |\n";
      continue;
    }
    md += "| " + text::md_cell(r.step) + " | " + metric_label(r.metric) + " | " +
          side_value(r, r.baseline, r.baseline_sd, c.baseline_runs) + " | " +
          side_value(r, r.current, r.current_sd, c.current_runs) + " | " + format_change(r.budget, r.change) + " | " +
          format_change(r.budget, r.ci_low) + " … " + format_change(r.budget, r.ci_high) + " | " +
          format_change(r.budget, r.budget.amount) + " | " + verdict + " |\n";
  }
  if (std::any_of(c.rows.begin(), c.rows.end(), [](const metric_comparison& r) { return !r.kind.empty(); })) {
    md +=
        "\n### Custom metrics\n\nTrends: higher is worse. Counters (per second), rates and gauges: worse in "
        "the "
        "direction a threshold on them in current gives, else the change is reported without a verdict.\n\n"
        "| metric | type | statistic | baseline | current | change | 95% interval | budget | worse when | "
        "verdict |\n|---|---|---|--:|--:|--:|--:|--:|---|---|\n";
    for (const auto& r : c.rows) {
      if (r.kind.empty()) continue;
      md += "| " + text::md_cell(r.step) + " | " + r.kind + " | " + custom_label(r) + " | ";
      if (r.verdict == comparison_verdict::missing) {
        md += "| | | | | " + text::md_cell(worse_text(r)) + " | " + verdict_cell(r) + " |\n";
        continue;
      }
      md += side_value(r, r.baseline, r.baseline_sd, c.baseline_runs) + " | " +
            side_value(r, r.current, r.current_sd, c.current_runs) + " | " +
            format_change(r.budget, r.change) + " | " +
            (r.noise_known ? format_change(r.budget, r.ci_low) + " … " + format_change(r.budget, r.ci_high)
                           : "—") +
            " | " + row_budget(r) + " | " + text::md_cell(worse_text(r)) + " | " + verdict_cell(r) + " |\n";
    }
  }
  return md;
}

std::string render_comparison_junit(const comparison& c) {
  auto missing_fails = [&](const metric_comparison& r) {
    return c.fail_on_missing && r.verdict == comparison_verdict::missing &&
           std::find(c.disappeared_steps.begin(), c.disappeared_steps.end(), r.step) != c.disappeared_steps.end();
  };
  size_t failures = 0;
  for (const auto& r : c.rows) failures += r.verdict == comparison_verdict::regression || missing_fails(r);
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stampede compare\" tests=\"" +
                  std::to_string(c.rows.size()) + "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\">\n";
  x += "  <testsuite name=\"stampede.compare\" tests=\"" + std::to_string(c.rows.size()) + "\" failures=\"" +
       std::to_string(failures) + "\" errors=\"0\" skipped=\"0\" time=\"0\">\n";
  for (const auto& r : c.rows) {
    const std::string name = (r.kind.empty() ? "" : "metric ") + r.step + ": " + r.metric;
    x += "    <testcase classname=\"stampede.compare\" name=\"" + text::xml_escape(name) + "\" time=\"0\"";
    std::string detail = "baseline " + row_value(r, r.baseline) + ", current " + row_value(r, r.current) +
                         ", change " + format_change(r.budget, r.change) + " (95% interval " +
                         format_change(r.budget, r.ci_low) + " to " + format_change(r.budget, r.ci_high) +
                         "), budget " + row_budget(r);
    if (!r.kind.empty()) detail += ", worse when " + worse_text(r);
    if (r.verdict == comparison_verdict::regression) {
      x += ">\n      <failure type=\"regression\" message=\"" + text::xml_escape(detail) + "\"/>\n    </testcase>\n";
    } else if (missing_fails(r)) {
      x += ">\n      <failure type=\"missing\" message=\"" + text::xml_escape("step not served by the current runs") +
           "\"/>\n    </testcase>\n";
    } else if (r.verdict == comparison_verdict::missing) {
      x += ">\n      <skipped message=\"" + text::xml_escape(r.note) + "\"/>\n    </testcase>\n";
    } else {
      x += ">\n      <system-out>" + text::xml_escape(std::string(verdict_name(r.verdict)) + ": " + detail) +
           "</system-out>\n    </testcase>\n";
    }
  }
  x += "  </testsuite>\n</testsuites>\n";
  return x;
}

}  // namespace stampede::reports
