// `stampede coordinate`: one test across many agents (docs/DISTRIBUTED.md). Waits for N agents, leases each a
// shard, runs setup() once and hands its data, the scenario and the start time to every agent, merges their
// per-second snapshots live (thresholds and abortOnFail on the merged view), stops every agent when one
// threshold aborts or an agent is lost, merges their results exactly (reports/merge.h), runs teardown() once
// and writes the merged results and reports.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/host_port.h"
#include "loadgen/run.h"

namespace stampede::distributed {

struct coordinate_request {
  std::string script_path;
  int shards = 1;
  host_port listen{"127.0.0.1", 6565};
  std::optional<std::string> out_path;
  std::optional<std::string> report_dir;
  std::optional<std::string> token;
  std::optional<std::string> target;       // options.target for every agent
  std::map<std::string, std::string> env;  // -e, for setup() here and every agent
  uint64_t seed = 1;
  std::chrono::milliseconds register_timeout{60'000};
  std::chrono::milliseconds agent_timeout{10'000};  // an agent silent that long is lost
  std::chrono::milliseconds start_delay{1'000};     // from the release to the barrier's start time
  bool quiet = false;
  std::function<void(uint16_t port)> listening;  // once it listens (tests: port 0)
  // --dashboard: the live page of the merged view and the shards' states (dashboard_feed.h); port 0: a free
  // one.
  std::optional<host_port> dashboard_listen;
};

// Returns the exit code (`stampede run`'s, with 110 for a missing or lost shard: protocol.h).
int coordinate(const coordinate_request& request, const loadgen::report_writer& write_reports = {});

}  // namespace stampede::distributed
