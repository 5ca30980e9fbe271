#include "distributed/coordinator.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/http_server.h"
#include "distributed/dashboard_feed.h"
#include "distributed/data_files.h"
#include "distributed/leases.h"
#include "distributed/live_view.h"
#include "distributed/protocol.h"
#include "distributed/snapshot_codec.h"
#include "loadgen/lua_guard.h"
#include "loadgen/lua_sandbox.h"
#include "loadgen/thresholds.h"
#include "loadgen/worker.h"
#include "reports/merge.h"
#include "results/model.h"

namespace stampede::distributed {

namespace json = boost::json;
using steady = std::chrono::steady_clock;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string file_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Runs `call` (the script's Lua on `w`) on this thread while another ticks the guard's watchdog, as `stampede
// run` does: init's, setup()'s and teardown()'s timeouts hold, also for code that never yields (lua_guard.h).
template <class Call>
void watched(loadgen::worker& w, Call call) {
  loadgen::lua_guard::accept_pokes();
  std::atomic<bool> done{false};
  std::thread ticker([&] {
    while (!done.load()) {
      std::this_thread::sleep_for(loadgen::lua_guard::watchdog_period);
      if (!done.load()) w.watchdog_tick();
    }
  });
  try {
    call();
  } catch (...) {
    done = true;
    ticker.join();
    throw;
  }
  done = true;
  ticker.join();
}

// SIGINT/SIGTERM blocked in this thread and the server's (which inherit the mask), taken by wait(): Ctrl-C
// stops the agents and still merges what they hand in, as `stampede run` writes its results.
class signals {
 public:
  signals() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~signals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  signals(const signals&) = delete;
  signals& operator=(const signals&) = delete;
  // Waits up to `timeout`; true when SIGINT or SIGTERM came.
  bool wait(std::chrono::milliseconds timeout) {
    const timespec ts{static_cast<time_t>(timeout.count() / 1000),
                      static_cast<long>(timeout.count() % 1000) * 1'000'000};
    const int sig = sigtimedwait(&set_, nullptr, &ts);
    return sig == SIGINT || sig == SIGTERM;
  }

 private:
  sigset_t set_;
  sigset_t old_;
};

// What an agent handed in at its end.
struct agent_end {
  int exit_code = 0;
  json::value results;  // null: the agent's run produced none (it failed before the load)
};

class coordinator {
 public:
  explicit coordinator(const coordinate_request& request) : request_(request), leases_(request.shards) {}
  int run(const loadgen::report_writer& write_reports);

 private:
  enum class phase { registering, setting_up, released, failed };

  bool load_script();
  bool wait_for_agents();
  bool release();
  void monitor();
  void fail(std::string message);
  bool open_dashboard();
  void publish_dashboard(bool all);
  int finish(const loadgen::report_writer& write_reports);
  http::response handle(http::request& r);
  http::response plan_for(const lease& l) const;
  void say(const std::string& line) const {
    if (!request_.quiet) std::fprintf(stderr, "stampede coordinate: %s\n", line.c_str());
  }

  const coordinate_request& request_;
  std::string script_;
  loadgen::run_plan plan_;
  loadgen::worker_outbox outbox_;
  std::unique_ptr<loadgen::worker> worker_;  // setup() and teardown(), once, here
  std::vector<loadgen::threshold> thresholds_;
  std::string setup_data_ = "null";
  json::array data_files_;  // what the top level read with open(), for every agent (data_files.h)
  live_view live_;

  mutable std::mutex mutex_;  // guards everything below (the server's threads and this one)
  lease_table leases_;
  phase phase_ = phase::registering;
  std::string failure_;
  int64_t start_unix_us_ = 0;  // the barrier, in the coordinator's clock
  std::string stop_reason_;
  double stopped_at_s_ = 0;  // when stop_reason_ was set, since the start
  std::map<int, agent_end> ends_;

  std::unique_ptr<http::server> server_;
  std::unique_ptr<dashboard_feed> dashboard_;  // --dashboard
  steady::time_point next_publish_{};
  bool script_failed_ = false;
  bool interrupted_ = false;
  signals signals_;  // constructed on the coordinator's thread, before the server's threads
};

// The script's top level and options here, as `stampede run` reads them: the thresholds to judge, and the
// worker that runs setup() and teardown().
bool coordinator::load_script() {
  try {
    script_ = read_file(request_.script_path);
    plan_.script_path = request_.script_path;
    plan_.env = request_.env;
    plan_.seed = request_.seed;
    worker_ = std::make_unique<loadgen::worker>(plan_, 0, outbox_);
    loadgen::option_overrides overrides;
    overrides.target = request_.target;
    watched(*worker_, [&] {
      worker_->init();
      plan_.options = worker_->read_options(overrides);
    });
    thresholds_ = loadgen::build_thresholds_from_options(plan_.options.thresholds,
                                                         worker_->metrics().custom().catalogue());
    worker_->apply_plan();
  } catch (const loadgen::script_error& e) {
    std::fprintf(stderr, "stampede coordinate: script error: %s\n", e.what());
    script_failed_ = true;
    return false;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede coordinate: invalid options: %s\n", e.what());
    return false;
  }
  try {
    data_files_ = data_files_json(worker_->sandbox().data_files(), worker_->sandbox().folder());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede coordinate: %s\n", e.what());
    return false;
  }
  if (!data_files_.empty())
    say(std::to_string(data_files_.size()) + " data file(s) read by the scenario go to every agent");
  return true;
}

// Every shard leased within --register-timeout, or the run fails naming the missing shards.
bool coordinator::wait_for_agents() {
  const auto deadline = steady::now() + request_.register_timeout;
  while (steady::now() < deadline) {
    publish_dashboard(false);
    {
      std::lock_guard lock(mutex_);
      if (leases_.leased() == request_.shards) return true;
    }
    if (signals_.wait(std::chrono::milliseconds(20))) {
      interrupted_ = true;
      std::string missing;
      {
        std::lock_guard lock(mutex_);
        missing = leases_.missing();
      }
      fail("interrupted by a signal while waiting for agents; missing shards: " + missing);
      return false;
    }
  }
  std::lock_guard lock(mutex_);
  failure_ = std::to_string(leases_.leased()) + " of " + std::to_string(request_.shards) +
             " agents registered within " + std::to_string(request_.register_timeout.count()) +
             " ms; missing shards: " + leases_.missing();
  phase_ = phase::failed;
  std::fprintf(stderr, "stampede coordinate: %s\n", failure_.c_str());
  return false;
}

// setup() once, then the barrier: one start time, --start-delay ahead, for every agent.
bool coordinator::release() {
  {
    std::lock_guard lock(mutex_);
    phase_ = phase::setting_up;
  }
  try {
    watched(*worker_, [&] { setup_data_ = worker_->run_setup(); });
  } catch (const loadgen::script_error& e) {
    fail(std::string("setup() failed: ") + e.what());
    script_failed_ = true;
    return false;
  }
  std::lock_guard lock(mutex_);
  start_unix_us_ =
      unix_us() + std::chrono::duration_cast<std::chrono::microseconds>(request_.start_delay).count();
  leases_.start(steady::now());
  phase_ = phase::released;
  say("all " + std::to_string(request_.shards) + " agents registered; the load starts in " +
      std::to_string(request_.start_delay.count()) + " ms");
  return true;
}

void coordinator::fail(std::string message) {
  std::lock_guard lock(mutex_);
  failure_ = std::move(message);
  phase_ = phase::failed;
  std::fprintf(stderr, "stampede coordinate: %s\n", failure_.c_str());
}

// During the load: agents that stopped reporting are lost; the thresholds on the merged view, every second.
void coordinator::monitor() {
  auto next_check = steady::now() + std::chrono::seconds(1);
  while (true) {
    const bool signalled = signals_.wait(std::chrono::milliseconds(50));
    publish_dashboard(false);
    std::unique_lock lock(mutex_);
    if (signalled) {  // the first stops every agent; a second one stops waiting for them
      if (interrupted_) return;
      interrupted_ = true;
      std::fprintf(stderr,
                   "stampede coordinate: signal received, stopping every agent (again to stop waiting)\n");
      if (stop_reason_.empty()) {
        stop_reason_ = "coordinator: interrupted by a signal";
        stopped_at_s_ = static_cast<double>(unix_us() - start_unix_us_) / 1e6;
      }
    }
    bool done = true;
    for (lease& l : leases_.all()) {
      if (l.state == lease_state::running && steady::now() - l.last_seen > request_.agent_timeout) {
        l.state = lease_state::lost;
        l.lost_reason = "no report for " + std::to_string(request_.agent_timeout.count()) + " ms";
        std::fprintf(stderr, "stampede coordinate: shard %d (agent %s) lost: %s\n", l.shard, l.agent.c_str(),
                     l.lost_reason.c_str());
        if (stop_reason_.empty()) {
          stop_reason_ = "coordinator: shard " + std::to_string(l.shard) + " lost";
          stopped_at_s_ = static_cast<double>(unix_us() - start_unix_us_) / 1e6;
        }
      }
      done = done && (l.state == lease_state::finished || l.state == lease_state::lost);
    }
    if (done) return;
    const double elapsed_s = static_cast<double>(unix_us() - start_unix_us_) / 1e6;
    if (!stop_reason_.empty() || thresholds_.empty() || elapsed_s <= 0 || steady::now() < next_check)
      continue;
    next_check += std::chrono::seconds(1);
    lock.unlock();
    const auto verdicts = live_.evaluate(thresholds_, elapsed_s);
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(elapsed_s));
    for (size_t i = 0; i < verdicts.size(); ++i) {
      if (verdicts[i].no_data || !loadgen::should_abort(thresholds_[i], verdicts[i], elapsed)) continue;
      lock.lock();
      stop_reason_ = "threshold " + verdicts[i].metric + " " + verdicts[i].expression +
                     " crossed on the merged view (abortOnFail)";
      stopped_at_s_ = elapsed_s;
      say(stop_reason_ + ": stopping every agent");
      lock.unlock();
      break;
    }
  }
}

bool coordinator::open_dashboard() {
  if (!request_.dashboard_listen) return true;
  try {
    dashboard_ = std::make_unique<dashboard_feed>(*request_.dashboard_listen, file_name(request_.script_path),
                                                  plan_.options);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "stampede coordinate: --dashboard %s: cannot listen: %s\n",
                 to_string(*request_.dashboard_listen).c_str(), e.code().message().c_str());
    return false;
  }
  if (!request_.quiet) std::fprintf(stderr, "stampede: live dashboard at %s\n", dashboard_->url().c_str());
  return true;
}

