#include "reports/shards.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace stampede::reports::detail {

// Files from before run ids are known by their scenario, start time and shard (two runs of one scenario do
// not start in the same millisecond).
std::vector<std::string> runs_of(const run_results& r) {
  if (!r.merged_from.empty()) return r.merged_from;
  if (!r.run_id.empty()) return {r.run_id};
  return {"legacy:" + r.scenario + "@" + std::to_string(r.start_unix_ms) + "#" + std::to_string(r.shard_index) + "/" +
          std::to_string(r.shard_count)};
}

std::vector<std::string> shard_problems(std::span<const run_results> shards, const std::vector<std::string>& names) {
  auto name = [&](size_t i) { return i < names.size() ? names[i] : "input " + std::to_string(i + 1); };
  auto slot = [](const run_results& r) { return std::to_string(r.shard_index) + "/" + std::to_string(r.shard_count); };
  std::vector<std::string> problems;
  for (size_t i = 0; i < shards.size(); ++i) {
    const run_results& r = shards[i];
    if (r.shard_count < 1 || r.shard_index < 0 || r.shard_index >= r.shard_count) {
      problems.push_back(name(i) + " claims shard " + slot(r) + ", which cannot exist (index 0.." +
                         std::to_string(std::max<int64_t>(0, r.shard_count - 1)) + ")");
    }
    if (r.shard_count != shards[0].shard_count) {
      problems.push_back(name(0) + " is shard " + slot(shards[0]) + " but " + name(i) + " is shard " + slot(r) +
                         ": different splits of the load");
    }
    for (size_t j = 0; j < i; ++j) {
      const run_results& o = shards[j];
      if (r.shard_count > 1 && o.shard_count == r.shard_count && o.shard_index == r.shard_index) {
        problems.push_back(name(j) + " and " + name(i) + " are both shard " + slot(r) + ": the same slice of the load twice");
        continue;
      }
      const std::vector<std::string> a = runs_of(o), b = runs_of(r);
      for (const auto& id : b) {
        if (std::find(a.begin(), a.end(), id) != a.end()) {
          problems.push_back(name(j) + " and " + name(i) + " contain the same run (" + id + "): its counts would be added twice");
          break;
        }
      }
    }
  }
  return problems;
}

std::string merged_run_id(const std::vector<std::string>& runs) {
  uint64_t h = 1469598103934665603ULL;
  for (const auto& id : runs) {
    for (unsigned char c : id + '\n') {
      h ^= c;
      h *= 1099511628211ULL;
    }
  }
  char text[32];
  std::snprintf(text, sizeof text, "merge-%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace stampede::reports::detail
