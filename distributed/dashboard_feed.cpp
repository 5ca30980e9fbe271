#include "distributed/dashboard_feed.h"

#include <algorithm>
#include <chrono>

#include "distributed/protocol.h"
#include "loadgen/dashboard_figures.h"
#include "loadgen/run.h"

namespace stampede::distributed {

dashboard_feed::dashboard_feed(const host_port& address, std::string title,
                               const loadgen::run_options& options)
    : server_(std::make_unique<dashboard::server>(
          address, dashboard::run_info{.title = std::move(title), .run_id = "distributed"})) {
  for (const auto& s : options.scenarios) {
    planned_duration_s_ = std::max(
        planned_duration_s_, std::chrono::duration<double>(s.start_time + s.planned_duration()).count());
  }
}

std::vector<dashboard::shard_row> dashboard_feed::shard_rows(const lease_table& leases) {
  std::vector<dashboard::shard_row> rows;
  for (const lease& l : leases.all()) {
    dashboard::shard_row row{.shard = l.shard, .agent = l.agent, .state = "waiting", .detail = {}};
    switch (l.state) {
      case lease_state::free:
        row.detail = "no agent yet";
        break;
      case lease_state::leased:
        row.detail = "registered, waiting for the start";
        break;
      case lease_state::running:
        row.state = "running";
        break;
      case lease_state::finished:
        row.state = "done";
        break;
      case lease_state::lost:
        row.state = "lost";
        row.detail = l.lost_reason;
        break;
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void dashboard_feed::publish(live_view& live, std::span<const loadgen::threshold> thresholds,
                             double elapsed_s, std::vector<dashboard::shard_row> shards, bool all) {
  dashboard::live_update u = live.dashboard_update(thresholds, std::max(elapsed_s, 0.0), all);
  u.planned_duration_s = planned_duration_s_;
  u.shards = std::move(shards);
  server_->publish(std::move(u));
}

void dashboard_feed::finish(int code, const std::optional<std::string>& out_path,
                            const std::optional<std::string>& report_dir) {
  std::string outcome = code == exit_shard_missing ? "a shard was missing or lost"
                        : code == exit_refused     ? "refused"
                                                   : std::string(loadgen::outcome_text(code));
  server_->finish(loadgen::run_end_of(std::move(outcome), code == loadgen::exit_ok, out_path, report_dir));
}

}  // namespace stampede::distributed
