// How a worker runs its scenarios: each executor (executor.h) starts, feeds and stops its VUs; a scenario
// ends at its planned end (no new iterations), and iterations still running are interrupted at its hard
// stop (the graceful stop later). The load's event loop and the VUs' life are in worker.cpp, the worker
// before and after the load in worker_setup.cpp.
#include <sys/prctl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "loadgen/http_engine.h"
#include "loadgen/vu.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

namespace {

constexpr auto ramp_period = std::chrono::milliseconds(100);
// A pacer's tick releases the arrivals due within this much, each with its own intended time (sent early,
// it has no lag; late, its lag counts in corrected latency). At a fixed rate the generator's CPU per arrival
// is mostly waking up, and waking the server, once per send: releasing up to 100 us of arrivals together
// (5 at 50,000/s per thread) took 100,000/s with two threads from -3 to -4.5% to the exact rate here,
// with a lower corrected median (BENCHMARKS.md). Arrivals further apart than this are released one by one
// at their time, as before. A tick that would come later than an arrival's intended time by more than
// pacer_tolerance is re-armed.
constexpr auto release_window = std::chrono::microseconds(100);
constexpr auto pacer_tolerance = std::chrono::microseconds(1);

steady::duration to_steady(double seconds) {
  return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace

void worker::run_load() {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // precise wake-ups for arrival schedules
  lua_guard::accept_pokes();
  const slot place{plan_.shard.index * plan_.threads + index_, plan_.shard.count * plan_.threads};
  for (size_t i = 0; i < plan_.options.scenarios.size(); ++i) {
    auto s = std::make_unique<scenario_runtime>();
    s->options = &plan_.options.scenarios[i];
    s->index = i;
    s->place = place;
    s->start = plan_.start + s->options->start_time;
    if (is_arrival_rate(s->options->executor)) {
      s->pacer =
          std::make_unique<arrival_pacer>(*io_, [this, runtime = s.get()] { on_pacer_tick(*runtime); });
    }
    scenarios_.push_back(std::move(s));
  }
  metrics_.scenarios().resize(scenarios_.size());
  running_ = true;
  for (auto& s : scenarios_) schedule(s->start, event_kind::scenario_start, s.get());
  schedule(plan_.start + std::chrono::seconds(1), event_kind::interval);
  schedule(plan_.start + sweep_period, event_kind::sweep);
  if (stop_requested_) schedule(steady::now(), event_kind::stop, nullptr, 0);
  io_->restart();
  io_->run();
  roll_interval(next_second_);  // the last, partial second
}

void worker::start_scenario(scenario_runtime& s) {
  const scenario_options& o = *s.options;
  s.started = true;
  const auto now = steady::now();
  s.end = s.start + o.planned_duration();
  s.hard_stop = s.end + o.graceful_stop;
  schedule(s.end, event_kind::scenario_end, &s);
  auto begin_now = [&](vu& v) { begin_iteration(v, now, now); };
  switch (o.executor) {
    case executor_kind::constant_vus:
    case executor_kind::per_vu_iterations: {
      const int64_t n = share_of(o.vus, s.place);
      for (int64_t i = 0; i < n; ++i) begin_now(create_vu(&s));
      break;
    }
    case executor_kind::shared_iterations: {
      s.iterations_left = shared_iterations_share(o.iterations, o.vus, s.place);
      const int64_t n = std::min(share_of(o.vus, s.place), s.iterations_left);
      for (int64_t i = 0; i < n; ++i) {
        --s.iterations_left;
        begin_now(create_vu(&s));
      }
      break;
    }
    case executor_kind::ramping_vus:
      ramp(s, now);
      break;
    case executor_kind::constant_arrival_rate:
    case executor_kind::ramping_arrival_rate: {
      // Fewer VUs than slots (workers x shards): only the first maxVUs slots take arrivals, so no
      // slot is left with arrivals but no VU to run them.
      const int64_t total_vus = std::max(o.max_vus, o.pre_allocated_vus);
      if (total_vus < s.place.count) {
        if (s.place.index >= total_vus) {
          end_scenario(s);
          break;
        }
        s.place.count = total_vus;
      }
      s.max_vus = std::max(share_of(o.max_vus, s.place), share_of(o.pre_allocated_vus, s.place));
      for (int64_t i = share_of(o.pre_allocated_vus, s.place); i > 0; --i) {
        vu& v = create_vu(&s);
        s.parked.push_back(&v);
      }
      s.schedule = std::make_unique<arrival_schedule>(o);
      s.arrivals = std::make_unique<slot_arrivals>(*s.schedule, s.place);
      s.next_arrival = steady::time_point::max();
      if (auto t = s.arrivals->next()) s.next_arrival = s.start + to_steady(*t);
      pace(s, now);
      break;
    }
  }
  if (s.running == 0 && o.executor != executor_kind::ramping_vus && !is_arrival_rate(o.executor)) {
    end_scenario(s);  // nothing to do in this worker (e.g. fewer VUs than workers)
  }
}

void worker::on_pacer_tick(scenario_runtime& s) {
  if (s.ending || !running_) return;
  auto now = steady::now();
  if (s.next_arrival <= now + release_window) {
    // How late the loop serves its arrivals: the generator's own saturation signal.
    metrics_.record_event_loop_lag(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(now - s.next_arrival).count()));
  }
  // The batch is what was due at the wake-up: arrivals that fall due while it starts wait for the next tick
  // (already pending if it passed), so responses are served in between even when the worker falls behind.
  const steady::time_point batch_end = now + release_window;
  if (!release_due(s, batch_end, now)) return;
  pace(s, now);
}

bool worker::release_due(scenario_runtime& s, steady::time_point until, steady::time_point& now) {
  while (s.next_arrival <= until && s.next_arrival < s.end) {
    const steady::time_point intended = s.next_arrival;
    s.next_arrival = steady::time_point::max();
    if (auto t = s.arrivals->next()) s.next_arrival = s.start + to_steady(*t);
    release_arrival(s, intended, now);
    if (s.ending || !running_) return false;
    now = steady::now();
  }
  return true;
}

void worker::pace(scenario_runtime& s, steady::time_point now) {
  if (s.next_arrival >= s.end) {  // no arrival left in this slot
    s.pacer->stop();
    return;
  }
  // Keep the armed period while its next tick releases the next arrival on time: within the release
  // window before it, never later. A constant rate keeps it for the whole scenario.
  const steady::time_point tick = s.pacer->next_tick(now);
  if (tick > s.next_arrival + pacer_tolerance || tick + release_window < s.next_arrival) {
    steady::duration spacing{0};
    if (auto t = s.arrivals->peek()) spacing = s.start + to_steady(*t) - s.next_arrival;
    // One tick per batch a wake-up releases (the arrivals within the release window), not per arrival.
    const int64_t batch = spacing > steady::duration::zero() ? release_window / spacing + 1 : 1;
    s.pacer->arm(s.next_arrival, spacing * batch);
  }
  s.pacer->wait();
}

void worker::release_arrival(scenario_runtime& s, steady::time_point intended, steady::time_point now) {
  vu* v = nullptr;
  if (!s.parked.empty()) {
    v = s.parked.back();
    s.parked.pop_back();
  } else if (static_cast<int64_t>(s.vus.size()) < s.max_vus) {
    v = &create_vu(&s);
  }
  if (v != nullptr) {
    begin_iteration(*v, intended, now);
    return;
  }
  metrics_.record_dropped(s.index);  // no free VU: counted, never silently lost
  if (!metrics_.builtin_subs().empty()) {
    metrics_.builtin_subs().record_dropped(
        {.scenario = s.options->name, .scenario_tags = &s.options->tags, .run_tags = &plan_.options.tags});
  }
}

// A worker that falls behind can meet its scenario's end before the pacer's tick for the last arrivals:
// one timer pass runs every event due, and an event that ran long (a busy iteration resumed from sleep)
// makes the end due in the same pass. Stopping the pacer then would lose those arrivals, neither run nor
// dropped. They are released here, late, as their tick would have (each with its intended time, so the
// lag counts in corrected latency; dropped when no VU is free): iterations + dropped = every planned
// arrival. The end runs at most early_window (20 us) before its time, within the pacer's release window.
void worker::release_overdue_arrivals(scenario_runtime& s, steady::time_point now) {
  if (!s.arrivals || s.ending || !running_) return;
  release_due(s, steady::time_point::max(), now);
}

void worker::ramp(scenario_runtime& s, steady::time_point now) {
  if (s.ending) return;
  const double t = std::chrono::duration<double>(now - s.start).count();
  const auto target = static_cast<int64_t>(std::floor(ramping_vus_target(*s.options, t) + 1e-9));
  s.target = share_of(target, s.place);
  // Start parked or new VUs up to the target; VUs above it stop after their current iteration.
  while (s.running < s.target) {
    vu* v = nullptr;
    if (!s.parked.empty()) {
      v = s.parked.back();
      s.parked.pop_back();
    } else {
      v = &create_vu(&s);
    }
    begin_iteration(*v, now, now);
  }
  schedule(now + ramp_period, event_kind::ramp_tick, &s);
}

void worker::end_scenario(scenario_runtime& s) {
  if (s.ending) return;
  s.ending = true;
  if (s.pacer) s.pacer->stop();  // no new arrival
  if (s.running == 0) {
    mark_ended(s);
  } else {
    schedule(std::min(s.hard_stop, std::max(steady::now(), s.hard_stop)), event_kind::scenario_hard_stop, &s);
  }
}

void worker::hard_stop_scenario(scenario_runtime& s) {
  if (s.ended) return;
  for (vu* v : s.vus) {
    if (v->state == vu_state::parked || v->state == vu_state::done) continue;
    v->interrupted = true;
    ++metrics_.scenarios()[s.index].interrupted_iterations;
    if (v->state == vu_state::waiting_http) abort_requests(*v);
    v->state = vu_state::done;
    --s.running;
    --active_vus_;
  }
  mark_ended(s);
}

void worker::mark_ended(scenario_runtime& s) {
  s.ended = true;
  // The scenario's real end in this worker; the results take the latest over workers.
  metrics_.scenarios()[s.index].end_s = std::chrono::duration<double>(steady::now() - plan_.start).count();
  maybe_finish();
}

void worker::maybe_finish() {
  if (special_vu_ != nullptr) {
    if (!special_done_) return;
  } else {
    for (auto& s : scenarios_) {
      if (!s->ended) return;
    }
  }
  // Everything has ended: let the loop drain what is pending (aborted requests) and return.
  running_ = false;
  load_ended_at_ = steady::now();
  heap_.clear();
  timer_->cancel();
  armed_for_ = steady::time_point::max();
  http_->abort_all();
}

}  // namespace stampede::loadgen
