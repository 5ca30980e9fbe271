#include "drill/quiet_wait.h"

#include <boost/json.hpp>
#include <thread>

#include "common/http_client.h"
#include "drill/drill_run.h"
#include "drill/system_parse.h"
#include "reference_shop/haproxy_runtime.h"

namespace stampede::drill {

namespace json = boost::json;

int64_t sessions_at_nodes(std::string_view show_stat_csv) {
  int64_t sessions = 0;
  for (const auto& s : parse_show_stat(show_stat_csv).servers) {
    if (s.backend == "nodes") sessions += s.current_sessions;
  }
  return sessions;
}

namespace {

using clock = std::chrono::steady_clock;

constexpr auto poll_interval =
    std::chrono::milliseconds{250};  // neither HAProxy nor the queue has an event to wait on

// nullopt when HAProxy did not answer (a restarting HAProxy: asked again at the next poll).
std::optional<int64_t> read_sessions_at_nodes(uint16_t runtime_port) {
  auto text = shop::haproxy_runtime_command(runtime_port, "show stat", std::chrono::seconds{2});
  if (!text) return std::nullopt;
  return sessions_at_nodes(*text);
}

}  // namespace

json::object wait_until_quiet(const quiet_targets& targets, std::chrono::seconds bound) {
  const auto start = clock::now();
  const auto deadline = start + bound;
  json::object seen{{"bound_s", bound.count()}};
  auto finish = [&](bool drained, const std::string& error) {
    seen["drained"] = drained;
    seen["waited_s"] = std::chrono::duration<double>(clock::now() - start).count();
    if (!drained) seen["error"] = error;
    return seen;
  };
  auto out_of_time = [&] { return clock::now() >= deadline || detail::stop_signal_pending(); };
  auto why_stopped = [&](const std::string& what) {
    return detail::stop_signal_pending() ? std::string("interrupted") : what;
  };

  if (targets.haproxy_runtime_port) {
    std::optional<int64_t> sessions;
    while (true) {
      sessions = read_sessions_at_nodes(*targets.haproxy_runtime_port);
      if (sessions && !seen.contains("sessions_at_nodes_first")) seen["sessions_at_nodes_first"] = *sessions;
      if (sessions && *sessions == 0) break;
      if (out_of_time()) {
        if (sessions) seen["sessions_at_nodes"] = *sessions;
        return finish(false,
                      why_stopped(sessions ? std::to_string(*sessions) + " request(s) still at the nodes"
                                           : "HAProxy's runtime API did not answer"));
      }
      std::this_thread::sleep_for(poll_interval);
    }
    seen["sessions_at_nodes"] = 0;
  }

  std::string last_error;
  while (true) {
    try {
      http::blocking_client client("127.0.0.1", targets.entry_port, std::chrono::seconds{5});
      auto res =
          client.request("GET", "/api/admin/audit", {}, {{"Authorization", "Bearer " + targets.admin_token}});
      if (res.status == 200) {
        json::value audit = json::parse(res.body);
        json::object outbox = audit.at("outbox").as_object();
        const int64_t busy =
            outbox.at("pending").to_number<int64_t>() + outbox.at("in_flight").to_number<int64_t>();
        seen["outbox"] = std::move(outbox);
        if (busy == 0) return finish(true, {});
      } else {
        last_error = "audit answered " + std::to_string(res.status);
      }
    } catch (const std::exception& e) {
      last_error = e.what();
    }
    if (out_of_time())
      return finish(false, why_stopped(last_error.empty() ? "the order queue is still busy" : last_error));
    std::this_thread::sleep_for(poll_interval);
  }
}

}  // namespace stampede::drill
