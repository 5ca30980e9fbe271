// Rendering a results file into the report formats, and writing all of them into a directory (what
// `stampede run --report DIR` does at the end of a run).
//
// Every render function is a pure function of the results (no clock, no environment), so output is
// reproducible and golden-testable. They throw results_error when the document lacks what the format needs
// (for example an hgrm of a step without a histogram).
//
// Thread-safety: reentrant; distinct calls may run concurrently.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "reports/results.h"

namespace stampede::reports {

enum class report_format { html, markdown, junit, hgrm, hlog, json };

// "html", "md" (or "markdown"), "junit", "hgrm", "hlog", "json".
std::optional<report_format> parse_format(std::string_view name);
std::string_view format_extension(report_format f);

// A self-contained HTML page (inline CSS and SVG, no script, no external fetch).
std::string render_html(const run_results& r);
// GitHub-flavoured Markdown for CI step summaries and PR comments.
std::string render_markdown(const run_results& r);
// JUnit XML: one test case per threshold and per invariant (plus one "run aborted" case when it was).
std::string render_junit(const run_results& r);
// HdrHistogram percentile distribution (.hgrm), values in ms. `step` empty = all requests.
std::string render_hgrm(const run_results& r, std::string_view step = {}, bool uncorrected = false);
// HdrHistogram interval log, format 1.3: one tagged line per step and second (tag = text::slug(step name)),
// plus an untagged line per second with all request steps added (what HistogramLogProcessor reads by default).
std::string render_hlog(const run_results& r);
// A compact machine-readable summary: verdict, thresholds, invariants, per-step figures, recovery figures.
std::string render_json(const run_results& r);

std::string render(const run_results& r, report_format f);

// Writes report.html, summary.md, junit.xml, summary.json, results.hlog, latency.hgrm,
// latency.uncorrected.hgrm and hgrm/<step>.hgrm (+ .uncorrected.hgrm) for every step with a histogram, into
// `dir` (created if needed). Returns the paths written. Throws results_error for an invalid document and
// std::filesystem::filesystem_error / std::runtime_error for I/O failures.
std::vector<std::filesystem::path> write_report_directory(const run_results& r, const std::filesystem::path& dir);
// Same, from the results document the load generator holds in memory.
std::vector<std::filesystem::path> write_report_directory(const boost::json::value& results,
                                                          const std::filesystem::path& dir);

}  // namespace stampede::reports
