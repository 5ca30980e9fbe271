#include "reports/compare.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <random>
#include <stdexcept>

#include "common/hdr_histogram.h"
#include "reports/text_util.h"

namespace stampede::reports {

namespace {

constexpr std::string_view all_requests = "all requests";

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

// Within-run sampling noise of one step's latency statistics: block bootstrap over the per-second interval
// histograms (blocks of whole seconds keep short-range correlation). Returns the standard error per metric;
// empty when the run has no interval histograms for the step.
std::map<std::string, double> bootstrap_latency_se(const run_results& r, std::string_view step,
                                                   const std::vector<std::string>& metrics) {
  std::map<std::string, double> out;
  std::map<int64_t, std::map<int64_t, int64_t>> per_second;  // t -> value -> count
  for (const auto& row : r.intervals) {
    if (step == all_requests) {
      const step_result* s = r.find_step(row.step);
      if (s != nullptr && s->kind == "group") continue;
    } else if (row.step != step) {
      continue;
    }
    auto h = hdr_histogram::decode_base64(row.histogram);
    if (!h) continue;
    auto& bucket = per_second[row.t];
    for (const auto& b : h->nonzero_buckets()) bucket[b.value_to] += b.count;
  }
  if (per_second.size() < 5) return out;
  // Coordinate-compress values; group seconds into at most 300 blocks.
  std::vector<int64_t> values;
  for (const auto& [t, m] : per_second) {
    for (const auto& [v, c] : m) values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  size_t seconds = per_second.size();
  size_t per_block = (seconds + 299) / 300;
  std::vector<std::vector<std::pair<uint32_t, int64_t>>> blocks;
  size_t i = 0;
  for (const auto& [t, m] : per_second) {
    if (i++ % per_block == 0) blocks.emplace_back();
    for (const auto& [v, c] : m) {
      auto idx = static_cast<uint32_t>(std::lower_bound(values.begin(), values.end(), v) - values.begin());
      blocks.back().emplace_back(idx, c);
    }
  }
  constexpr int resamples = 200;
  std::mt19937_64 rng(0x5eed);
  std::uniform_int_distribution<size_t> pick(0, blocks.size() - 1);
  std::map<std::string, std::vector<double>> samples;
  std::vector<int64_t> dense(values.size());
  for (int b = 0; b < resamples; ++b) {
    std::fill(dense.begin(), dense.end(), 0);
    int64_t total = 0;
    for (size_t k = 0; k < blocks.size(); ++k) {
      for (const auto& [idx, c] : blocks[pick(rng)]) {
        dense[idx] += c;
        total += c;
      }
    }
    if (total == 0) continue;
    for (const auto& m : metrics) {
      double v = 0;
      if (m == "mean") {
        double sum = 0;
        for (size_t k = 0; k < dense.size(); ++k) sum += static_cast<double>(dense[k]) * static_cast<double>(values[k]);
        v = sum / static_cast<double>(total);
      } else if (m == "max") {
        for (size_t k = dense.size(); k-- > 0;) {
          if (dense[k] > 0) {
            v = static_cast<double>(values[k]);
            break;
          }
        }
      } else {
        double p = m == "p50" ? 50 : m == "p90" ? 90 : m == "p95" ? 95 : m == "p99" ? 99 : 99.9;
        auto rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(total))));
        int64_t seen = 0;
        for (size_t k = 0; k < dense.size(); ++k) {
          seen += dense[k];
          if (seen >= rank) {
            v = static_cast<double>(values[k]);
            break;
          }
        }
      }
      samples[m].push_back(v / 1000.0);
    }
  }
  for (const auto& [m, s] : samples) {
    double mean = 0, sd = 0;
    if (s.size() >= 2) mean_sd(s, mean, sd);
    out[m] = sd;
  }
  return out;
}

// Within-run standard error of the throughput: per-second request counts of the step.
std::optional<double> rps_se(const run_results& r, std::string_view step) {
  std::vector<double> counts;
  if (step == all_requests) {
    for (const auto& row : r.timeseries) counts.push_back(static_cast<double>(row.requests));
  } else {
    std::map<int64_t, double> per_second;
    for (const auto& row : r.intervals) {
      if (row.step != step) continue;
      auto h = hdr_histogram::decode_base64(row.histogram);
      if (h) per_second[row.t] += static_cast<double>(h->total_count()) / row.interval_s;
    }
    for (const auto& [t, c] : per_second) counts.push_back(c);
  }
  if (counts.size() < 5) return std::nullopt;
  double mean = 0, sd = 0;
  mean_sd(counts, mean, sd);
  return sd / std::sqrt(static_cast<double>(counts.size()));
}

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
  }
  return "?";
}

