#include "loadgen/live_metrics.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "common/http_server.h"
#include "common/prometheus_text.h"
#include "common/small_endpoint.h"
#include "loadgen/options.h"

namespace stampede::loadgen {

namespace {

constexpr std::string_view unnamed_step = "(unnamed)";
constexpr std::string_view other_step = "(other)";
constexpr std::string_view no_scenario = "(none)";  // setup()'s requests
constexpr std::array<std::string_view, 6> status_labels = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

std::vector<uint64_t> cumulative(const std::vector<uint64_t>& buckets) {
  std::vector<uint64_t> out(buckets.size());
  uint64_t running = 0;
  for (size_t i = 0; i < buckets.size(); ++i) out[i] = running += buckets[i];
  return out;
}

}  // namespace

void live_metrics::histogram::add(const hdr_histogram& recorded, double unit,
                                  std::span<const double> bounds) {
  buckets.resize(bounds.size());
  for (const auto& b : recorded.nonzero_buckets()) {
    // A HdrHistogram bucket goes to the first bound its lowest value fits under (exact below 2048 recorded
    // units, within 0.1% above).
    const double from = static_cast<double>(b.value_from) / unit;
    const auto bound = std::lower_bound(bounds.begin(), bounds.end(), from);
    const auto n = static_cast<uint64_t>(b.count);
    if (bound != bounds.end()) buckets[static_cast<size_t>(bound - bounds.begin())] += n;
    count += n;
    sum += static_cast<double>(b.value_from + b.value_to) / 2 / unit * static_cast<double>(n);
  }
}

void live_metrics::set_scenarios(const std::vector<scenario_options>& scenarios) {
  std::lock_guard lock(mutex_);
  scenario_names_.clear();
  for (const auto& s : scenarios) scenario_names_.push_back(s.name);
}

// The step's label; a name the script did not declare is never one (it may hold ids), and the number of
// labels is bounded.
std::string_view live_metrics::label_of(const interval_snapshot::step& step) {
  if (!step.declared) return unnamed_step;
  const bool known =
      step.kind == step_kind::group ? groups_.contains(step.name) : request_steps_.contains(step.name);
  if (known) return step.name;
  const bool seen_as_other_kind =
      step.kind == step_kind::group ? request_steps_.contains(step.name) : groups_.contains(step.name);
  if (!seen_as_other_kind && labels_ >= max_live_steps) return other_step;
  if (!seen_as_other_kind) ++labels_;
  return step.name;
}

void live_metrics::add(const interval_snapshot& snapshot) {
  std::lock_guard lock(mutex_);
  for (const auto& step : snapshot.steps) {
    if (step.kind == step_kind::tagged) continue;  // a threshold's sub-metric: already in its request step
    const std::string_view label = label_of(step);
    if (step.kind == step_kind::group) {
      auto it = groups_.find(label);
      if (it == groups_.end()) it = groups_.emplace(std::string(label), histogram{}).first;
      it->second.add(step.corrected, 1e6, live_latency_bounds_s);
      continue;
    }
    auto it = request_steps_.find(label);
    if (it == request_steps_.end()) it = request_steps_.emplace(std::string(label), step_series{}).first;
    step_series& series = it->second;
    series.latency.add(step.corrected, 1e6, live_latency_bounds_s);
    if (series.requests.size() < step.statuses.size()) series.requests.resize(step.statuses.size());
    for (size_t slot = 0; slot < step.statuses.size(); ++slot) {
      for (size_t c = 0; c < status_labels.size(); ++c)
        series.requests[slot][c] += static_cast<uint64_t>(step.statuses[slot][c]);
    }
  }
  for (size_t i = 0; i < error_kind_count; ++i)
    errors_by_kind_[i] += static_cast<uint64_t>(snapshot.errors_by_kind[i]);
  iterations_ += static_cast<uint64_t>(snapshot.iterations);
  dropped_iterations_ += static_cast<uint64_t>(snapshot.dropped_iterations);
  const check_counts checks = snapshot.checks_total();
  checks_passed_ += static_cast<uint64_t>(checks.passes);
  checks_failed_ += static_cast<uint64_t>(checks.fails);
  custom_.merge(snapshot.custom);
  const auto w = static_cast<size_t>(std::max(0, snapshot.worker));
  if (workers_.size() <= w) workers_.resize(w + 1);
  if (snapshot.second >= workers_[w].second) {  // a worker's seconds arrive in order; keep the latest
    workers_[w] = {snapshot.vus, snapshot.vus_max, static_cast<double>(snapshot.event_loop_lag.max()) / 1e6,
                   snapshot.second};
  }
}

std::string live_metrics::render() const {
  using prometheus::metric_type;
  prometheus::text_writer out;
  std::lock_guard lock(mutex_);

  out.family("stampede_http_requests_total", metric_type::counter,
             "HTTP requests that ended, by scenario, step (the request's declared name) and status class");
  for (const auto& [step, series] : request_steps_) {
    for (size_t slot = 0; slot < series.requests.size(); ++slot) {
      std::string_view scenario = slot == 0 ? no_scenario : std::string_view("(unknown)");
      if (slot > 0 && slot - 1 < scenario_names_.size()) scenario = scenario_names_[slot - 1];
      for (size_t c = 0; c < status_labels.size(); ++c) {
        if (series.requests[slot][c] == 0) continue;
        out.sample("stampede_http_requests_total",
                   {{"scenario", scenario}, {"step", step}, {"status", status_labels[c]}},
                   series.requests[slot][c]);
      }
    }
  }
  out.family("stampede_http_request_duration_seconds", metric_type::histogram,
             "HTTP request latency per step, corrected for coordinated omission (from the intended start)");
  for (const auto& [step, series] : request_steps_) {
    out.histogram("stampede_http_request_duration_seconds", {{"step", step}}, live_latency_bounds_s,
                  cumulative(series.latency.buckets), series.latency.sum, series.latency.count);
  }
  out.family("stampede_group_duration_seconds", metric_type::histogram,
             "Duration of the script's groups, corrected for coordinated omission");
  for (const auto& [group, h] : groups_) {
    out.histogram("stampede_group_duration_seconds", {{"group", group}}, live_latency_bounds_s,
                  cumulative(h.buckets), h.sum, h.count);
  }
  out.family("stampede_errors_total", metric_type::counter,
             "Errors by kind: failed requests as the engine classifies them, and failed checks");
  for (size_t i = 1; i < error_kind_count; ++i) {  // 0 is error_kind::none
    out.sample("stampede_errors_total", {{"kind", to_string(static_cast<error_kind>(i))}},
               errors_by_kind_[i]);
  }
  out.family("stampede_iterations_total", metric_type::counter, "Iterations completed");
  out.sample("stampede_iterations_total", {}, iterations_);
  out.family("stampede_dropped_iterations_total", metric_type::counter,
             "Arrival-rate iterations that found no free VU (not started)");
  out.sample("stampede_dropped_iterations_total", {}, dropped_iterations_);
  out.family("stampede_checks_total", metric_type::counter, "Checks by result");
  out.sample("stampede_checks_total", {{"result", "pass"}}, checks_passed_);
  out.sample("stampede_checks_total", {{"result", "fail"}}, checks_failed_);

  int64_t vus = 0;
  int64_t vus_max = 0;
  int64_t second = -1;
  for (const auto& w : workers_) {
    vus += w.vus;
    vus_max += w.vus_max;
    second = std::max(second, w.second);
  }
  out.family("stampede_vus", metric_type::gauge, "Active VUs (in an iteration or waiting for the next one)");
  out.sample("stampede_vus", {}, vus);
  out.family("stampede_vus_max", metric_type::gauge, "VUs allocated");
  out.sample("stampede_vus_max", {}, vus_max);
  out.family("stampede_event_loop_lag_seconds", metric_type::gauge,
             "Worst lateness of a worker's timer wake-ups in its last second (above 0.01: the generator is "
             "saturated)");
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (workers_[i].second < 0) continue;
    const std::string worker = std::to_string(i);
    out.sample("stampede_event_loop_lag_seconds", {{"worker", worker}}, workers_[i].lag_max_s);
  }
  out.family("stampede_data_second", metric_type::gauge,
             "The last second of the load (since its start) included in these figures; -1 before the first");
  out.sample("stampede_data_second", {}, second);
  render_custom(out);
  return out.take();
}

