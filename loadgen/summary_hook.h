// handleSummary(data) (docs/SCENARIOS.md, "End-of-test summary"): what the hook receives and what is done
// with what it returns. The coordinator calls the hook in worker 0 after teardown and after the results
// JSON was written (run.cpp); these are the pure parts around that call.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <boost/json/value.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace stampede::loadgen {

// The hook's argument, as JSON: k6's shape where it has one (`metrics` with `type`, `values` and
// `thresholds`; `state.testRunDurationMs`, `isStdOutTTY`, `isStdErrTTY`), plus the results model itself
// (`results`, docs/RESULTS.md, without its per-second `intervals`), its `thresholds` and `checks`.
std::string summary_hook_data(const boost::json::value& results, bool stdout_tty, bool stderr_tty);

// Where the file `name` of the hook's result goes: `base` / name, which must stay inside `base`. Throws
// std::invalid_argument naming `name` for an absolute path, a path that climbs out with "..", one that
// leads out through a symbolic link, or an existing symbolic link; creates the directories inside `base`.
std::filesystem::path confined_summary_path(const std::filesystem::path& base, std::string_view name);

// Writes the hook's result (JSON of a table name -> content; a content that is not a string is written
// as JSON): "stdout" and "stderr" to `out` and `err`, any other name as a file (confined_summary_path).
// Returns one message per entry that could not be written (nothing else is skipped); throws
// std::invalid_argument when the result is not such a table.
std::vector<std::string> write_summary_outputs(std::string_view returned_json,
                                               const std::filesystem::path& base, std::FILE* out,
                                               std::FILE* err);

}  // namespace stampede::loadgen
