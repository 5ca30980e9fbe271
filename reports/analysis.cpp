#include "reports/analysis.h"

#include <algorithm>
#include <cmath>

namespace stampede::reports {

hdr_histogram decode_histogram(std::string_view base64, std::string_view what) {
  if (base64.empty()) throw results_error(std::string(what) + ": histogram is missing");
  auto h = hdr_histogram::decode_base64(base64);
  if (!h) throw results_error(std::string(what) + ": histogram is not a valid HdrHistogram encoding");
  return std::move(*h);
}

hdr_histogram merge_intervals(const run_results& r, std::string_view step, int64_t from_t, int64_t to_t,
                              int* skipped) {
  hdr_histogram total;
  // Which steps count as "all requests": request-kind steps (groups nest requests and would double count).
  auto is_request_step = [&](std::string_view name) {
    const step_result* s = r.find_step(name);
    return s == nullptr || s->kind != "group";
  };
  for (const auto& row : r.intervals) {
    if (row.t < from_t || row.t >= to_t) continue;
    if (step.empty() ? !is_request_step(row.step) : row.step != step) continue;
    auto h = hdr_histogram::decode_base64(row.histogram);
    if (!h) {
      if (skipped != nullptr) ++*skipped;
      continue;
    }
    total.add(*h);
  }
  return total;
}

namespace {

struct baseline {
  double rps = 0;
  double success = 1;
  double p99_ms = 0;
};

bool healthy(const timeseries_row& row, const baseline& b) {
  if (row.requests <= 0) return false;
  double success = 1.0 - static_cast<double>(row.errors) / static_cast<double>(row.requests);
  double p99_bound = std::max(1.5 * b.p99_ms, b.p99_ms + 1.0);
  return static_cast<double>(row.requests) >= 0.9 * b.rps && success >= b.success - 0.01 &&
         row.p99_ms <= p99_bound;
}

double p99_of(const run_results& r, int64_t from_t, int64_t to_t) {
  if (to_t <= from_t) return 0;
  hdr_histogram h = merge_intervals(r, "", from_t, to_t);
  return static_cast<double>(h.value_at_percentile(99.0)) / 1000.0;
}

}  // namespace

std::vector<recovery_figures> compute_recovery(const run_results& r) {
  std::vector<recovery_figures> out;
  if (r.chaos.empty()) return out;
  double first_start = r.chaos.front().start_s;
  for (const auto& f : r.chaos) first_start = std::min(first_start, f.start_s);

  // Baseline: up to 60 s immediately before the first fault.
  baseline b;
  int64_t base_from = std::max<int64_t>(0, static_cast<int64_t>(std::floor(first_start)) - 60);
  int64_t base_to = static_cast<int64_t>(std::floor(first_start));
  int64_t base_rows = 0, base_requests = 0, base_errors = 0;
  std::vector<double> base_p99;
  for (const auto& row : r.timeseries) {
    if (row.t >= base_from && row.t < base_to) {
      ++base_rows;
      base_requests += row.requests;
      base_errors += row.errors;
      base_p99.push_back(row.p99_ms);
    }
  }
  bool have_baseline = base_rows >= 3 && base_requests > 0;
  if (have_baseline) {
    b.rps = static_cast<double>(base_requests) / static_cast<double>(base_rows);
    b.success = 1.0 - static_cast<double>(base_errors) / static_cast<double>(base_requests);
    b.p99_ms = p99_of(r, base_from, base_to);
    if (b.p99_ms <= 0) {  // no interval histograms: median of the per-second p99s
      std::nth_element(base_p99.begin(), base_p99.begin() + static_cast<long>(base_p99.size() / 2), base_p99.end());
      b.p99_ms = base_p99[base_p99.size() / 2];
    }
  }
  int64_t run_end = r.timeseries.empty() ? 0 : r.timeseries.back().t + 1;

  for (const auto& f : r.chaos) {
    recovery_figures fig;
    fig.label = f.label;
    fig.start_s = f.start_s;
    fig.end_s = f.end_s;
    fig.baseline_available = have_baseline;
    fig.p99_baseline_ms = b.p99_ms;
    int64_t start_t = static_cast<int64_t>(std::floor(f.start_s));
    int64_t end_t = f.end_s ? static_cast<int64_t>(std::ceil(*f.end_s)) : run_end;
    std::optional<int64_t> recovered_t;

    if (have_baseline) {
      for (const auto& row : r.timeseries) {
        if (row.t >= start_t && row.t < end_t && !healthy(row, b)) {
          fig.time_to_detect_s = std::max(0.0, static_cast<double>(row.t) - f.start_s);
          break;
        }
      }
      if (f.end_s) {
        int64_t run = 0;
        int64_t prev_t = -2;
        for (const auto& row : r.timeseries) {
          if (row.t < end_t) continue;
          if (healthy(row, b) && (run == 0 || row.t == prev_t + 1)) {
            ++run;
          } else {
            run = healthy(row, b) ? 1 : 0;
          }
          prev_t = row.t;
          if (run == recovery_consecutive_seconds) {
            recovered_t = row.t - recovery_consecutive_seconds + 1;
            break;
          }
        }
        if (recovered_t) fig.time_to_recover_s = std::max(0.0, static_cast<double>(*recovered_t) - *f.end_s);
      }
    }
    if (f.end_s) {
      for (const auto& row : r.timeseries) {
        if (row.t >= static_cast<int64_t>(std::floor(*f.end_s)) && row.requests > row.errors) {
          fig.time_to_first_success_s = std::max(0.0, static_cast<double>(row.t) - *f.end_s);
          break;
        }
      }
    }
    int64_t window_end = recovered_t ? *recovered_t : run_end;
    for (const auto& row : r.timeseries) {
      if (row.t < start_t || row.t >= window_end) continue;
      fig.errors_during += row.errors;
      if (have_baseline && !healthy(row, b)) ++fig.degraded_seconds;
    }
    fig.p99_during_ms = p99_of(r, start_t, std::max(end_t, start_t + 1));
    int64_t after_from = recovered_t ? *recovered_t : end_t;
    fig.p99_after_ms = p99_of(r, after_from, std::min(run_end, after_from + 60));
    out.push_back(std::move(fig));
  }
  return out;
}

verdict run_verdict(const run_results& r) {
  return (r.thresholds_ok() && r.invariants_ok() && !r.aborted) ? verdict::pass : verdict::fail;
}

std::string verdict_text(const run_results& r) {
  size_t crossed = 0, violated = 0, known = 0;
  for (const auto& t : r.thresholds) crossed += t.ok ? 0 : 1;
  for (const auto& i : r.invariants) {
    if (i.ok.has_value()) ++known;
    if (i.ok.has_value() && !*i.ok) ++violated;
  }
  std::string text = run_verdict(r) == verdict::pass ? "PASS" : "FAIL";
  std::vector<std::string> parts;
  if (!r.thresholds.empty()) {
    parts.push_back(crossed == 0 ? std::to_string(r.thresholds.size()) + " of " +
                                       std::to_string(r.thresholds.size()) + " thresholds passed"
                                 : std::to_string(crossed) + " of " + std::to_string(r.thresholds.size()) +
                                       (r.thresholds.size() == 1 ? " threshold crossed" : " thresholds crossed"));
  } else {
    parts.emplace_back("no thresholds");
  }
  if (r.has_verify) {
    if (violated > 0) {
      parts.push_back(std::to_string(violated) + " of " + std::to_string(r.invariants.size()) +
                      (violated == 1 ? " invariant violated" : " invariants violated"));
    } else if (r.verify_ok.has_value() && !*r.verify_ok) {
      parts.emplace_back("verification failed");
    } else {
      parts.push_back(std::to_string(known) + " of " + std::to_string(r.invariants.size()) + " invariants held");
    }
  }
  if (r.aborted) parts.push_back("aborted (" + *r.aborted + ")");
  for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? ": " : "; ") + parts[i];
  return text;
}

}  // namespace stampede::reports
