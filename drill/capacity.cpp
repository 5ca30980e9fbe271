#include "drill/capacity.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>

#include <boost/json.hpp>

#include "common/hdr_histogram.h"
#include "loadgen/run.h"

namespace stampede::drill {

namespace json = boost::json;

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
    if (term.empty()) continue;
    const size_t op = term.find('<');
    if (op == std::string::npos || op == 0) {
      throw std::invalid_argument("--slo: '" + term + "' must look like p(99)<300, avg<100, max<1000 or error_rate<0.01");
    }
    slo_term t;
    t.text = term;
    const std::string metric = term.substr(0, op);
    t.strict = !(op + 1 < term.size() && term[op + 1] == '=');
    const std::string value = term.substr(op + (t.strict ? 1 : 2));
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), t.bound);
    if (ec != std::errc{} || end != value.data() + value.size() || !(t.bound >= 0)) {
      throw std::invalid_argument("--slo: '" + term + "': the bound must be a number >= 0");
    }
    if (metric.size() > 3 && metric.rfind("p(", 0) == 0 && metric.back() == ')') {
      const std::string p = metric.substr(2, metric.size() - 3);
      const auto [pend, pec] = std::from_chars(p.data(), p.data() + p.size(), t.percentile);
      if (pec != std::errc{} || pend != p.data() + p.size() || !(t.percentile > 0 && t.percentile <= 100)) {
        throw std::invalid_argument("--slo: '" + term + "': percentile must be in (0, 100]");
      }
      t.metric = "p";
    } else if (metric == "avg" || metric == "max" || metric == "error_rate") {
      t.metric = metric;
    } else {
      throw std::invalid_argument("--slo: unknown metric '" + metric + "' (p(N), avg, max, error_rate)");
    }
    out.push_back(t);
  }
  if (out.empty()) throw std::invalid_argument("--slo: no terms");
  return out;
}

stage_result judge_stage(const json::value& results, double rate, const std::vector<slo_term>& slo) {
  stage_result s;
  s.rate = rate;
  const auto& summary = results.at("summary").as_object();
  const double duration = results.at("meta").at("duration_s").to_number<double>();
  s.throughput = duration > 0 ? summary.at("requests").to_number<double>() / duration : 0;
  s.iterations_per_s = duration > 0 ? summary.at("iterations").to_number<double>() / duration : 0;
  s.error_rate = summary.at("error_rate").to_number<double>();
  s.dropped_iterations = summary.at("dropped_iterations").to_number<int64_t>();
  s.saturated = results.at("meta").at("generator").at("saturated").as_bool();
  const auto& lat = summary.at("latency_ms").as_object();
  s.p50_ms = lat.at("p50").to_number<double>();
  s.p99_ms = lat.at("p99").to_number<double>();
  std::optional<hdr_histogram> histogram;
  if (const auto* h = summary.if_contains("histogram"); h && h->is_string()) {
    histogram = hdr_histogram::decode_base64(std::string_view(h->as_string()));
  }
  auto fails = [](double observed, const slo_term& t) { return t.strict ? !(observed < t.bound) : !(observed <= t.bound); };
  char text[160];
  for (const auto& t : slo) {
    double observed = 0;
    if (t.metric == "error_rate") {
      observed = s.error_rate;
    } else if (t.metric == "avg") {
      observed = lat.at("mean").to_number<double>();
    } else if (t.metric == "max") {
      observed = lat.at("max").to_number<double>();
    } else if (histogram) {
      observed = static_cast<double>(histogram->value_at_percentile(t.percentile)) / 1000.0;
    } else {
      observed = t.percentile >= 99 ? s.p99_ms : lat.at("p50").to_number<double>();
    }
    if (fails(observed, t)) {
      std::snprintf(text, sizeof text, "%s (observed %.4g)", t.text.c_str(), observed);
      s.failed = (t.metric == "error_rate" ? "errors: " : "latency: ") + std::string(text);
      break;
    }
  }
  // The offered load must have been delivered: an open model that drops arrivals or completes far fewer
  // iterations than offered is past its limit whatever the latency of the requests that did complete.
  const double expected_iterations = rate * duration;
  if (s.failed.empty() && s.saturated) s.failed = "generator saturation (event-loop lag): the figures are not trustworthy";
  if (s.failed.empty() && s.dropped_iterations > std::max(1.0, 0.01 * expected_iterations)) {
    s.failed = "dropped iterations: " + std::to_string(s.dropped_iterations) + " arrivals found no free VU (the target is too slow)";
  }
  if (s.failed.empty() && s.iterations_per_s < 0.9 * rate) {
    std::snprintf(text, sizeof text, "throughput: %.1f iterations/s for %.1f offered", s.iterations_per_s, rate);
    s.failed = text;
  }
  s.ok = s.failed.empty();
  return s;
}

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

