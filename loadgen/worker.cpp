// A worker's load: its scheduler and event handling, the VUs' life (iterations, requests, sleeps, groups,
// checks) and the history they record; everything per request or per iteration is here, in one
// translation unit. How executors start and stop scenarios is in worker_scenarios.cpp; the worker before
// and after the load (construction, the script's top level and options, setup/teardown and the other
// special calls) in worker_setup.cpp.
#include "loadgen/worker.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <cmath>
#include <cstring>
#include <lua.hpp>

#include "loadgen/lua_runtime.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace asio = boost::asio;

namespace {

// Events due within this much are handled now rather than after another timer round trip.
constexpr auto early_window = std::chrono::microseconds(20);
constexpr size_t max_distinct_errors = 50;

int64_t micros(steady::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// "file.lua:12", the script's line where the suspended coroutine `T` waits (the first frame outside the
// C functions and the API's own Lua prelude, chunk "=stampede"); "" when there is none.
std::string waiting_line(lua_State* T) {
  lua_Debug ar;
  for (int level = 0; lua_getstack(T, level, &ar) != 0; ++level) {
    if (lua_getinfo(T, "Sl", &ar) != 0 && ar.currentline > 0 && std::strcmp(ar.source, "=stampede") != 0) {
      return std::string(ar.short_src) + ":" + std::to_string(ar.currentline);
    }
  }
  return {};
}

steady::duration to_steady(double seconds) {
  return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
}

std::string first_line(std::string_view text) { return std::string(text.substr(0, text.find('\n'))); }

}  // namespace

void vu::on_complete() { owner.on_http_complete(*this); }

lua_State* worker::lua() const noexcept { return lua_->state(); }
const lua_sandbox& worker::sandbox() const noexcept { return lua_->sandbox(); }

// ---- scheduler ----
void worker::schedule(steady::time_point at, event_kind kind, void* target, uint64_t generation) {
  heap_.push_back({at, sequence_++, kind, target, generation});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
  if (at < armed_for_) arm_timer();
}

void worker::arm_timer() {
  if (heap_.empty()) return;
  armed_for_ = heap_.front().at;
  timer_->expires_at(armed_for_);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed or cancelled
    on_timer();
  });
}

void worker::on_timer() {
  armed_for_ = steady::time_point::max();
  auto now = steady::now();
  bool first = true;
  while (!heap_.empty() && heap_.front().at <= now + early_window) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    const event e = heap_.back();
    heap_.pop_back();
    if (first) {
      // How late the loop serves its timers: the generator's own saturation signal.
      metrics_.record_event_loop_lag(std::max<int64_t>(0, micros(now - e.at)));
      first = false;
    }
    handle(e, now);
    if (!running_) return;
    now = steady::now();
  }
  if (!heap_.empty() && armed_for_ == steady::time_point::max()) arm_timer();
}

void worker::handle(const event& e, steady::time_point now) {
  switch (e.kind) {
    case event_kind::wake_vu: {
      vu& v = *static_cast<vu*>(e.target);
      if (v.state != vu_state::sleeping || v.sleep_generation != e.generation || v.interrupted) return;
      // A timer that fires late delays the rest of the iteration: charge it (coordinated omission).
      if (now > v.sleep_intended) v.lag += now - v.sleep_intended;
      v.state = vu_state::running;
      resume(v, 0);
      return;
    }
    case event_kind::scenario_start:
      start_scenario(*static_cast<scenario_runtime*>(e.target));
      return;
    case event_kind::scenario_end: {
      auto& s = *static_cast<scenario_runtime*>(e.target);
      release_overdue_arrivals(s, now);
      end_scenario(s);
      return;
    }
    case event_kind::scenario_hard_stop:
      hard_stop_scenario(*static_cast<scenario_runtime*>(e.target));
      return;
    case event_kind::ramp_tick:
      ramp(*static_cast<scenario_runtime*>(e.target), now);
      return;
    case event_kind::interval: {
      roll_interval(next_second_);
      ++next_second_;
      schedule(plan_.start + std::chrono::seconds(next_second_ + 1), event_kind::interval);
      return;
    }
    case event_kind::sweep:
      http_->sweep(now);
      schedule(now + sweep_period, event_kind::sweep);
      return;
    case event_kind::stop: {
      const bool hard = e.generation != 0;
      if (special_vu_ != nullptr) {  // setup/teardown/quiesce/verify, waiting: its timeout (0) or Ctrl-C (1)
        const interruption_cause cause = hard ? interruption_cause::signal : interruption_cause::deadline;
        script_interruption cut;
        cut.phase = special_phase_;
        cut.cause = cause;
        cut.where = waiting_line(special_vu_->thread);
        cut.reason = describe(cut.phase, cause, cut.where, 0);
        special_cut_short_ = std::move(cut);
        special_done_ = true;
        // Never resume it: a function looping on requests would otherwise keep the loop busy forever.
        special_vu_->interrupted = true;
        http_->abort_all();
        maybe_finish();
        return;
      }
      for (auto& s : scenarios_) {
        if (!s->started) {
          s->started = s->ending = s->ended = true;
          continue;
        }
        if (!s->ending) end_scenario(*s);
        if (hard && !s->ended) hard_stop_scenario(*s);
      }
      maybe_finish();
      return;
    }
  }
}

