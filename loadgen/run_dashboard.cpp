// `stampede run --dashboard IP:PORT`: the coordinator's per-second view (the drained snapshots: rows_ and
// the live aggregate, as for --metrics-listen and abortOnFail) handed to the live dashboard
// (dashboard/server.h) once a second. Workers are untouched: this runs on the coordinator thread.
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "dashboard/server.h"
#include "loadgen/dashboard_figures.h"
#include "loadgen/run_coordinator.h"

namespace stampede::loadgen {

dashboard::latency_ms latency_of(const hdr_histogram& h) {
  if (h.total_count() == 0) return {};
  auto at = [&](double p) { return static_cast<double>(h.value_at_percentile(p)) / 1000.0; };
  return {at(50), at(90), at(95), at(99), static_cast<double>(h.max()) / 1000.0};
}

std::string_view outcome_text(int exit_code) {
  switch (exit_code) {
    case exit_ok:
      return "passed";
    case exit_thresholds_crossed:
      return "thresholds crossed";
    case exit_interrupted:
      return "interrupted";
    case exit_script_error:
      return "script error";
    case exit_script_abort:
      return "aborted by the script";
    case exit_invariant_failed:
      return "invariant broken";
    default:
      return "did not run";
  }
}

void fill_live_figures(aggregate& live, std::span<const threshold> thresholds, double elapsed_s,
                       dashboard::live_update& u) {
  u.requests = live.all_requests->requests;
  u.errors = live.all_requests->errors;
  u.latency = latency_of(live.all_requests->corrected);
  for (const auto& [name, step] : live.steps) {
    if (step->kind == step_kind::tagged) continue;
    u.steps.push_back({.name = name,
                       .requests = step->requests,
                       .errors = step->errors,
                       .latency = latency_of(step->corrected)});
  }
  live.duration_s = elapsed_s;
  const auto verdicts = evaluate_thresholds(
      thresholds, [&](const metric_selector& s, const threshold_expression& e) { return live.value(s, e); });
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const auto& v = verdicts[i];
    using state = dashboard::threshold_row::state;
    u.thresholds.push_back({.metric = v.metric,
                            .expression = v.expression,
                            .now = v.no_data ? state::pending
                                   : v.ok    ? state::pass
                                             : state::fail,
                            .observed = v.no_data ? std::nullopt : v.observed,
                            .abort_on_fail = thresholds[i].abort_on_fail});
  }
}

dashboard::run_end run_end_of(std::string outcome, bool ok, const std::optional<std::string>& out_path,
                              const std::optional<std::string>& report_dir) {
  dashboard::run_end end{.outcome = std::move(outcome), .ok = ok, .report_path = {}, .results_path = {}};
  std::error_code ec;
  if (out_path && std::filesystem::exists(*out_path, ec))
    end.results_path = std::filesystem::absolute(*out_path, ec).string();
  if (report_dir) {
    const auto report = std::filesystem::path(*report_dir) / "report.html";
    if (std::filesystem::exists(report, ec)) end.report_path = std::filesystem::absolute(report, ec).string();
  }
  return end;
}

}  // namespace stampede::loadgen

namespace stampede::loadgen::run_detail {

bool coordinator::open_dashboard() {
  try {
    dashboard_ = std::make_unique<dashboard::server>(
        *request_.dashboard_listen,
        dashboard::run_info{.title = std::filesystem::path(request_.script_path).filename().string(),
                            .run_id = run_id_});
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "stampede: --dashboard %s: cannot listen: %s\n",
                 to_string(*request_.dashboard_listen).c_str(), e.code().message().c_str());
    return false;
  }
  if (!request_.quiet) std::fprintf(stderr, "stampede: live dashboard at %s\n", dashboard_->url().c_str());
  if (request_.dashboard_listening) request_.dashboard_listening(dashboard_->port());
  return true;
}

// The seconds every worker has handed over since the last call (all of them at the end of the load) and the
// figures so far. Called after each drain (every 100 ms); publishes only when a second was completed.
void coordinator::publish_dashboard(bool load_ended) {
  if (!dashboard_) return;
  dashboard::live_update u;
  const auto workers = static_cast<int>(workers_.size());
  for (auto it = rows_.upper_bound(dashboard_second_); it != rows_.end(); ++it) {
    const timeseries_row& row = it->second;
    if (row.workers_reported < workers && !load_ended) break;  // seconds complete in order
    dashboard::second_view s{.second = row.second,
                             .requests = row.requests,
                             .errors = row.errors,
                             .dropped_iterations = row.dropped_iterations,
                             .vus = row.vus,
                             .latency = latency_of(row.latency),
                             .errors_by_kind = {}};
    for (size_t k = 1; k < error_kind_count; ++k) {
      if (row.errors_by_kind[k] > 0)
        s.errors_by_kind[std::string(to_string(static_cast<error_kind>(k)))] = row.errors_by_kind[k];
    }
    for (const auto& [kind, n] : s.errors_by_kind) dashboard_totals_.errors_by_kind[kind] += n;
    dashboard_totals_.vus = row.vus;
    dashboard_totals_.vus_max = std::max(dashboard_totals_.vus_max, row.vus_max);
    dashboard_second_ = row.second;
    u.seconds.push_back(std::move(s));
  }
  if (u.seconds.empty() && !load_ended) return;

  u.elapsed_s = elapsed_s();
  u.planned_duration_s = planned_duration_s_;
  u.errors_by_kind = dashboard_totals_.errors_by_kind;
  u.vus = dashboard_totals_.vus;
  u.vus_max = dashboard_totals_.vus_max;
  fill_live_figures(live_, thresholds_, u.elapsed_s, u);
  if (chaos_) {
    for (const auto& record : chaos_->records()) {
      const auto& r = record.as_object();
      dashboard::fault_band band{.label = std::string(r.at("label").as_string()),
                                 .start_s = r.at("start_s").to_number<double>(),
                                 .end_s = {}};
      if (!r.at("end_s").is_null()) band.end_s = r.at("end_s").to_number<double>();
      u.faults.push_back(std::move(band));
    }
  }
  dashboard_->publish(std::move(u));
}

void coordinator::finish_dashboard(int code) {
  if (!dashboard_) return;
  dashboard_->finish(
      run_end_of(std::string(outcome_text(code)), code == exit_ok, request_.out_path, request_.report_dir));
}

}  // namespace stampede::loadgen::run_detail
