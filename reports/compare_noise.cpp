#include "reports/compare_noise.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "common/hdr_histogram.h"

namespace stampede::reports::detail {

namespace {

struct second_data {
  std::map<int64_t, int64_t> buckets;  // latency (us, bucket top) -> count
  int64_t requests = 0;
  int64_t errors = 0;
  bool has_counts = false;  // requests/errors known for this second
};

// The step's seconds: histograms from intervals[], counts from timeseries[] (all requests) or from the
// interval rows (a step; absent in older files, then the histogram's count and no errors).
std::map<int64_t, second_data> seconds_of(const run_results& r, std::string_view step) {
  std::map<int64_t, second_data> out;
  const bool summary = step == all_requests;
  for (const auto& row : r.intervals) {
    if (summary) {
      const step_result* s = r.find_step(row.step);
      if (s != nullptr && (s->kind == "group" || s->kind == "tagged")) continue;
    } else if (row.step != step) {
      continue;
    }
    auto h = hdr_histogram::decode_base64(row.histogram);
    if (!h) continue;
    second_data& d = out[row.t];
    for (const auto& b : h->nonzero_buckets()) d.buckets[b.value_to] += b.count;
    if (!summary) {
      d.requests += row.requests.value_or(h->total_count());
      d.errors += row.errors.value_or(0);
      d.has_counts = row.errors.has_value();
    }
  }
  if (summary) {
    for (const auto& row : r.timeseries) {
      second_data& d = out[row.t];
      d.requests = row.requests;
      d.errors = row.errors;
      d.has_counts = true;
    }
  }
  return out;
}

double mean_of(std::span<const double> v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

double sd_of(std::span<const double> v) {
  if (v.size() < 2) return 0;
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(v.size() - 1));
}

// One statistic of a resampled histogram (dense counts over the sorted distinct values).
double latency_statistic(std::string_view metric, std::span<const int64_t> dense, std::span<const int64_t> values,
                         int64_t total) {
  if (metric == "mean") {
    double sum = 0;
    for (size_t k = 0; k < dense.size(); ++k) sum += static_cast<double>(dense[k]) * static_cast<double>(values[k]);
    return sum / static_cast<double>(total);
  }
  if (metric == "max") {
    for (size_t k = dense.size(); k-- > 0;) {
      if (dense[k] > 0) return static_cast<double>(values[k]);
    }
    return 0;
  }
  const double p = metric == "p50" ? 50 : metric == "p90" ? 90 : metric == "p95" ? 95 : metric == "p99" ? 99 : 99.9;
  const auto rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(total))));
  int64_t seen = 0;
  for (size_t k = 0; k < dense.size(); ++k) {
    seen += dense[k];
    if (seen >= rank) return static_cast<double>(values[k]);
  }
  return 0;
}

bool is_latency(std::string_view m) {
  return m == "p50" || m == "p90" || m == "p95" || m == "p99" || m == "p999" || m == "max" || m == "mean";
}

}  // namespace

size_t block_length(std::span<const double> series) {
  const size_t n = series.size();
  if (n < 10) return 1;
  const double m = mean_of(series);
  double var = 0;
  for (double x : series) var += (x - m) * (x - m);
  if (var <= 0) return 1;
  const double bound = 2.0 / std::sqrt(static_cast<double>(n));
  const size_t max_lag = std::max<size_t>(1, n / 4);
  size_t lag = 1;
  for (; lag <= max_lag; ++lag) {
    double c = 0;
    for (size_t t = 0; t + lag < n; ++t) c += (series[t] - m) * (series[t + lag] - m);
    if (std::fabs(c / var) < bound) break;
  }
  return std::clamp<size_t>(2 * (lag - 1), 1, std::max<size_t>(1, n / 5));
}

