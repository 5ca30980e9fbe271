// The search of `stampede capacity`: stages, the verdict, the output files (see capacity.h).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <boost/json.hpp>

#include "common/limits.h"
#include "drill/capacity.h"
#include "loadgen/run.h"
#include "results/model.h"

namespace stampede::drill {

namespace json = boost::json;

namespace {

// stdout to /dev/null while a stage prints its k6-like summary; restored on scope exit.
class stdout_silencer {
 public:
  stdout_silencer() {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved_ >= 0 && null_fd >= 0) ::dup2(null_fd, STDOUT_FILENO);
    if (null_fd >= 0) ::close(null_fd);
  }
  ~stdout_silencer() {
    std::fflush(stdout);
    if (saved_ >= 0) {
      ::dup2(saved_, STDOUT_FILENO);
      ::close(saved_);
    }
  }
  stdout_silencer(const stdout_silencer&) = delete;
  stdout_silencer& operator=(const stdout_silencer&) = delete;

 private:
  int saved_ = -1;
};

// Empty when `path` can be written, else why not. Checked before the search so that a typo in --out does
// not cost the whole search (the file is not created or truncated here).
std::string output_problem(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return path + " is a directory";
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(parent, ec)) return "directory " + parent.string() + " does not exist";
  if (::access(parent.c_str(), W_OK) != 0) return parent.string() + ": " + std::strerror(errno);
  if (fs::exists(p, ec) && ::access(p.c_str(), W_OK) != 0) return path + ": " + std::strerror(errno);
  return {};
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) std::fprintf(stderr, "stampede capacity: cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

json::object stage_json(const stage_result& s) {
  json::object errors;
  for (const auto& [kind, n] : s.errors_by_kind) errors[kind] = n;
  return {{"rate", s.rate},
          {"stage_s", s.stage_s},
          {"duration_s", s.duration_s},
          {"throughput_rps", s.throughput},
          {"iterations_per_s", s.iterations_per_s},
          {"delivered", s.delivered},
          {"requests", s.requests},
          {"errors", s.errors},
          {"iterations", s.iterations},
          {"p50_ms", s.p50_ms},
          {"p90_ms", s.p90_ms},
          {"p99_ms", s.p99_ms},
          {"max_ms", s.max_ms},
          {"mean_ms", s.mean_ms},
          {"service_p50_ms", s.service_p50_ms},
          {"error_rate", s.error_rate},
          {"errors_by_kind", std::move(errors)},
          {"dropped_iterations", s.dropped_iterations},
          {"interrupted_iterations", s.interrupted_iterations},
          {"vus_max", s.vus_max},
          {"vus_cap", s.vus_cap},
          {"vus_cap_fd_limited", s.vus_cap_fd_limited},
          {"graceful_stop_s", s.graceful_stop_s},
          {"busy_vus", s.busy_vus},
          {"iteration_s", s.iteration_s},
          {"event_loop_lag_p99_ms", s.lag_p99_ms},
          {"saturated", s.saturated},
          {"ok", s.ok},
          {"cause", s.ok ? json::value(nullptr) : json::value(to_string(s.cause))},
          {"failed", s.failed.empty() ? json::value(nullptr) : json::value(s.failed)},
          {"timeseries", s.timeseries},
          {"histogram", s.histogram}};
}

// Requests still running this long after a stage's end are interrupted. Long enough for any request that
// could still meet the SLO (twice the largest latency bound) and for the scenario's own iteration time
// (think time); short enough that a collapsing stage ends soon after --stage (k6's default is 30 s).
std::chrono::milliseconds graceful_stop_for(const std::vector<slo_term>& slo, double iteration_s) {
  double bound_ms = 0;
  for (const auto& t : slo) {
    if (t.metric != "error_rate") bound_ms = std::max(bound_ms, t.bound);
  }
  const double ms = std::max({1000.0, 2 * bound_ms, 3000 * iteration_s});
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, 30'000.0)));
}

struct stage_runner {
  const capacity_request& request;
  const std::vector<slo_term>& slo;
  int64_t vus_budget;  // VUs that fit in RLIMIT_NOFILE
  std::vector<stage_result> curve;
  json::value best_results;
  double best_rate = 0;
  int fatal = 0;

  // One stage at `rate`; nullopt after a scenario error (fatal holds the code).
  std::optional<stage_result> run(double rate) {
    loadgen::run_request run;
    run.script_path = request.scenario;
    run.overrides.target = request.target;
    run.overrides.rate = rate;
    run.overrides.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(request.stage);
    // The first stage runs with k6's 30 s: its iteration time (think time included) is not known yet.
    stage_plan plan;
    plan.stage_s = std::chrono::duration<double>(request.stage).count();
    const auto graceful = curve.empty() ? std::chrono::milliseconds(30'000) : graceful_stop_for(slo, curve.front().iteration_s);
    run.overrides.graceful_stop = std::chrono::duration_cast<std::chrono::nanoseconds>(graceful);
    plan.graceful_stop_s = std::chrono::duration<double>(graceful).count();
    // The load generator's default for a rate: ceil(rate/10) VUs pre-allocated, ten times that at most.
    plan.vus_cap = 10 * std::max<int64_t>(1, static_cast<int64_t>(std::ceil(rate / 10)));
    if (plan.vus_cap > vus_budget) {  // every VU may hold a connection: stay within RLIMIT_NOFILE
      plan.vus_cap = std::max<int64_t>(1, vus_budget);
      plan.vus_cap_fd_limited = true;
      run.overrides.vus = plan.vus_cap;  // pre-allocated = max = the budget
    }
    run.threads = request.threads;
    run.seed = request.seed;
    run.env = request.env;
    run.quiet = true;
    run.no_thresholds = true;  // the SLO decides, not the scenario's thresholds
    run.unsafe_lua = request.unsafe_lua;
    json::value results;
    run.finish_results = [&](json::value& r) { results = r; };
    int code = 0;
    {
      stdout_silencer silence;
      code = loadgen::execute_run(run);
    }
    if (results.is_null() || (code != 0 && code != loadgen::exit_thresholds_crossed && code != loadgen::exit_invariant_failed)) {
      fatal = code != 0 ? code : 1;
      std::fprintf(stderr, "stampede capacity: the stage at %.1f/s failed (exit %d)\n", rate, code);
      return std::nullopt;
    }
    stage_result s;
    try {
      s = judge_stage(results, rate, slo, plan);
    } catch (const results::results_error& e) {  // loadgen wrote what the results model cannot read: a bug
      fatal = 1;
      std::fprintf(stderr, "stampede capacity: the stage at %.1f/s wrote unreadable results: %s\n", rate, e.what());
      return std::nullopt;
    }
    curve.push_back(s);
    if (!request.quiet) {
      std::fprintf(stderr, "  %9.1f/s offered  %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  errors %6.2f%%  %5.1fs  %s\n", rate,
                   s.throughput, s.p50_ms, s.p99_ms, 100 * s.error_rate, s.duration_s, s.ok ? "ok" : s.failed.c_str());
    }
    if (s.ok && rate >= best_rate) {
      best_rate = rate;
      best_results = std::move(results);
    }
    return s;
  }

  std::optional<bool> passes(double rate) {
    for (int i = 0; i < request.repeats; ++i) {
      auto s = run(rate);
      if (!s) return std::nullopt;
      if (!s->ok) return false;
    }
    return true;
  }
};

// The verdict once the search is over: sustainable and recommended rates, what limits, the hint.
void conclude(const capacity_request& request, double good, double bad, capacity_outcome& outcome) {
  outcome.knee_rate = good;
  outcome.slo_text = request.slo_text;
  const stage_result* low = nullptr;  // the low-load reference: the lowest passing stage, else the first
  const stage_result* first_bad = nullptr;
  for (const auto& s : outcome.curve) {
    if (s.ok && (low == nullptr || s.rate < low->rate)) low = &s;
    if (!s.ok && (first_bad == nullptr || s.rate < first_bad->rate)) first_bad = &s;
  }
  if (low == nullptr && !outcome.curve.empty()) low = &outcome.curve.front();
  if (!std::isfinite(bad) || first_bad == nullptr) {
    outcome.limited_by = "max_rate";
    outcome.lower_bound = true;
    outcome.limit_hint = "not reached: the SLO held up to --max";
  } else {
    const limit_diagnosis d = diagnose_limit(*first_bad, low == first_bad ? nullptr : low);
    outcome.limited_by = d.limited_by;
    outcome.lower_bound = d.limited_by == "generator";
    outcome.limit_hint = d.hint;
  }
  outcome.recommended = recommend_rate(outcome.curve, good, request.headroom);
}

json::object capacity_json(const capacity_request& request, const capacity_outcome& outcome,
                           std::chrono::milliseconds graceful, const fd_limits& fds) {
  std::vector<stage_result> sorted = outcome.curve;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.rate < b.rate; });
  json::array curve;
  for (const auto& s : sorted) curve.push_back(stage_json(s));
  const recommendation& r = outcome.recommended;
  return {{"sustainable_rate", outcome.knee_rate},
          {"knee_rate", outcome.knee_rate},
          {"lower_bound", outcome.lower_bound},
          {"limited_by", outcome.limited_by.empty() ? json::value(nullptr) : json::value(outcome.limited_by)},
          {"limit_hint", outcome.limit_hint},
          {"recommended_rate", r.rate},
          {"recommendation", json::object{{"rule", r.rule},
                                          {"headroom", request.headroom},
                                          {"headroom_rate", r.headroom_rate},
                                          {"latency_growth_max", capacity_latency_growth},
                                          {"low_load_p99_ms", r.low_load_p99_ms},
                                          {"flat_rate", r.flat_rate}}},
          {"slo", request.slo_text},
          {"stages", outcome.curve.size()},
          {"curve", std::move(curve)},
          {"search", json::object{{"start_rate", request.start_rate},
                                  {"max_rate", request.max_rate},
                                  {"stage_s", std::chrono::duration<double>(request.stage).count()},
                                  {"graceful_stop_s", std::chrono::duration<double>(graceful).count()},
                                  {"repeats", request.repeats},
                                  {"precision", request.precision},
                                  {"fd_soft_limit", fds.soft == UINT64_MAX ? json::value(nullptr) : json::value(fds.soft)}}}};
}

