// What the autoscaler measures, read directly (no Prometheus needed, --observe or not): HAProxy's `show stat`
// on its runtime API (per server: status, sessions now, sessions in all; per backend: queue, sessions in
// all) and each node's /metrics request-duration histogram (for p99). Parsers are pure and unit-tested on
// recorded text (tests/reference_shop/autoscale_metrics_test.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "reference_shop/metrics.h"

namespace stampede::shop::autoscale {

struct server_stat {
  std::string status;     // UP, DOWN, MAINT, DRAIN, "UP 1/2", no check...
  int64_t in_flight = 0;  // scur: requests at the node now (HTTP: a stream is attached to one request)
  int64_t queued = 0;     // qcur: waiting in HAProxy's queue for this server
  int64_t total = 0;      // stot: requests sent to it so far
  bool up() const { return status.starts_with("UP") || status == "DRAIN"; }
};

struct backend_stat {
  int64_t queued = 0;  // qcur: waiting for any server
  int64_t total = 0;   // stot: requests through the backend so far (restarts at 0 with HAProxy)
  std::map<std::string, server_stat> servers;
};

// `show stat`'s CSV (its header names the columns) for `backend`; nullopt when the backend is not in it.
std::optional<backend_stat> parse_show_stat(std::string_view csv, std::string_view backend);

// Cumulative request-duration buckets (duration_histograms::bounds, then +Inf) of a node's /metrics, summed
// over every route but the supervisor's and HAProxy's own (/readyz, /healthz, /metrics).
using duration_buckets = std::array<uint64_t, duration_histograms::bounds.size() + 1>;
duration_buckets parse_duration_buckets(std::string_view metrics_text);

// `now - before` per bucket; a node that restarted (a bucket went down) counts from zero.
duration_buckets bucket_delta(const duration_buckets& now, const duration_buckets& before);
// The p99 in milliseconds of a bucket delta, interpolated linearly inside its bucket (as Prometheus's
// histogram_quantile); none without observations; the largest finite bound when it falls in +Inf.
std::optional<double> p99_ms(const duration_buckets& delta);

}  // namespace stampede::shop::autoscale
