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
  // Which steps count as "all requests": request-kind steps (groups nest requests, and tagged sub-metrics
  // repeat some, so either would double count).
  auto is_request_step = [&](std::string_view name) {
    const step_result* s = r.find_step(name);
    return s == nullptr || (s->kind != "group" && s->kind != "tagged");
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
  if (r.aborted) parts.push_back("aborted (" + r.aborted->text() + ")");
  for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? ": " : "; ") + parts[i];
  return text;
}

}  // namespace stampede::reports