namespace {

// The block bootstrap over `seconds` (estimate_within_run_noise, estimate_trend_noise).
within_run_noise noise_of_seconds(const std::map<int64_t, second_data>& seconds,
                                  const std::vector<std::string>& metrics) {
  within_run_noise out;
  out.seconds = seconds.size();
  if (seconds.size() < 5) return out;

  // Block length from the autocorrelation of the per-second load and latency.
  std::vector<double> load, latency;
  for (const auto& [t, d] : seconds) {
    load.push_back(static_cast<double>(d.requests));
    double sum = 0, n = 0;
    for (const auto& [v, c] : d.buckets) sum += static_cast<double>(v) * static_cast<double>(c), n += static_cast<double>(c);
    latency.push_back(n > 0 ? sum / n : 0);
  }
  out.block_s = std::max({block_length(load), block_length(latency), (seconds.size() + 299) / 300});

  // Blocks of consecutive seconds, histogram values coordinate-compressed.
  std::vector<int64_t> values;
  for (const auto& [t, d] : seconds) {
    for (const auto& [v, c] : d.buckets) values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  struct block {
    std::vector<std::pair<uint32_t, int64_t>> counts;
    int64_t requests = 0, errors = 0, seconds = 0;
    bool has_counts = true;
  };
  std::vector<block> blocks;
  size_t i = 0;
  for (const auto& [t, d] : seconds) {
    if (i++ % out.block_s == 0) blocks.emplace_back();
    block& b = blocks.back();
    for (const auto& [v, c] : d.buckets) {
      b.counts.emplace_back(static_cast<uint32_t>(std::lower_bound(values.begin(), values.end(), v) - values.begin()), c);
    }
    b.requests += d.requests;
    b.errors += d.errors;
    b.has_counts = b.has_counts && d.has_counts;
    ++b.seconds;
  }
  if (blocks.size() < 5) return out;
  const bool counts_known = std::all_of(blocks.begin(), blocks.end(), [](const block& b) { return b.has_counts; });

  constexpr int resamples = 200;
  std::mt19937_64 rng(0x5eed);
  std::uniform_int_distribution<size_t> pick(0, blocks.size() - 1);
  std::map<std::string, std::vector<double>> logs;
  std::vector<double> error_rates;
  std::vector<int64_t> dense(values.size());
  int64_t all_requests_count = 0;
  for (const auto& b : blocks) all_requests_count += b.requests;
  for (int k = 0; k < resamples; ++k) {
    std::fill(dense.begin(), dense.end(), 0);
    int64_t total = 0, requests = 0, errors = 0, secs = 0;
    for (size_t j = 0; j < blocks.size(); ++j) {
      const block& b = blocks[pick(rng)];
      for (const auto& [idx, c] : b.counts) {
        dense[idx] += c;
        total += c;
      }
      requests += b.requests;
      errors += b.errors;
      secs += b.seconds;
    }
    for (const auto& m : metrics) {
      double v = 0;
      if (is_latency(m)) {
        if (total > 0) v = latency_statistic(m, dense, values, total);
      } else if (m == "rps") {
        v = secs > 0 ? static_cast<double>(requests) / static_cast<double>(secs) : 0;
      } else {
        continue;
      }
      if (v > 0) logs[m].push_back(std::log(v));
    }
    if (counts_known && requests > 0) error_rates.push_back(static_cast<double>(errors) / static_cast<double>(requests));
  }
  for (const auto& [m, v] : logs) {
    if (v.size() < resamples / 2) continue;  // mostly empty resamples: no estimate
    double se = sd_of(v);
    // Counting noise is never below Poisson's: a constant arrival rate gives identical seconds, not a
    // throughput measured without error (the run's length and its edges still move it).
    if (m == "rps" && all_requests_count > 0) se = std::max(se, 1.0 / std::sqrt(static_cast<double>(all_requests_count)));
    out.log_se[m] = se;
  }
  if (error_rates.size() >= resamples / 2) out.error_rate_se = sd_of(error_rates);
  return out;
}

}  // namespace

within_run_noise estimate_within_run_noise(const run_results& r, std::string_view step,
                                           const std::vector<std::string>& metrics) {
  return noise_of_seconds(seconds_of(r, step), metrics);
}

within_run_noise estimate_trend_noise(const run_results& r, std::string_view name,
                                      const std::vector<std::string>& metrics) {
  std::map<int64_t, second_data> seconds;
  for (const auto& row : r.metric_intervals) {
    if (row.name != name || row.histogram.empty()) continue;
    auto h = hdr_histogram::decode_base64(row.histogram);
    if (!h) continue;
    second_data& d = seconds[row.t];
    for (const auto& b : h->nonzero_buckets()) d.buckets[b.value_to] += b.count;
    d.requests += row.samples;  // the samples' count per second: the block length's load series
  }
  return noise_of_seconds(seconds, metrics);
}

std::optional<double> gauge_reading_sd(const run_results& r, std::string_view name, bool log_scale) {
  std::vector<double> readings;
  for (const auto& row : r.metric_intervals) {
    if (row.name != name) continue;
    if (log_scale && row.value <= 0) return std::nullopt;
    readings.push_back(log_scale ? std::log(row.value) : row.value);
  }
  if (readings.size() < 5) return std::nullopt;
  return sd_of(readings);
}

}  // namespace stampede::reports::detail
