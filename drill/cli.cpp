#include "drill/cli.h"

#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/cli_args.h"
#include "common/duration.h"
#include "dashboard/server.h"
#include "drill/capacity.h"
#include "drill/drill.h"
#include "loadgen/live_metrics.h"

namespace stampede::drill {

namespace {

const cli::command drill_spec{
    "stampede drill",
    "SCENARIO.lua [flags]\nSCENARIO.lua --target URL [--topology FILE] [flags]",
    "Rehearses a game day on a fresh reference shop: fault proxies on every link (edge, haproxy_nodeI,\n"
    "payment), the scenario with its chaos timeline, heal, wait until the order queue is drained, the\n"
    "scenario's quiesce(), verify, recovery figures, every report format, stop the shop.\n"
    "With --target, on your own system instead: a proxy \"edge\" in front of URL and one per link of the\n"
    "topology (listen -> upstream; route your system through them), node faults on its nodes (pid, pid_file\n"
    "or commands), heal, each node's health command, quiesce(), verify, recovery, reports (docs/DRILLS.md).",
    {{"--target", {}, "URL", "your system's entry point (default: the topology's entry_url)"},
     {"--topology", {}, "FILE", "your system's links and nodes (JSON, docs/DRILLS.md)"},
     cli::out_flag("DIR", "results.json and reports (default drill-results)"),
     cli::seed_flag("seed for the load, the proxies and the faults (default 1)"),
     cli::threads_flag("load generator threads, at most 256 (default 1)"),
     cli::env_flag(),
     {"--quiet-timeout", {}, "D", "bound of the quiet wait: drained queue or health commands, then quiesce() (default 30s)"},
     {"--unsafe-lua", {}, {}, "give the scenario Lua's whole standard library (see stampede run --help)"},
     {"--metrics-listen", {}, "IP:PORT",
      "serve the load generator's live metrics at http://IP:PORT/metrics during the\n"
      "load (see stampede run --help)"},
     {"--dashboard", {}, "IP:PORT",
      "serve the live dashboard at http://IP:PORT/ during the load (see stampede run\n"
      "--help)"},
     {"--quiet", {}, {}, "no progress output"},
     {"--observe", {}, {},
      "reference shop only: `stampede shop --observe` (Prometheus, Alertmanager) and\n"
      "alerts per fault in the results (docs/DRILLS.md)"},
     {"--nodes", {}, "N", "reference shop only: shop nodes behind HAProxy, at most 16 (default 3)"},
     {"--shop-arg", {}, "FLAG",
      "reference shop only: extra `stampede shop` argument (repeatable; scenarios may\n"
      "also carry `--@shop ...` lines)",
      true},
     {"--stampede", {}, "PATH", "reference shop only: the executable that runs `stampede shop` (default: this one)"},
     {"--keep-data", {}, {}, "reference shop only: keep the shop's temporary data directory"}},
    "Exit: 0 ok, 98 an invariant failed, 99 a threshold was crossed, 1 the shop could not start (or a link\n"
    "could not listen), 2 usage, 104 invalid options or topology, 105 interrupted, 107 script error."};

const cli::command capacity_spec{
    "stampede capacity",
    "SCENARIO.lua --slo \"p(99)<300,error_rate<0.01\" [flags]",
    "Finds the highest arrival rate (iterations of the scenario's default function per second) that meets\n"
    "the SLO (the sustainable rate): doubling steps from --start, then a binary search where a rate passes only\n"
    "if --repeats short stages in a row meet the SLO. Recommends a rate to plan with: the lower of\n"
    "(1 - headroom) x sustainable and the highest passing rate whose p99 stayed within 2x the low-load p99.",
    {{"--slo", {}, "TERMS", "p(N)<ms, avg<ms, max<ms, error_rate<x, comma-separated (default p(99)<300,error_rate<0.01)"},
     {"--target", {}, "URL", "base URL (overrides options.target)"},
     {"--start", {}, "R", "first rate (default 10/s)"},
     {"--max", {}, "R", "highest rate tried (default 100000/s)"},
     {"--stage", {}, "D", "length of a stage (default 5s)"},
     {"--repeats", {}, "N", "stages to confirm a rate (default 2)"},
     {"--precision", {}, "F", "stop when (bad-good)/good <= F (default 0.05)"},
     {"--headroom", {}, "F", "recommended <= (1-F) x sustainable (default 0.2)"},
     cli::threads_flag("generator threads, at most 256 (default 1)"),
     cli::seed_flag("seed (default 1)"),
     cli::env_flag(),
     cli::out_flag("FILE",
                   "results JSON of the best stage with \"capacity\" (sustainable_rate, recommended_rate,\n"
                   "limited_by, limit_hint, curve of every stage)"),
     {"--chart", {}, "FILE",
      "SVG chart of completed iterations and latency against the offered rate\n(default: --out with .svg)"},
     {"--unsafe-lua", {}, {}, "give the scenario Lua's whole standard library (see stampede run --help)"},
     {"--quiet", {}, {}, "no per-stage lines"}},
    "Exit: 0 a sustainable rate was found (also \"at least X/s\" when the generator's limit stopped the search),\n"
    "1 even the start rate broke the SLO, 2 usage, 4 --out or --chart cannot be written, 104/107 scenario errors."};

using cli::usage_error;

constexpr double unbounded = std::numeric_limits<double>::max();

std::chrono::milliseconds parse_duration_flag(std::string_view flag, const std::string& text) {
  auto d = try_parse_duration(text);
  if (!d || d->count() <= 0) throw usage_error(std::string(flag) + ": '" + text + "' is not a duration (e.g. 5s)");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

std::map<std::string, std::string> read_env(const cli::parsed_args& a) {
  std::map<std::string, std::string> env;
  for (const auto& pair : a.values("--env")) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) throw usage_error("--env: expected KEY=VALUE, got '" + pair + "'");
    env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return env;
}

// The one scenario of a drill or a capacity search.
std::string read_scenario(const cli::parsed_args& a) {
  if (a.positional().empty()) throw usage_error("a scenario file is required");
  if (a.positional().size() > 1) {
    throw usage_error("one scenario only (got '" + a.positional()[0] + "' and '" + a.positional()[1] + "')");
  }
  return a.positional()[0];
}

drill_request read_drill(const cli::parsed_args& a) {
  drill_request r;
  r.scenario = read_scenario(a);
  if (auto v = a.value("--target")) {
    if (v->empty()) throw usage_error("--target needs a URL");
    r.target = *v;
  }
  if (auto v = a.value("--topology")) {
    if (v->empty()) throw usage_error("--topology needs a file");
    r.topology_path = *v;
  }
  r.nodes = static_cast<int>(a.get_int("--nodes", r.nodes, 1, 16));
  if (auto v = a.value("--out")) r.out_dir = *v;
  r.seed = static_cast<uint64_t>(a.get_int("--seed", static_cast<int64_t>(r.seed), 0, INT64_MAX));
  r.threads = static_cast<int>(a.get_int("--threads", r.threads, 1, 256));
  r.env = read_env(a);
  r.shop_args = a.values("--shop-arg");
  if (auto v = a.value("--quiet-timeout")) {
    r.quiet_timeout = std::chrono::duration_cast<std::chrono::seconds>(parse_duration_flag("--quiet-timeout", *v));
  }
  if (auto v = a.value("--stampede")) r.stampede_binary = *v;
  r.keep_data = a.has("--keep-data");
  r.unsafe_lua = a.has("--unsafe-lua");
  r.quiet = a.has("--quiet");
  r.observe = a.has("--observe");
  if (auto v = a.value("--metrics-listen")) {
    try {
      r.metrics_listen = loadgen::parse_metrics_listen(*v);
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
  }
  if (auto v = a.value("--dashboard")) {
    try {
      r.dashboard_listen = dashboard::parse_listen_address(*v, "--dashboard");
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
  }
  if (r.own_system()) {
    for (const char* shop_flag : {"--nodes", "--shop-arg", "--stampede", "--keep-data", "--observe"}) {
      if (a.has(shop_flag)) {
        throw usage_error(std::string(shop_flag) +
                          " applies to the reference shop; with --target/--topology the drill starts nothing");
      }
    }
  }
  return r;
}

capacity_request read_capacity(const cli::parsed_args& a) {
  capacity_request r;
  r.scenario = read_scenario(a);
  if (auto v = a.value("--slo")) {
    r.slo_text = *v;
    (void)parse_slo(r.slo_text);  // throws std::invalid_argument naming the term
  }
  if (auto v = a.value("--target")) r.target = *v;
  r.start_rate = a.get_double("--start", r.start_rate, 0.001, unbounded);
  r.max_rate = a.get_double("--max", r.max_rate, 0.001, unbounded);
  if (auto v = a.value("--stage")) r.stage = parse_duration_flag("--stage", *v);
  r.repeats = static_cast<int>(a.get_int("--repeats", r.repeats, 1, INT32_MAX));
  r.precision = a.get_double("--precision", r.precision, 0.001, unbounded);
  r.headroom = a.get_double("--headroom", r.headroom, 0, unbounded);
  if (!(r.headroom < 1)) throw usage_error("--headroom: a fraction below 1 (e.g. 0.2)");
  r.threads = static_cast<int>(a.get_int("--threads", r.threads, 1, 256));
  r.seed = static_cast<uint64_t>(a.get_int("--seed", static_cast<int64_t>(r.seed), 0, INT64_MAX));
  r.env = read_env(a);
  if (auto v = a.value("--out")) r.out_path = *v;
  if (auto v = a.value("--chart")) r.chart_path = *v;
  r.unsafe_lua = a.has("--unsafe-lua");
  r.quiet = a.has("--quiet");
  if (r.max_rate < r.start_rate) throw usage_error("--max must be >= --start");
  return r;
}

}  // namespace

int drill_command(std::span<char* const> args) {
  drill_request r;
  try {
    const auto a = cli::parse(drill_spec, args);
    if (a.help()) {
      std::fputs(cli::help_text(drill_spec).c_str(), stdout);
      return cli::exit_ok;
    }
    r = read_drill(a);
  } catch (const cli::usage_error& e) {
    return cli::usage_failure(drill_spec, e.what());
  }
  return run_drill(r);
}

int capacity_command(std::span<char* const> args) {
  capacity_request r;
  try {
    const auto a = cli::parse(capacity_spec, args);
    if (a.help()) {
      std::fputs(cli::help_text(capacity_spec).c_str(), stdout);
      return cli::exit_ok;
    }
    r = read_capacity(a);
  } catch (const std::invalid_argument& e) {  // cli::usage_error, and parse_slo's errors
    return cli::usage_failure(capacity_spec, e.what());
  }
  return run_capacity(r);
}

}  // namespace stampede::drill