// Once a second (`all`: now, with every second so far): the merged view and the shards' states.
void coordinator::publish_dashboard(bool all) {
  if (!dashboard_ || (!all && steady::now() < next_publish_)) return;
  next_publish_ = steady::now() + std::chrono::seconds(1);
  std::vector<dashboard::shard_row> shards;
  double elapsed_s = 0;
  {
    std::lock_guard lock(mutex_);
    shards = dashboard_feed::shard_rows(leases_);
    if (phase_ == phase::released) elapsed_s = static_cast<double>(unix_us() - start_unix_us_) / 1e6;
  }
  dashboard_->publish(live_, thresholds_, elapsed_s, std::move(shards), all);
}

http::response coordinator::plan_for(const lease& l) const {
  json::object env;
  for (const auto& [key, value] : request_.env) env[key] = value;
  json::object plan{{"script", script_},
                    {"script_name", file_name(request_.script_path)},
                    {"script_path", request_.script_path},
                    {"env", std::move(env)},
                    {"seed", request_.seed},
                    {"setup_data", setup_data_},
                    {"files", data_files_},
                    {"shard", l.shard},
                    {"shards", request_.shards},
                    {"start_unix_us", start_unix_us_ - l.offset_us}};
  if (request_.target) plan["target"] = *request_.target;
  return http::response::json(200, json::serialize(plan));
}

