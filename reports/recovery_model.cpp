#include "reports/recovery_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/hdr_histogram.h"
#include "reports/analysis.h"
#include "reports/text_util.h"

namespace stampede::reports::recovery_model {

// ---------------------------------------------------------------------------------------------- statistics

double binomial_upper_tail(int64_t k, int64_t n, double p) {
  if (k <= 0) return 1.0;
  if (k > n || p <= 0) return 0.0;
  if (p >= 1) return 1.0;
  const double nn = static_cast<double>(n);
  auto pmf = [&](int64_t i) {
    const double x = static_cast<double>(i);
    return std::exp(std::lgamma(nn + 1) - std::lgamma(x + 1) - std::lgamma(nn - x + 1) + x * std::log(p) +
                    (nn - x) * std::log1p(-p));
  };
  const double odds = p / (1 - p);
  if (static_cast<double>(k) > nn * p) {  // beyond the mean the terms fall: sum upwards
    double term = pmf(k), sum = 0;
    for (int64_t i = k; i <= n && term > 0; ++i) {
      sum += term;
      if (term < sum * 1e-17) break;
      term *= static_cast<double>(n - i) / static_cast<double>(i + 1) * odds;
    }
    return std::min(1.0, sum);
  }
  double term = pmf(k - 1), below = 0;  // 1 - P(X <= k - 1), summing downwards from k - 1
  for (int64_t i = k - 1; i >= 0 && term > 0; --i) {
    below += term;
    if (term < below * 1e-17) break;
    term *= static_cast<double>(i) / (static_cast<double>(n - i + 1) * odds);
  }
  return std::clamp(1.0 - below, 0.0, 1.0);
}

double poisson_lower_tail(int64_t k, double lambda) {
  if (k < 0) return 0.0;
  if (lambda <= 0) return 1.0;
  auto pmf = [&](int64_t i) {
    const double x = static_cast<double>(i);
    return std::exp(-lambda + x * std::log(lambda) - std::lgamma(x + 1));
  };
  if (static_cast<double>(k) < lambda) {  // below the mean the terms fall going down
    double term = pmf(k), sum = 0;
    for (int64_t i = k; i >= 0 && term > 0; --i) {
      sum += term;
      if (term < sum * 1e-17) break;
      term *= static_cast<double>(i) / lambda;
    }
    return std::min(1.0, sum);
  }
  double term = pmf(k + 1), above = 0;
  for (int64_t i = k + 1; term > 0; ++i) {
    above += term;
    if (term < above * 1e-17) break;
    term *= lambda / static_cast<double>(i + 1);
  }
  return std::clamp(1.0 - above, 0.0, 1.0);
}

double normal_quantile(double p) {
  // Acklam's algorithm: a rational approximation in the centre and in each tail.
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01, -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  p = std::clamp(p, 1e-300, 1 - 1e-16);
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  };
  if (p < 0.02425) return tail(std::sqrt(-2 * std::log(p)));
  if (p > 1 - 0.02425) return -tail(std::sqrt(-2 * std::log1p(-p)));
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2 == 1) return upper;
  return (upper + *std::max_element(v.begin(), v.begin() + static_cast<long>(mid))) / 2;
}

// 1.4826 x median absolute deviation: the standard deviation for normal data, robust to outliers.
double robust_spread(const std::vector<double>& v) {
  const double m = median(v);
  std::vector<double> dev;
  dev.reserve(v.size());
  for (double x : v) dev.push_back(std::fabs(x - m));
  return 1.4826 * median(std::move(dev));
}

// ---------------------------------------------------------------------------------------------- planned load

