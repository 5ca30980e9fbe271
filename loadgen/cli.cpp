#include "loadgen/cli.h"

#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <thread>

#include "common/cli_args.h"
#include "common/duration.h"
#include "dashboard/server.h"
#include "loadgen/live_metrics.h"

namespace stampede::loadgen {

namespace {

const cli::command spec{
    "stampede run",
    "SCENARIO.lua [flags]",
    "Runs a Lua scenario. Flags override the scenario's options.",
    {{"--target", {}, "URL", "base URL for relative request URLs (options.target)"},
     cli::out_flag("FILE", "write the results JSON (schema: docs/RESULTS.md)"),
     {"--report", {}, "DIR", "write every report format into DIR at the end"},
     {"--vus", "-u", "N", "virtual users (replaces the scenarios by one, as k6 does)"},
     {"--duration", "-d", "D", "test duration, e.g. 30s, 2m (with --vus: constant-vus)"},
     {"--rate", {}, "R", "iterations per second (constant-arrival-rate; --vus = pre-allocated VUs)"},
     {"--iterations", "-i", "N", "total iterations (shared-iterations)"},
     cli::threads_flag("worker threads, at most 256 (default: number of cores)"),
     cli::seed_flag("seed for every random choice (default 1)"),
     cli::env_flag(),
     {"--shard", {}, "I/N", "run shard I (0-based) of N: rates, VUs and VU ids are split"},
     {"--proxy", {}, {},
      "route traffic through a fault proxy named \"target\" (network faults\n"
      "of options.chaos and chaos.inject apply to the generator-target link)"},
     {"--topology", {}, "FILE", "a shop topology naming processes for node faults (kill, pause, ...)"},
     {"--no-thresholds", {}, {}, "do not evaluate thresholds"},
     {"--lua-memory-limit", {}, "SIZE",
      "memory of each worker thread's Lua state, e.g. 512MB, 2GB (default\n"
      "options.luaMemoryLimit, else 1GB); unlike the option it covers the top level"},
     {"--unsafe-lua", {}, {},
      "give the scenario Lua's whole standard library: processes (os.execute,\n"
      "io.popen), native modules, file writes, os.getenv, debug. Without it a\n"
      "scenario only reads files in its own folder (docs/SCENARIOS.md, Sandbox)"},
     {"--summary-trend-stats", {}, "LIST",
      "statistics of the summary's trends, e.g. avg,min,med,max,p(90),p(99.9),count\n"
      "(default avg,min,med,p(90),p(95),p(99),max)"},
     {"--summary-time-unit", {}, "UNIT", "one unit for every time of the summary: s, ms or us (default: per value)"},
     {"--metrics-listen", {}, "IP:PORT",
      "serve the generator's live metrics (Prometheus text) at http://IP:PORT/metrics\n"
      "during the run, e.g. 127.0.0.1:9464 (docs/SCENARIOS.md, Live metrics)"},
     {"--dashboard", {}, "IP:PORT",
      "serve a live dashboard (the report's charts, thresholds, steps; updated every\n"
      "second) at http://IP:PORT/ during the run (docs/REPORTS.md, Live dashboard)"},
     {"--quiet", "-q", {}, "no progress line and no banner"}},
    "Exit codes: 0 ok, 2 bad usage, 98 an invariant failed (verify), 99 thresholds crossed, 104 invalid options,\n"
    "105 interrupted, 107 script error, 108 aborted by the script. When several apply:\n"
    "98 > 107 > 108 > 105 > 99."};

using cli::usage_error;

double parse_positive(std::string_view flag, std::string_view text) {
  const double value = cli::to_double(flag, text, 0, std::numeric_limits<double>::max());
  if (value <= 0) throw usage_error(std::string(flag) + ": expected a positive number, got '" + std::string(text) + "'");
  return value;
}

void add_env(run_request& request, const std::string& pair) {
  const size_t eq = pair.find('=');
  if (eq == std::string::npos || eq == 0) throw usage_error("--env: expected KEY=VALUE, got '" + pair + "'");
  request.env[pair.substr(0, eq)] = pair.substr(eq + 1);
}

void read_shard(run_request& request, const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) throw usage_error("--shard: expected I/N, e.g. 0/2");
  request.shard.index = cli::to_int("--shard", std::string_view(text).substr(0, slash), 0, INT64_MAX);
  request.shard.count = cli::to_int("--shard", std::string_view(text).substr(slash + 1), 1, INT64_MAX);
  if (request.shard.index >= request.shard.count) throw usage_error("--shard: I must be below N (0-based)");
}

// The flags that override the scenario's options (option_overrides).
void read_overrides(const cli::parsed_args& a, option_overrides& o) {
  if (auto v = a.value("--target")) o.target = *v;
  if (a.has("--vus")) o.vus = a.get_int("--vus", 1, 1, INT64_MAX);
  if (auto v = a.value("--duration")) {
    auto d = try_parse_duration(*v);
    if (!d || d->count() == 0) throw usage_error("--duration: invalid duration '" + *v + "'");
    o.duration = *d;
  }
  if (auto v = a.value("--rate")) o.rate = parse_positive("--rate", *v);
  if (a.has("--iterations")) o.iterations = a.get_int("--iterations", 1, 1, INT64_MAX);
}

// Returns nullopt for --help.
std::optional<run_request> parse(std::span<char* const> args) {
  const cli::parsed_args a = cli::parse(spec, args);
  if (a.help()) return std::nullopt;
  run_request request;
  read_overrides(a, request.overrides);
  request.out_path = a.value("--out");
  request.report_dir = a.value("--report");
  request.threads = static_cast<int>(
      a.get_int("--threads", static_cast<int>(std::max(1u, std::thread::hardware_concurrency())), 1, 256));
  request.seed = static_cast<uint64_t>(a.get_int("--seed", 1, 0, INT64_MAX));
  for (const auto& pair : a.values("--env")) add_env(request, pair);
  if (auto v = a.value("--shard")) read_shard(request, *v);
  request.proxy = a.has("--proxy");
  request.topology_path = a.value("--topology");
  request.no_thresholds = a.has("--no-thresholds");
  request.unsafe_lua = a.has("--unsafe-lua");
  if (auto v = a.value("--lua-memory-limit")) {
    const auto bytes = parse_byte_size(*v);
    if (!bytes || *bytes < 1024 * 1024) {
      throw usage_error("--lua-memory-limit: expected a size of at least 1MB such as 512MB or 2GB, got '" + *v + "'");
    }
    request.lua_memory_limit = *bytes;
  }
  request.quiet = a.has("--quiet");
  if (auto v = a.value("--metrics-listen")) {
    try {
      request.metrics_listen = parse_metrics_listen(*v);
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
  }
  if (auto v = a.value("--dashboard")) {
    try {
      request.dashboard_listen = dashboard::parse_listen_address(*v, "--dashboard");
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
  }
  try {
    if (auto v = a.value("--summary-trend-stats")) request.summary.stats = parse_trend_stats(*v);
  } catch (const std::invalid_argument& e) {
    throw usage_error(std::string("--summary-trend-stats: ") + e.what());
  }
  try {
    if (auto v = a.value("--summary-time-unit")) request.summary.unit = parse_time_unit(*v);
  } catch (const std::invalid_argument& e) {
    throw usage_error(std::string("--summary-time-unit: ") + e.what());
  }
  if (a.positional().size() > 1) {
    throw usage_error("unexpected argument '" + a.positional()[1] + "' (one scenario per run)");
  }
  if (a.positional().empty()) throw usage_error("missing SCENARIO.lua");
  request.script_path = a.positional()[0];
  if (std::FILE* f = std::fopen(request.script_path.c_str(), "r")) {
    std::fclose(f);
  } else {
    throw usage_error("cannot read scenario '" + request.script_path + "'");
  }
  return request;
}

}  // namespace

int run_command(std::span<char* const> args, const report_writer& write_reports,
                const std::function<void(boost::json::value&)>& finish_results) {
  std::optional<run_request> parsed;
  try {
    parsed = parse(args);
  } catch (const cli::usage_error& e) {
    return cli::usage_failure(spec, e.what());
  }
  if (!parsed) {
    std::fputs(cli::help_text(spec).c_str(), stdout);
    return exit_ok;
  }
  run_request& request = *parsed;
  request.finish_results = finish_results;
  return execute_run(request, write_reports);
}

}  // namespace stampede::loadgen