http::response coordinator::handle(http::request& r) {
  if (request_.token && r.header("authorization") != bearer(*request_.token)) {
    return http::response::error(401, "unauthorized", "a missing or wrong token (--token)");
  }
  const std::string_view path = r.path();
  if (path == "/v1/time")
    return http::response::json(200, json::serialize(json::object{{"now_us", unix_us()}}));
  if (path == "/v1/live") return http::response::json(200, json::serialize(live_.per_second()));
  json::value body;
  if (r.method == "POST") {
    boost::system::error_code ec;
    body = json::parse(r.body, ec);
    if (ec || !body.is_object())
      return http::response::error(400, "bad_request", "the body is not a JSON object");
  }
  if (path == "/v1/register" && r.method == "POST") {
    const json::object& o = body.as_object();
    const auto* agent = o.if_contains("agent");
    if (agent == nullptr || !agent->is_string() || agent->as_string().empty()) {
      return http::response::error(400, "bad_request", "agent: a non-empty string is required");
    }
    std::optional<int> hint;
    if (const auto* h = o.if_contains("shard_hint"); h && h->is_int64())
      hint = static_cast<int>(h->as_int64());
    const auto number = [&](std::string_view key) {
      const auto* v = o.if_contains(key);
      return v && v->is_int64() ? v->as_int64() : 0;
    };
    std::lock_guard lock(mutex_);
    if (phase_ == phase::failed) return http::response::error(410, "failed", failure_);
    const registration reg = leases_.register_agent(
        std::string(agent->as_string()), hint, number("offset_us"), number("round_trip_us"), steady::now());
    if (!reg.shard) return http::response::error(reg.status, "refused", reg.error);
    say("agent " + std::string(agent->as_string()) + " has shard " + std::to_string(*reg.shard) +
        " (clock offset " + std::to_string(number("offset_us")) + " us +- " +
        std::to_string(number("round_trip_us") / 2) + " us)");
    return http::response::json(
        200, json::serialize(json::object{{"shard", *reg.shard}, {"shards", request_.shards}}));
  }
  const std::string agent = r.query_param("agent");
  std::unique_lock lock(mutex_);
  lease* l = leases_.held_by(agent);
  if (l == nullptr) return http::response::error(409, "no_lease", "agent '" + agent + "' holds no shard");
  if (l->state == lease_state::lost)
    return http::response::error(
        409, "lost", "shard " + std::to_string(l->shard) + " was declared lost: " + l->lost_reason);
  l->last_seen = steady::now();
  if (path == "/v1/plan") {
    if (phase_ == phase::failed) return http::response::error(410, "failed", failure_);
    if (phase_ != phase::released) {
      return http::response::json(
          202, json::serialize(json::object{{"registered", leases_.leased()}, {"shards", request_.shards}}));
    }
    return plan_for(*l);
  }
  if (path == "/v1/report" && r.method == "POST") {
    const int shard = l->shard;
    // A shard that stopped itself (stampede.abort(), options.throw, a script mistake) stops the whole test.
    if (const auto* aborted = body.as_object().if_contains("aborted");
        aborted && aborted->is_string() && stop_reason_.empty() && phase_ == phase::released) {
      stop_reason_ =
          "coordinator: shard " + std::to_string(shard) + " aborted: " + std::string(aborted->as_string());
      stopped_at_s_ = static_cast<double>(unix_us() - start_unix_us_) / 1e6;
      say(stop_reason_ + ": stopping every agent");
    }
    const std::string stop = phase_ == phase::failed ? failure_ : stop_reason_;
    lock.unlock();
    const auto* snapshots = body.as_object().if_contains("snapshots");
    if (snapshots != nullptr && snapshots->is_array()) {
      try {
        for (const auto& s : snapshots->as_array()) live_.add(shard, snapshot_from_json(s));
      } catch (const std::invalid_argument& e) {
        return http::response::error(400, "bad_snapshot", e.what());
      }
    }
    return http::response::json(
        200, json::serialize(json::object{{"stop", stop.empty() ? json::value() : json::value(stop)}}));
  }
  if (path == "/v1/results" && r.method == "POST") {
    const json::object& o = body.as_object();
    agent_end end;
    if (const auto* c = o.if_contains("exit_code"); c && c->is_int64())
      end.exit_code = static_cast<int>(c->as_int64());
    if (const auto* res = o.if_contains("results")) end.results = *res;
    ends_[l->shard] = std::move(end);
    l->state = lease_state::finished;
    say("shard " + std::to_string(l->shard) + " finished (agent exit code " +
        std::to_string(ends_[l->shard].exit_code) + ")");
    return http::response::json(200, "{}");
  }
  return http::response::error(404, "not_found", "no such endpoint");
}

