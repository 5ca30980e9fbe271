// Subcommands of the reports component: `stampede report`, `stampede compare`, `stampede merge`.
// args[0] is the subcommand name. Exit codes (docs/REPORTS.md):
//   report, merge: 0 ok, 2 bad usage, 3 unreadable or invalid input (merge: also inputs that are not the
//                  disjoint shards of one test, unless --force), 4 cannot write output.
//   compare:       0 no regression, 1 regression beyond the budget (or a missing step with
//                  --fail-on-missing), 2 bad usage, 3 input, 4 output.
// (`stampede run` uses 99 for crossed thresholds, as k6 does; compare's 1 is deliberately different.)
//
// Thread-safety: each call is independent; they write to stdout/stderr and the files named.
#pragma once

#include <span>

#include "common/cli_args.h"

namespace stampede::reports {

inline constexpr int exit_ok = cli::exit_ok;
inline constexpr int exit_regression = 1;
inline constexpr int exit_usage = cli::exit_usage;
inline constexpr int exit_input = 3;
inline constexpr int exit_output = 4;

int report_command(std::span<char* const> args);
int compare_command(std::span<char* const> args);
int merge_command(std::span<char* const> args);

}  // namespace stampede::reports