// ∫ f over [a, b] for a piecewise-linear curve that is 0 outside its points.
double integrate(const std::vector<std::pair<double, double>>& points, double a, double b) {
  double sum = 0;
  for (size_t i = 0; i + 1 < points.size(); ++i) {
    // Plain names, not structured bindings: clang 14 (the fuzz build) cannot capture those in a lambda.
    const double t0 = points[i].first, v0 = points[i].second;
    const double t1 = points[i + 1].first, v1 = points[i + 1].second;
    const double lo = std::max(a, t0), hi = std::min(b, t1);
    if (hi <= lo || t1 <= t0) continue;
    auto at = [&](double t) { return v0 + (v1 - v0) * (t - t0) / (t1 - t0); };
    sum += (at(lo) + at(hi)) / 2 * (hi - lo);
  }
  return sum;
}

struct plan {
  const run_results* r = nullptr;
  std::vector<double> start, end;  // per scenario: when it runs ([start, end), end inferred for spikes)
  std::vector<std::vector<std::pair<double, double>>> curves;

  // Level of scenario i averaged over second t, or nullopt when the scenario starts or ends inside it.
  std::optional<double> level(size_t i, int64_t t) const {
    const double a = static_cast<double>(t), b = a + 1;
    constexpr double eps = 1e-6;
    if (end[i] <= a + eps || start[i] >= b - eps) return 0.0;  // not running in this second
    if (start[i] > a + eps || end[i] < b - eps) return std::nullopt;
    return curves[i].empty() ? 1.0 : integrate(curves[i], a, b);
  }

  // The planned levels of every scenario in second t; false when one starts or ends inside it.
  bool levels(int64_t t, std::vector<double>& out) const {
    out.assign(start.size(), 0);
    for (size_t i = 0; i < start.size(); ++i) {
      const auto l = level(i, t);
      if (!l) return false;
      out[i] = *l;
    }
    return true;
  }

  // Empty when second t's levels are within `tolerance` of `ref`, else the first difference, in words.
  std::string difference(int64_t t, const std::vector<double>& ref, double tolerance) const {
    std::vector<double> now;
    const auto& sc = r->scenarios;
    if (!levels(t, now)) {
      for (size_t i = 0; i < start.size(); ++i) {
        if (!level(i, t)) return "planned load change: scenario '" + sc[i].name + "' starts or ends";
      }
    }
    for (size_t i = 0; i < now.size() && i < ref.size(); ++i) {
      if (ref[i] <= 1e-9 && now[i] > 1e-9)
        return "planned load change: scenario '" + sc[i].name + "' running";
      if (ref[i] > 1e-9 && now[i] <= 1e-9)
        return "planned load change: scenario '" + sc[i].name + "' not running";
      if (ref[i] > 1e-9 && std::fabs(now[i] - ref[i]) > tolerance * ref[i] + 1e-9) {
        return "planned load change: scenario '" + sc[i].name + "' at " + text::num(now[i], 1) + " " +
               (sc[i].unit == "arrivals_per_s" ? "arrivals/s" : "VUs") + " (baseline " +
               text::num(ref[i], 1) + ")";
      }
    }
    return {};
  }

  double scheduled(int64_t t) const {
    double sum = 0;
    const double a = static_cast<double>(t);
    for (size_t i = 0; i < start.size(); ++i) {
      if (r->scenarios[i].unit != "arrivals_per_s") continue;
      sum += integrate(curves[i], std::max(a, start[i]), std::min(a + 1, end[i]));
    }
    return sum / static_cast<double>(std::max<int64_t>(1, r->shard_count));
  }
};

// The timeseries rows in time order (one per second; a repeated second keeps its first row).
using row_list = std::vector<const timeseries_row*>;

row_list sorted_rows(const run_results& r) {
  row_list rows;
  rows.reserve(r.timeseries.size());
  for (const auto& row : r.timeseries) rows.push_back(&row);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) { return a->t < b->t; });
  rows.erase(std::unique(rows.begin(), rows.end(), [](const auto* a, const auto* b) { return a->t == b->t; }),
             rows.end());
  return rows;
}

