#include "drill/cli.h"

#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "drill/capacity.h"
#include "drill/drill.h"

namespace stampede::drill {

namespace {

constexpr int exit_usage = 2;

constexpr const char* drill_usage = R"(usage: stampede drill SCENARIO.lua [options]
       stampede drill SCENARIO.lua --target URL [--topology FILE] [options]

Rehearses a game day on a fresh reference shop: fault proxies on every link (edge, haproxy_nodeI,
payment), the scenario with its chaos timeline, heal, wait until the order queue is drained, the
scenario's quiesce(), verify, recovery figures, every report format, stop the shop.
With --target, on your own system instead: a proxy "edge" in front of URL and one per link of the
topology (listen -> upstream; route your system through them), node faults on its nodes (pid, pid_file
or commands), heal, each node's health command, quiesce(), verify, recovery, reports (docs/DRILLS.md).

  --target URL         your system's entry point (default: the topology's entry_url)
  --topology FILE      your system's links and nodes (JSON, docs/DRILLS.md)
  --out DIR            results.json and reports (default drill-results)
  --seed S             seed for the load, the proxies and the faults (default 1)
  --threads T          load generator threads (default 1)
  -e, --env KEY=VAL    value for env.KEY in the script (repeatable)
  --quiet-timeout D    bound of the quiet wait: drained queue or health commands, then quiesce() (default 30s)
  --unsafe-lua         give the scenario Lua's whole standard library (see stampede run --help)
  --quiet              no progress output
Reference shop only:
  --nodes N            shop nodes behind HAProxy (default 3)
  --shop-arg FLAG      extra `stampede shop` argument (repeatable; scenarios may also carry `--@shop ...` lines)
  --stampede PATH      the executable that runs `stampede shop` (default: this one)
  --keep-data          keep the shop's temporary data directory
Exit: 0 ok, 98 an invariant failed, 99 a threshold was crossed, 1 the shop could not start (or a link
could not listen), 2 usage, 104 invalid options or topology, 105 interrupted, 107 script error.
)";

constexpr const char* capacity_usage = R"(usage: stampede capacity SCENARIO.lua --slo "p(99)<300,error_rate<0.01" [options]

Finds the highest arrival rate (iterations of the scenario's default function per second) that meets
the SLO (the sustainable rate): doubling steps from --start, then a binary search where a rate passes only
if --repeats short stages in a row meet the SLO. Recommends a rate to plan with: the lower of
(1 - headroom) x sustainable and the highest passing rate whose p99 stayed within 2x the low-load p99.

  --slo TERMS          p(N)<ms, avg<ms, max<ms, error_rate<x, comma-separated (default p(99)<300,error_rate<0.01)
  --target URL         base URL (overrides options.target)
  --start R            first rate (default 10/s)        --max R      highest rate tried (default 100000/s)
  --stage D            length of a stage (default 5s)   --repeats N  stages to confirm a rate (default 2)
  --precision F        stop when (bad-good)/good <= F (default 0.05)
  --headroom F         recommended <= (1-F) x sustainable (default 0.2)
  --threads T          generator threads (default 1)    --seed S     (default 1)
  -e, --env KEY=VAL    value for env.KEY in the script (repeatable)
  --out FILE           results JSON of the best stage with "capacity" (sustainable_rate, recommended_rate,
                       limited_by, limit_hint, curve of every stage)
  --chart FILE         SVG chart of completed iterations and latency against the offered rate
                       (default: --out with .svg)
  --unsafe-lua         give the scenario Lua's whole standard library (see stampede run --help)
  --quiet              no per-stage lines
Exit: 0 a sustainable rate was found (also "at least X/s" when the generator's limit stopped the search),
1 even the start rate broke the SLO, 2 usage, 4 --out or --chart cannot be written, 104/107 scenario errors.
)";

struct usage_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

double parse_number(std::string_view flag, std::string_view text, double min) {
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || !(v >= min)) {
    throw usage_error(std::string(flag) + ": '" + std::string(text) + "' is not a number >= " + std::to_string(min));
  }
  return v;
}

std::chrono::milliseconds parse_duration_flag(std::string_view flag, std::string_view text) {
  auto d = try_parse_duration(text);
  if (!d || d->count() <= 0) throw usage_error(std::string(flag) + ": '" + std::string(text) + "' is not a duration (e.g. 5s)");
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

// Walks "--flag value" / "--flag=value" arguments.
class arg_walker {
 public:
  explicit arg_walker(std::span<char* const> args) : args_(args) {}
  bool next() {
    if (++i_ >= args_.size()) return false;
    std::string_view a = args_[i_];
    inline_value_.reset();
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string_view::npos) {
      inline_value_ = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
    }
    flag_ = a;
    return true;
  }
  std::string_view flag() const { return flag_; }
  std::string value() {
    if (inline_value_) return std::string(*inline_value_);
    if (i_ + 1 >= args_.size()) throw usage_error(std::string(flag_) + " needs a value");
    return args_[++i_];
  }

 private:
  std::span<char* const> args_;
  size_t i_ = 0;
  std::string_view flag_;
  std::optional<std::string_view> inline_value_;
};

