// HdrHistogram micro-benchmarks: the recording hot path, merging, queries and the V2 codec.
//   hdr_histogram_benchmark --benchmark_min_time=0.01   (smoke run)
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "common/hdr_histogram.h"

namespace {

using stampede::hdr_histogram;

// Latency-like values (microseconds): lognormal body, long tail. Pre-generated so that the random
// number generator is not what gets measured.
std::vector<int64_t> latency_values(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::lognormal_distribution<double> dist(8.0, 1.5);
  std::vector<int64_t> values(n);
  for (auto& v : values) v = static_cast<int64_t>(dist(rng));
  return values;
}

hdr_histogram filled(size_t n, uint64_t seed) {
  hdr_histogram h;
  for (const auto v : latency_values(n, seed)) h.record(v);
  return h;
}

void bm_record_random(benchmark::State& state) {
  const auto values = latency_values(1 << 16, 1);
  hdr_histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(h.total_count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_record_random);

void bm_record_hot_bucket(benchmark::State& state) {
  hdr_histogram h;
  int64_t v = 1500;
  for (auto _ : state) {
    benchmark::DoNotOptimize(v);
    h.record(v);
  }
  benchmark::DoNotOptimize(h.total_count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(bm_record_hot_bucket);

void bm_add(benchmark::State& state) {
  const auto a = filled(100'000, 2);
  const auto b = filled(100'000, 3);
  for (auto _ : state) {
    auto merged = a;
    merged.add(b);
    benchmark::DoNotOptimize(merged.total_count());
  }
}
BENCHMARK(bm_add);

void bm_add_into(benchmark::State& state) {
  // add() alone, without copying: the merge of per-thread histograms at the end of a run.
  const auto b = filled(100'000, 3);
  hdr_histogram merged;
  for (auto _ : state) {
    merged.add(b);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(merged.total_count());
}
BENCHMARK(bm_add_into);

void bm_value_at_percentile(benchmark::State& state) {
  const auto h = filled(100'000, 4);
  const double p = static_cast<double>(state.range(0)) / 1000.0;
  for (auto _ : state) benchmark::DoNotOptimize(h.value_at_percentile(p));
}
BENCHMARK(bm_value_at_percentile)->Arg(50'000)->Arg(99'000)->Arg(99'999);

void bm_encode_compressed(benchmark::State& state) {
  const auto h = filled(static_cast<size_t>(state.range(0)), 5);
  size_t bytes = 0;
  for (auto _ : state) {
    const auto encoded = h.encode_compressed();
    bytes = encoded.size();
    benchmark::DoNotOptimize(encoded.data());
  }
  state.counters["encoded_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(bm_encode_compressed)->Arg(1'000)->Arg(100'000);

void bm_decode(benchmark::State& state) {
  const auto encoded = filled(static_cast<size_t>(state.range(0)), 6).encode_compressed();
  for (auto _ : state) {
    auto decoded = hdr_histogram::decode(encoded);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(bm_decode)->Arg(1'000)->Arg(100'000);

void bm_decode_base64(benchmark::State& state) {
  const auto text = filled(100'000, 7).encode_compressed_base64();
  for (auto _ : state) {
    auto decoded = hdr_histogram::decode_base64(text);
    benchmark::DoNotOptimize(decoded);
  }
}
BENCHMARK(bm_decode_base64);

void bm_percentile_distribution(benchmark::State& state) {
  const auto h = filled(100'000, 8);
  for (auto _ : state) benchmark::DoNotOptimize(h.percentile_distribution());
}
BENCHMARK(bm_percentile_distribution);

}  // namespace

BENCHMARK_MAIN();