void print_verdict(const capacity_request& request, const capacity_outcome& outcome) {
  std::printf("\n  CAPACITY  %s  (SLO %s)\n", request.scenario.c_str(), request.slo_text.c_str());
  if (outcome.knee_rate <= 0) {
    std::printf("    sustainable: none: even %.1f/s broke the SLO\n", request.start_rate);
  } else if (outcome.lower_bound && outcome.limited_by == "generator") {
    std::printf("    sustainable: at least %.1f/s; the generator's limit, not the target's\n", outcome.knee_rate);
  } else if (outcome.lower_bound) {
    std::printf("    sustainable: at least %.1f/s (the SLO held up to --max)\n", outcome.knee_rate);
  } else {
    std::printf("    sustainable: %.1f/s (the highest rate that met the SLO in %d stage%s in a row)\n", outcome.knee_rate,
                request.repeats, request.repeats == 1 ? "" : "s");
  }
  if (outcome.knee_rate > 0) {
    std::printf("    recommended: %.1f/s: %s\n", outcome.recommended.rate, outcome.recommended.rule.c_str());
  }
  std::printf("    limit: %s%s\n\n", outcome.limited_by.empty() ? "" : (outcome.limited_by + ": ").c_str(),
              outcome.limit_hint.c_str());
  std::fputs(render_capacity_text(outcome).c_str(), stdout);
  std::fflush(stdout);
}

}  // namespace