void worker::request_stop(bool hard) {
  lua_->guard().request_stop(hard);  // Lua code that does not yield holds up the loop: stop it there
  if (stop_requested_.exchange(true) && !hard) return;
  asio::post(*io_, [this, hard] {
    // Only the load: a request that arrives after it ended waits in the queue until the next run of
    // the loop, which is teardown()'s or verify()'s, and must not end those.
    if (running_ && special_vu_ == nullptr) schedule(steady::now(), event_kind::stop, nullptr, hard ? 1 : 0);
  });
}

void worker::interrupt_init() { lua_->guard().request_stop(true); }

void worker::clear_stop_requests() { lua_->guard().clear_stop(); }

void worker::watchdog_tick() { lua_->guard().watchdog_tick(); }

void worker::interrupt_special() {
  lua_->guard().request_stop(true);  // code that does not yield; the event below ends code that waits
  asio::post(*io_, [this] {
    // A request posted as the previous call ended runs in the next one: it counts only until the
    // coordinator clears the requests before that call.
    if (running_ && special_vu_ != nullptr && lua_->guard().hard_stop_requested()) {
      schedule(steady::now(), event_kind::stop, nullptr, 1);
    }
  });
}

void worker::abort_run(std::string reason, stop_cause cause) {
  if (stop_cause_.load(std::memory_order_relaxed) == stop_cause::none) {  // only this thread writes it
    abort_reason_ = std::move(reason);
    stop_cause_.store(cause, std::memory_order_release);
  }
  if (running_ && special_vu_ == nullptr) schedule(steady::now(), event_kind::stop, nullptr, 0);
}

// ---- scenarios ----
void worker::roll_interval(int64_t second) {
  int64_t vus_max = 0;
  for (auto& s : scenarios_) vus_max += static_cast<int64_t>(s->vus.size());
  outbox_.post(metrics_.roll_interval(second, index_, active_vus_, vus_max));
}

// ---- VUs ----
vu& worker::create_vu(scenario_runtime* s) {
  const int64_t local = static_cast<int64_t>(vus_.size());
  const slot place{plan_.shard.index * plan_.threads + index_, plan_.shard.count * plan_.threads};
  const int64_t id = s == nullptr ? 0 : 1 + place.index + place.count * local;
  auto v = std::make_unique<vu>(*this, id, s);
  v->random.reseed(plan_.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(id));
  lua_->create_thread(*v, s == nullptr ? std::string_view("setup") : std::string_view(s->options->name));
  vu& ref = *v;
  vus_.push_back(std::move(v));
  if (s != nullptr) {
    ref.index_in_scenario = s->vus.size();
    s->vus.push_back(&ref);
    auto& counters = metrics_.scenarios()[s->index];
    counters.vus_max = std::max<int64_t>(counters.vus_max, static_cast<int64_t>(s->vus.size()));
  }
  return ref;
}

