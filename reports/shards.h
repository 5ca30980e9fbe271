// Which inputs `stampede merge` may add up: run identities and shard slots (internal to stampede::reports;
// docs/RESULTS.md describes run ids and the rules).
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "reports/results.h"

namespace stampede::reports::detail {

// The runs an input adds up: its meta.merged_from, else its run_id, else (files from before run ids) a key
// of its scenario, start time and shard.
std::vector<std::string> runs_of(const run_results& r);

// Why the inputs are not the disjoint parts of one test, one sentence each naming the inputs (`names[i]`,
// else "input i+1"); empty when they are.
std::vector<std::string> shard_problems(std::span<const run_results> shards, const std::vector<std::string>& names);

// A stable id for a merge of `runs` (sorted): "merge-" and 16 hex digits of FNV-1a.
std::string merged_run_id(const std::vector<std::string>& runs);

}  // namespace stampede::reports::detail
