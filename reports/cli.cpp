#include "reports/cli.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/serialize.hpp>

#include "reports/compare.h"
#include "reports/formats.h"
#include "reports/merge.h"
#include "reports/results.h"

namespace stampede::reports {

namespace {

namespace fs = std::filesystem;

constexpr std::string_view report_usage =
    "usage: stampede report RESULTS.json [-o FILE] [--format html|md|junit|hgrm|hlog|json]\n"
    "                       [--step NAME] [--uncorrected]\n"
    "       stampede report RESULTS.json --dir DIR      (every format into DIR)\n"
    "  Without --format the format follows -o's extension (.html .md .xml .hgrm .hlog .json); default md.\n"
    "  --step and --uncorrected select the histogram of the hgrm format (default: all requests, corrected).\n"
    "  Exit: 0 ok, 2 usage, 3 unreadable or invalid input, 4 cannot write output.\n";

constexpr std::string_view compare_usage =
    "usage: stampede compare BASELINE CURRENT [--budget SPEC] [--format md|junit] [-o FILE] [--junit FILE]\n"
    "  BASELINE and CURRENT are results files or directories of results files (repeated runs).\n"
    "  SPEC: comma-separated METRIC:CHANGE, e.g. \"p99:+10%,rps:-5%,error_rate:+0.5pp\" (also ms);\n"
    "        metrics p50 p90 p95 p99 p999 max mean rps error_rate. Default: p50:+10%,p99:+10%,rps:-5%,error_rate:+0.5pp\n"
    "  Exit: 0 no regression, 1 regression beyond the budget, 2 usage, 3 invalid input, 4 cannot write output.\n";

constexpr std::string_view merge_usage =
    "usage: stampede merge A.json B.json ... [-o merged.json] [--report DIR]\n"
    "  Adds the shards' histograms, aligns time series on wall-clock seconds and re-evaluates thresholds.\n"
    "  Without -o the merged results go to stdout. Exit: 0 ok, 2 usage, 3 invalid input, 4 cannot write.\n";

int usage_error(std::string_view usage, const std::string& message) {
  std::cerr << "stampede: " << message << "\n\n" << usage;
  return exit_usage;
}

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

bool is_help(std::string_view a) { return a == "-h" || a == "--help"; }

}  // namespace

int report_command(std::span<char* const> args) {
  std::optional<std::string> input, output, format_name, step, dir;
  bool uncorrected = false;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&](std::optional<std::string>& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (is_help(a)) {
      std::cout << report_usage;
      return exit_ok;
    } else if (a == "-o" || a == "--output") {
      if (!value(output)) return usage_error(report_usage, "-o needs a file");
    } else if (a == "--format" || a == "-f") {
      if (!value(format_name)) return usage_error(report_usage, "--format needs a value");
    } else if (a == "--step") {
      if (!value(step)) return usage_error(report_usage, "--step needs a name");
    } else if (a == "--dir") {
      if (!value(dir)) return usage_error(report_usage, "--dir needs a directory");
    } else if (a == "--uncorrected") {
      uncorrected = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      return usage_error(report_usage, "unknown option " + std::string(a));
    } else if (!input) {
      input = std::string(a);
    } else {
      return usage_error(report_usage, "more than one results file");
    }
  }
  if (!input) return usage_error(report_usage, "no results file given");
  report_format format = report_format::markdown;
  if (format_name) {
    auto f = parse_format(*format_name);
    if (!f) return usage_error(report_usage, "unknown format \"" + *format_name + "\"");
    format = *f;
  } else if (output) {
    std::string ext = fs::path(*output).extension().string();
    auto f = parse_format(ext.empty() ? "" : ext.substr(1));
    if (f) format = *f;
  }
  if ((step || uncorrected) && format != report_format::hgrm) {
    return usage_error(report_usage, "--step and --uncorrected apply to --format hgrm");
  }
  run_results results;
  try {
    results = load_results(*input);
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
    std::cerr << "stampede report: " << *input << ": " << e.what() << "\n";
    return exit_input;
  } catch (const std::exception& e) {
    std::cerr << "stampede report: " << e.what() << "\n";
    return exit_output;
  }
}

int compare_command(std::span<char* const> args) {
  std::vector<std::string> sides;
  std::optional<std::string> output, format_name, budget_text, junit;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&](std::optional<std::string>& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (is_help(a)) {
      std::cout << compare_usage;
      return exit_ok;
    } else if (a == "-o" || a == "--output") {
      if (!value(output)) return usage_error(compare_usage, "-o needs a file");
    } else if (a == "--format" || a == "-f") {
      if (!value(format_name)) return usage_error(compare_usage, "--format needs a value");
    } else if (a == "--budget") {
      if (!value(budget_text)) return usage_error(compare_usage, "--budget needs a value");
    } else if (a == "--junit") {
      if (!value(junit)) return usage_error(compare_usage, "--junit needs a file");
    } else if (!a.empty() && a[0] == '-') {
      return usage_error(compare_usage, "unknown option " + std::string(a));
    } else {
      sides.emplace_back(a);
    }
  }
  if (sides.size() != 2) return usage_error(compare_usage, "give exactly BASELINE and CURRENT");
  bool as_junit = false;
  if (format_name) {
    if (*format_name == "junit" || *format_name == "xml") as_junit = true;
    else if (*format_name != "md" && *format_name != "markdown") {
      return usage_error(compare_usage, "unknown format \"" + *format_name + "\" (md or junit)");
    }
  }
  std::vector<budget_item> budget;
  try {
    budget = parse_budget(budget_text.value_or(std::string(default_budget)));
  } catch (const std::invalid_argument& e) {
    return usage_error(compare_usage, e.what());
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
    c = compare_runs(baseline, current, budget);
  } catch (const results_error& e) {
    std::cerr << "stampede compare: " << e.what() << "\n";
    return exit_input;
  }
  std::string content = as_junit ? render_comparison_junit(c) : render_comparison_markdown(c);
  if (!write_output(output, content)) return exit_output;
  if (junit && !write_output(junit, render_comparison_junit(c))) return exit_output;
  return c.regression() ? exit_regression : exit_ok;
}

int merge_command(std::span<char* const> args) {
  std::vector<std::string> inputs;
  std::optional<std::string> output, report_dir;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view a = args[i];
    auto value = [&](std::optional<std::string>& into) {
      if (i + 1 >= args.size()) return false;
      into = args[++i];
      return true;
    };
    if (is_help(a)) {
      std::cout << merge_usage;
      return exit_ok;
    } else if (a == "-o" || a == "--output") {
      if (!value(output)) return usage_error(merge_usage, "-o needs a file");
    } else if (a == "--report") {
      if (!value(report_dir)) return usage_error(merge_usage, "--report needs a directory");
    } else if (!a.empty() && a[0] == '-') {
      return usage_error(merge_usage, "unknown option " + std::string(a));
    } else {
      inputs.emplace_back(a);
    }
  }
  if (inputs.empty()) return usage_error(merge_usage, "no results files given");
  std::vector<run_results> shards;
  merge_output merged;
  try {
    for (const auto& path : inputs) shards.push_back(load_results(path));
    merged = merge_results(shards);
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