bool comparison::regression() const noexcept {
  return std::any_of(rows.begin(), rows.end(),
                     [](const metric_comparison& r) { return r.verdict == comparison_verdict::regression; });
}

comparison compare_runs(std::span<const run_results> baseline, std::span<const run_results> current,
                        const std::vector<budget_item>& budget) {
  if (baseline.empty() || current.empty()) throw results_error("compare: a side has no results");
  comparison c;
  c.baseline_runs = baseline.size();
  c.current_runs = current.size();
  c.repeated = baseline.size() >= 2 && current.size() >= 2;
  c.budget = budget;
  if (c.repeated) {
    c.method = "Welch's t-test on per-run values, 95% confidence interval of the difference";
  } else if (baseline.size() >= 2 || current.size() >= 2) {
    c.method = "t interval using the run-to-run spread of the side with repeated runs (95%)";
  } else {
    c.method = "single runs: 95% interval of within-run sampling noise only (block bootstrap over seconds); "
               "run-to-run noise is not measured: repeat each side 3 or more times to rule it out";
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
  std::vector<std::string> latency_metrics;
  for (const auto& b : budget) {
    if (is_latency_metric(b.metric)) latency_metrics.push_back(b.metric);
  }

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
    std::map<std::string, double> boot_b, boot_c;
    bool single = !c.repeated && baseline.size() == 1 && current.size() == 1;
    if (single && !latency_metrics.empty()) {
      boot_b = bootstrap_latency_se(baseline.front(), step, latency_metrics);
      boot_c = bootstrap_latency_se(current.front(), step, latency_metrics);
    }
    for (const auto& b : budget) {
      metric_comparison m;
      m.step = step;
      m.metric = b.metric;
      m.budget = b;
      size_t missing_b = 0, missing_c = 0;
      std::vector<double> vb = values(baseline, b.metric, missing_b), vc = values(current, b.metric, missing_c);
      if (vb.empty() || vc.empty()) {
        m.verdict = comparison_verdict::missing;
        m.note = vb.empty() ? "not in baseline" : "not in current";
        c.rows.push_back(std::move(m));
        continue;
      }
      if (missing_b + missing_c > 0) m.note = "step missing from some runs";
      mean_sd(vb, m.baseline, m.baseline_sd);
      mean_sd(vc, m.current, m.current_sd);
      double delta = m.current - m.baseline;
      double se = 0, tcrit = 1.959964;
      bool noise_known = true;
      if (vb.size() >= 2 && vc.size() >= 2) {
        double qb = m.baseline_sd * m.baseline_sd / static_cast<double>(vb.size());
        double qc = m.current_sd * m.current_sd / static_cast<double>(vc.size());
        se = std::sqrt(qb + qc);
        if (se > 0) {
          double df = (qb + qc) * (qb + qc) /
                      (qb * qb / static_cast<double>(vb.size() - 1) + qc * qc / static_cast<double>(vc.size() - 1));
          tcrit = t_critical_95(df);
        }
      } else if (vb.size() >= 2 || vc.size() >= 2) {
        const auto& multi = vb.size() >= 2 ? vb : vc;
        double sd = vb.size() >= 2 ? m.baseline_sd : m.current_sd;
        se = sd * std::sqrt(1.0 / static_cast<double>(vb.size()) + 1.0 / static_cast<double>(vc.size()));
        tcrit = t_critical_95(static_cast<double>(multi.size() - 1));
      } else {
        // Single runs: within-run sampling noise.
        const step_result* sb = step_of(baseline.front(), step);
        const step_result* sc = step_of(current.front(), step);
        if (is_latency_metric(b.metric)) {
          auto ib = boot_b.find(b.metric), ic = boot_c.find(b.metric);
          if (ib != boot_b.end() && ic != boot_c.end()) {
            se = std::hypot(ib->second, ic->second);
          } else {
            noise_known = false;
          }
        } else if (b.metric == "rps") {
          auto eb = rps_se(baseline.front(), step), ec = rps_se(current.front(), step);
          if (eb && ec) se = std::hypot(*eb, *ec);
          else noise_known = false;
        } else {
          auto binomial = [](const step_result* s) {
            double p = s->error_rate, n = std::max<double>(1.0, static_cast<double>(s->requests));
            // Never below one error in n, so a clean run does not claim zero noise.
            return std::sqrt(std::max(p * (1 - p), 1.0 / n) / n);
          };
          se = std::hypot(binomial(sb), binomial(sc));
        }
      }
      m.change = to_unit(b, m.baseline, delta);
      m.ci_low = to_unit(b, m.baseline, delta - tcrit * se);
      m.ci_high = to_unit(b, m.baseline, delta + tcrit * se);
      bool worse_up = direction_of(b.metric) == metric_direction::higher_is_worse;
      m.significant = noise_known && (m.ci_low > 0 || m.ci_high < 0);
      bool worse = worse_up ? m.change > 0 : m.change < 0;
      bool beyond_budget = worse_up ? m.change > b.amount : m.change < b.amount;
      bool better_beyond = worse_up ? m.change < -b.amount : m.change > -b.amount;
      if (!noise_known) {
        m.note += (m.note.empty() ? "" : "; ") + std::string("noise unknown (no interval histograms)");
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
      if (m.verdict == comparison_verdict::no_change && beyond_budget && noise_known) {
        m.note += (m.note.empty() ? "" : "; ") + std::string("beyond budget but within noise");
      }
      c.rows.push_back(std::move(m));
    }
  }
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

std::string side_value(const metric_comparison& m, double mean, double sd, size_t runs) {
  std::string s = format_value(m.metric, mean);
  if (runs >= 2) s += " ± " + format_value(m.metric, sd);
  return s;
}

}  // namespace

std::string render_comparison_markdown(const comparison& c) {
  size_t regressions = 0, improvements = 0;
  for (const auto& r : c.rows) {
    regressions += r.verdict == comparison_verdict::regression;
    improvements += r.verdict == comparison_verdict::improvement;
  }
  std::string md = regressions > 0
                       ? "## ❌ Regression: " + std::to_string(regressions) + " of " + std::to_string(c.rows.size()) +
                             " comparisons worse than the budget\n\n"
                       : "## ✅ No regression beyond the budget (" + std::to_string(c.rows.size()) +
                             " comparisons" +
                             (improvements > 0 ? ", " + std::to_string(improvements) + " improved" : "") + ")\n\n";
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
    std::string verdict(verdict_name(r.verdict));
    if (r.verdict == comparison_verdict::regression) verdict = "❌ **regression**";
    else if (r.verdict == comparison_verdict::improvement) verdict = "✅ improvement";
    else if (r.verdict == comparison_verdict::within_budget) verdict = "⚠️ worse, within budget";
    if (!r.note.empty()) verdict += " <small>(" + text::md_cell(r.note) + ")</small>";
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
  return md;
}

std::string render_comparison_junit(const comparison& c) {
  size_t failures = 0;
  for (const auto& r : c.rows) failures += r.verdict == comparison_verdict::regression;
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"stampede compare\" tests=\"" +
                  std::to_string(c.rows.size()) + "\" failures=\"" + std::to_string(failures) + "\" errors=\"0\">\n";
  x += "  <testsuite name=\"stampede.compare\" tests=\"" + std::to_string(c.rows.size()) + "\" failures=\"" +
       std::to_string(failures) + "\" errors=\"0\" skipped=\"0\" time=\"0\">\n";
  for (const auto& r : c.rows) {
    x += "    <testcase classname=\"stampede.compare\" name=\"" + text::xml_escape(r.step + ": " + r.metric) +
         "\" time=\"0\"";
    std::string detail = "baseline " + format_value(r.metric, r.baseline) + ", current " +
                         format_value(r.metric, r.current) + ", change " + format_change(r.budget, r.change) +
                         " (95% interval " + format_change(r.budget, r.ci_low) + " to " +
                         format_change(r.budget, r.ci_high) + "), budget " + format_change(r.budget, r.budget.amount);
    if (r.verdict == comparison_verdict::regression) {
      x += ">\n      <failure type=\"regression\" message=\"" + text::xml_escape(detail) + "\"/>\n    </testcase>\n";
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
