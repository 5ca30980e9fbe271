#include "drill/capacity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <boost/json.hpp>

#include "common/hdr_histogram.h"
#include "results/model.h"

namespace stampede::drill {

namespace json = boost::json;

namespace {

// One --slo term through the k6 threshold grammar (results/thresholds.h): a trend expression on the request
// latency, or "error_rate<x" read as the rate expression "rate<x" on the failed-request rate.
slo_term parse_slo_term(const std::string& term) {
  const bool errors = term.starts_with("error_rate");
  slo_term t;
  t.text = term;
  try {
    t.expression = errors ? results::parse_threshold_expression("rate" + term.substr(10), results::metric_type::rate)
                          : results::parse_threshold_expression(term, results::metric_type::trend);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("--slo: '" + term + "' must look like p(99)<300, avg<100, max<1000 or error_rate<0.01 (" +
                                e.what() + ")");
  }
  const results::aggregation& agg = t.expression.agg;
  if (agg.method == results::aggregation_method::percentile) {
    if (!(agg.percentile > 0)) throw std::invalid_argument("--slo: '" + term + "': percentile must be in (0, 100]");
    t.metric = "p";
    t.percentile = agg.percentile;
  } else if (agg.method == results::aggregation_method::avg || agg.method == results::aggregation_method::max) {
    t.metric = results::to_string(agg);
  } else if (errors) {
    t.metric = "error_rate";
  } else {
    throw std::invalid_argument("--slo: '" + term + "': unknown metric '" + results::to_string(agg) +
                                "' (p(N), avg, max, error_rate)");
  }
  if (t.expression.op != results::comparison::less && t.expression.op != results::comparison::less_equal) {
    throw std::invalid_argument("--slo: '" + term + "': an SLO is a ceiling, written with < or <=");
  }
  t.strict = t.expression.op == results::comparison::less;
  t.bound = t.expression.value;
  if (!(t.bound >= 0)) throw std::invalid_argument("--slo: '" + term + "': the bound must be a number >= 0");
  return t;
}

}  // namespace

std::vector<slo_term> parse_slo(std::string_view text) {
  std::vector<slo_term> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string term;
    for (char c : text.substr(start, comma - start)) {
      if (c != ' ') term += c;
    }
    start = comma + 1;
    if (!term.empty()) out.push_back(parse_slo_term(term));
  }
  if (out.empty()) throw std::invalid_argument("--slo: no terms");
  return out;
}

std::string_view to_string(stage_cause c) noexcept {
  switch (c) {
    case stage_cause::none: return "none";
    case stage_cause::generator_saturated: return "generator_saturated";
    case stage_cause::dropped_iterations: return "dropped_iterations";
    case stage_cause::errors: return "errors";
    case stage_cause::latency: return "latency";
    case stage_cause::throughput: return "throughput";
  }
  return "?";
}