// Every agent's results merged exactly (reports/merge.h), teardown() once, the outputs, the exit code on the
// merged verdict (`stampede run`'s precedence, 110 for a missing or lost shard after 98 and 107).
int coordinator::finish(const loadgen::report_writer& write_reports) {
  std::vector<results::run_results> shards;
  std::vector<std::string> names;
  loadgen::run_outcome outcome;
  outcome.interrupted = interrupted_;
  bool incomplete = false;
  json::array agents;
  std::vector<double> starts;  // each shard's actual start, in the coordinator's clock (ms)
  {
    std::lock_guard lock(mutex_);
    for (const lease& l : leases_.all()) {
      json::object a{{"shard", l.shard},
                     {"agent", l.agent},
                     {"state", to_string(l.state)},
                     {"clock_offset_ms", static_cast<double>(l.offset_us) / 1000.0},
                     {"round_trip_ms", static_cast<double>(l.round_trip_us) / 1000.0}};
      if (l.state == lease_state::lost) {
        a["lost"] = l.lost_reason;
        incomplete = true;
      }
      if (auto it = ends_.find(l.shard); it != ends_.end()) {
        const int code = it->second.exit_code;
        a["exit_code"] = code;
        outcome.invariant_failed |= code == loadgen::exit_invariant_failed;
        outcome.script_error |= code == loadgen::exit_script_error;
        outcome.script_aborted |= code == loadgen::exit_script_abort;
        outcome.interrupted |= code == loadgen::exit_interrupted;
        try {
          if (!it->second.results.is_object()) throw results::results_error("no results");
          shards.push_back(results::parse_results(it->second.results));
          names.push_back("shard " + std::to_string(l.shard));
          const double start =
              static_cast<double>(shards.back().start_unix_ms) + static_cast<double>(l.offset_us) / 1000.0;
          a["start_unix_ms"] = start;
          starts.push_back(start);
        } catch (const results::results_error& e) {
          std::fprintf(stderr, "stampede coordinate: shard %d handed in no usable results: %s\n", l.shard,
                       e.what());
          a["error"] = e.what();
          incomplete = true;
        }
      }
      agents.emplace_back(std::move(a));
    }
  }
  try {
    watched(*worker_, [&] { worker_->run_teardown(); });
  } catch (const loadgen::script_error& e) {
    std::fprintf(stderr, "stampede coordinate: script error: %s\n", e.what());
    outcome.script_error = true;
  }
  const auto code_with = [&](bool crossed) {
    outcome.thresholds_crossed = crossed;
    const int code = loadgen::exit_code(outcome);
    if (incomplete && code != loadgen::exit_invariant_failed && code != loadgen::exit_script_error)
      return exit_shard_missing;
    return code;
  };
  if (shards.empty()) {
    std::fprintf(stderr, "stampede coordinate: no shard handed in results: nothing to merge\n");
    incomplete = true;
    return code_with(false);
  }
  reports::merge_output merged;
  try {
    merged = reports::merge_results(shards, reports::merge_options{.force = false, .names = names});
  } catch (const results::results_error& e) {
    std::fprintf(stderr, "stampede coordinate: merging the shards failed: %s\n", e.what());
    return code_with(false);
  }
  for (const auto& w : merged.warnings) std::fprintf(stderr, "stampede coordinate: warning: %s\n", w.c_str());
  json::object& doc = merged.document.as_object();
  doc["meta"].as_object()["scenario"] = request_.script_path;
  const double skew = starts.empty() ? 0.0
                                     : *std::max_element(starts.begin(), starts.end()) -
                                           *std::min_element(starts.begin(), starts.end());
  doc["distributed"] =
      json::object{{"shards", request_.shards},
                   {"agents", std::move(agents)},
                   {"start_skew_ms", skew},
                   {"stopped", stop_reason_.empty() ? json::value() : json::value(stop_reason_)},
                   {"stopped_at_s", stop_reason_.empty() ? json::value() : json::value(stopped_at_s_)},
                   {"live_requests", live_.requests()},
                   {"complete", !incomplete}};
  json::array live_metrics;
  const auto* duration = doc["meta"].as_object().if_contains("duration_s");
  for (const auto& m : live_.metrics(duration && duration->is_number() ? duration->to_number<double>() : 0.0))
    live_metrics.emplace_back(results::to_json(m));
  doc["distributed"].as_object()["live_metrics"] = std::move(live_metrics);
  bool crossed = stop_reason_.rfind("threshold", 0) == 0;
  if (const auto* ts = doc.if_contains("thresholds"); ts && ts->is_array()) {
    for (const auto& t : ts->as_array())
      crossed |= t.is_object() && t.as_object().contains("ok") && !t.at("ok").as_bool();
  }
  if (request_.out_path) {
    std::ofstream out(*request_.out_path, std::ios::binary | std::ios::trunc);
    out << json::serialize(merged.document) << '\n';
    if (!out) std::fprintf(stderr, "stampede coordinate: cannot write %s\n", request_.out_path->c_str());
  }
  if (request_.report_dir && write_reports) {
    try {
      write_reports(merged.document, *request_.report_dir);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stampede coordinate: writing reports failed: %s\n", e.what());
    }
  }
  const int code = code_with(crossed);
  say(std::to_string(shards.size()) + " of " + std::to_string(request_.shards) +
      " shards merged, start skew " + std::to_string(skew) + " ms, thresholds " +
      (crossed ? "crossed" : "held") + "; exit code " + std::to_string(code));
  return code;
}

