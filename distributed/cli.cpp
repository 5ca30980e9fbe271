#include "distributed/cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "common/cli_args.h"
#include "common/duration.h"
#include "dashboard/server.h"
#include "distributed/agent.h"
#include "distributed/coordinator.h"

namespace stampede::distributed {

namespace {

using cli::usage_error;

const cli::command coordinate_spec{
    "stampede coordinate",
    "SCENARIO.lua --shards N [flags]",
    "Runs one test across N `stampede agent` processes (docs/DISTRIBUTED.md): waits for them, runs setup()\n"
    "once, releases them at one start time, judges thresholds (abortOnFail too) on their merged live "
    "figures,\n"
    "merges their results exactly, runs teardown() once and writes the merged results and reports.",
    {{"--shards", "-n", "N", "how many agents (shards) run the test"},
     {"--listen", {}, "IP:PORT", "where agents reach the coordinator (default 127.0.0.1:6565; port 0: any)"},
     cli::out_flag("FILE", "write the merged results JSON (docs/RESULTS.md, plus \"distributed\")"),
     {"--report", {}, "DIR", "write every report format of the merged results into DIR"},
     {"--token", {}, "T", "agents must send this token (default: $STAMPEDE_TOKEN; none: no check)"},
     {"--target", {}, "URL", "base URL for relative request URLs (options.target) on every agent"},
     cli::env_flag(),
     cli::seed_flag("seed for every random choice, on every agent (default 1)"),
     {"--register-timeout", {}, "D", "how long to wait for every agent to register (default 60s)"},
     {"--agent-timeout", {}, "D", "an agent silent that long during the run is lost (default 10s)"},
     {"--start-delay", {}, "D", "from the release to the common start time (default 1s)"},
     {"--dashboard",
      {},
      "IP:PORT",
      "serve the live dashboard of the merged figures and the shards' states at\n"
      "http://IP:PORT/ (docs/DISTRIBUTED.md, Live dashboard)"},
     {"--quiet", "-q", {}, "no progress lines"}},
    "Exit codes: as `stampede run` on the merged verdict (0, 2, 98, 99, 104, 105, 107, 108), and 110 when a\n"
    "shard did not register in time or its agent was lost. 98 > 107 > 110 > 108 > 105 > 99."};

const cli::command agent_spec{
    "stampede agent",
    "--coordinator http://IP:PORT [flags]",
    "Runs one shard of a `stampede coordinate` test: registers, starts at the coordinator's start time,\n"
    "streams its per-second figures, stops when told, hands in its results.",
    {{"--coordinator", {}, "URL", "the coordinator, http://IP:PORT (default: $STAMPEDE_COORDINATOR)"},
     {"--token", {}, "T", "the coordinator's token (default: $STAMPEDE_TOKEN)"},
     {"--shard-hint",
      {},
      "I",
      "ask for shard I (default: $STAMPEDE_SHARD_HINT; in an Indexed Job set it\n"
      "from JOB_COMPLETION_INDEX). A shard that already ran is refused (exit 111)"},
     {"--agent-id",
      {},
      "ID",
      "this agent's id, the same across its retries (default: $STAMPEDE_AGENT_ID, else host-pid)"},
     cli::threads_flag("worker threads, at most 256 (default: number of cores)"),
     cli::out_flag("FILE", "also write this shard's own results JSON"),
     {"--connect-timeout", {}, "D", "how long to retry reaching the coordinator (default 30s)"},
     {"--quiet", "-q", {}, "no progress line and no banner"}},
    "Exit codes: 0 its shard ran and was handed in (the verdict is the coordinator's), 98/105/107/108 as\n"
    "`stampede run`, 110 the coordinator gave up on the run, 111 refused (token, shard already ran) or\n"
    "the coordinator could not be reached."};

std::optional<std::string> from_env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::optional<std::string>(v) : std::nullopt;
}

std::chrono::milliseconds duration_flag(const cli::parsed_args& a, std::string_view flag,
                                        std::chrono::milliseconds fallback) {
  const auto v = a.value(flag);
  if (!v) return fallback;
  const auto d = try_parse_duration(*v);
  if (!d)
    throw usage_error(std::string(flag) + ": expected a duration such as 500ms or 30s, got '" + *v + "'");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

host_port listen_address(const std::string& text) {
  try {
    return parse_host_port(text, "--listen",
                           host_port_rules{.default_host = "0.0.0.0", .port_zero_allowed = true});
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
}

coordinate_request parse_coordinate(const cli::parsed_args& a) {
  coordinate_request r;
  if (a.positional().size() != 1)
    throw usage_error(a.positional().empty() ? "missing SCENARIO.lua" : "one scenario per run");
  r.script_path = a.positional()[0];
  if (std::FILE* f = std::fopen(r.script_path.c_str(), "r")) {
    std::fclose(f);
  } else {
    throw usage_error("cannot read scenario '" + r.script_path + "'");
  }
  if (!a.has("--shards")) throw usage_error("--shards: required (how many agents)");
  r.shards = static_cast<int>(a.get_int("--shards", 1, 1, 10'000));
  if (auto v = a.value("--listen")) r.listen = listen_address(*v);
  r.out_path = a.value("--out");
  r.report_dir = a.value("--report");
  r.token = a.value("--token");
  if (!r.token) r.token = from_env("STAMPEDE_TOKEN");
  r.target = a.value("--target");
  for (const auto& pair : a.values("--env")) {
    const size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0)
      throw usage_error("--env: expected KEY=VALUE, got '" + pair + "'");
    r.env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  r.seed = static_cast<uint64_t>(a.get_int("--seed", 1, 0, INT64_MAX));
  r.register_timeout = duration_flag(a, "--register-timeout", r.register_timeout);
  r.agent_timeout = duration_flag(a, "--agent-timeout", r.agent_timeout);
  r.start_delay = duration_flag(a, "--start-delay", r.start_delay);
  if (auto v = a.value("--dashboard")) {
    try {
      r.dashboard_listen = dashboard::parse_listen_address(*v, "--dashboard");
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
  }
  r.quiet = a.has("--quiet");
  return r;
}

agent_request parse_agent(const cli::parsed_args& a) {
  agent_request r;
  if (!a.positional().empty()) throw usage_error("unexpected argument '" + a.positional()[0] + "'");
  std::optional<std::string> url = a.value("--coordinator");
  if (!url) url = from_env("STAMPEDE_COORDINATOR");
  if (!url) throw usage_error("--coordinator: required (http://IP:PORT), or set STAMPEDE_COORDINATOR");
  std::string_view address = *url;
  if (address.starts_with("http://")) address.remove_prefix(7);
  if (address.ends_with("/")) address.remove_suffix(1);
  if (address.find('/') != std::string_view::npos || url->starts_with("https://")) {
    throw usage_error("--coordinator: expected http://IP:PORT, got '" + *url + "'");
  }
  try {
    r.coordinator = parse_host_port(address, "--coordinator");
  } catch (const std::invalid_argument& e) {
    throw usage_error(e.what());
  }
  r.token = a.value("--token");
  if (!r.token) r.token = from_env("STAMPEDE_TOKEN");
  std::optional<std::string> hint = a.value("--shard-hint");
  const bool from_flag = hint.has_value();
  if (!hint) hint = from_env("STAMPEDE_SHARD_HINT");
  if (hint)
    r.shard_hint =
        static_cast<int>(cli::to_int(from_flag ? "--shard-hint" : "STAMPEDE_SHARD_HINT", *hint, 0, 10'000));
  std::optional<std::string> id = a.value("--agent-id");
  if (!id) id = from_env("STAMPEDE_AGENT_ID");
  if (!id) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    id = std::string(host) + "-" + std::to_string(getpid());
  }
  for (const char c : *id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      throw usage_error("--agent-id: letters, digits, '-', '_' and '.' only, got '" + *id + "'");
    }
  }
  r.agent_id = *id;
  r.threads = static_cast<int>(
      a.get_int("--threads", static_cast<int>(std::max(1u, std::thread::hardware_concurrency())), 1, 256));
  r.connect_timeout = duration_flag(a, "--connect-timeout", r.connect_timeout);
  r.out_path = a.value("--out");
  r.quiet = a.has("--quiet");
  return r;
}

}  // namespace

int coordinate_command(std::span<char* const> args, const loadgen::report_writer& write_reports) {
  coordinate_request request;
  try {
    const cli::parsed_args a = cli::parse(coordinate_spec, args);
    if (a.help()) {
      std::fputs(cli::help_text(coordinate_spec).c_str(), stdout);
      return cli::exit_ok;
    }
    request = parse_coordinate(a);
  } catch (const usage_error& e) {
    return cli::usage_failure(coordinate_spec, e.what());
  }
  return coordinate(request, write_reports);
}

int agent_command(std::span<char* const> args) {
  agent_request request;
  try {
    const cli::parsed_args a = cli::parse(agent_spec, args);
    if (a.help()) {
      std::fputs(cli::help_text(agent_spec).c_str(), stdout);
      return cli::exit_ok;
    }
    request = parse_agent(a);
  } catch (const usage_error& e) {
    return cli::usage_failure(agent_spec, e.what());
  }
  return run_agent(request);
}

}  // namespace stampede::distributed