void worker::begin_iteration(vu& v, steady::time_point intended, steady::time_point now) {
  v.iteration_intended = intended;
  v.iteration_started = now;
  v.lag = now > intended ? now - intended : nanos{0};
  v.state = vu_state::running;
  v.groups.clear();
  v.yielded_in_iteration = false;
  ++v.scenario->running;
  ++active_vus_;
  lua_->update_vu_table(v);
  if (!v.coroutine_started) {
    v.coroutine_started = true;
    resume(v, lua_->push_iteration_start(v, v.scenario->options->exec));
  } else {
    lua_pushboolean(v.thread, 1);
    resume(v, 1);
  }
}

void worker::resume(vu& v, int nargs) {
  int results = 0;
  lua_guard& guard = lua_->guard();
  if (v.scenario != nullptr) {
    guard.enter(v.thread, lua_phase::iteration, v.scenario->hard_stop);
  } else {
    guard.enter(v.thread, special_phase_, special_deadline_);
  }
  const int status = lua_resume(v.thread, lua_->state(), nargs, &results);
  guard.leave();
  if (guard.tripped()) return stop_stuck_vu(v);
  if (status == LUA_YIELD) {
    lua_pop(v.thread, results);
    return;  // waiting for HTTP, a timer, or its next iteration (after_iteration was scheduled)
  }
  if (special_vu_ == &v) {  // setup/teardown returned (or raised outside their xpcall)
    special_done_ = true;
    maybe_finish();
    return;
  }
  // The VU's main loop never returns: this is an error outside the iteration's protection.
  const std::string message = status == LUA_OK ? "VU coroutine ended" : luaL_tolstring(v.thread, -1, nullptr);
  v.state = vu_state::done;  // first: end_iteration must not park a coroutine that is gone
  end_iteration(v, false, message);
  if (v.scenario != nullptr) {
    --v.scenario->running;
    --active_vus_;
  }
}

// The guard stopped a VU that did not yield (lua_guard.h): its coroutine is never resumed again; its
// iteration counts as interrupted, and the note names the VU and the line.
void worker::stop_stuck_vu(vu& v) {
  script_interruption note = lua_->guard().take_interruption();
  note.vu = v.id;
  if (special_vu_ == &v) {
    interruptions_.push_back(note);
    special_cut_short_ = std::move(note);
    special_done_ = true;
    maybe_finish();
    return;
  }
  scenario_runtime& s = *v.scenario;
  note.scenario = s.options->name;
  interruptions_.push_back(std::move(note));
  v.interrupted = true;
  if (v.state != vu_state::done) {
    ++metrics_.scenarios()[s.index].interrupted_iterations;
    v.state = vu_state::done;
    --s.running;
    --active_vus_;
  }
  if (s.ending && s.running == 0 && !s.ended) {
    s.ended = true;
    maybe_finish();
  }
}

void worker::start_request(vu& v) {
  v.request.write_to(v, plan_.options.user_agent, v.cookies);
  v.state = vu_state::waiting_http;
  v.yielded_in_iteration = true;
  v.lag_before_request = v.lag;
  http_->submit(*v.request.url, v);
}

void worker::on_http_complete(vu& v) {
  if (v.interrupted || v.state != vu_state::waiting_http) return;
  http_outcome& out = v.outcome;
  // Corrected latency: the request's service time, plus the wait for a connection, plus every
  // harness-side delay earlier in this iteration (late start, late timers, earlier waits).
  const int64_t blocked_us = out.timings.blocked;
  const int64_t corrected_us = out.timings.total + blocked_us + micros(v.lag_before_request);
  v.lag += std::chrono::microseconds(blocked_us);
  v.request.settle(out, v.cookies);  // expectedStatuses and Set-Cookie
  metrics_.record_request(v.request.step, scenario_slot(v), corrected_us, out.timings, out.status, out.error);
  if (!metrics_.tagged_steps().empty())
    record_request_tags(v, v.request, out, v.last_request.url, corrected_us);
  if (v.history_id != 0) {
    // A definite answer is ok (2xx/3xx, or an expected status) or fail (other 4xx); no answer, a
    // timeout, a reset or a 5xx is unknown: the operation may still have taken effect.
    char type = 'u';
    if (out.status != 0 && out.status < 500) type = out.status < 400 ? 'o' : 'f';
    std::string value = "null";
    if (!out.body.empty() && out.body.size() <= 64 * 1024 &&
        (out.body.front() == '{' || out.body.front() == '[')) {
      boost::system::error_code ec;
      (void)boost::json::parse(out.body, ec);
      if (!ec) value = out.body;
    }
    history_complete(v, v.history_id, type, std::move(value));
    v.history_id = 0;
  }
  metrics_.data_sent += out.bytes_sent;
  metrics_.data_received += out.bytes_received;
  v.state = vu_state::running;
  lua_->push_response(v);
  resume(v, 1);
}