int coordinator::run(const loadgen::report_writer& write_reports) {
  if (!load_script()) return script_failed_ ? loadgen::exit_script_error : loadgen::exit_invalid_options;
  if (!open_dashboard()) return loadgen::exit_usage;
  http::server_options options;
  options.address = request_.listen.host;
  options.port = request_.listen.port;
  options.threads = 2;
  options.limits.max_body_bytes = 256u * 1024 * 1024;  // a shard's whole results
  server_ = std::make_unique<http::server>(options, [this](http::request& r) { return handle(r); });
  try {
    server_->start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede coordinate: --listen %s: %s\n", to_string(request_.listen).c_str(),
                 e.what());
    return loadgen::exit_usage;
  }
  say("listening on http://" + request_.listen.host + ":" + std::to_string(server_->port()) +
      ", waiting for " + std::to_string(request_.shards) + " agents");
  if (request_.listening) request_.listening(server_->port());
  if (!wait_for_agents() || !release()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // waiting agents hear of it (410)
    server_->stop();
    const int code = script_failed_ ? loadgen::exit_script_error
                     : interrupted_ ? loadgen::exit_interrupted
                                    : exit_shard_missing;
    if (dashboard_) {
      publish_dashboard(true);
      dashboard_->finish(code, {}, {});
    }
    return code;
  }
  monitor();
  server_->stop();
  publish_dashboard(true);
  const int code = finish(write_reports);
  if (dashboard_) dashboard_->finish(code, request_.out_path, request_.report_dir);
  return code;
}

}  // namespace

int coordinate(const coordinate_request& request, const loadgen::report_writer& write_reports) {
  coordinator c(request);
  return c.run(write_reports);
}

}  // namespace stampede::distributed