// A scenario that ends when its iterations are done (a spike of buyers) runs from its start until the VU
// count the generator reported falls back to what it was before it started (within 10% of its VUs).
double inferred_end(const run_results& r, const scenario_plan& s, const row_list& rows) {
  const int64_t start_t = second_floor(s.start_s);
  std::vector<double> before;
  for (const timeseries_row* row : rows) {
    if (row->t >= 1 && row->t < start_t) before.push_back(static_cast<double>(row->vus));
  }
  const double vus = s.points.empty()
                         ? 1
                         : s.points.front().second / static_cast<double>(std::max<int64_t>(1, r.shard_count));
  const double floor_level = median(before) + std::max(1.0, 0.1 * vus);
  for (const timeseries_row* row : rows) {
    if (row->t >= start_t && static_cast<double>(row->t) >= s.start_s &&
        static_cast<double>(row->vus) <= floor_level) {
      return std::min(s.end_s, static_cast<double>(row->t + 1));
    }
  }
  return s.end_s;
}

plan make_plan(const run_results& r, const row_list& rows) {
  plan p;
  p.r = &r;
  for (const auto& s : r.scenarios) {
    p.start.push_back(s.start_s);
    p.end.push_back(s.when_done ? inferred_end(r, s, rows) : s.end_s);
    p.curves.push_back(s.points);
  }
  return p;
}

// ---------------------------------------------------------------------------------------------- histograms

// Interval rows of request steps (groups nest requests and would count them twice), by second.
std::map<int64_t, std::vector<size_t>> request_intervals(const run_results& r) {
  std::map<int64_t, std::vector<size_t>> by_second;
  for (size_t i = 0; i < r.intervals.size(); ++i) {
    const step_result* s = r.find_step(r.intervals[i].step);
    if (s != nullptr && s->kind == "group") continue;
    by_second[r.intervals[i].t].push_back(i);
  }
  return by_second;
}

void add_second(const run_results& r, const std::map<int64_t, std::vector<size_t>>& index, int64_t t,
                hdr_histogram& into) {
  auto it = index.find(t);
  if (it == index.end()) return;
  for (size_t i : it->second) {
    if (auto h = hdr_histogram::decode_base64(r.intervals[i].histogram)) into.add(*h);
  }
}

int64_t count_above(const hdr_histogram& h, double bound_ms) {
  if (h.total_count() == 0) return 0;
  const auto bound_us = static_cast<int64_t>(std::llround(bound_ms * 1000.0));
  return static_cast<int64_t>(
      std::llround(static_cast<double>(h.total_count()) * (1.0 - h.fraction_at_or_below(bound_us))));
}

// ---------------------------------------------------------------------------------------------- baseline

struct context {
  const run_results& r;
  const recovery_tolerances& tol;
  row_list rows;
  std::map<int64_t, std::vector<size_t>> intervals;
  plan p;
  int64_t full_end = 0;  // seconds [0, full_end) are whole seconds of the run
};

