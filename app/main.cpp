// stampede: one CLI, many subcommands. Each component owns its subcommands and exposes
// `int NAME_command(std::span<char* const> args)` (args[0] is the subcommand name).
#include <cstdio>
#include <cstring>
#include <span>
#include <string_view>

#include "common/limits.h"
#include "common/version.h"

#if STAMPEDE_HAS_LOADGEN
#include "loadgen/cli.h"
#endif
#if STAMPEDE_HAS_CHAOS
#include "chaos/cli.h"
#endif
#if STAMPEDE_HAS_SHOP
#include "reference_shop/cli.h"
#endif
#if STAMPEDE_HAS_DRILL
#include "drill/cli.h"
#endif
#if STAMPEDE_HAS_DISTRIBUTED
#include "distributed/cli.h"
#endif
#if STAMPEDE_HAS_REPORTS
#include "reports/cli.h"
#include "reports/formats.h"
#include "reports/recovery.h"
#endif

namespace {

using command_fn = int (*)(std::span<char* const>);

struct subcommand {
  std::string_view name;
  std::string_view summary;
  command_fn run;
};

#if STAMPEDE_HAS_LOADGEN
// `stampede run`, with `--report DIR` and the recovery figures of its faults (results.chaos[i].recovery,
// as `stampede drill` writes them) served by the reports component when it is linked.
int run_with_reports(std::span<char* const> args) {
#if STAMPEDE_HAS_REPORTS
  return stampede::loadgen::run_command(
      args,
      [](const boost::json::value& results, const std::string& dir) {
        stampede::reports::write_report_directory(results, dir);
      },
      [](boost::json::value& results) { stampede::reports::add_recovery(results); });
#else
  return stampede::loadgen::run_command(args);
#endif
}
#endif

#if STAMPEDE_HAS_DISTRIBUTED
// `stampede coordinate`, with `--report DIR` served by the reports component.
int coordinate_with_reports(std::span<char* const> args) {
  return stampede::distributed::coordinate_command(
      args, [](const boost::json::value& results, const std::string& dir) {
        stampede::reports::write_report_directory(results, dir);
      });
}
#endif

int version_command(std::span<char* const>) {
  std::printf("stampede %.*s\n", static_cast<int>(stampede::version.size()), stampede::version.data());
  return 0;
}

constexpr subcommand subcommands[] = {
    {"version", "print the version", version_command},
#if STAMPEDE_HAS_LOADGEN
    {"run", "run a Lua scenario against a target", run_with_reports},
#endif
#if STAMPEDE_HAS_SHOP
    {"shop", "start the reference shop (HAProxy + nodes + payment emulator)", stampede::shop::shop_command},
    {"shop-node", "one reference shop node (started by `stampede shop`)", stampede::shop::shop_node_command},
    {"payment-emulator", "the payment gateway emulator (started by `stampede shop`)", stampede::shop::payment_emulator_command},
#endif
#if STAMPEDE_HAS_CHAOS
    {"proxy", "fault-injecting TCP proxy with a Toxiproxy-compatible API", stampede::chaos::proxy_command},
#endif
#if STAMPEDE_HAS_REPORTS
    {"report", "render a results file as html, md, junit, hgrm, hlog or json", stampede::reports::report_command},
    {"compare", "compare results against a baseline (CI regression gate)", stampede::reports::compare_command},
    {"merge", "merge results of shards into one", stampede::reports::merge_command},
#endif
#if STAMPEDE_HAS_DISTRIBUTED
    {"coordinate", "one test across N agents: barrier, live merge, central thresholds", coordinate_with_reports},
    {"agent", "run one shard of a `stampede coordinate` test", stampede::distributed::agent_command},
#endif
#if STAMPEDE_HAS_DRILL
    {"drill", "game day on the reference shop or your own system (--target): faults, invariants, recovery", stampede::drill::drill_command},
    {"capacity", "find the highest arrival rate that meets an SLO (the knee)", stampede::drill::capacity_command},
#endif
};

constexpr int exit_usage = 2;

void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: stampede <command> [options]\n\ncommands:\n");
  for (const auto& command : subcommands) {
    std::fprintf(out, "  %-18.*s %.*s\n", static_cast<int>(command.name.size()), command.name.data(),
                 static_cast<int>(command.summary.size()), command.summary.data());
  }
  std::fprintf(out, "\n`stampede <command> --help` describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Every connection is a descriptor: raise the soft RLIMIT_NOFILE to the hard limit before anything opens
  // one, as servers do (unprivileged; children inherit it). Commands that know their needs check them later.
  stampede::raise_fd_limit();
  if (argc < 2) {
    print_usage(stderr);
    return exit_usage;
  }
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "--version") return version_command({});
  for (const auto& command : subcommands) {
    if (command.name == name) return command.run(std::span<char* const>(argv + 1, static_cast<size_t>(argc - 1)));
  }
  std::fprintf(stderr, "stampede: unknown command '%s'\n\n", argv[1]);
  print_usage(stderr);
  return exit_usage;
}
