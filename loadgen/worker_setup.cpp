// A worker outside the load: its construction and teardown, the script's top level (init) and options,
// the plan applied once the options are final, and the special calls (setup, teardown, quiesce, verify,
// handleSummary), each one VU run to its end on the worker's loop. Apart from worker.cpp because none of
// it runs per request or per iteration.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <lua.hpp>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "loadgen/lua_runtime.h"
#include "loadgen/vu.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

namespace asio = boost::asio;

worker::worker(const run_plan& plan, int index, worker_outbox& outbox)
    : plan_(plan),
      index_(index),
      outbox_(outbox),
      // One thread runs this io_context and owns every socket and timer on it; other threads only post
      // (stop requests). So the reactor's per-descriptor locks can go (they cost ~2% of a worker's CPU);
      // the scheduler's lock stays for those posts.
      io_(std::make_unique<asio::io_context>(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO)),
      timer_(std::make_unique<asio::steady_timer>(*io_)),
      init_rng_(plan.seed * 1000003ULL + static_cast<uint64_t>(index)) {
  lua_ = std::make_unique<lua_runtime>(*this);
}

worker::~worker() {
  // Sockets and timers go before the io_context; Lua threads before the Lua state.
  http_.reset();
  timer_.reset();
  scenarios_.clear();  // their pacers' timers
  vus_.clear();
  lua_.reset();
  io_.reset();
}

void worker::init() {
  std::optional<script_interruption> stopped;
  try {
    lua_->load_script(plan_.script_path, plan_.init_timeout, stopped);
  } catch (const script_error&) {
    if (stopped) interruptions_.push_back(std::move(*stopped));  // in the results of an interrupted run
    throw;
  }
}

run_options worker::read_options(const option_overrides& overrides) {
  lua_guard& guard = lua_->guard();
  // The options' metamethods are the script's code: bounded like the top level. The reader's own
  // allocations are not refused for the memory limit (a refusal would be a Lua error outside a protected
  // call).
  guard.enter(lua_->state(), lua_phase::init, steady::now() + plan_.init_timeout);
  std::optional<run_options> options;
  try {
    const lua_guard::harness_scope harness(guard);
    options = read_run_options(lua_->state(), overrides);
  } catch (const std::invalid_argument&) {
    guard.leave();
    if (guard.tripped()) {  // not a bad option: the script was stopped
      interruptions_.push_back(guard.take_interruption());
      throw script_error(interruptions_.back().reason);
    }
    throw;
  }
  guard.leave();
  return std::move(*options);
}

void worker::apply_plan() {
  lua_->guard().set_memory_limit(plan_.options.lua_memory_limit);
  if (!http_) {  // the options are final only now
    http_engine_options http_options;
    http_options.connect_timeout = plan_.options.connect_timeout;
    http_options.max_connections_per_host = plan_.options.max_connections_per_host;
    http_options.insecure_skip_tls_verify = plan_.options.insecure_skip_tls_verify;
    http_options.discard_bodies = plan_.options.discard_response_bodies;
    http_options.response_body_limit = plan_.options.response_body_limit;
    http_ = std::make_unique<http_engine>(*io_, http_options);
  }
  base_url_.reset();
  if (!plan_.options.target.empty()) {
    std::string error;
    auto base = parse_url(plan_.options.target, nullptr, error);
    if (!base) throw std::invalid_argument("target: " + error);
    base_url_text_ = plan_.options.target;
    base_url_ = *base;
    base_url_->path = {};
  }
  lua_->set_setup_data(plan_.setup_data_json);
  for (const auto& selector : plan_.custom_sub_metrics) metrics_.custom().track(selector);
  for (const auto& tags : plan_.http_tag_sets) metrics_.track_tags(tags);
  for (const auto& selector : plan_.builtin_sub_metrics) metrics_.builtin_subs().track(selector);
}

// ---- setup / teardown and the other special calls ----
std::string worker::run_special_vu(const char* function_name, lua_phase phase, nanos timeout,
                                   const std::string* argument_json) {
  if (!lua_->has_function(function_name)) return "null";
  auto v = std::make_unique<vu>(*this, 0, nullptr);
  v->random.reseed(plan_.seed);
  lua_->create_thread(*v, function_name);
  special_vu_ = v.get();
  special_done_ = false;
  special_phase_ = phase;
  special_deadline_ = steady::now() + timeout;
  special_cut_short_.reset();
  running_ = true;
  const int nargs = lua_->push_special_start(*v, function_name, argument_json);
  v->state = vu_state::running;
  schedule(special_deadline_, event_kind::stop);
  schedule(steady::now() + sweep_period, event_kind::sweep);
  io_->restart();
  asio::post(*io_, [this, nargs] { resume(*special_vu_, nargs); });
  io_->run();
  lua_State* T = v->thread;
  std::string error;
  std::string result = "null";
  if (!special_cut_short_) {
    if (lua_status(T) != LUA_OK || lua_gettop(T) < 2) {
      error = lua_gettop(T) > 0 ? lua_->guard().explain(luaL_tolstring(T, -1, nullptr)) : "failed";
    } else if (!lua_toboolean(T, 1)) {
      error = lua_->guard().explain(luaL_tolstring(T, 2, nullptr));
    } else {
      result = lua_tostring(T, 2);
    }
  }
  special_vu_ = nullptr;
  running_ = false;
  heap_.clear();
  lua_->release_thread(*v);
  if (const auto cut = std::exchange(special_cut_short_, std::nullopt)) {  // the reason names the call
    if (cut->cause == interruption_cause::deadline) throw script_timeout(cut->reason);
    throw script_error(cut->reason);
  }
  if (!error.empty()) throw script_error(std::string(function_name) + "() failed: " + error);
  return result;
}

std::string worker::run_setup() {
  return run_special_vu("setup", lua_phase::setup, plan_.options.setup_timeout);
}

void worker::run_teardown() {
  run_special_vu("teardown", lua_phase::teardown, plan_.options.teardown_timeout);
}

bool worker::has_function(std::string_view name) const { return lua_->has_function(name); }

std::string worker::run_quiesce(nanos timeout) {
  return run_special_vu("quiesce", lua_phase::quiesce, timeout);
}

std::string worker::run_verify(const std::string& history_json) {
  return run_special_vu("verify", lua_phase::verify, plan_.options.teardown_timeout, &history_json);
}

std::string worker::run_handle_summary(const std::string& data_json) {
  return run_special_vu("handleSummary", lua_phase::summary, plan_.options.teardown_timeout, &data_json);
}

}  // namespace stampede::loadgen