baseline measure_baseline(context& c, double first_fault_s) {
  baseline b;
  const int64_t fault_t = second_floor(first_fault_s);
  std::set<int64_t> warm_up;  // each scenario's first second
  for (const auto& s : c.r.scenarios) warm_up.insert(std::max<int64_t>(0, second_floor(s.start_s)));
  // The reference: the planned load of the last whole second before the fault; then the most recent
  // seconds at that load (rows in reverse time order).
  std::optional<int64_t> ref_t;
  std::vector<int64_t> used;
  std::vector<const timeseries_row*> used_rows;
  for (auto it = c.rows.rbegin(); it != c.rows.rend(); ++it) {
    const int64_t t = (*it)->t;
    if (t >= std::min(fault_t, c.full_end) || t < 0) continue;
    if (!ref_t) {
      if (!c.p.levels(t, b.levels)) continue;
      ref_t = t;
    }
    if (static_cast<int64_t>(used.size()) >= c.tol.baseline_max_s) break;
    if (warm_up.contains(t) || !c.p.difference(t, b.levels, c.tol.load_change_max).empty()) continue;
    used.push_back(t);
    used_rows.push_back(*it);
  }
  if (!ref_t) {
    b.reason = "no whole second of load before the first fault (at " + text::num(first_fault_s, 1) + " s)";
    return b;
  }
  std::reverse(used.begin(), used.end());
  b.seconds = static_cast<int64_t>(used.size());
  if (b.seconds < c.tol.baseline_min_s) {
    b.reason = "only " + std::to_string(b.seconds) + " comparable second" + (b.seconds == 1 ? "" : "s") +
               " before the first fault (at " + text::num(first_fault_s, 1) + " s); " +
               std::to_string(c.tol.baseline_min_s) + " needed";
    return b;
  }
  b.available = true;
  b.from_t = used.front();
  b.to_t = used.back() + 1;
  std::vector<double> counts, p99s;
  hdr_histogram pooled;
  double scheduled = 0;
  int64_t dropped = 0;
  for (const timeseries_row* r : used_rows) {
    const timeseries_row& row = *r;
    const int64_t t = row.t;
    counts.push_back(static_cast<double>(row.requests));
    p99s.push_back(row.p99_ms);
    b.requests += row.requests;
    b.errors += row.errors;
    dropped += row.dropped_iterations;
    scheduled += c.p.scheduled(t);
    add_second(c.r, c.intervals, t, pooled);
  }
  b.requests_median = median(counts);
  b.requests_spread = robust_spread(counts);
  b.error_rate = b.requests > 0 ? static_cast<double>(b.errors) / static_cast<double>(b.requests) : 0;
  b.error_rate_smoothed = (static_cast<double>(b.errors) + 1) / (static_cast<double>(b.requests) + 2);
  b.p99_spread_ms = robust_spread(p99s);
  b.has_histograms = pooled.total_count() > 0;
  b.p99_ms = b.has_histograms ? static_cast<double>(pooled.value_at_percentile(99)) / 1000.0 : median(p99s);
  b.slow_bound_ms = std::max(*b.p99_ms * c.tol.p99_max_ratio, *b.p99_ms + c.tol.p99_min_slack_ms);
  if (b.has_histograms) {
    b.slow_fraction = (static_cast<double>(count_above(pooled, b.slow_bound_ms)) + 1) /
                      (static_cast<double>(pooled.total_count()) + 2);
  }
  b.scheduled_per_s = scheduled / static_cast<double>(used.size());
  if (scheduled > 0) b.dropped_fraction = (static_cast<double>(dropped) + 1) / (scheduled + 2);
  return b;
}

// ---------------------------------------------------------------------------------------------- judgement

unsigned judge(const second& s, const baseline& b, const recovery_tolerances& tol) {
  const double alpha = 1 - tol.confidence;
  unsigned bad = 0;
  if (errors_significant(s.errors, s.requests, b, tol)) bad |= sig_errors;
  if (s.slow) {
    const bool over_p99 = static_cast<double>(*s.slow) > 0.01 * static_cast<double>(s.requests);
    if (over_p99 && binomial_upper_tail(*s.slow, s.requests, b.slow_fraction) < alpha) bad |= sig_latency;
  } else if (!b.has_histograms && b.p99_ms) {
    const double z = normal_quantile(tol.confidence);
    if (s.requests > 0 && s.p99_ms > std::max(b.slow_bound_ms, *b.p99_ms + z * b.p99_spread_ms))
      bad |= sig_latency;
  }
  const double m = b.requests_median;
  if (static_cast<double>(s.requests) <= (1 - tol.throughput_min_drop) * m) {
    const double spread = b.requests_spread;
    const bool significant =
        spread * spread <= m ? poisson_lower_tail(s.requests, m) < alpha
                             : static_cast<double>(s.requests) < m - normal_quantile(tol.confidence) * spread;
    if (significant) bad |= sig_throughput;
  }
  if (b.scheduled_per_s > 0 && s.scheduled > 0) {
    const auto planned = static_cast<int64_t>(std::llround(s.scheduled));
    if (s.dropped >= 1 && static_cast<double>(s.dropped) >= tol.throughput_min_drop * s.scheduled &&
        binomial_upper_tail(s.dropped, std::max(planned, s.dropped), b.dropped_fraction) < alpha) {
      bad |= sig_dropped;
    }
  }
  return bad;
}

}  // namespace