void live_metrics::add_custom(const custom_metrics& second) {
  std::lock_guard lock(mutex_);
  custom_.merge(second);
}

// The script's metrics, by their declared names: counter -> stampede_custom_<name>_total, rate ->
// stampede_custom_<name>_total{result="true"|"false"}, gauge -> stampede_custom_<name> (the latest value),
// trend -> histogram stampede_custom_<name>_seconds (isTime; in seconds) or stampede_custom_<name>
// (live_trend_bounds). Two metrics whose Prometheus names collide ("x" as a counter, "x_total" as a gauge):
// the first declared is written.
void live_metrics::render_custom(prometheus::text_writer& out) const {
  using prometheus::metric_type;
  std::vector<std::string> written;
  auto first_time = [&](const std::string& name) {
    if (std::find(written.begin(), written.end(), name) != written.end()) return false;
    written.push_back(name);
    return true;
  };
  for (const auto& m : custom_.metrics()) {
    const custom_sink& all = m->all;
    const std::string base = "stampede_custom_" + m->name;
    const std::string help = "The script's metrics." + std::string(results::to_string(m->type)) + "('" +
                             m->name + "')" + (m->is_time ? " in seconds" : "");
    switch (m->type) {
      case results::metric_type::counter:
        if (!first_time(base + "_total")) break;
        out.family(base + "_total", metric_type::counter, help);
        out.sample(base + "_total", {}, all.sum);
        break;
      case results::metric_type::rate:
        if (!first_time(base + "_total")) break;
        out.family(base + "_total", metric_type::counter, help + ": samples by value (true: non-zero)");
        out.sample(base + "_total", {{"result", "true"}}, all.trues);
        out.sample(base + "_total", {{"result", "false"}}, all.samples - all.trues);
        break;
      case results::metric_type::gauge:
        if (!first_time(base) || all.samples == 0) break;
        out.family(base, metric_type::gauge, help + ": the latest value");
        out.sample(base, {}, all.last);
        break;
      case results::metric_type::trend: {
        const std::string name = m->is_time ? base + "_seconds" : base;
        if (!first_time(name) || !all.histogram) break;
        histogram h;
        if (m->is_time) {
          h.add(*all.histogram, 1e6, live_latency_bounds_s);  // ms x trend_scale: us
          out.family(name, metric_type::histogram, help);
          out.histogram(name, {}, live_latency_bounds_s, cumulative(h.buckets), h.sum, h.count);
        } else {
          h.add(*all.histogram, static_cast<double>(trend_scale), live_trend_bounds);
          out.family(name, metric_type::histogram, help);
          out.histogram(name, {}, live_trend_bounds, cumulative(h.buckets), h.sum, h.count);
        }
        break;
      }
    }
  }
}

