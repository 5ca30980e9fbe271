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
    "                        [--fail-on-missing]\n"
    "  BASELINE and CURRENT are results files or directories of results files (repeated runs).\n"
    "  --fail-on-missing: a step the baseline served and the current runs did not fails the gate (exit 1).\n"
    "  SPEC: comma-separated METRIC:CHANGE, e.g. \"p99:+10%,rps:-5%,error_rate:+0.5pp\" (also ms);\n"
    "        metrics p50 p90 p95 p99 p999 max mean rps error_rate. Default: p50:+10%,p99:+10%,rps:-5%,error_rate:+0.5pp\n"
    "  Exit: 0 no regression, 1 regression beyond the budget (or a missing step with --fail-on-missing), 2 usage,\n"
    "  3 invalid input, 4 cannot write output.\n";

constexpr std::string_view merge_usage =
    "usage: stampede merge A.json B.json ... [-o merged.json] [--report DIR] [--force]\n"
    "  Adds the shards' histograms, aligns time series on wall-clock seconds and re-evaluates thresholds.\n"
    "  Refuses inputs that are not the disjoint shards of one test (the same run or shard twice, shard 5 of 2,\n"
    "  different shard counts) unless --force.\n"
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

// One flag of a subcommand: a value flag fills `value`, a switch sets `on`.
struct flag {
  std::vector<std::string_view> names;
  std::optional<std::string>* value = nullptr;
  bool* on = nullptr;
  std::string_view needs = "a value";  // what the message says a value flag lacks, e.g. "a file"
};

// Parses the words after the subcommand: flags from `flags`, everything else (and "-") positional.
// Returns an exit code when the command must stop here (help printed, or a usage error), else nullopt.
std::optional<int> parse_flags(std::span<char* const> args, std::string_view usage, const std::vector<flag>& flags,
                               std::vector<std::string>& positional) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (is_help(a)) {
      std::cout << usage;
      return exit_ok;
    }
    if (a.empty() || a[0] != '-' || a == "-") {
      positional.emplace_back(a);
      continue;
    }
    auto f = std::find_if(flags.begin(), flags.end(), [&](const flag& candidate) {
      return std::find(candidate.names.begin(), candidate.names.end(), a) != candidate.names.end();
    });
    if (f == flags.end()) return usage_error(usage, "unknown option " + std::string(a));
    if (f->on != nullptr) {
      *f->on = true;
    } else if (i + 1 < args.size()) {
      *f->value = args[++i];
    } else {
      return usage_error(usage, std::string(a) + " needs " + std::string(f->needs));
    }
  }
  return std::nullopt;
}

}  // namespace

int report_command(std::span<char* const> args) {
  std::optional<std::string> output, format_name, step, dir;
  bool uncorrected = false;
  std::vector<std::string> positional;
  if (auto stop = parse_flags(args, report_usage,
                              {{{"-o", "--output"}, &output, nullptr, "a file"},
                               {{"-f", "--format"}, &format_name},
                               {{"--step"}, &step, nullptr, "a name"},
                               {{"--dir"}, &dir, nullptr, "a directory"},
                               {{"--uncorrected"}, nullptr, &uncorrected}},
                              positional)) {
    return *stop;
  }
  if (positional.empty()) return usage_error(report_usage, "no results file given");
  if (positional.size() > 1) return usage_error(report_usage, "more than one results file");
  const std::string& input = positional.front();
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
  std::vector<std::string> sides;
  std::optional<std::string> output, format_name, budget_text, junit;
  compare_options options;
  if (auto stop = parse_flags(args, compare_usage,
                              {{{"-o", "--output"}, &output, nullptr, "a file"},
                               {{"-f", "--format"}, &format_name},
                               {{"--budget"}, &budget_text},
                               {{"--junit"}, &junit, nullptr, "a file"},
                               {{"--fail-on-missing"}, nullptr, &options.fail_on_missing}},
                              sides)) {
    return *stop;
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
  std::vector<std::string> inputs;
  std::optional<std::string> output, report_dir;
  merge_options options;
  if (auto stop = parse_flags(args, merge_usage,
                              {{{"-o", "--output"}, &output, nullptr, "a file"},
                               {{"--report"}, &report_dir, nullptr, "a directory"},
                               {{"--force"}, nullptr, &options.force}},
                              inputs)) {
    return *stop;
  }
  if (inputs.empty()) return usage_error(merge_usage, "no results files given");
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
