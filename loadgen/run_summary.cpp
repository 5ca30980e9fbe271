// What `stampede run` shows on the terminal: the live line during the load and, at the end, the summary
// (thresholds, invariants, totals, steps, warnings) and the script errors of the iterations.
#include <algorithm>
#include <cstdio>
#include <string>

#include "loadgen/run_coordinator.h"

namespace stampede::loadgen::run_detail {

namespace json = boost::json;

std::string human_ms(double value) { return format_time(value, time_unit::automatic); }

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  int unit = 0;
  while (bytes >= 1000 && unit < 4) {
    bytes /= 1000;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", bytes, units[unit]);
  return text;
}

namespace {

// "  name.......................: " (k6's layout).
std::string dots(const std::string& name) {
  std::string out = "  " + name;
  while (out.size() < 32) out += '.';
  return out + ": ";
}

// The trend of `owner` (the summary or a step): its `latency_key` summary and `histogram_key` histogram, in
// the statistics and unit of --summary-trend-stats and --summary-time-unit.
std::string trend(const json::object& owner, const char* latency_key, const char* histogram_key,
                  const summary_format& format) {
  const json::value* histogram = owner.if_contains(histogram_key);
  return format_trend(owner.at(latency_key).as_object(),
                      histogram != nullptr && histogram->is_string() ? std::string_view(histogram->as_string())
                                                                     : std::string_view(),
                      format);
}

void print_thresholds(const std::vector<threshold_result>& verdicts) {
  if (verdicts.empty()) return;
  std::printf("  THRESHOLDS\n");
  for (const auto& v : verdicts) {
    char observed[64] = "no data";
    if (v.observed) std::snprintf(observed, sizeof observed, "%.4g", *v.observed);
    std::printf("    %s %s '%s' observed %s\n", v.ok ? "\u2713" : "\u2717", v.metric.c_str(), v.expression.c_str(),
                observed);
  }
  std::printf("\n");
}

}  // namespace

void coordinator::print_live_line(bool final_line) {
  if (!live_output_) return;
  // The newest second every worker has reported.
  const timeseries_row* row = nullptr;
  for (auto it = rows_.rbegin(); it != rows_.rend(); ++it) {
    if (it->second.workers_reported >= plan_.threads) {
      row = &it->second;
      break;
    }
  }
  if (row == nullptr || (row->second == last_printed_ && !final_line)) return;
  last_printed_ = row->second;
  const double elapsed = static_cast<double>(row->second + 1);
  const double fraction = planned_duration_s_ > 0 ? std::min(1.0, elapsed / planned_duration_s_) : 1.0;
  constexpr int width = 20;
  std::string bar;
  const int filled = static_cast<int>(fraction * width);
  for (int i = 0; i < width; ++i) bar += i < filled ? "\u2588" : "\u2591";
  std::fprintf(stderr, "\r\033[K%4.0fs/%.0fs %s %7lld rps  p50 %-8s p99 %-8s err %lld  vus %lld  dropped %lld",
               elapsed, planned_duration_s_, bar.c_str(), static_cast<long long>(row->requests),
               human_ms(ms(row->latency.value_at_percentile(50))).c_str(),
               human_ms(ms(row->latency.value_at_percentile(99))).c_str(), static_cast<long long>(row->errors),
               static_cast<long long>(row->vus), static_cast<long long>(live_.dropped_iterations()));
  if (final_line) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

void coordinator::print_summary(const json::value& results, const std::vector<threshold_result>& verdicts) {
  std::printf("\n");
  print_thresholds(verdicts);
  print_invariants();
  print_totals(results.at("summary").as_object());
  print_steps(results);
  if (results.at("meta").at("generator").at("saturated").as_bool()) {
    std::printf("\n  WARNING: the generator itself was saturated (event-loop lag p99 %.1f ms > %.1f ms):\n"
                "  latency and rate figures include the generator's own delay. Use more --threads or less load.\n",
                results.at("meta").at("generator").at("p99_event_loop_lag_ms").to_number<double>(),
                plan_.options.saturation_lag_ms);
  }
  if (!abort_reason_.empty()) std::printf("\n  ABORTED: %s\n", abort_reason_.c_str());
  std::fflush(stdout);
}

// TOTAL RESULTS: checks, requests, latency (corrected and service), failures, iterations, VUs, data, errors.
void coordinator::print_totals(const json::object& summary) const {
  const double duration = final_.duration_s;
  std::printf("  TOTAL RESULTS (%.1fs)\n", duration);
  int64_t passes = 0, fails = 0;
  for (const auto& [key, counts] : final_.checks) {
    passes += counts.passes;
    fails += counts.fails;
  }
  if (passes + fails > 0) {
    std::printf("%s%.2f%% %lld out of %lld\n", dots("checks").c_str(),
                100.0 * static_cast<double>(passes) / static_cast<double>(passes + fails),
                static_cast<long long>(passes), static_cast<long long>(passes + fails));
  }
  const auto num = [&](const char* key) { return summary.at(key).to_number<double>(); };
  std::printf("%s%.0f  %.1f/s\n", dots("http_reqs").c_str(), num("requests"), num("rps"));
  std::printf("%s%s\n", dots("http_req_duration").c_str(), trend(summary, "latency_ms", "histogram", request_.summary).c_str());
  std::printf("%s%s\n", dots("  uncorrected (service)").c_str(),
              trend(summary, "uncorrected_latency_ms", "uncorrected_histogram", request_.summary).c_str());
  std::printf("%s%.2f%%  %.0f out of %.0f\n", dots("http_req_failed").c_str(), 100 * num("error_rate"), num("errors"),
              num("requests"));
  std::printf("%s%lld  %.1f/s\n", dots("iterations").c_str(), static_cast<long long>(final_.iterations()),
              duration > 0 ? static_cast<double>(final_.iterations()) / duration : 0.0);
  std::printf("%s%lld\n", dots("dropped_iterations").c_str(), static_cast<long long>(final_.dropped_iterations()));
  std::printf("%s%lld\n", dots("vus_max").c_str(), static_cast<long long>(final_.vus_max));
  std::printf("%s%s  %s/s\n", dots("data_received").c_str(), human_bytes(static_cast<double>(final_.data_received)).c_str(),
              human_bytes(duration > 0 ? static_cast<double>(final_.data_received) / duration : 0).c_str());
  std::printf("%s%s  %s/s\n", dots("data_sent").c_str(), human_bytes(static_cast<double>(final_.data_sent)).c_str(),
              human_bytes(duration > 0 ? static_cast<double>(final_.data_sent) / duration : 0).c_str());
  print_custom_metrics();
  std::string error_text;
  for (const auto& e : summary.at("errors_by_kind").as_object()) {
    if (e.value().to_number<int64_t>() > 0) {
      error_text += std::string(e.key()) + "=" + std::to_string(e.value().to_number<int64_t>()) + " ";
    }
  }
  if (!error_text.empty()) std::printf("%s%s\n", dots("errors by kind").c_str(), error_text.c_str());
}

// The script's metrics.* (and the sub-metrics thresholds asked for, also of iteration_duration, iterations
// and checks), as k6 prints them.
void coordinator::print_custom_metrics() const {
  auto metrics = to_results(final_.custom, final_.duration_s);
  for (auto& m : final_.builtin_subs.to_results(final_.duration_s)) metrics.push_back(std::move(m));
  for (const auto& m : metrics) {
    const std::string label = dots(m.name.size() > 40 ? m.name.substr(0, 37) + "..." : m.name);
    if (m.type == "trend") {
      const auto v = [&](double x) {
        if (m.is_time) return human_ms(x);
        char text[32];
        std::snprintf(text, sizeof text, "%g", x);
        return std::string(text);
      };
      std::printf("%savg=%s min=%s med=%s p(95)=%s p(99)=%s max=%s\n", label.c_str(), v(m.stats.mean).c_str(),
                  v(m.stats.min).c_str(), v(m.stats.p50).c_str(), v(m.stats.p95).c_str(), v(m.stats.p99).c_str(),
                  v(m.stats.max).c_str());
    } else if (m.type == "counter") {
      std::printf("%s%g  %.1f/s\n", label.c_str(), m.count, m.rate);
    } else if (m.type == "rate") {
      std::printf("%s%.2f%%  %lld out of %lld\n", label.c_str(), 100 * m.rate, static_cast<long long>(m.trues),
                  static_cast<long long>(m.samples));
    } else {
      std::printf("%s%g  min=%g max=%g\n", label.c_str(), m.value, m.min, m.max);
    }
  }
}

// STEPS: a row per step (requests, then groups) with its count, rate, latency percentiles and errors.
void coordinator::print_steps(const json::value& results) const {
  std::printf("\n  STEPS %-36s %9s %9s %9s %9s %9s %9s %7s\n", "", "count", "rps", "p50", "p95", "p99", "max", "errors");
  const auto t = [&](const json::value& ms) { return format_time(ms.to_number<double>(), request_.summary.unit); };
  for (const auto& step : results.at("steps").as_array()) {
    const auto& s = step.as_object();
    const auto& l = s.at("latency_ms").as_object();
    std::string name = std::string(s.at("name").as_string());
    if (name.size() > 40) name = name.substr(0, 37) + "...";
    std::printf("  %-42s %9lld %9.1f %9s %9s %9s %9s %7lld\n", name.c_str(),
                static_cast<long long>(s.at("requests").to_number<int64_t>()), s.at("rps").to_number<double>(),
                t(l.at("p50")).c_str(), t(l.at("p95")).c_str(), t(l.at("p99")).c_str(), t(l.at("max")).c_str(),
                static_cast<long long>(s.at("errors").to_number<int64_t>()));
  }
}

// verify()'s invariants, each with its one-line detail; a failed one also with its evidence, so that a
// broken invariant is seen on the terminal, not only in the results file.
void coordinator::print_invariants() const {
  if (!verify_.is_object()) return;
  std::printf("  INVARIANTS\n");
  for (const auto& inv : verify_.at("invariants").as_array()) {
    const json::object* o = inv.if_object();
    if (o == nullptr) {
      std::printf("    \u2717 (not an invariant table: %s)\n", json::serialize(inv).c_str());
      continue;
    }
    const json::value* ok = o->if_contains("ok");
    const bool held = ok != nullptr && ok->is_bool() && ok->as_bool();
    const json::value* name = o->if_contains("name");
    const json::value* detail = o->if_contains("detail");
    std::printf("    %s %s%s%s\n", held ? "\u2713" : "\u2717",
                name != nullptr && name->is_string() ? std::string(name->as_string()).c_str() : "(unnamed)",
                detail != nullptr && detail->is_string() ? ": " : "",
                detail != nullptr && detail->is_string() ? std::string(detail->as_string()).c_str() : "");
    const json::value* evidence = o->if_contains("evidence");
    if (!held && evidence != nullptr && !evidence->is_null()) {
      constexpr size_t max_shown = 2000;  // the checkers cap their lists; this caps a hand-written verify()
      std::string text = json::serialize(*evidence);
      if (text.size() > max_shown) {
        text = text.substr(0, max_shown) + "... (" + std::to_string(text.size() - max_shown) +
               " more characters in the results file)";
      }
      std::printf("        evidence: %s\n", text.c_str());
    }
  }
  if (const json::value* error = verify_.as_object().if_contains("error");
      error != nullptr && error->is_string()) {
    std::printf("    \u2717 verify() failed: %s\n", std::string(error->as_string()).c_str());
  }
  std::printf("\n");
}

// Script errors inside iterations, grouped; then the VUs the guard stopped (setup, teardown, quiesce and
// verify were reported when they ended).
void coordinator::print_script_errors() const {
  size_t shown = 0;
  for (const auto& w : workers_) {
    for (const auto& e : w->iteration_errors()) {
      if (shown++ == 0) std::fprintf(stderr, "\nscript errors in iterations:\n");
      std::fprintf(stderr, "  %lldx %s (first: VU %lld, iteration %lld)\n", static_cast<long long>(e.count),
                   e.message.c_str(), static_cast<long long>(e.first_vu), static_cast<long long>(e.first_iteration));
      if (shown == 1 && e.detail != e.message) std::fprintf(stderr, "%s\n", e.detail.c_str());
    }
  }
  for (const auto& w : workers_) {
    for (const auto& i : w->interruptions()) {
      if (i.phase != lua_phase::iteration) continue;
      std::fprintf(stderr, "stampede: VU %lld of scenario %s: %s; its iteration counts as interrupted\n",
                   static_cast<long long>(i.vu), i.scenario.c_str(), i.reason.c_str());
    }
  }
}

}  // namespace stampede::loadgen::run_detail