namespace {

std::string format(const char* fmt, auto... args) {
  char text[320];
  std::snprintf(text, sizeof text, fmt, args...);
  return text;
}

// Reads the figures of one stage from its results (through the results model); no verdict yet.
stage_result read_stage(const results::run_results& r, double rate, const stage_plan& plan) {
  stage_result s;
  s.rate = rate;
  s.duration_s = r.duration_s;
  s.stage_s = plan.stage_s > 0 ? plan.stage_s : s.duration_s;
  s.requests = r.summary.requests;
  s.errors = r.summary.errors;
  s.iterations = r.iterations;
  s.throughput = s.duration_s > 0 ? static_cast<double>(s.requests) / s.duration_s : 0;
  s.iterations_per_s = s.duration_s > 0 ? static_cast<double>(s.iterations) / s.duration_s : 0;
  const double offered = rate * s.stage_s;
  s.delivered = offered > 0 ? static_cast<double>(s.iterations) / offered : 0;
  s.error_rate = r.summary.error_rate;
  s.dropped_iterations = r.dropped_iterations;
  s.vus_max = r.vus_max;
  s.vus_cap = plan.vus_cap;
  s.vus_cap_fd_limited = plan.vus_cap_fd_limited;
  s.graceful_stop_s = plan.graceful_stop_s;
  s.saturated = r.saturated;
  s.lag_p99_ms = r.p99_event_loop_lag_ms;
  const results::latency_stats& lat = r.summary.latency;
  s.p50_ms = lat.p50;
  s.p90_ms = lat.p90;
  s.p99_ms = lat.p99;
  s.max_ms = lat.max;
  s.mean_ms = lat.mean;
  s.service_p50_ms = r.summary.uncorrected.p50;
  for (const auto& [kind, count] : r.summary.errors_by_kind) {
    if (count > 0) s.errors_by_kind.emplace_back(kind, count);
  }
  s.histogram = r.summary.histogram;
  for (const auto& scenario : r.scenarios) s.interrupted_iterations += scenario.interrupted_iterations;
  // Mean VUs inside an iteration over the stage's whole seconds; Little's law turns it into the mean
  // iteration time (think time included, which request latency does not show).
  double busy = 0;
  int seconds = 0;
  for (const auto& row : r.timeseries) {
    const auto t = static_cast<double>(row.t);
    s.timeseries.push_back(json::object{{"t", t},
                                        {"requests", static_cast<double>(row.requests)},
                                        {"errors", static_cast<double>(row.errors)},
                                        {"p99_ms", row.p99_ms},
                                        {"vus", static_cast<double>(row.vus)},
                                        {"dropped_iterations", static_cast<double>(row.dropped_iterations)}});
    if (t + 1 <= s.stage_s) {
      busy += static_cast<double>(row.vus);
      ++seconds;
    }
  }
  s.busy_vus = seconds > 0 ? busy / seconds : 0;
  const double started_per_s =
      s.stage_s > 0 ? static_cast<double>(s.iterations + s.interrupted_iterations) / s.stage_s : 0;
  s.iteration_s = started_per_s > 0 ? s.busy_vus / started_per_s : 0;
  return s;
}

}  // namespace

