// Which agent runs which shard (docs/DISTRIBUTED.md, "Leases"). Registration is idempotent and a shard's load
// never runs twice:
// - the same agent id registering again before the start gets the same shard;
// - a shard hint (e.g. an Indexed Job's JOB_COMPLETION_INDEX) takes that shard; a new agent with the hint of
//   a shard leased but not started yet takes the lease over (its pod restarted before the start);
// - without a hint, the lowest free shard;
// - once the run has started, a shard that was leased (running, finished or lost) is never handed out again:
//   a restarted pod is refused rather than running its load twice.
//
// Thread-safety: none (the coordinator holds its mutex around it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace stampede::distributed {

enum class lease_state : uint8_t { free, leased, running, finished, lost };
std::string_view to_string(lease_state state) noexcept;

struct lease {
  int shard = 0;
  lease_state state = lease_state::free;
  std::string agent{};    // who holds it
  int64_t offset_us = 0;  // coordinator's clock minus the agent's (clock_offset.h)
  int64_t round_trip_us = 0;
  std::chrono::steady_clock::time_point last_seen{};
  std::string lost_reason{};  // lost: why
};

struct registration {
  std::optional<int> shard{};  // granted; else `error` says why not
  std::string error{};
  int status = 200;  // HTTP status of the answer: 200, 400 (bad hint), 409 (refused)
};

class lease_table {
 public:
  explicit lease_table(int shards);
  registration register_agent(const std::string& agent, std::optional<int> hint, int64_t offset_us,
                              int64_t round_trip_us, std::chrono::steady_clock::time_point now);
  // The shard `agent` holds (any state), or nullptr.
  lease* held_by(const std::string& agent);
  std::vector<lease>& all() { return leases_; }
  const std::vector<lease>& all() const { return leases_; }
  // The shards without an agent, e.g. "1, 2".
  std::string missing() const;
  int leased() const;
  // The run starts: every leased shard is running; none is handed out again.
  void start(std::chrono::steady_clock::time_point now);
  bool started() const { return started_; }

 private:
  std::vector<lease> leases_;
  bool started_ = false;
};

}  // namespace stampede::distributed
