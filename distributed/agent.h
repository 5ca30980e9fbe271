// `stampede agent`: one shard of a coordinated run (docs/DISTRIBUTED.md). Measures its clock offset to the
// coordinator, registers (idempotently: its agent id and shard hint), waits for the plan, runs its shard with
// `stampede run`'s engine from the released start time, streams its per-second snapshots (which also tell it
// to stop), and hands in its results.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/host_port.h"

namespace stampede::distributed {

struct agent_request {
  host_port coordinator;
  std::optional<std::string> token;
  std::optional<int> shard_hint;  // --shard-hint, STAMPEDE_SHARD_HINT (an Indexed Job's JOB_COMPLETION_INDEX)
  std::string agent_id;           // stable across retries of this agent (default: host name and pid)
  int threads = 1;
  std::optional<std::string> out_path;  // also write this shard's own results here
  bool quiet = false;
  std::chrono::milliseconds connect_timeout{30'000};  // the coordinator may come up after its agents
  std::chrono::milliseconds report_period{250};       // snapshots and heartbeat
};

// Returns 0 when its shard ran and its results were handed in (the verdict is the coordinator's), the run's
// code when it failed (98, 105, 107, 108), 110 when the coordinator gave up on the run, 111 when it refused
// this agent (a bad token, a shard that already ran) or could not be reached.
int run_agent(const agent_request& request);

}  // namespace stampede::distributed