void worker::start_sleep(vu& v, double seconds) {
  v.state = vu_state::sleeping;
  v.yielded_in_iteration = true;
  v.sleep_intended = steady::now() + to_steady(seconds);
  schedule(v.sleep_intended, event_kind::wake_vu, &v, ++v.sleep_generation);
}

void worker::enter_group(vu& v, std::string_view name) {
  group_frame frame;
  frame.path = v.groups.empty() ? std::string() : v.groups.back().path;
  frame.path.append("::").append(name);
  frame.step = metrics_.step_index(frame.path, step_kind::group, true);
  frame.started = steady::now();
  frame.lag_at_start = v.lag;
  v.groups.push_back(std::move(frame));
}

void worker::exit_group(vu& v) {
  if (v.groups.empty()) return;
  const group_frame& frame = v.groups.back();
  const int64_t duration = micros(steady::now() - frame.started);
  metrics_.record_group(frame.step, duration + micros(frame.lag_at_start), duration);
  v.groups.pop_back();
}

void worker::record_check(vu& v, std::string_view name, bool ok) {
  const std::string_view group =
      v.groups.empty() ? std::string_view() : std::string_view(v.groups.back().path);
  metrics_.record_check(metrics_.check_index(group, name), ok);
  if (!metrics_.builtin_subs().empty()) {
    builtin_sample_tags tags = builtin_tags_of(v);
    tags.check = name;
    tags.group = group;
    metrics_.builtin_subs().record_check(ok, tags);
  }
}

builtin_sample_tags worker::builtin_tags_of(const vu& v) const {
  builtin_sample_tags tags;
  tags.run_tags = &plan_.options.tags;
  if (v.scenario != nullptr) {
    tags.scenario = v.scenario->options->name;
    tags.scenario_tags = &v.scenario->options->tags;
  }
  return tags;
}

bool worker::end_iteration(vu& v, bool ok, std::string_view error) {
  if (!ok) {
    const std::string line = first_line(error);
    auto it = std::find_if(errors_.begin(), errors_.end(),
                           [&](const iteration_error& e) { return e.message == line; });
    if (it != errors_.end()) {
      ++it->count;
    } else if (errors_.size() < max_distinct_errors) {
      errors_.push_back({line, std::string(error), v.id, v.iterations_done, 1});
    } else {
      ++errors_.back().count;
    }
    if (plan_.options.throw_on_iteration_error) abort_run("iteration error: " + line);
  }
  if (v.scenario == nullptr) return false;
  const auto now = steady::now();
  metrics_.record_iteration(v.scenario->index, micros(now - v.iteration_started), !ok);
  if (!metrics_.builtin_subs().empty()) {
    metrics_.builtin_subs().record_iteration(micros(now - v.iteration_started), builtin_tags_of(v));
  }
  ++v.iterations_done;
  // Closed models loop at once: when this iteration already gave the event loop a turn (it made a
  // request or slept), the next one starts inside the same resume, which saves a post and a
  // yield/resume pair per iteration. Otherwise a CPU-only script could starve the loop.
  scenario_runtime& s = *v.scenario;
  if (v.yielded_in_iteration && !is_arrival_rate(s.options->executor) && running_ && !v.interrupted) {
    --s.running;  // wants_another_iteration counts the others, as in after_iteration
    const bool again = wants_another_iteration(v, now);
    ++s.running;
    if (again) {
      v.iteration_intended = now;
      v.iteration_started = now;
      v.lag = nanos{0};
      v.groups.clear();
      v.yielded_in_iteration = false;
      lua_->update_vu_table(v);
      return true;
    }
  }
  // Open models: the VU waits for a later arrival. Parking it here, as after_iteration would, saves a post
  // per arrival (and the event loop's extra epoll_wait for it); nothing resumes it before it has yielded,
  // as only the pacer's next tick takes it. Not when the scenario is ending: parking the last running VU
  // then ends the scenario, which is after_iteration's to do outside the resume.
  if (is_arrival_rate(s.options->executor) && v.state == vu_state::running && !v.interrupted && !s.ending &&
      running_) {
    --s.running;
    --active_vus_;
    v.state = vu_state::parked;
    s.parked.push_back(&v);
    return false;
  }
  // Decide after the coroutine has yielded: post, never resume from inside a resume.
  asio::post(*io_, [this, &v] { after_iteration(v); });
  return false;
}