void add_env(std::map<std::string, std::string>& env, const std::string& pair) {
  const size_t eq = pair.find('=');
  if (eq == std::string::npos || eq == 0) throw usage_error("-e expects KEY=VALUE, got '" + pair + "'");
  env[pair.substr(0, eq)] = pair.substr(eq + 1);
}

}  // namespace

int drill_command(std::span<char* const> args) {
  drill_request r;
  std::string shop_flag;  // a reference-shop-only flag, if one was given
  try {
    arg_walker w(args);
    while (w.next()) {
      const std::string_view f = w.flag();
      if (f == "--help" || f == "-h") {
        std::fputs(drill_usage, stdout);
        return 0;
      } else if (f == "--target") {
        r.target = w.value();
        if (r.target.empty()) throw usage_error("--target needs a URL");
      } else if (f == "--topology") {
        r.topology_path = w.value();
        if (r.topology_path.empty()) throw usage_error("--topology needs a file");
      } else if (f == "--nodes") {
        shop_flag = f;
        r.nodes = static_cast<int>(parse_number(f, w.value(), 1));
        if (r.nodes > 16) throw usage_error("--nodes: at most 16");
      } else if (f == "--out") {
        r.out_dir = w.value();
      } else if (f == "--seed") {
        r.seed = static_cast<uint64_t>(parse_number(f, w.value(), 0));
      } else if (f == "--threads") {
        r.threads = static_cast<int>(parse_number(f, w.value(), 1));
        if (r.threads > 256) throw usage_error("--threads: at most 256");
      } else if (f == "-e" || f == "--env") {
        add_env(r.env, w.value());
      } else if (f == "--shop-arg") {
        shop_flag = f;
        r.shop_args.push_back(w.value());
      } else if (f == "--quiet-timeout") {
        r.quiet_timeout = std::chrono::duration_cast<std::chrono::seconds>(parse_duration_flag(f, w.value()));
      } else if (f == "--stampede") {
        shop_flag = f;
        r.stampede_binary = w.value();
      } else if (f == "--keep-data") {
        shop_flag = f;
        r.keep_data = true;
      } else if (f == "--unsafe-lua") {
        r.unsafe_lua = true;
      } else if (f == "--quiet") {
        r.quiet = true;
      } else if (f.rfind("-", 0) == 0) {
        throw usage_error("unknown option " + std::string(f));
      } else if (r.scenario.empty()) {
        r.scenario = std::string(f);
      } else {
        throw usage_error("one scenario only (got '" + r.scenario + "' and '" + std::string(f) + "')");
      }
    }
    if (r.scenario.empty()) throw usage_error("a scenario file is required");
    if (r.own_system() && !shop_flag.empty()) {
      throw usage_error(shop_flag + " applies to the reference shop; with --target/--topology the drill starts nothing");
    }
  } catch (const usage_error& e) {
    std::fprintf(stderr, "stampede drill: %s\n\n%s", e.what(), drill_usage);
    return exit_usage;
  }
  return run_drill(r);
}

int capacity_command(std::span<char* const> args) {
  capacity_request r;
  try {
    arg_walker w(args);
    while (w.next()) {
      const std::string_view f = w.flag();
      if (f == "--help" || f == "-h") {
        std::fputs(capacity_usage, stdout);
        return 0;
      } else if (f == "--slo") {
        r.slo_text = w.value();
        (void)parse_slo(r.slo_text);
      } else if (f == "--target") {
        r.target = w.value();
      } else if (f == "--start") {
        r.start_rate = parse_number(f, w.value(), 0.001);
      } else if (f == "--max") {
        r.max_rate = parse_number(f, w.value(), 0.001);
      } else if (f == "--stage") {
        r.stage = parse_duration_flag(f, w.value());
      } else if (f == "--repeats") {
        r.repeats = static_cast<int>(parse_number(f, w.value(), 1));
      } else if (f == "--precision") {
        r.precision = parse_number(f, w.value(), 0.001);
      } else if (f == "--headroom") {
        r.headroom = parse_number(f, w.value(), 0);
        if (!(r.headroom < 1)) throw usage_error("--headroom: a fraction below 1 (e.g. 0.2)");
      } else if (f == "--threads") {
        r.threads = static_cast<int>(parse_number(f, w.value(), 1));
        if (r.threads > 256) throw usage_error("--threads: at most 256");
      } else if (f == "--seed") {
        r.seed = static_cast<uint64_t>(parse_number(f, w.value(), 0));
      } else if (f == "-e" || f == "--env") {
        add_env(r.env, w.value());
      } else if (f == "--out") {
        r.out_path = w.value();
      } else if (f == "--chart") {
        r.chart_path = w.value();
      } else if (f == "--unsafe-lua") {
        r.unsafe_lua = true;
      } else if (f == "--quiet") {
        r.quiet = true;
      } else if (f.rfind("-", 0) == 0) {
        throw usage_error("unknown option " + std::string(f));
      } else if (r.scenario.empty()) {
        r.scenario = std::string(f);
      } else {
        throw usage_error("one scenario only");
      }
    }
    if (r.scenario.empty()) throw usage_error("a scenario file is required");
    if (r.max_rate < r.start_rate) throw usage_error("--max must be >= --start");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "stampede capacity: %s\n\n%s", e.what(), capacity_usage);
    return exit_usage;
  }
  return run_capacity(r);
}

}  // namespace stampede::drill
