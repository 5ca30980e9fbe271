// Report generation cost. The target from issue 5: a one-hour run with 20 steps turns into all formats in
// under 2 s. Run: ./reports_benchmark --benchmark_min_time=0.01 (smoke) or without flags (measure).
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <filesystem>
#include <map>

#include "reports/compare.h"
#include "reports/formats.h"
#include "reports/merge.h"
#include "reports/results.h"
#include "synthetic_results.h"

namespace {

namespace fs = std::filesystem;
using namespace stampede::reports;

// 20 steps x 3600 s x `rps` requests per second per step, built once per process.
const std::string& hour_run(int rps) {
  static std::map<int, std::string> cache;
  auto it = cache.find(rps);
  if (it != cache.end()) return it->second;
  std::vector<std::string> steps;
  for (int i = 0; i < 20; ++i) steps.push_back("GET /api/step/" + std::to_string(i));
  return cache[rps] = testing::build_results_text(testing::lognormal_run(1, 3600, rps, steps, 20, 0.6));
}

void BM_parse(benchmark::State& state) {
  const std::string& text = hour_run(static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(parse_results(text));
  state.counters["file_MB"] = static_cast<double>(text.size()) / 1e6;
}
BENCHMARK(BM_parse)->Arg(10)->Unit(benchmark::kMillisecond);

void BM_all_formats_one_hour_20_steps(benchmark::State& state) {
  const std::string& text = hour_run(static_cast<int>(state.range(0)));
  fs::path dir = fs::temp_directory_path() / "stampede_reports_bench";
  for (auto _ : state) {
    run_results r = parse_results(text);
    benchmark::DoNotOptimize(write_report_directory(r, dir));
  }
  uintmax_t bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  state.counters["file_MB"] = static_cast<double>(text.size()) / 1e6;
  state.counters["output_MB"] = static_cast<double>(bytes) / 1e6;
  fs::remove_all(dir);
}
BENCHMARK(BM_all_formats_one_hour_20_steps)->Arg(10)->Arg(50)->Unit(benchmark::kMillisecond);

void BM_format(benchmark::State& state) {
  run_results r = parse_results(hour_run(10));
  auto f = static_cast<report_format>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(render(r, f));
  state.SetLabel(std::string(format_extension(f)));
}
BENCHMARK(BM_format)->DenseRange(0, 5)->Unit(benchmark::kMillisecond);

void BM_compare_single_runs(benchmark::State& state) {
  std::vector<run_results> a{parse_results(hour_run(10))}, b{parse_results(hour_run(10))};
  auto budget = parse_budget(default_budget);
  for (auto _ : state) benchmark::DoNotOptimize(compare_runs(a, b, budget));
}
BENCHMARK(BM_compare_single_runs)->Unit(benchmark::kMillisecond);

// Merging two one-hour shards of 20 steps: 72,000 interval histograms per shard. Reports the process's
// peak RSS, since merging must not hold every decoded histogram at once (~190 KB each).
void BM_merge_two_one_hour_shards(benchmark::State& state) {
  std::vector<std::string> steps;
  for (int i = 0; i < 20; ++i) steps.push_back("GET /api/step/" + std::to_string(i));
  std::vector<run_results> shards;
  for (uint64_t seed : {1, 2}) {
    auto run = testing::lognormal_run(seed, 3600, 10, steps, 20, 0.6);
    run.shard_index = static_cast<int64_t>(seed - 1);
    run.shard_count = 2;
    shards.push_back(parse_results(testing::build_results_text(run)));
  }
  for (auto _ : state) benchmark::DoNotOptimize(merge_results(shards));
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_MB"] = static_cast<double>(usage.ru_maxrss) / 1024.0;
}
BENCHMARK(BM_merge_two_one_hour_shards)->Unit(benchmark::kMillisecond);

}  // namespace
BENCHMARK_MAIN();