bool worker::wants_another_iteration(vu& v, steady::time_point now) {
  scenario_runtime& s = *v.scenario;
  // After stampede.abort() or a fatal script error, no new iteration: the stop event may be a turn away.
  if (s.ending || !running_ || stop_cause_.load(std::memory_order_relaxed) != stop_cause::none) return false;
  switch (s.options->executor) {
    case executor_kind::constant_vus:
      return now < s.end;
    case executor_kind::per_vu_iterations:
      return v.iterations_done < s.options->iterations;
    case executor_kind::shared_iterations:
      if (s.iterations_left <= 0) return false;
      --s.iterations_left;
      return true;
    case executor_kind::ramping_vus:
      return s.running < s.target;  // s.running excludes this VU now
    case executor_kind::constant_arrival_rate:
    case executor_kind::ramping_arrival_rate:
      return false;
  }
  return false;
}

void worker::after_iteration(vu& v) {
  if (v.state == vu_state::done || v.interrupted) return;
  scenario_runtime& s = *v.scenario;
  --s.running;
  --active_vus_;
  v.state = vu_state::parked;
  const auto now = steady::now();
  if (wants_another_iteration(v, now)) {
    begin_iteration(v, now, now);
    return;
  }
  s.parked.push_back(&v);
  const executor_kind kind = s.options->executor;
  const bool closed_done =
      kind == executor_kind::per_vu_iterations || kind == executor_kind::shared_iterations;
  if (closed_done && s.running == 0 && !s.ending) {
    // Every VU of an iterations-based scenario has finished its work: end early.
    bool all_done = kind == executor_kind::shared_iterations ? s.iterations_left <= 0 : true;
    if (kind == executor_kind::per_vu_iterations) {
      for (vu* other : s.vus) all_done = all_done && other->iterations_done >= s.options->iterations;
    }
    if (all_done) end_scenario(s);
    return;
  }
  if (s.ending && s.running == 0 && !s.ended) mark_ended(s);
}

// ---- history ----
int64_t worker::history_invoke(vu& v, std::string_view op, std::string value_json) {
  // Unique across workers without coordination: worker i numbers i+1, i+1+T, i+1+2T, ...
  const int64_t id = 1 + index_ + plan_.threads * history_next_++;
  if (history_.size() >= max_history_entries) {
    ++history_dropped_;
    return id;
  }
  const double t = std::chrono::duration<double>(steady::now() - plan_.start).count();
  history_.push_back({id, v.id, std::string(op), 'i', std::move(value_json), t});
  return id;
}

void worker::history_complete(vu& v, int64_t id, char type, std::string value_json) {
  if (history_.size() >= max_history_entries) {
    ++history_dropped_;
    return;
  }
  std::string op;
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {  // the invoke is recent: search backwards
    if (it->id == id && it->type == 'i') {
      op = it->op;
      break;
    }
  }
  const double t = std::chrono::duration<double>(steady::now() - plan_.start).count();
  history_.push_back({id, v.id, std::move(op), type, std::move(value_json), t});
}

}  // namespace stampede::loadgen