int run_capacity(const capacity_request& request, capacity_outcome* outcome_out) {
  std::vector<slo_term> slo;
  try {
    slo = parse_slo(request.slo_text);
    if (!(request.start_rate > 0) || request.max_rate < request.start_rate) {
      throw std::invalid_argument("--start must be > 0 and <= --max");
    }
    if (request.repeats < 1) throw std::invalid_argument("--repeats must be >= 1");
    if (!(request.headroom >= 0 && request.headroom < 1)) throw std::invalid_argument("--headroom must be in [0, 1)");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede capacity: %s\n", e.what());
    return loadgen::exit_usage;
  }
  std::optional<std::string> chart = request.chart_path;
  if (!chart && request.out_path) {
    std::string base = *request.out_path;
    if (base.size() > 5 && base.substr(base.size() - 5) == ".json") base.resize(base.size() - 5);
    chart = base + ".svg";
  }
  for (const std::optional<std::string>* path : {&request.out_path, static_cast<const std::optional<std::string>*>(&chart)}) {
    if (!*path) continue;
    if (const std::string problem = output_problem(**path); !problem.empty()) {
      std::fprintf(stderr, "stampede capacity: cannot write %s: %s\n", (*path)->c_str(), problem.c_str());
      return capacity_exit_output;
    }
  }
  const fd_limits fds = raise_fd_limit();
  const auto vus_budget = static_cast<int64_t>(
      std::min<uint64_t>(fds.soft > fd_reserve ? fds.soft - fd_reserve : 0, std::numeric_limits<int32_t>::max()));

  stage_runner stages{request, slo, vus_budget, {}, {}, 0, 0};
  if (!request.quiet) {
    std::fprintf(stderr, "stampede capacity: %s, SLO %s, stages of %.1fs (x%d to confirm)\n", request.scenario.c_str(),
                 request.slo_text.c_str(), std::chrono::duration<double>(request.stage).count(), request.repeats);
  }
  double good = 0, bad = std::numeric_limits<double>::infinity();
  // 1. Steps: double until the SLO breaks.
  for (double rate = request.start_rate; rate <= request.max_rate; rate *= 2) {
    auto ok = stages.passes(rate);
    if (!ok) return stages.fatal;
    if (!*ok) {
      bad = rate;
      break;
    }
    good = rate;
    if (rate < request.max_rate && rate * 2 > request.max_rate) rate = request.max_rate / 2;  // end exactly at max
  }
  // 2. Binary search between the last good and the first bad rate.
  if (good > 0 && std::isfinite(bad)) {
    while ((bad - good) / good > request.precision) {
      const double mid = std::round((good + bad) / 2 * 10) / 10;
      if (mid <= good || mid >= bad) break;
      auto ok = stages.passes(mid);
      if (!ok) return stages.fatal;
      (*ok ? good : bad) = mid;
    }
  }
  capacity_outcome outcome;
  outcome.curve = std::move(stages.curve);
  conclude(request, good, bad, outcome);
  const auto graceful = outcome.curve.empty() ? std::chrono::milliseconds(0)
                                              : graceful_stop_for(slo, outcome.curve.front().iteration_s);
  json::value results = std::move(stages.best_results);
  if (results.is_null()) results = json::object{{"schema", results::schema_name}, {"version", results::schema_version}};
  results.as_object()["capacity"] = capacity_json(request, outcome, graceful, fds);
  outcome.results = std::move(results);
  print_verdict(request, outcome);

  bool written = true;
  if (request.out_path) written = write_file(*request.out_path, json::serialize(outcome.results) + "\n") && written;
  if (chart) written = write_file(*chart, render_capacity_svg(outcome)) && written;
  const int code = !written ? capacity_exit_output : outcome.knee_rate > 0 ? 0 : 1;
  if (outcome_out != nullptr) *outcome_out = std::move(outcome);
  return code;
}

}  // namespace stampede::drill