json::object stage_json(const stage_result& s) {
  return {{"rate", s.rate},
          {"throughput_rps", s.throughput},
          {"iterations_per_s", s.iterations_per_s},
          {"p50_ms", s.p50_ms},
          {"p99_ms", s.p99_ms},
          {"error_rate", s.error_rate},
          {"dropped_iterations", s.dropped_iterations},
          {"saturated", s.saturated},
          {"ok", s.ok},
          {"failed", s.failed.empty() ? json::value(nullptr) : json::value(s.failed)}};
}

std::string hint_for(const std::string& failed) {
  if (failed.rfind("generator", 0) == 0) return "generator saturation: add --threads (or shards); the knee is a lower bound";
  if (failed.rfind("dropped", 0) == 0) return "latency grew until arrivals found no free VU (queueing at the target)";
  if (failed.rfind("errors", 0) == 0) return "errors: the target started failing requests (" + failed + ")";
  if (failed.rfind("latency", 0) == 0) return "latency: queueing pushed it over the SLO (" + failed + ")";
  if (failed.rfind("throughput", 0) == 0) return "throughput: the target could not complete the offered rate";
  return failed;
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
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede capacity: %s\n", e.what());
    return loadgen::exit_usage;
  }
  capacity_outcome outcome;
  json::value best_results;
  double best_rate = 0;
  int fatal = 0;

  // One stage at `rate`; nullopt after a scenario error (fatal holds the code).
  auto run_stage = [&](double rate) -> std::optional<stage_result> {
    loadgen::run_request run;
    run.script_path = request.scenario;
    run.overrides.target = request.target;
    run.overrides.rate = rate;
    run.overrides.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(request.stage);
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
    stage_result s = judge_stage(results, rate, slo);
    outcome.curve.push_back(s);
    if (!request.quiet) {
      std::fprintf(stderr, "  %9.1f/s offered  %9.1f req/s  p50 %8.2f ms  p99 %8.2f ms  errors %6.2f%%  %s\n", rate,
                   s.throughput, s.p50_ms, s.p99_ms, 100 * s.error_rate, s.ok ? "ok" : s.failed.c_str());
    }
    if (s.ok && rate >= best_rate) {
      best_rate = rate;
      best_results = std::move(results);
    }
    return s;
  };
  auto passes = [&](double rate) -> std::optional<bool> {
    for (int i = 0; i < request.repeats; ++i) {
      auto s = run_stage(rate);
      if (!s) return std::nullopt;
      if (!s->ok) return false;
    }
    return true;
  };

  if (!request.quiet) {
    std::fprintf(stderr, "stampede capacity: %s, SLO %s, stages of %.1fs (x%d to confirm)\n", request.scenario.c_str(),
                 request.slo_text.c_str(), std::chrono::duration<double>(request.stage).count(), request.repeats);
  }
  double good = 0, bad = std::numeric_limits<double>::infinity();
  // 1. Steps: double until the SLO breaks.
  for (double rate = request.start_rate; rate <= request.max_rate; rate *= 2) {
    auto ok = passes(rate);
    if (!ok) return fatal;
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
      auto ok = passes(mid);
      if (!ok) return fatal;
      (*ok ? good : bad) = mid;
    }
  }
  outcome.knee_rate = good;
  if (!std::isfinite(bad)) {
    outcome.limit_hint = "not reached: the SLO held up to --max";
  } else {
    // What broke at the lowest failing rate.
    const stage_result* first_bad = nullptr;
    for (const auto& s : outcome.curve) {
      if (!s.ok && (first_bad == nullptr || s.rate < first_bad->rate)) first_bad = &s;
    }
    outcome.limit_hint = first_bad ? hint_for(first_bad->failed) : "";
  }

  json::array curve;
  std::vector<stage_result> sorted = outcome.curve;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.rate < b.rate; });
  for (const auto& s : sorted) curve.push_back(stage_json(s));
  json::object cap{{"knee_rate", outcome.knee_rate},
                   {"slo", request.slo_text},
                   {"limit_hint", outcome.limit_hint},
                   {"stages", outcome.curve.size()},
                   {"curve", std::move(curve)},
                   {"search", json::object{{"start_rate", request.start_rate},
                                           {"max_rate", request.max_rate},
                                           {"stage_s", std::chrono::duration<double>(request.stage).count()},
                                           {"repeats", request.repeats},
                                           {"precision", request.precision}}}};
  if (best_results.is_null()) {
    best_results = json::object{{"schema", "stampede-results"}, {"version", 1}};
  }
  best_results.as_object()["capacity"] = std::move(cap);
  outcome.results = std::move(best_results);

  std::printf("\n  CAPACITY  %s\n", request.scenario.c_str());
  std::printf("    knee: %.1f arrivals/s within %s\n", outcome.knee_rate, request.slo_text.c_str());
  std::printf("    limit: %s\n\n", outcome.limit_hint.c_str());
  double top = 1;
  for (const auto& s : sorted) top = std::max({top, s.rate, s.throughput});
  std::printf("    %10s %10s %10s  throughput\n", "offered/s", "req/s", "p99 ms");
  for (const auto& s : sorted) {
    const int bar = static_cast<int>(40 * s.throughput / top);
    std::printf("    %10.1f %10.1f %10.2f  %s%s\n", s.rate, s.throughput, s.p99_ms,
                std::string(static_cast<size_t>(std::max(0, bar)), '#').c_str(), s.ok ? "" : "  x");
  }
  std::fflush(stdout);

  const auto write = [](const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) std::fprintf(stderr, "stampede capacity: cannot write %s\n", path.c_str());
  };
  if (request.out_path) write(*request.out_path, json::serialize(outcome.results) + "\n");
  std::optional<std::string> chart = request.chart_path;
  if (!chart && request.out_path) {
    std::string base = *request.out_path;
    if (base.size() > 5 && base.substr(base.size() - 5) == ".json") base.resize(base.size() - 5);
    chart = base + ".svg";
  }
  if (chart) write(*chart, render_capacity_svg(outcome));
  const int code = outcome.knee_rate > 0 ? 0 : 1;
  if (outcome_out != nullptr) *outcome_out = std::move(outcome);
  return code;
}

