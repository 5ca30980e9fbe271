#include "distributed/agent.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "common/http_client.h"
#include "distributed/clock_offset.h"
#include "distributed/data_files.h"
#include "distributed/protocol.h"
#include "distributed/snapshot_codec.h"
#include "loadgen/run.h"

namespace stampede::distributed {

namespace json = boost::json;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

// A refusal or failure the agent cannot get past: its message and exit code.
struct agent_failure {
  std::string message;
  int code;
};

class link {
 public:
  explicit link(const agent_request& request)
      : request_(request),
        client_(request.coordinator.host, request.coordinator.port, std::chrono::milliseconds(5000)) {}

  http::client_response send(std::string_view method, const std::string& target,
                             const std::string& body = {}) {
    std::vector<std::pair<std::string, std::string>> headers{{"Content-Type", "application/json"}};
    if (request_.token) headers.emplace_back("Authorization", bearer(*request_.token));
    return client_.request(method, target, body, headers);
  }
  void set_timeout(std::chrono::milliseconds t) { client_.set_timeout(t); }

 private:
  const agent_request& request_;
  http::blocking_client client_;
};

json::object parse_object(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

std::string detail_of(const http::client_response& r) {
  const json::object o = parse_object(r.body);
  if (const auto* d = o.if_contains("detail"); d && d->is_string() && !d->as_string().empty())
    return std::string(d->as_string());
  return "HTTP " + std::to_string(r.status) + " " + r.body;
}

class agent {
 public:
  explicit agent(const agent_request& request) : request_(request), control_(request) {}
  int run();

 private:
  clock_offset measure_clock();
  int register_shard(const clock_offset& offset);
  json::object wait_for_plan();
  void report_loop();
  void say(const std::string& line) const {
    if (!request_.quiet) std::fprintf(stderr, "stampede agent: %s\n", line.c_str());
  }

  const agent_request& request_;
  link control_;  // this thread's connection: clock, registration, plan, results
  std::mutex mutex_;
  std::vector<json::value> pending_;  // snapshots not yet sent
  std::optional<std::string> stop_;   // the coordinator's stop
  std::optional<std::string>
      aborted_;  // this shard stopped itself: told to the coordinator in the next report
  std::atomic<bool> done_{false};
  std::string query_;
};

// Five exchanges with /v1/time, the shortest round trip kept (clock_offset.h). Retries while the coordinator
// is not up yet, within --connect-timeout.
clock_offset agent::measure_clock() {
  const auto deadline = steady::now() + request_.connect_timeout;
  std::vector<clock_sample> samples;
  while (samples.size() < 5) {
    try {
      const int64_t sent = unix_us();
      const auto r = control_.send("GET", "/v1/time");
      const int64_t received = unix_us();
      if (r.status == 401) throw agent_failure{"refused by the coordinator: " + detail_of(r), exit_refused};
      const json::object o = parse_object(r.body);
      const auto* now = o.if_contains("now_us");
      if (r.status != 200 || now == nullptr || !now->is_int64())
        throw agent_failure{"/v1/time: " + detail_of(r), exit_refused};
      samples.push_back({sent, now->as_int64(), received});
    } catch (const std::system_error& e) {
      if (steady::now() > deadline) {
        throw agent_failure{
            "cannot reach the coordinator at " + to_string(request_.coordinator) + ": " + e.what(),
            exit_refused};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  return *estimate_offset(samples);
}

int agent::register_shard(const clock_offset& offset) {
  json::object body{
      {"agent", request_.agent_id}, {"offset_us", offset.offset_us}, {"round_trip_us", offset.round_trip_us}};
  if (request_.shard_hint) body["shard_hint"] = *request_.shard_hint;
  for (int attempt = 0;; ++attempt) {
    try {
      const auto r = control_.send("POST", "/v1/register", json::serialize(body));
      if (r.status == 410)
        throw agent_failure{"the coordinator gave up: " + detail_of(r), exit_shard_missing};
      if (r.status != 200) throw agent_failure{"refused by the coordinator: " + detail_of(r), exit_refused};
      return static_cast<int>(parse_object(r.body).at("shard").to_number<int64_t>());
    } catch (const std::system_error& e) {  // retried: registration is idempotent (leases.h)
      if (attempt >= 5) throw agent_failure{std::string("registration failed: ") + e.what(), exit_refused};
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

json::object agent::wait_for_plan() {
  while (true) {
    http::client_response r;
    try {
      r = control_.send("GET", "/v1/plan" + query_);
    } catch (const std::system_error& e) {
      throw agent_failure{std::string("lost the coordinator while waiting for the start: ") + e.what(),
                          exit_shard_missing};
    }
    if (r.status == 200) return parse_object(r.body);
    if (r.status == 410) throw agent_failure{"the coordinator gave up: " + detail_of(r), exit_shard_missing};
    if (r.status != 202) throw agent_failure{"refused by the coordinator: " + detail_of(r), exit_refused};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Its own connection: every report_period the pending snapshots (or none: a heartbeat); the answer may say
// stop.
void agent::report_loop() {
  // SIGINT/SIGTERM belong to the run's thread (it stops the load gracefully and still hands in): blocked
  // here, or a pod's SIGTERM could land on this thread and kill the process.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  link reports(request_);
  while (true) {
    const bool last = done_.load();  // after the run: one more report with its last snapshots
    std::vector<json::value> batch;
    json::object report;
    {
      std::lock_guard lock(mutex_);
      batch.swap(pending_);
      if (aborted_) report["aborted"] = *aborted_;
    }
    report["snapshots"] = json::array(batch.begin(), batch.end());
    try {
      const auto r = reports.send("POST", "/v1/report" + query_, json::serialize(report));
      const json::object o = parse_object(r.body);
      std::lock_guard lock(mutex_);
      if (r.status == 409 && !stop_) stop_ = "coordinator: " + detail_of(r);
      if (const auto* s = o.if_contains("stop"); s && s->is_string() && !stop_)
        stop_ = std::string(s->as_string());
    } catch (const std::system_error& e) {
      say(std::string("report failed (retrying): ") + e.what());
    }
    if (last) return;
    const auto until = steady::now() + request_.report_period;
    while (!done_.load() && steady::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Removes a directory when it goes out of scope.
struct removed_at_exit {
  fs::path path;
  ~removed_at_exit() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

int agent::run() {
  query_ = "?agent=" + request_.agent_id;
  const clock_offset offset = measure_clock();
  const int shard = register_shard(offset);
  say("agent " + request_.agent_id + " has shard " + std::to_string(shard) + "; clock offset " +
      std::to_string(offset.offset_us) + " us +- " + std::to_string(offset.error_bound_us()) + " us");
  const json::object plan = wait_for_plan();

  // The scenario, as the coordinator read it, in a directory of this agent's own.
  std::string dir_template = (fs::temp_directory_path() / "stampede-agent-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr)
    throw agent_failure{"cannot create a temporary directory", exit_refused};
  const fs::path dir = dir_template;
  const removed_at_exit remove_dir{dir};  // however this run ends, an exception included
  const fs::path script = dir / std::string(plan.at("script_name").as_string());
  { std::ofstream(script, std::ios::binary) << std::string_view(plan.at("script").as_string()); }
  // The data files the scenario reads (open()), beside it at their paths; a bad entry is refused, not run.
  std::string refused;
  if (const auto* files = plan.if_contains("files")) {
    try {
      write_data_files(*files, dir);
    } catch (const std::invalid_argument& e) {
      refused = std::string("the coordinator's data files were refused: ") + e.what();
    }
  }

  loadgen::run_request run;
  run.script_path = script.string();
  run.threads = request_.threads;
  run.seed = plan.at("seed").to_number<uint64_t>();
  run.quiet = request_.quiet;
  run.out_path = request_.out_path;
  run.shard = loadgen::slot{shard, static_cast<int>(plan.at("shards").to_number<int64_t>())};
  for (const auto& [key, value] : plan.at("env").as_object())
    run.env[std::string(key)] = std::string(value.as_string());
  if (const auto* t = plan.if_contains("target"); t && t->is_string())
    run.overrides.target = std::string(t->as_string());
  // Assigned, not emplace()d: clang 14 takes the nested aggregate with member initializers as not default
  // constructible inside std::optional.
  run.remote = loadgen::run_request::remote_control{};
  auto& remote = *run.remote;
  remote.setup_data_json = std::string(plan.at("setup_data").as_string());
  remote.start_at = std::chrono::system_clock::time_point(
      std::chrono::microseconds(plan.at("start_unix_us").to_number<int64_t>()));
  remote.on_interval = [this](const loadgen::interval_snapshot& s) {
    json::value encoded = snapshot_to_json(s);
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(encoded));
  };
  remote.on_abort = [this](const std::string& reason) {
    std::lock_guard lock(mutex_);
    aborted_ = reason;
  };
  remote.stop_requested = [this]() {
    std::lock_guard lock(mutex_);
    return stop_;
  };
  json::value results;
  // The scenario as the coordinator names it (not this agent's copy): the shards are of one scenario.
  run.finish_results = [&results, name = plan.at("script_path")](json::value& r) {
    r.as_object()["meta"].as_object()["scenario"] = name;
    results = r;
  };

  int code = exit_refused;
  if (refused.empty()) {
    std::thread reporter([this] { report_loop(); });
    code = loadgen::execute_run(run);
    done_ = true;  // the last snapshots go with one more report; then the results
    reporter.join();
  } else {  // the coordinator stops the other shards (as for a shard that aborts), then takes no results
    std::fprintf(stderr, "stampede agent: %s\n", refused.c_str());
    try {
      control_.send("POST", "/v1/report" + query_,
                    json::serialize(json::object{{"snapshots", json::array{}}, {"aborted", refused}}));
    } catch (const std::system_error&) {
      // the results below say it too
    }
  }
  control_.set_timeout(std::chrono::milliseconds(60'000));
  const std::string body = json::serialize(json::object{{"exit_code", code}, {"results", results}});
  for (int attempt = 0;; ++attempt) {
    try {
      const auto r = control_.send("POST", "/v1/results" + query_, body);
      if (r.status != 200)
        throw agent_failure{"the coordinator refused the results: " + detail_of(r), exit_shard_missing};
      break;
    } catch (const std::system_error& e) {
      if (attempt >= 3)
        throw agent_failure{std::string("handing in the results failed: ") + e.what(), exit_shard_missing};
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
  say("shard " + std::to_string(shard) + " handed in (run exit code " + std::to_string(code) + ")");
  return code == loadgen::exit_thresholds_crossed ? loadgen::exit_ok : code;
}

}  // namespace

int run_agent(const agent_request& request) {
  try {
    agent a(request);
    return a.run();
  } catch (const agent_failure& f) {
    std::fprintf(stderr, "stampede agent: %s\n", f.message.c_str());
    return f.code;
  }
}

}  // namespace stampede::distributed
