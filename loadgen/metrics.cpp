#include "loadgen/metrics.h"

#include <utility>

namespace stampede::loadgen {

namespace {
constexpr int64_t highest_us = 3'600'000'000;  // 1 h
}

std::string_view to_string(error_kind kind) noexcept {
  switch (kind) {
    case error_kind::none: return "none";
    case error_kind::connect_refused: return "connect_refused";
    case error_kind::connect_timeout: return "connect_timeout";
    case error_kind::reset: return "reset";
    case error_kind::read_timeout: return "read_timeout";
    case error_kind::malformed_response: return "malformed_response";
    case error_kind::tls: return "tls";
    case error_kind::body_truncated: return "body_truncated";
    case error_kind::status_4xx: return "status_4xx";
    case error_kind::status_5xx: return "status_5xx";
    case error_kind::check_failed: return "check_failed";
    case error_kind::other: return "other";
  }
  return "other";
}

step_metrics::step_metrics(std::string step_name, step_kind step_kind)
    : name(std::move(step_name)),
      kind(step_kind),
      corrected(1, highest_us, 3),
      uncorrected(1, highest_us, 3),
      phases{hdr_histogram(1, highest_us, 2), hdr_histogram(1, highest_us, 2), hdr_histogram(1, highest_us, 2),
             hdr_histogram(1, highest_us, 2), hdr_histogram(1, highest_us, 2)},
      interval_corrected(1, highest_us, 3) {}

void step_metrics::merge(const step_metrics& other) {
  corrected.add(other.corrected);
  uncorrected.add(other.uncorrected);
  for (size_t i = 0; i < phases.size(); ++i) phases[i].add(other.phases[i]);
  requests += other.requests;
  errors += other.errors;
  for (size_t i = 0; i < status_classes.size(); ++i) status_classes[i] += other.status_classes[i];
  for (size_t i = 0; i < errors_by_kind.size(); ++i) errors_by_kind[i] += other.errors_by_kind[i];
}

size_t worker_metrics::step_index(std::string_view name, step_kind kind, bool declared) {
  if (auto it = step_by_name_.find(name); it != step_by_name_.end()) {
    if (declared) steps_[it->second]->declared = true;
    return it->second;
  }
  const size_t index = steps_.size();
  steps_.push_back(std::make_unique<step_metrics>(std::string(name), kind));
  steps_.back()->declared = declared;
  step_by_name_.emplace(std::string(name), index);
  return index;
}

void worker_metrics::record_request(size_t index, size_t scenario_slot, int64_t corrected_us,
                                    const request_timings& t, int status, error_kind error) {
  record_tagged(index, corrected_us, t, status, error);
  auto& statuses = steps_[index]->interval_statuses;
  if (scenario_slot >= statuses.size()) statuses.resize(scenario_slot + 1);
  ++statuses[scenario_slot][status >= 100 && status < 600 ? static_cast<size_t>(status / 100) : 0];
  if (error != error_kind::none) ++interval_errors_by_kind_[static_cast<size_t>(error)];
}

void worker_metrics::record_tagged(size_t index, int64_t corrected_us, const request_timings& t, int status,
                                   error_kind error) {
  step_metrics& s = *steps_[index];
  if (s.interval_requests == 0 && s.interval_errors == 0) active_in_interval_.push_back(index);
  s.corrected.record(corrected_us);
  s.interval_corrected.record(corrected_us);
  s.uncorrected.record(t.total);
  s.phases[0].record(t.blocked);
  s.phases[1].record(t.connect + t.tls);
  s.phases[2].record(t.send);
  s.phases[3].record(t.wait);
  s.phases[4].record(t.receive);
  ++s.requests;
  ++s.interval_requests;
  const int status_class = status >= 100 && status < 600 ? status / 100 : 0;
  ++s.status_classes[static_cast<size_t>(status_class)];
  if (error != error_kind::none) {
    ++s.errors;
    ++s.interval_errors;
    ++s.errors_by_kind[static_cast<size_t>(error)];
  }
}

void worker_metrics::track_tags(const std::vector<std::pair<std::string, std::string>>& tags) {
  for (const auto& t : tagged_) {
    if (t.tags == tags) return;
  }
  std::string name = "{";  // aggregate.h's tag_set_name
  for (const auto& [key, value] : tags) name += (name.size() > 1 ? "," : "") + key + ":" + value;
  name += "}";
  tagged_.push_back({tags, step_index(name, step_kind::tagged)});
}

void worker_metrics::record_group(size_t index, int64_t corrected_us, int64_t duration_us) {
  step_metrics& s = *steps_[index];
  if (s.interval_requests == 0 && s.interval_errors == 0) active_in_interval_.push_back(index);
  s.corrected.record(corrected_us);
  s.interval_corrected.record(corrected_us);
  s.uncorrected.record(duration_us);
  ++s.requests;
  ++s.interval_requests;
}

size_t worker_metrics::check_index(std::string_view group, std::string_view name) {
  if (auto it = check_by_key_.find(check_view{group, name}); it != check_by_key_.end()) return it->second;
  const size_t index = checks_.size();
  checks_.push_back({check_key{std::string(group), std::string(name)}, {}, {}});
  check_by_key_.emplace(checks_.back().key, index);
  return index;
}

void worker_metrics::record_check(size_t index, bool ok) {
  check_slot& c = checks_[index];
  if (c.interval.passes == 0 && c.interval.fails == 0) checks_in_interval_.push_back(index);
  if (ok) {
    ++c.total.passes;
    ++c.interval.passes;
  } else {
    ++c.total.fails;
    ++c.interval.fails;
    ++interval_errors_by_kind_[static_cast<size_t>(error_kind::check_failed)];
  }
}

std::map<check_key, check_counts> worker_metrics::checks() const {
  std::map<check_key, check_counts> out;
  for (const auto& c : checks_) {
    if (c.total.passes + c.total.fails > 0) out.emplace(c.key, c.total);  // as if indexed when first recorded
  }
  return out;
}

check_counts interval_snapshot::checks_total() const {
  check_counts total;
  for (const auto& [key, counts] : checks) {
    total.passes += counts.passes;
    total.fails += counts.fails;
  }
  return total;
}

void worker_metrics::record_iteration(size_t scenario, int64_t duration_us, bool failed) {
  if (scenario >= scenarios_.size()) scenarios_.resize(scenario + 1);
  ++scenarios_[scenario].iterations;
  if (failed) ++scenarios_[scenario].failed_iterations;
  iteration_durations_.record(duration_us);
  interval_iteration_durations_.record(duration_us);
  ++interval_iterations_;
}

void worker_metrics::record_dropped(size_t scenario) {
  if (scenario >= scenarios_.size()) scenarios_.resize(scenario + 1);
  ++scenarios_[scenario].dropped_iterations;
  ++interval_dropped_;
}

void worker_metrics::record_event_loop_lag(int64_t lag_us) {
  event_loop_lag_.record(lag_us);
  interval_lag_.record(lag_us);
}

interval_snapshot worker_metrics::roll_interval(int64_t second, int worker, int64_t vus, int64_t vus_max) {
  interval_snapshot snap;
  snap.second = second;
  snap.worker = worker;
  snap.steps.reserve(active_in_interval_.size());
  for (size_t index : active_in_interval_) {
    step_metrics& s = *steps_[index];
    snap.steps.push_back({s.name, s.kind, s.interval_corrected, s.interval_requests, s.interval_errors,
                          s.declared, s.interval_statuses});
    for (auto& counts : s.interval_statuses) counts = {};
    s.interval_corrected.reset();
    s.interval_requests = 0;
    s.interval_errors = 0;
  }
  active_in_interval_.clear();
  snap.errors_by_kind = interval_errors_by_kind_;
  interval_errors_by_kind_ = {};
  if (interval_iterations_ > 0) {
    snap.iteration_durations = interval_iteration_durations_;
    interval_iteration_durations_.reset();
  }
  for (size_t index : checks_in_interval_) {
    snap.checks.emplace(checks_[index].key, std::exchange(checks_[index].interval, {}));
  }
  checks_in_interval_.clear();
  snap.iterations = interval_iterations_;
  snap.dropped_iterations = interval_dropped_;
  interval_iterations_ = 0;
  interval_dropped_ = 0;
  snap.vus = vus;
  snap.vus_max = vus_max;
  snap.event_loop_lag = interval_lag_;
  interval_lag_.reset();
  snap.custom = custom_.roll_interval();
  snap.builtin_subs = builtin_subs_.roll_interval();
  return snap;
}

}  // namespace stampede::loadgen