stage_result judge_stage(const json::value& results, double rate, const std::vector<slo_term>& slo,
                         const stage_plan& plan) {
  stage_result s = read_stage(results::parse_results(results), rate, plan);
  std::optional<hdr_histogram> histogram;
  if (!s.histogram.empty()) histogram = hdr_histogram::decode_base64(s.histogram);
  const double offered = rate * s.stage_s;
  const double allowed = std::max(1.0, 0.01 * offered);  // 1% of the arrivals (at least one)
  // Every failing condition, each with its cause; the most fundamental cause is the stage's.
  std::vector<std::pair<stage_cause, std::string>> failures;
  if (static_cast<double>(s.dropped_iterations) > allowed) {
    failures.emplace_back(stage_cause::dropped_iterations,
                          format("dropped iterations: %lld of %.0f arrivals (%.1f%%) found no free VU (%lld of %lld VUs in use)",
                                 static_cast<long long>(s.dropped_iterations), offered,
                                 100.0 * static_cast<double>(s.dropped_iterations) / std::max(1.0, offered),
                                 static_cast<long long>(s.vus_max), static_cast<long long>(s.vus_cap)));
  }
  auto fails = [](double observed, const slo_term& t) { return !results::holds(t.expression, observed); };
  for (const auto& t : slo) {
    double observed = 0;
    if (t.metric == "error_rate") {
      observed = s.error_rate;
    } else if (t.metric == "avg") {
      observed = s.mean_ms;
    } else if (t.metric == "max") {
      observed = s.max_ms;
    } else if (histogram) {
      observed = static_cast<double>(histogram->value_at_percentile(t.percentile)) / 1000.0;
    } else {
      observed = t.percentile >= 99 ? s.p99_ms : s.p50_ms;
    }
    if (fails(observed, t)) {
      const bool errors = t.metric == "error_rate";
      failures.emplace_back(errors ? stage_cause::errors : stage_cause::latency,
                            std::string(errors ? "errors: " : "latency: ") + t.text + format(" (observed %.4g)", observed));
    }
  }
  // Iterations still running graceful_stop_s after the end: stuck at the target, and missing from the
  // latency figures (an interrupted request records nothing).
  if (static_cast<double>(s.interrupted_iterations) > allowed) {
    failures.emplace_back(stage_cause::latency,
                          format("interrupted: %lld iterations still running %.1f s after the stage ended",
                                 static_cast<long long>(s.interrupted_iterations), s.graceful_stop_s));
  }
  // An open model must deliver the offered load: completing far fewer iterations than offered is past the
  // limit whatever the latency of the requests that did complete.
  if (offered > 0 && s.delivered < 0.9) {
    failures.emplace_back(stage_cause::throughput,
                          format("throughput: %.0f of %.0f offered iterations completed (%.0f%%)",
                                 static_cast<double>(s.iterations), offered, 100 * s.delivered));
  }
  // A lagging generator makes a failure unfit to blame on the target when the lag could account for it:
  // when it is not small (a tenth or more) against the stage's p99 and iteration time. A pass stands: the
  // lag only adds to the measured (corrected) latency, and the offered rate was delivered.
  std::string lag_note;
  if (s.saturated && !failures.empty()) {
    if (10 * s.lag_p99_ms >= std::max(s.p99_ms, 1000 * s.iteration_s)) {
      failures.emplace_back(stage_cause::generator_saturated,
                            format("generator saturated (event-loop lag p99 %.1f ms): the figures are not trustworthy", s.lag_p99_ms));
    } else {
      lag_note = format("; the generator lagged too (event-loop lag p99 %.1f ms), too little to explain this", s.lag_p99_ms);
    }
  }
  std::stable_sort(failures.begin(), failures.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [cause, text] : failures) s.failed += (s.failed.empty() ? "" : "; ") + text;
  if (!s.failed.empty()) s.failed += lag_note;
  s.cause = failures.empty() ? stage_cause::none : failures.front().first;
  s.ok = failures.empty();
  return s;
}

namespace {

std::string errors_text(const stage_result& s) {
  std::vector<std::pair<std::string, int64_t>> kinds = s.errors_by_kind;
  std::sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (size_t i = 0; i < kinds.size() && i < 3; ++i) {
    out += (i == 0 ? "" : ", ") + kinds[i].first + " " + std::to_string(kinds[i].second);
  }
  return out.empty() ? out : " (" + out + ")";
}

}  // namespace