bool errors_significant(int64_t errors, int64_t requests, const baseline& b, const recovery_tolerances& t) {
  if (requests <= 0 || errors <= 0) return false;
  const double rate = static_cast<double>(errors) / static_cast<double>(requests);
  return rate >= b.error_rate + t.error_rate_min_increase &&
         binomial_upper_tail(errors, requests, b.error_rate_smoothed) < 1 - t.confidence;
}

hdr_histogram pooled_histogram(const run_results& r, const timeline& tl, const std::vector<int64_t>& ts) {
  hdr_histogram pooled;
  for (int64_t t : ts) add_second(r, tl.intervals, t, pooled);
  return pooled;
}

timeline build_timeline(const run_results& r, double first_fault_s) {
  timeline tl;
  tl.tolerances = r.recovery_options;
  context c{r, tl.tolerances, sorted_rows(r), request_intervals(r), {}, 0};
  tl.rows_end = c.rows.empty() ? 0 : c.rows.back()->t + 1;
  // The last second is partial when the load ended inside it (its few requests are not a throughput).
  c.full_end = r.duration_s > 0 ? std::min(tl.rows_end, second_floor(r.duration_s + 1e-6)) : tl.rows_end;
  c.p = make_plan(r, c.rows);
  tl.end_t = c.full_end;
  tl.base = measure_baseline(c, first_fault_s);
  const int64_t fault_t = second_floor(first_fault_s);
  tl.seconds.reserve(c.rows.size());
  tl.intervals = std::move(c.intervals);
  for (const timeseries_row* row : c.rows) {
    second& s = tl.seconds.emplace_back();
    s.t = row->t;
    s.present = true;
    s.requests = row->requests;
    s.errors = row->errors;
    s.dropped = row->dropped_iterations;
    s.p99_ms = row->p99_ms;
    for (const auto& [kind, n] : row->errors_by_kind) {
      if (kind != "check_failed" && n > 0) s.error_kinds.emplace_back(kind, n);
    }
    s.scheduled = c.p.scheduled(s.t);
    if (s.t < fault_t) {
      s.excluded = "before the first fault";
    } else if (!tl.base.available) {
      s.excluded = "no baseline";
    } else if (s.t >= c.full_end) {
      s.excluded = "partial second (the load ended inside it)";
    } else {
      s.excluded = c.p.difference(s.t, tl.base.levels, tl.tolerances.load_change_max);
    }
    if (!s.excluded.empty()) continue;
    s.judged = true;
    if (tl.base.has_histograms) {
      hdr_histogram h;
      add_second(r, tl.intervals, s.t, h);
      if (h.total_count() > 0) s.p99_ms = static_cast<double>(h.value_at_percentile(99)) / 1000.0;
      s.slow = count_above(h, tl.base.slow_bound_ms);
    }
    s.unhealthy = judge(s, tl.base, tl.tolerances);
  }
  return tl;
}

int64_t second_floor(double s) { return static_cast<int64_t>(std::floor(std::clamp(s, -1.0, 2e7))); }
int64_t second_ceil(double s) { return static_cast<int64_t>(std::ceil(std::clamp(s, -1.0, 2e7))); }

const second* timeline::at(int64_t t) const {
  auto it =
      std::lower_bound(seconds.begin(), seconds.end(), t, [](const second& s, int64_t v) { return s.t < v; });
  return it != seconds.end() && it->t == t ? &*it : nullptr;
}

std::span<const second> timeline::range(int64_t from, int64_t to) const {
  auto lo = std::lower_bound(seconds.begin(), seconds.end(), from,
                             [](const second& s, int64_t v) { return s.t < v; });
  auto hi = std::lower_bound(lo, seconds.end(), to, [](const second& s, int64_t v) { return s.t < v; });
  return {lo, hi};
}

}  // namespace stampede::reports::recovery_model