std::string render_capacity_svg(const capacity_outcome& outcome) {
  std::vector<stage_result> s = outcome.curve;
  std::stable_sort(s.begin(), s.end(), [](const auto& a, const auto& b) { return a.rate < b.rate; });
  const double w = 720, h = 360, left = 60, right = 60, top = 30, bottom = 40;
  double max_rate = 1, max_p99 = 1;
  for (const auto& x : s) {
    max_rate = std::max({max_rate, x.rate, x.throughput});
    max_p99 = std::max(max_p99, x.p99_ms);
  }
  auto px = [&](double rate) { return left + (w - left - right) * rate / max_rate; };
  auto py_rate = [&](double v) { return h - bottom - (h - top - bottom) * v / max_rate; };
  auto py_p99 = [&](double v) { return h - bottom - (h - top - bottom) * v / max_p99; };
  char buf[256];
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"360\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  std::snprintf(buf, sizeof buf, "<text x=\"%g\" y=\"18\" font-size=\"13\">Capacity: knee at %.1f/s (%zu stages)</text>\n",
                left, outcome.knee_rate, s.size());
  svg += buf;
  std::snprintf(buf, sizeof buf, "<line x1=\"%g\" y1=\"%g\" x2=\"%g\" y2=\"%g\" stroke=\"black\"/>\n", left, h - bottom, w - right, h - bottom);
  svg += buf;
  std::snprintf(buf, sizeof buf, "<text x=\"%g\" y=\"%g\">offered arrivals/s (0..%.0f)</text>\n", w / 2 - 60, h - 10, max_rate);
  svg += buf;
  std::snprintf(buf, sizeof buf, "<text x=\"4\" y=\"%g\" fill=\"#1f77b4\">req/s</text><text x=\"%g\" y=\"%g\" fill=\"#d62728\">p99 ms (max %.0f)</text>\n",
                top, w - right - 40, top - 8, max_p99);
  svg += buf;
  std::string through = "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"";
  std::string p99 = "<polyline fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\" points=\"";
  for (const auto& x : s) {
    std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(x.rate), py_rate(x.throughput));
    through += buf;
    std::snprintf(buf, sizeof buf, "%.1f,%.1f ", px(x.rate), py_p99(x.p99_ms));
    p99 += buf;
  }
  svg += through + "\"/>\n" + p99 + "\"/>\n";
  for (const auto& x : s) {
    std::snprintf(buf, sizeof buf, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%.1f/s: %.1f req/s, p99 %.2f ms%s</title></circle>\n",
                  px(x.rate), py_rate(x.throughput), x.ok ? "#1f77b4" : "#d62728", x.rate, x.throughput, x.p99_ms,
                  x.ok ? "" : " (SLO broken)");
    svg += buf;
  }
  std::snprintf(buf, sizeof buf, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"green\" stroke-dasharray=\"4\"/>\n",
                px(outcome.knee_rate), top, px(outcome.knee_rate), h - bottom);
  svg += buf;
  svg += "</svg>\n";
  return svg;
}

}  // namespace stampede::drill
