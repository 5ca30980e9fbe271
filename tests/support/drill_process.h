// `stampede drill` run as a child process by the end-to-end drill tests: the real binary (STAMPEDE_BINARY,
// defined by stampede_add_drill_test in tests/drill/CMakeLists.txt) on a scenario, its output directory and
// log in the test's temporary directory, bounded in time (SIGTERM at the bound so that the drill stops its
// shop on the way out, SIGKILL 3 s later), and what it left: exit code, results.json, log.
// Header-only: its users link Boost::json and stampede::test_support.
#pragma once

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/sanitizers.h"

#ifndef STAMPEDE_BINARY
#error \
    "tests/support/drill_process.h needs STAMPEDE_BINARY (the stampede executable): use stampede_add_drill_test"
#endif

namespace stampede::testing {

// What a finished drill left.
struct drill_run {
  int code = -1;               // exit code; -1 killed at its bound or by a signal, -2 not started
  boost::json::value results;  // <out>/results.json; null when the drill wrote none
  std::string log;             // its stdout and stderr
  std::filesystem::path out;   // its --out directory
};

// One `stampede drill` run. The command line is: drill <scenario> --out <dir>/<out_name> <args...>.
struct drill_request {
  std::filesystem::path scenario;   // the scenario file (scenario_path() for a shipped one)
  std::filesystem::path dir;        // the test's temporary directory
  std::vector<std::string> args;    // everything else: --nodes, --quiet, -e NAME=value, --shop-arg ...
  std::chrono::seconds bound{120};  // killed after this in the release build
  // The bound in a sanitized build (ASan/TSan slow the shop and the generator; PostgreSQL and HAProxy are
  // not instrumented); zero: the release bound.
  std::chrono::seconds sanitized_bound{0};
  std::string out_name = "out";        // <dir>/<out_name>: --out
  std::string log_name = "drill.log";  // <dir>/<log_name>: stdout and stderr
};

#ifdef STAMPEDE_SOURCE_DIR
// A shipped scenario: scenarios/<name>.
inline std::filesystem::path scenario_path(std::string_view name) {
  return std::filesystem::path(STAMPEDE_SOURCE_DIR) / "scenarios" / name;
}
#endif

// {"-e", "NAME=value", ...} for each entry: scenario variables on the command line.
inline std::vector<std::string> env_args(std::initializer_list<std::string_view> entries) {
  std::vector<std::string> out;
  for (auto e : entries) out.insert(out.end(), {"-e", std::string(e)});
  return out;
}

// What a drill left in `out` and `log` after it ended with `code` (for a drill started with spawn()).
inline drill_run collect_drill(int code, const std::filesystem::path& out, const std::filesystem::path& log) {
  drill_run r;
  r.code = code;
  r.out = out;
  r.log = read_text(log);
  const std::string text = read_text(out / "results.json");
  if (!text.empty()) r.results = boost::json::parse(text);
  return r;
}

// Runs the drill to its end or its bound.
inline drill_run run_drill(const drill_request& request) {
  const auto out = request.dir / request.out_name;
  const auto log = request.dir / request.log_name;
  std::vector<std::string> args{STAMPEDE_BINARY, "drill", request.scenario.string(), "--out", out.string()};
  args.insert(args.end(), request.args.begin(), request.args.end());
  const auto bound =
      sanitized_build && request.sanitized_bound.count() > 0 ? request.sanitized_bound : request.bound;
  const int code = run_bounded(args, log, bound, std::chrono::seconds{3});
  return collect_drill(code, out, log);
}

// The first invariant of results.verify whose name starts with `prefix`; nullptr when there is none.
inline const boost::json::object* find_invariant(const boost::json::value& results, std::string_view prefix) {
  if (!results.is_object() || !results.at("verify").is_object()) return nullptr;
  for (const auto& inv : results.at("verify").at("invariants").as_array()) {
    if (std::string_view(inv.at("name").as_string()).starts_with(prefix)) return &inv.as_object();
  }
  return nullptr;
}

}  // namespace stampede::testing
