#include "loadgen/cli.h"

#include <array>
#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "common/closest_name.h"
#include "common/duration.h"

namespace stampede::loadgen {

namespace {

constexpr const char* usage = R"(usage: stampede run SCENARIO.lua [options]

Runs a Lua scenario. Flags override the scenario's options.

  --target URL        base URL for relative request URLs (options.target)
  --out FILE          write the results JSON (schema: docs/RESULTS.md)
  --report DIR        write every report format into DIR at the end
  --vus N             virtual users (replaces the scenarios by one, as k6 does)
  --duration D        test duration, e.g. 30s, 2m (with --vus: constant-vus)
  --rate R            iterations per second (constant-arrival-rate; --vus = pre-allocated VUs)
  --iterations N      total iterations (shared-iterations)
  --threads T         worker threads (default: number of cores)
  --seed S            seed for every random choice (default 1)
  -e, --env KEY=VAL   value for env.KEY in the script (repeatable)
  --shard I/N         run shard I (0-based) of N: rates, VUs and VU ids are split
  --proxy             route traffic through a fault proxy named "target" (network faults
                      of options.chaos and chaos.inject apply to the generator-target link)
  --topology FILE     a shop topology naming processes for node faults (kill, pause, ...)
  --no-thresholds     do not evaluate thresholds
  --lua-memory-limit SIZE  memory of each worker thread's Lua state, e.g. 512MB, 2GB (default
                      options.luaMemoryLimit, else 1GB); unlike the option it covers the top level
  --unsafe-lua        give the scenario Lua's whole standard library: processes (os.execute,
                      io.popen), native modules, file writes, os.getenv, debug. Without it a
                      scenario only reads files in its own folder (docs/SCENARIOS.md, Sandbox)
  -q, --quiet         no progress line and no banner
  -h, --help          this text

Exit codes: 0 ok, 2 bad usage, 98 an invariant failed (verify), 99 thresholds crossed, 104 invalid options,
105 interrupted, 107 script error, 108 aborted by the script. When several apply:
98 > 107 > 108 > 105 > 99.
)";

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int64_t parse_count(std::string_view flag, std::string_view text, int64_t min) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min) {
    throw usage_error(std::string(flag) + ": expected a whole number >= " + std::to_string(min) + ", got '" +
                      std::string(text) + "'");
  }
  return value;
}

double parse_positive(std::string_view flag, std::string_view text) {
  try {
    size_t used = 0;
    const double value = std::stod(std::string(text), &used);
    if (used == text.size() && value > 0) return value;
  } catch (const std::exception&) {
  }
  throw usage_error(std::string(flag) + ": expected a positive number, got '" + std::string(text) + "'");
}

run_request parse(std::span<char* const> args) {
  run_request request;
  request.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= args.size()) throw usage_error(std::string(arg) + ": needs a value");
      return args[++i];
    };
    if (arg == "-h" || arg == "--help") {
      throw usage_error("");
    } else if (arg == "--target") {
      request.overrides.target = std::string(value());
    } else if (arg == "--out" || arg == "-o") {
      request.out_path = std::string(value());
    } else if (arg == "--report") {
      request.report_dir = std::string(value());
    } else if (arg == "--vus" || arg == "-u") {
      request.overrides.vus = parse_count(arg, value(), 1);
    } else if (arg == "--duration" || arg == "-d") {
      const std::string_view text = value();
      auto d = try_parse_duration(text);
      if (!d || d->count() == 0) throw usage_error(std::string(arg) + ": invalid duration '" + std::string(text) + "'");
      request.overrides.duration = *d;
    } else if (arg == "--rate") {
      request.overrides.rate = parse_positive(arg, value());
    } else if (arg == "--iterations" || arg == "-i") {
      request.overrides.iterations = parse_count(arg, value(), 1);
    } else if (arg == "--threads" || arg == "-t") {
      request.threads = static_cast<int>(parse_count(arg, value(), 1));
      if (request.threads > 256) throw usage_error("--threads: at most 256");
    } else if (arg == "--seed") {
      request.seed = static_cast<uint64_t>(parse_count(arg, value(), 0));
    } else if (arg == "-e" || arg == "--env") {
      const std::string_view pair = value();
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || eq == 0) throw usage_error(std::string(arg) + ": expected KEY=VALUE, got '" + std::string(pair) + "'");
      request.env[std::string(pair.substr(0, eq))] = std::string(pair.substr(eq + 1));
    } else if (arg == "--shard") {
      const std::string_view text = value();
      const size_t slash = text.find('/');
      if (slash == std::string_view::npos) throw usage_error("--shard: expected I/N, e.g. 0/2");
      request.shard.index = parse_count("--shard", text.substr(0, slash), 0);
      request.shard.count = parse_count("--shard", text.substr(slash + 1), 1);
      if (request.shard.index >= request.shard.count) throw usage_error("--shard: I must be below N (0-based)");
    } else if (arg == "--proxy") {
      request.proxy = true;
    } else if (arg == "--topology") {
      request.topology_path = std::string(value());
    } else if (arg == "--no-thresholds") {
      request.no_thresholds = true;
    } else if (arg == "--unsafe-lua") {
      request.unsafe_lua = true;
    } else if (arg == "--lua-memory-limit") {
      const std::string_view text = value();
      const auto bytes = parse_byte_size(text);
      if (!bytes || *bytes < 1024 * 1024) {
        throw usage_error(std::string(arg) + ": expected a size of at least 1MB such as 512MB or 2GB, got '" +
                          std::string(text) + "'");
      }
      request.lua_memory_limit = *bytes;
    } else if (arg == "--quiet" || arg == "-q") {
      request.quiet = true;
    } else if (!arg.empty() && arg.front() == '-') {
      static constexpr std::array<std::string_view, 18> flags = {
          "--target",     "--out",           "--report",           "--vus",        "--duration", "--rate",
          "--iterations", "--threads",       "--seed",             "--env",        "--shard",    "--proxy",
          "--topology",   "--no-thresholds", "--lua-memory-limit", "--unsafe-lua", "--quiet",    "--help"};
      throw usage_error("unknown flag '" + std::string(arg) + "'" + did_you_mean(arg, flags));
    } else if (request.script_path.empty()) {
      request.script_path = std::string(arg);
    } else {
      throw usage_error("unexpected argument '" + std::string(arg) + "' (one scenario per run)");
    }
  }
  if (request.script_path.empty()) throw usage_error("missing SCENARIO.lua");
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
  run_request request;
  try {
    request = parse(args);
  } catch (const usage_error& e) {
    if (e.what()[0] == '\0') {
      std::fputs(usage, stdout);
      return exit_ok;
    }
    std::fprintf(stderr, "stampede run: %s\n\n%s", e.what(), usage);
    return exit_usage;
  }
  request.finish_results = finish_results;
  return execute_run(request, write_reports);
}

}  // namespace stampede::loadgen
