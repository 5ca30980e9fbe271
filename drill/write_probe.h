// The partition game day's probe (gameday_db_partition.lua, docs/DRILLS.md): a small write tried on every
// Patroni member every `interval`, straight at the member's own PostgreSQL port (no HAProxy, no fault
// proxy): a client on the member's side of the partition. Each attempt is one transaction (an INSERT into
// `stampede_partition_probe` in the `postgres` database, COMMIT) with short deadlines: acknowledged (ok),
// refused (read-only after a demotion, server stopped, any error before COMMIT) or unknown (COMMIT sent and
// no answer in time, e.g. waiting for a synchronous standby that cannot answer: the probe cancels it).
// The partition fault tells the probe when it cut which member (mark_cut); split_brain.h turns the
// attempts into the figures, served as JSON on `GET /partition` (127.0.0.1, port()) for the scenario's
// verify().
//
// Thread-safety: one thread per member plus the HTTP server's; mark_cut, attempts and report may be called
// from any thread (one mutex).
#pragma once

#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "drill/split_brain.h"

namespace stampede::http {
class server;
}

namespace stampede::drill {

struct probe_member {
  std::string name;   // pg1, pg2, ...
  uint16_t port = 0;  // its own PostgreSQL port on 127.0.0.1
};

class write_probe {
 public:
  // `password`: the postgres superuser's (the cluster's DIR/patroni/superuser.password).
  write_probe(std::vector<probe_member> members, std::string password,
              std::chrono::milliseconds interval = std::chrono::milliseconds{150});
  ~write_probe();  // stop()
  write_probe(const write_probe&) = delete;
  write_probe& operator=(const write_probe&) = delete;

  // Creates the probe's table on the member that leads (bounded, a few seconds at most), starts the
  // members' threads and the HTTP endpoint. Throws std::runtime_error when no member takes the table.
  void start();
  void stop();
  uint16_t port() const;
  // The partition of `member` began now.
  void mark_cut(const std::string& member);
  std::vector<probe_attempt> attempts() const;
  // {"interval_ms", "members": [{name, port, ok, refused, unknown, last_error}], "analysis": the split-brain
  // report, "durability": the acknowledged writes looked up on the member that leads now (bounded: a few
  // seconds when no member answers)}
  boost::json::object snapshot() const;

 private:
  void run_member(size_t index);
  boost::json::object durability(const std::vector<probe_attempt>& attempts,
                                 const std::optional<partition_cut>& cut) const;
  double now_s() const;

  std::vector<probe_member> members_;
  std::string password_;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::vector<probe_attempt> attempts_;
  std::vector<std::string> last_error_;  // per member
  std::optional<partition_cut> cut_;
  std::vector<std::thread> threads_;
  std::unique_ptr<http::server> server_;
};

}  // namespace stampede::drill
