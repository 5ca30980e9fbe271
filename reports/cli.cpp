#include "reports/cli.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/json/serialize.hpp>

#include "common/cli_args.h"
#include "reports/autoscale_report.h"
#include "reports/compare.h"
#include "reports/formats.h"
#include "reports/merge.h"
#include "reports/results.h"

namespace stampede::reports {

namespace {

namespace fs = std::filesystem;

const cli::command report_spec{
    "stampede report",
    "RESULTS.json [-o FILE] [--format html|md|junit|hgrm|hlog|json] [--step NAME] [--uncorrected]\n"
    "RESULTS.json --dir DIR      (every format into DIR)\n"
    "--autoscale A.json B.json ... [-o FILE] [--format md|html]   (autoscale game days side by side)",
    "Renders a results file. Without --format the format follows -o's extension (.html .md .xml .hgrm\n"
    ".hlog .json); default md.",
    {{"--output", "-o", "FILE", "where to write (default: stdout; - is stdout)"},
     {"--format", "-f", "FORMAT", "html, md, junit, hgrm, hlog or json"},
     {"--step", {}, "NAME", "the step whose histogram the hgrm format prints (default: all requests)"},
     {"--uncorrected", {}, {}, "the hgrm format prints the histogram without coordinated-omission correction"},
     {"--dir", {}, "DIR", "write every format into DIR"},
     {"--autoscale", {}, {}, "several autoscale game days' results (fixed, rule, predictive) in one table"}},
    "Exit: 0 ok, 2 usage, 3 unreadable or invalid input, 4 cannot write output."};

const cli::command compare_spec{
    "stampede compare",
    "BASELINE CURRENT [--budget SPEC] [--format md|junit] [-o FILE] [--junit FILE] [--fail-on-missing]",
    "BASELINE and CURRENT are results files or directories of results files (repeated runs).",
    {{"--output", "-o", "FILE", "where to write the comparison (default: stdout)"},
     {"--format", "-f", "FORMAT", "md or junit (default md)"},
     {"--budget", {}, "SPEC",
      "comma-separated METRIC:CHANGE, e.g. \"p99:+10%,rps:-5%,error_rate:+0.5pp\" (also ms);\n"
      "metrics p50 p90 p95 p99 p999 max mean rps error_rate.\n"
      "Default: p50:+10%,p99:+10%,rps:-5%,error_rate:+0.5pp"},
     {"--junit", {}, "FILE", "also write the comparison as JUnit XML"},
     {"--fail-on-missing", {}, {}, "a step the baseline served and the current runs did not fails the gate (exit 1)"}},
    "Exit: 0 no regression, 1 regression beyond the budget (or a missing step with --fail-on-missing), 2 usage,\n"
    "3 invalid input, 4 cannot write output."};

const cli::command merge_spec{
    "stampede merge",
    "A.json B.json ... [-o merged.json] [--report DIR] [--force]",
    "Adds the shards' histograms, aligns time series on wall-clock seconds and re-evaluates thresholds.\n"
    "Refuses inputs that are not the disjoint shards of one test (the same run or shard twice, shard 5 of 2,\n"
    "different shard counts) unless --force.",
    {{"--output", "-o", "FILE", "where to write the merged results (default: stdout)"},
     {"--report", {}, "DIR", "also write every report format into DIR"},
     {"--force", {}, {}, "merge inputs that are not the disjoint shards of one test"}},
    "Exit: 0 ok, 2 usage, 3 invalid input, 4 cannot write."};

int bad_usage(const cli::command& spec, const std::string& message) { return cli::usage_failure(spec, message); }

bool write_output(const std::optional<std::string>& path, std::string_view content) {
  if (!path || *path == "-") {
    std::cout.write(content.data(), static_cast<std::streamsize>(content.size()));
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  std::ofstream out(*path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) {
    std::cerr << "stampede: cannot write " << *path << "\n";
    return false;
  }
  return true;
}

// A file, or every *.json file of a directory (sorted, so the order is reproducible).
std::vector<run_results> load_side(const std::string& path) {
  std::vector<run_results> out;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
    }
    if (ec) throw results_error(path + ": " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw results_error(path + ": no .json results files in this directory");
    for (const auto& f : files) out.push_back(load_results(f.string()));
  } else {
    out.push_back(load_results(path));
  }
  return out;
}

// Parses the words after the subcommand. Returns an exit code when the command must stop here (help
// printed, or a usage error), else the parsed flags.
std::variant<int, cli::parsed_args> parse_flags(const cli::command& spec, std::span<char* const> args) {
  try {
    cli::parsed_args a = cli::parse(spec, args);
    if (!a.help()) return a;
    std::cout << cli::help_text(spec);
    return exit_ok;
  } catch (const cli::usage_error& e) {
    return bad_usage(spec, e.what());
  }
}

// `stampede report --autoscale A.json B.json ...`: the runs' results.drill.autoscale side by side, Markdown
// (default) or HTML (--format html or an -o FILE.html).
int autoscale_side_by_side(const std::vector<std::string>& inputs, const std::optional<std::string>& output,
                           const std::optional<std::string>& format_name, bool dir) {
  if (dir) return bad_usage(report_spec, "--autoscale writes one table: use -o FILE, not --dir");
  std::string format = format_name.value_or("");
  if (format.empty() && output) format = fs::path(*output).extension().string() == ".html" ? "html" : "md";
  if (format == "markdown" || format.empty()) format = "md";
  if (format != "md" && format != "html") {
    return bad_usage(report_spec, "--autoscale renders md or html, not \"" + format + "\"");
  }
  std::string content;
  try {
    std::vector<run_results> runs;
    for (const auto& path : inputs) runs.push_back(load_results(path));
    content = format == "html" ? render_autoscale_comparison_html(runs, inputs)
                               : render_autoscale_comparison_markdown(runs, inputs);
  } catch (const results_error& e) {
    std::cerr << "stampede report: " << e.what() << "\n";
    return exit_input;
  }
  return write_output(output, content) ? exit_ok : exit_output;
}

}  // namespace

int report_command(std::span<char* const> args) {
  auto parsed = parse_flags(report_spec, args);
  if (const int* stop = std::get_if<int>(&parsed)) return *stop;
  const auto& a = std::get<cli::parsed_args>(parsed);
  const std::optional<std::string> output = a.value("--output"), format_name = a.value("--format"),
                                   step = a.value("--step"), dir = a.value("--dir");
  const bool uncorrected = a.has("--uncorrected");
  const std::vector<std::string>& positional = a.positional();
  if (positional.empty()) return bad_usage(report_spec, "no results file given");
  if (a.has("--autoscale")) return autoscale_side_by_side(positional, output, format_name, a.has("--dir"));
  if (positional.size() > 1) return bad_usage(report_spec, "more than one results file (or --autoscale)");
  const std::string& input = positional.front();
  report_format format = report_format::markdown;
  if (format_name) {
    auto f = parse_format(*format_name);
    if (!f) return bad_usage(report_spec, "unknown format \"" + *format_name + "\"");
    format = *f;
  } else if (output) {
    std::string ext = fs::path(*output).extension().string();
    auto f = parse_format(ext.empty() ? "" : ext.substr(1));
    if (f) format = *f;
  }
  if ((step || uncorrected) && format != report_format::hgrm) {
    return bad_usage(report_spec, "--step and --uncorrected apply to --format hgrm");
  }
  run_results results;
  try {
    results = load_results(input);
  } catch (const results_error& e) {
    std::cerr << "stampede report: " << e.what() << "\n";
    return exit_input;
  }
  try {
    if (dir) {
      auto files = write_report_directory(results, *dir);
      for (const auto& f : files) std::cerr << "wrote " << f.string() << "\n";
      return exit_ok;
    }
    std::string content = format == report_format::hgrm ? render_hgrm(results, step.value_or(""), uncorrected)
                                                        : render(results, format);
    return write_output(output, content) ? exit_ok : exit_output;
  } catch (const results_error& e) {
    std::cerr << "stampede report: " << input << ": " << e.what() << "\n";
    return exit_input;
  } catch (const std::exception& e) {
    std::cerr << "stampede report: " << e.what() << "\n";
    return exit_output;
  }
}

int compare_command(std::span<char* const> args) {
  auto parsed = parse_flags(compare_spec, args);
  if (const int* stop = std::get_if<int>(&parsed)) return *stop;
  const auto& a = std::get<cli::parsed_args>(parsed);
  const std::vector<std::string>& sides = a.positional();
  const std::optional<std::string> output = a.value("--output"), format_name = a.value("--format"),
                                   budget_text = a.value("--budget"), junit = a.value("--junit");
  compare_options options;
  options.fail_on_missing = a.has("--fail-on-missing");
  if (sides.size() != 2) return bad_usage(compare_spec, "give exactly BASELINE and CURRENT");
  bool as_junit = false;
  if (format_name) {
    if (*format_name == "junit" || *format_name == "xml") as_junit = true;
    else if (*format_name != "md" && *format_name != "markdown") {
      return bad_usage(compare_spec, "unknown format \"" + *format_name + "\" (md or junit)");
    }
  }
  std::vector<budget_item> budget;
  try {
    budget = parse_budget(budget_text.value_or(std::string(default_budget)));
  } catch (const std::invalid_argument& e) {
    return bad_usage(compare_spec, e.what());
  }
  std::vector<run_results> baseline, current;
  try {
    baseline = load_side(sides[0]);
    current = load_side(sides[1]);
  } catch (const results_error& e) {
    std::cerr << "stampede compare: " << e.what() << "\n";
    return exit_input;
  }
  comparison c;
  try {
    c = compare_runs(baseline, current, budget, options);
  } catch (const results_error& e) {
    std::cerr << "stampede compare: " << e.what() << "\n";
    return exit_input;
  }
  std::string content = as_junit ? render_comparison_junit(c) : render_comparison_markdown(c);
  if (!write_output(output, content)) return exit_output;
  if (junit && !write_output(junit, render_comparison_junit(c))) return exit_output;
  return c.failed() ? exit_regression : exit_ok;
}

int merge_command(std::span<char* const> args) {
  auto parsed = parse_flags(merge_spec, args);
  if (const int* stop = std::get_if<int>(&parsed)) return *stop;
  const auto& a = std::get<cli::parsed_args>(parsed);
  const std::vector<std::string>& inputs = a.positional();
  const std::optional<std::string> output = a.value("--output"), report_dir = a.value("--report");
  merge_options options;
  options.force = a.has("--force");
  if (inputs.empty()) return bad_usage(merge_spec, "no results files given");
  std::vector<run_results> shards;
  merge_output merged;
  try {
    for (const auto& path : inputs) shards.push_back(load_results(path));
    options.names = inputs;
    merged = merge_results(shards, options);
  } catch (const results_error& e) {
    std::cerr << "stampede merge: " << e.what() << "\n";
    return exit_input;
  }
  for (const auto& w : merged.warnings) std::cerr << "stampede merge: warning: " << w << "\n";
  if (!write_output(output, boost::json::serialize(merged.document) + "\n")) return exit_output;
  if (report_dir) {
    try {
      write_report_directory(merged.document, *report_dir);
    } catch (const std::exception& e) {
      std::cerr << "stampede merge: report: " << e.what() << "\n";
      return exit_output;
    }
  }
  return exit_ok;
}

}  // namespace stampede::reports
