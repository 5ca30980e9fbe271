// The coordinator <-> agent protocol of a distributed run (docs/DISTRIBUTED.md, "Protocol"): HTTP/1.1 + JSON
// on common/http_server and common/http_client, histograms in their own V2 encoding. Every request carries
// "Authorization: Bearer TOKEN" when the coordinator has a token (else 401).
//   GET  /v1/time                  {"now_us"}: the coordinator's clock (the agent's offset estimate)
//   POST /v1/register              {"agent", "shard_hint"?, "offset_us", "round_trip_us"} -> {"shard",
//   "shards"}
//                                  or 400/409 {"error", "detail"}; 410 once registration has failed
//   GET  /v1/plan?agent=ID         202 {"registered", "shards"} while waiting; 200 {"script", "script_name",
//                                  "env", "seed", "target"?, "setup_data", "files" (data_files.h),
//                                  "shard", "shards",
//                                  "start_unix_us"} (the start in the agent's own clock); 410 {"detail"} when
//                                  the run failed
//   POST /v1/report?agent=ID       {"snapshots": [...]} (snapshot_codec.h), also empty as a heartbeat
//                                  -> {"stop": null | "reason"}
//   POST /v1/results?agent=ID      {"exit_code", "results": {...} | null}
//   GET  /v1/live                  the merged per-second view (live_view.h)
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace stampede::distributed {

// Exit codes of `stampede coordinate` and `stampede agent` beyond `stampede run`'s (README, "Exit codes").
inline constexpr int exit_shard_missing = 110;  // a shard never registered, or its agent was lost
inline constexpr int exit_refused = 111;        // the coordinator refused this agent (token, lease)

inline int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string bearer(const std::string& token) { return "Bearer " + token; }

}  // namespace stampede::distributed