limit_diagnosis diagnose_limit(const stage_result& f, const stage_result* low) {
  const double offered = f.rate * f.stage_s;
  const double dropped_pct = 100.0 * static_cast<double>(f.dropped_iterations) / std::max(1.0, offered);
  switch (f.cause) {
    case stage_cause::none: return {};
    case stage_cause::generator_saturated:
      return {"generator", format("the generator saturated at %.1f/s (event-loop lag p99 %.1f ms): its figures are not "
                                  "trustworthy; the sustainable rate is a lower bound (add --threads)",
                                  f.rate, f.lag_p99_ms)};
    case stage_cause::dropped_iterations: {
      if (f.vus_cap_fd_limited) {
        return {"generator", format("%.1f%% of the arrivals at %.1f/s found no free VU, and the stage could have only %lld VUs "
                                    "(RLIMIT_NOFILE): the generator's limit, not the target's; raise the hard limit "
                                    "(ulimit -Hn as root, LimitNOFILE= in systemd)",
                                    dropped_pct, f.rate, static_cast<long long>(f.vus_cap))};
      }
      // Little's law: at the low-load iteration time, how many VUs would this rate need?
      const double needed = low != nullptr ? f.rate * low->iteration_s : 0;
      if (low != nullptr && f.vus_cap > 0 && needed >= 0.8 * static_cast<double>(f.vus_cap)) {
        return {"generator", format("%.1f%% of the arrivals at %.1f/s found no free VU: iterations take %.2f s even at "
                                    "%.1f/s, so %.1f/s needs about %.0f VUs and the stage had %lld (maxVUs): the "
                                    "generator's VU limit, not the target's",
                                    dropped_pct, f.rate, low->iteration_s, low->rate, f.rate, needed,
                                    static_cast<long long>(f.vus_cap))};
      }
      return {"target", format("the target slowed down: iterations took %.3g ms on average at %.1f/s (Little's law: busy VUs "
                               "/ started per second) against %.3g ms at %.1f/s, so all %lld VUs were busy and %lld of %.0f "
                               "arrivals (%.1f%%) were dropped; %lld iterations were still waiting %.1f s after the stage "
                               "(queueing at the target)",
                               1000 * f.iteration_s, f.rate, low != nullptr ? 1000 * low->iteration_s : 0.0,
                               low != nullptr ? low->rate : 0.0,
                               static_cast<long long>(std::max(f.vus_max, f.vus_cap)),
                               static_cast<long long>(f.dropped_iterations), offered, dropped_pct,
                               static_cast<long long>(f.interrupted_iterations), f.graceful_stop_s)};
    }
    case stage_cause::errors:
      return {"target", format("the target failed %.2f%% of the requests at %.1f/s", 100 * f.error_rate, f.rate) +
                            errors_text(f)};
    case stage_cause::latency:
      return {"target", format("latency at %.1f/s with the offered rate delivered: p99 %.4g ms against %.4g ms at %.1f/s "
                               "(queueing at the target); ",
                               f.rate, f.p99_ms, low != nullptr ? low->p99_ms : 0.0, low != nullptr ? low->rate : 0.0) +
                            f.failed};
    case stage_cause::throughput:
      return {"target", format("the target completed only %.0f%% of the %.1f/s offered (%.1f requests/s)",
                               100 * f.delivered, f.rate, f.throughput)};
  }
  return {};
}

recommendation recommend_rate(const std::vector<stage_result>& curve, double sustainable, double headroom) {
  recommendation r;
  if (!(sustainable > 0)) {
    r.rule = "none: no rate met the SLO";
    return r;
  }
  // Per offered rate: passes only if every stage at it passed; its p99 is the worst of them.
  std::map<double, std::pair<bool, double>> rates;
  for (const auto& s : curve) {
    auto [it, fresh] = rates.try_emplace(s.rate, s.ok, s.p99_ms);
    if (!fresh) it->second = {it->second.first && s.ok, std::max(it->second.second, s.p99_ms)};
  }
  bool have_low = false;
  double allowance = 0;
  for (const auto& [rate, v] : rates) {
    if (!v.first || rate > sustainable) continue;
    if (!have_low) {
      have_low = true;
      r.low_load_p99_ms = v.second;
      allowance = std::max(capacity_latency_growth * v.second, v.second + 1.0);  // 1 ms: timer jitter
    }
    if (v.second > allowance) break;  // the latency curve has turned upwards
    r.flat_rate = rate;
  }
  r.headroom_rate = std::floor((1 - headroom) * sustainable * 10) / 10;
  r.rate = have_low ? std::min(r.headroom_rate, r.flat_rate) : r.headroom_rate;
  const std::string flat_text = format("p99 stayed within %gx its low-load %.3g ms (+1 ms jitter) up to %.1f/s",
                                       capacity_latency_growth, r.low_load_p99_ms, r.flat_rate);
  if (r.rate == r.headroom_rate) {
    r.rule = format("%.0f%% of the sustainable %.1f/s (%.0f%% headroom); ", 100 * (1 - headroom), sustainable, 100 * headroom) +
             flat_text;
  } else {
    r.rule = format("the highest passing rate on the flat part of the latency curve (%.0f%% of the sustainable "
                    "%.1f/s would be %.1f/s): ",
                    100 * (1 - headroom), sustainable, r.headroom_rate) +
             flat_text;
  }
  return r;
}

}  // namespace stampede::drill
