// The drill's quiet wait: after the load and before the checkers read the histories, wait until nothing the
// load started is still running in the shop, so that a checker never judges a half-finished request.
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace stampede::drill {

struct quiet_targets {
  uint16_t entry_port = 0;                       // HAProxy's shop frontend (the audit is read through it)
  std::string admin_token;                       // for GET /api/admin/audit
  std::optional<uint16_t> haproxy_runtime_port;  // `show stat`: requests still at the nodes
};

// Waits, within `bound`, for two things in turn:
//  1. no session left on HAProxy's `nodes` backend (scur summed over its servers): a request whose client
//     gave up at the end of the run can still be running at a node and create an order or a capture after
//     the checkers looked; the runtime socket is not a session, so this poll does not count itself;
//  2. no order message pending or in flight in the outbox (the audit).
// Returns what it saw for the results ("drill.quiet"): drained, waited_s, bound_s, outbox, the sessions
// seen at the nodes when the wait began and when it ended, and an error when it gave up.
boost::json::object wait_until_quiet(const quiet_targets& targets, std::chrono::seconds bound);

// The sessions on the `nodes` backend in a `show stat` answer (0 when it has no such server row).
int64_t sessions_at_nodes(std::string_view show_stat_csv);

}  // namespace stampede::drill
