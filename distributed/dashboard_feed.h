// `stampede coordinate --dashboard IP:PORT`: the live dashboard of a distributed run (dashboard/server.h, the
// page `stampede run --dashboard` serves), fed once a second with the agents' merged view (live_view.h:
// the same figures, through loadgen/dashboard_figures.h) and each shard's state, and at the end the outcome
// and the links to the merged results and report.
//
// Thread-safety: the coordinator's thread calls it; shard_rows() under the coordinator's mutex.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/host_port.h"
#include "dashboard/server.h"
#include "distributed/leases.h"
#include "distributed/live_view.h"
#include "loadgen/options.h"
#include "loadgen/thresholds.h"

namespace stampede::distributed {

class dashboard_feed {
 public:
  // Listens at `address` (throws std::system_error when it cannot). `options`: the scenario's, for the
  // planned duration.
  dashboard_feed(const host_port& address, std::string title, const loadgen::run_options& options);

  std::string url() const { return server_->url(); }
  // Each shard's state for the page: waiting (no agent yet, or registered before the start), running, done,
  // lost (with why).
  static std::vector<dashboard::shard_row> shard_rows(const lease_table& leases);
  // The seconds every shard has moved past (`all`: every second, at the end) and the figures so far.
  void publish(live_view& live, std::span<const loadgen::threshold> thresholds, double elapsed_s,
               std::vector<dashboard::shard_row> shards, bool all);
  // The run ended with exit code `code` (protocol.h's codes too); the last publish() stays on the page.
  void finish(int code, const std::optional<std::string>& out_path,
              const std::optional<std::string>& report_dir);

 private:
  std::unique_ptr<dashboard::server> server_;
  double planned_duration_s_ = 0;
};

}  // namespace stampede::distributed