live_metrics_endpoint::live_metrics_endpoint(const host_port& address)
    : address_(address), metrics_(std::make_unique<live_metrics>()) {
  const http::server_options options = http::small_endpoint_options(address.host, address.port);
  live_metrics& metrics = *metrics_;
  server_ = std::make_unique<http::server>(options, [&metrics](http::request& request) {
    if (request.path() != "/metrics")
      return http::response::error(404, "not_found", "only /metrics is served");
    if (request.method != "GET" && request.method != "HEAD") {
      http::response r = http::response::error(405, "method_not_allowed", "GET /metrics");
      r.headers.emplace_back("Allow", "GET, HEAD");
      return r;
    }
    http::response r;
    r.content_type = std::string(prometheus::content_type);
    r.body = metrics.render();
    return r;
  });
  server_->start();
  address_.port = server_->port();
}

live_metrics_endpoint::~live_metrics_endpoint() { server_->stop(std::chrono::milliseconds(200)); }

uint16_t live_metrics_endpoint::port() const noexcept { return server_->port(); }

std::string live_metrics_endpoint::url() const { return "http://" + to_string(address_) + "/metrics"; }

std::unique_ptr<live_metrics_endpoint> open_live_metrics(const run_request& request) {
  try {
    auto endpoint = std::make_unique<live_metrics_endpoint>(*request.metrics_listen);
    if (!request.quiet) std::fprintf(stderr, "stampede: live metrics at %s\n", endpoint->url().c_str());
    if (request.metrics_listening) request.metrics_listening(endpoint->port());
    return endpoint;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "stampede: --metrics-listen %s: cannot listen: %s\n",
                 to_string(*request.metrics_listen).c_str(), e.code().message().c_str());
    return nullptr;
  }
}

host_port parse_metrics_listen(std::string_view text) {
  host_port address =
      parse_host_port(text, "--metrics-listen", {.default_host = {}, .port_zero_allowed = true});
  unsigned char ip[16];
  if (inet_pton(AF_INET, address.host.c_str(), ip) != 1 &&
      inet_pton(AF_INET6, address.host.c_str(), ip) != 1) {
    throw std::invalid_argument("--metrics-listen '" + std::string(text) +
                                "' needs an IP address to bind (e.g. 127.0.0.1:9464), not a host name");
  }
  return address;
}

}  // namespace stampede::loadgen
