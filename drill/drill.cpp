#include "drill/drill.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "chaos/proxy_server.h"
#include "common/http_client.h"
#include "drill/alerts.h"
#include "drill/autoscale_analysis.h"
#include "drill/data_links.h"
#include "drill/backup_service.h"
#include "drill/drill_run.h"
#include "drill/failover_rpo.h"
#include "drill/partition_links.h"
#include "drill/quiet_wait.h"
#include "drill/replication_links.h"
#include "drill/shard_gameday.h"
#include "drill/shard_outcomes.h"
#include "drill/shop_process.h"
#include "drill/system_sampler.h"
#include "drill/work_dir.h"
#include "loadgen/run.h"
#include "reports/formats.h"
#include "reports/recovery.h"

namespace stampede::drill {

namespace json = boost::json;
namespace fs = std::filesystem;

std::vector<std::string> scenario_shop_directives(const std::string& scenario_path) {
  return scenario_directive_words(scenario_path, "--@shop");
}

std::vector<std::string> scenario_directive_words(const std::string& scenario_path,
                                                  const std::string& directive, bool* present) {
  if (present != nullptr) *present = false;
  std::ifstream in(scenario_path);
  if (!in) throw std::runtime_error("cannot read '" + scenario_path + "'");
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    // The directive, then a blank or the line's end (--@shop is not --@shopping).
    if (line.rfind(directive, 0) != 0 ||
        (line.size() > directive.size() && line[directive.size()] != ' ' && line[directive.size()] != '\t')) {
      continue;
    }
    if (present != nullptr) *present = true;
    std::istringstream words(line.substr(directive.size()));
    std::string w;
    while (words >> w) out.push_back(w);
  }
  return out;
}

std::string find_scenarios_dir() {
  if (const char* env = std::getenv("STAMPEDE_SCENARIOS"); env != nullptr && fs::is_directory(env)) return env;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // build/<preset>/stampede, bin/stampede + share/stampede/scenarios, or next to the executable.
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      if (fs::is_regular_file(dir / "scenarios" / "lib" / "checkers.lua")) return (dir / "scenarios").string();
      if (fs::is_regular_file(dir / "share" / "stampede" / "scenarios" / "lib" / "checkers.lua")) {
        return (dir / "share" / "stampede" / "scenarios").string();
      }
    }
  }
  if (fs::is_regular_file("scenarios/lib/checkers.lua")) return fs::absolute("scenarios").string();
  return {};
}

namespace {

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// Whether these `stampede shop` flags select PostgreSQL (`--db postgres` or `--db=postgres`; the last
// --db wins, as in the shop's own parsing).
bool shop_runs_postgres(const std::vector<std::string>& args) {
  bool postgres = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--db" && i + 1 < args.size()) postgres = args[++i] == "postgres";
    if (args[i].rfind("--db=", 0) == 0) postgres = args[i] == "--db=postgres";
  }
  return postgres;
}

void print_drill_summary(const json::value& results) {
  const auto& root = results.as_object();
  std::printf("\n  DRILL\n");
  if (const auto* d = root.if_contains("drill"); d && d->is_object()) {
    if (const auto* q = d->as_object().if_contains("quiet"); q && q->is_object()) {
      const auto& qo = q->as_object();
      if (const auto* drained = qo.if_contains("drained"); drained && drained->is_bool()) {
        const auto* error = qo.if_contains("error");
        std::printf("    requests finished and queue %s after %.1fs%s%s\n",
                    drained->as_bool() ? "drained" : "NOT drained", qo.at("waited_s").to_number<double>(),
                    error ? ": " : "", error ? std::string(error->as_string()).c_str() : "");
      }
      if (const auto* health = qo.if_contains("health"); health && health->is_array()) {
        for (const auto& h : health->as_array()) {
          std::printf("    node %s %s after %.1fs\n", std::string(h.at("node").as_string()).c_str(),
                      h.at("ok").as_bool() ? "healthy" : "NOT healthy", h.at("waited_s").to_number<double>());
        }
      }
    }
  }
  if (const auto* q = root.if_contains("quiesce"); q && q->is_object()) {
    const auto& qo = q->as_object();
    const auto* err = qo.if_contains("error");
    std::printf("    quiesce() %s after %.1fs%s%s\n", qo.at("ok").as_bool() ? "quiet" : "NOT quiet",
                qo.at("waited_s").to_number<double>(), err ? ": " : "",
                err ? std::string(err->as_string()).c_str() : "");
  }
  if (const auto* chaos = root.if_contains("chaos"); chaos && chaos->is_array()) {
    for (const auto& f : chaos->as_array()) {
      const auto& fo = f.as_object();
      std::printf("    fault %s [%.1fs..", std::string(fo.at("label").as_string()).c_str(),
                  fo.at("start_s").to_number<double>());
      if (fo.at("end_s").is_null()) std::printf("end]"); else std::printf("%.1fs]", fo.at("end_s").to_number<double>());
      if (const auto* rec = fo.if_contains("recovery"); rec != nullptr && rec->is_object()) {
        std::printf(": %s", reports::recovery_line(rec->as_object()).c_str());
      }
      std::printf("\n");
    }
  }
  if (const std::string rpo = failover_rpo_line(results); !rpo.empty()) std::printf("    %s\n", rpo.c_str());
  if (const std::string shards = shard_outcomes_line(results); !shards.empty()) {
    std::printf("    %s\n", shards.c_str());
  }
  if (const std::string system = system_summary(results); !system.empty()) std::printf("%s", system.c_str());
  if (const std::string alerts = alerts_summary(results); !alerts.empty()) std::printf("%s", alerts.c_str());
  if (const std::string elastic = autoscale_summary(results); !elastic.empty()) {
    std::printf("%s", elastic.c_str());
  }
  // verify()'s invariants are in the run's summary above (INVARIANTS, a failed one with its evidence):
  // not listed twice.
  if (const auto* verify = root.if_contains("verify"); verify == nullptr || !verify->is_object()) {
    std::printf("    (the scenario has no verify(history): no invariants checked)\n");
  }
  std::fflush(stdout);
}

}  // namespace

namespace detail {

bool stop_signal_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  return sigpending(&pending) == 0 && (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1);
}

void put_scenarios_on_lua_path() {
  if (const std::string dir = find_scenarios_dir(); !dir.empty()) {
    // require("lib.checkers") from any scenario; ";;" keeps Lua's default path.
    const char* old = std::getenv("LUA_PATH");
    const std::string path = dir + "/?.lua;" + (old != nullptr ? old : ";");
    ::setenv("LUA_PATH", path.c_str(), 1);
  }
}

int execute_drill_run(loadgen::run_request& run, const drill_request& request,
                      const std::function<json::object()>& drill_section,
                      const std::function<void(json::value&)>& after) {
  run.script_path = request.scenario;
  run.out_path = (fs::path(request.out_dir) / "results.json").string();
  run.report_dir = request.out_dir;
  run.threads = request.threads;
  run.seed = request.seed;
  run.unsafe_lua = request.unsafe_lua;
  for (const auto& [k, v] : request.env) run.env[k] = v;  // -e wins over what the drill passes
  run.quiet = request.quiet;
  if (request.metrics_listen) run.metrics_listen = request.metrics_listen;  // else what the drill chose
  run.dashboard_listen = request.dashboard_listen;
  run.quiesce_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(request.quiet_timeout);
  json::value final_results;
  run.finish_results = [&](json::value& results) {
    reports::add_recovery(results);
    results.as_object()["drill"] = drill_section();
    apply_failover_rpo(results);  // results.drill.failover (a Patroni shop) beside its fault and invariants
    if (after) after(results);
    final_results = results;
  };
  const int code = loadgen::execute_run(run, [](const json::value& results, const std::string& dir) {
    reports::write_report_directory(results, dir);
  });
  if (!final_results.is_null()) {
    print_drill_summary(final_results);
    if (!request.quiet) {
      std::fprintf(stderr, "stampede drill: results and reports in %s/ (report.html)\n", request.out_dir.c_str());
    }
  }
  return code;
}

}  // namespace detail

int run_drill(const drill_request& request) {
  // SIGINT/SIGTERM blocked before any thread starts (proxies, the guardian's fork): every thread inherits
  // the mask, so the run's coordinator takes a Ctrl-C (results, exit 105) instead of the default action
  // killing the drill from a proxy thread. Children unblock them before exec.
  sigset_t stop_signals, old_mask;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  struct restore_mask {
    sigset_t taken, mask;
    ~restore_mask() {  // a Ctrl-C that came after the run's own handling is dropped: the drill is ending anyway
      timespec zero{0, 0};
      while (sigtimedwait(&taken, nullptr, &zero) > 0) {
      }
      pthread_sigmask(SIG_SETMASK, &mask, nullptr);
    }
  } restore{stop_signals, old_mask};
  // A drill killed by SIGKILL leaves its temporary directory behind: the next one removes it.
  if (const int removed = remove_stale_work_dirs(); removed > 0 && !request.quiet) {
    std::fprintf(stderr, "stampede drill: removed %d temporary director%s of drills that no longer run\n", removed,
                 removed == 1 ? "y" : "ies");
  }
  detail::put_scenarios_on_lua_path();
  if (request.own_system()) return run_target_drill(request);
  std::vector<std::string> directives;
  std::optional<autoscale_directive> autoscale;  // `--@autoscale ...`: results.drill.autoscale
  try {
    directives = scenario_shop_directives(request.scenario);
    const auto asks_autoscale = [](const std::vector<std::string>& args) {
      return std::any_of(args.begin(), args.end(),
                         [](const std::string& a) { return a.rfind("--autoscale", 0) == 0; });
    };
    bool declared = false;
    if (const auto words = scenario_directive_words(request.scenario, "--@autoscale", &declared);
        declared || asks_autoscale(request.shop_args) || asks_autoscale(directives)) {
      try {
        autoscale = parse_autoscale_directive(words);
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(request.scenario + ": " + e.what());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: %s\n", e.what());
    return loadgen::exit_usage;
  }

  std::optional<work_dir> work_holder;
  try {
    work_holder.emplace(request.keep_data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: %s\n", e.what());
    return exit_environment;
  }
  const fs::path work = work_holder->path();

  std::shared_ptr<chaos::proxy_server> proxies;
  std::unique_ptr<shop_process> shop;
  std::optional<host_port> generator_listen = request.metrics_listen;  // scraped by the shop's Prometheus
  std::unique_ptr<partition_links> partition;  // a Patroni member's links and the write probe, when asked
  json::array links;
  std::vector<std::string> shop_flags;  // as the shop got them (results.drill.shards reads --txn-lease-ms)
  try {
    fs::create_directories(request.out_dir);
    chaos::server_options po;
    po.threads = 1;
    po.seed = request.seed;
    proxies = std::make_shared<chaos::proxy_server>(po);
    // Fixed ports for the nodes and the emulator so that their proxies exist before the shop starts.
    std::vector<std::string> node_ports, node_via;
    for (int i = 1; i <= request.nodes; ++i) {
      const uint16_t port = free_loopback_port();
      node_ports.push_back(std::to_string(port));
      const std::string name = "haproxy_node" + std::to_string(i);
      auto info = proxies->add_proxy({name, "127.0.0.1:0", "127.0.0.1:" + std::to_string(port), true});
      node_via.push_back(info.config.listen);
      links.push_back(json::object{{"name", name}, {"from", "haproxy"}, {"to", "node" + std::to_string(i)},
                                   {"listen", info.config.listen}, {"upstream", info.config.upstream}});
    }
    const uint16_t payment_port = free_loopback_port();
    auto payment = proxies->add_proxy({"payment", "127.0.0.1:0", "127.0.0.1:" + std::to_string(payment_port), true});
    links.push_back(json::object{{"name", "payment"}, {"from", "nodes"}, {"to", "payment_emulator"},
                                 {"listen", payment.config.listen}, {"upstream", payment.config.upstream}});

    std::vector<std::string> args{"--nodes", std::to_string(request.nodes), "--port", "0", "--kdf", "minimal",
                                  "--data", (work / "shop").string(), "--node-ports", join(node_ports, ","),
                                  "--payment-port", std::to_string(payment_port), "--node-via", join(node_via, ","),
                                  "--payment-via", payment.config.listen};
    args.insert(args.end(), directives.begin(), directives.end());
    args.insert(args.end(), request.shop_args.begin(), request.shop_args.end());
    if (request.observe) args.emplace_back("--observe");
    // --observe: the shop's Prometheus also scrapes the generator's live metrics (job "stampede"), on the
    // --metrics-listen address when one was given, else on a free port of the drill's choosing.
    if (std::find(args.begin(), args.end(), "--observe") != args.end()) {
      if (!generator_listen) generator_listen = host_port{"127.0.0.1", free_loopback_port()};
      args.insert(args.end(), {"--observe-generator", to_string(*generator_listen)});
    }
    const auto replication = add_replication_links(args, *proxies, links);
    args.insert(args.end(), replication.begin(), replication.end());
    for (auto& a : add_data_links(args, *proxies, links)) args.push_back(std::move(a));  // db:nodeK, redis:nodeK
    if (partition_links::requested(request.scenario)) {
      partition = std::make_unique<partition_links>();
      const auto member_links = partition->add(args, *proxies, links);
      args.insert(args.end(), member_links.begin(), member_links.end());
    }
    // PostgreSQL runs as the postgres user when we are root; the work directory is private (0700).
    if (shop_runs_postgres(args)) work_holder->let_other_users_enter();
    std::string program = request.stampede_binary;
    if (program.empty()) program = fs::read_symlink("/proc/self/exe").string();
    if (!request.quiet) std::fprintf(stderr, "stampede drill: starting the shop (%d nodes)\n", request.nodes);
    shop_flags = args;
    shop = std::make_unique<shop_process>(program, args, work);
    auto edge = proxies->add_proxy({"edge", "127.0.0.1:0", "127.0.0.1:" + std::to_string(port_of(shop->entry_url())), true});
    links.insert(links.begin(), json::object{{"name", "edge"}, {"from", "clients"}, {"to", "haproxy"},
                                             {"listen", edge.config.listen}, {"upstream", edge.config.upstream}});
    if (!request.quiet) {
      std::fprintf(stderr, "stampede drill: shop at %s; clients reach it through proxy \"edge\" %s; links:",
                   shop->entry_url().c_str(), edge.config.listen.c_str());
      for (const auto& l : links) std::fprintf(stderr, " %s", std::string(l.at("name").as_string()).c_str());
      std::fprintf(stderr, "\n");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: %s\n", e.what());
    return exit_environment;
  }

  loadgen::run_request run;
  run.metrics_listen = generator_listen;
  run.overrides.target = "http://" + std::string(links.front().at("listen").as_string());
  run.env["ADMIN_TOKEN"] = shop->admin_token();
  run.env["PAYMENT_URL"] = shop->payment_url();
  run.env["SHOP_URL"] = shop->entry_url();
  run.env["NODES"] = std::to_string(request.nodes);
  run.env["HAPROXY_STATS_URL"] = std::string(shop->topology().at("haproxy").at("stats_url").as_string());
  // Each node directly (bypassing HAProxy and the fault proxies): a scenario reads every node's /metrics.
  std::string node_urls;
  for (const auto& n : shop->topology().at("nodes").as_array()) {
    node_urls += (node_urls.empty() ? "" : ",") + std::string(n.at("url").as_string());
  }
  run.env["NODE_URLS"] = node_urls;
  // A Patroni shop's replication mode, which sets what a failover game day expects (gameday_db_failover.lua).
  if (const auto* sync = shop->topology().at("database").as_object().if_contains("synchronous_mode");
      sync != nullptr && sync->is_bool()) {
    run.env["DB_SYNC_REPLICATION"] = sync->as_bool() ? "on" : "off";
  }
  run.proxies = proxies;
  if (partition) {
    try {
      partition->attach(shop->topology(), run);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stampede drill: %s\n", e.what());
      return exit_environment;
    }
  }
  run.topology_path = shop->topology_path().string();
  std::unique_ptr<backup_service> backup;  // --wal-archive on: the backup game day's operator (env.BACKUP_URL)
  try {
    backup = backup_service_for(shop->topology().as_object(), work);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: backups: %s\n", e.what());
    return exit_environment;
  }
  if (backup) {
    run.env["BACKUP_URL"] = backup->url();
    run.env["BACKUP_TOKEN"] = backup->token();
  }
  // The system's side (results.drill.system): HAProxy's and the nodes' own figures, read once a second.
  std::unique_ptr<system_sampler> sampler;
  try {
    sampler = std::make_unique<system_sampler>(sampler_targets_of(shop->topology().as_object()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: no system side in the results: %s\n", e.what());
  }
  // --shards: how long cross-shard transactions stay in doubt, read on each shard (results.drill.shards).
  std::unique_ptr<in_doubt_sampler> in_doubt;
  try {
    in_doubt = in_doubt_sampler_for(shop->topology().as_object());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: no in-doubt figures in the results: %s\n", e.what());
  }
  json::object quiet;
  quiet_targets quiet_at{port_of(shop->entry_url()), shop->admin_token(), std::nullopt};
  if (sampler) quiet_at.haproxy_runtime_port = sampler->targets().haproxy_runtime_port;
  run.before_verify = [&] {
    if (!request.quiet) {
      std::fprintf(stderr, "stampede drill: waiting until the nodes finish their requests and the queue drains\n");
    }
    quiet = wait_until_quiet(quiet_at, request.quiet_timeout);
  };
  const int code = detail::execute_drill_run(run, request, [&] {
    json::object section{{"nodes", request.nodes},
                         {"links", links},
                         {"topology_at_start", shop->topology()},
                         {"topology", shop->current_topology()},
                         {"quiet", quiet}};
    // Before the shop stops: the killed old primary's data directory is still as the kill left it.
    if (auto rpo = measure_failover_rpo_safely(section["topology_at_start"], section["topology"], directives,
                                               request.shop_args, work.string());
        !rpo.is_null()) {
      section["failover"] = std::move(rpo);
    }
    if (backup) section["backup"] = backup->record();
    return section;
  }, [&](json::value& results) {
    if (sampler) add_system_section(results, *sampler);  // before the shop stops
    if (in_doubt) {  // after verify()'s quiesce: the outcomes as the shards hold them once quiet
      results.as_object()["drill"].as_object()["shards"] =
          measure_shard_outcomes(*in_doubt, shop->topology().as_object(), quiet_at.entry_port,
                                 quiet_at.admin_token, shop_flags);
    }
    if (autoscale) {  // the autoscaler's log is complete: the load and the quiet wait are over
      results.as_object()["drill"].as_object()["autoscale"] =
          measure_autoscale(results, shop->topology(), *autoscale);
    }
    // --observe (or --shop-arg --observe): the alerts of the run, read before the shop stops its Prometheus.
    if (!shop->topology().as_object().contains("observability")) return;
    if (!request.quiet) std::fprintf(stderr, "stampede drill: reading the alerts from Prometheus\n");
    results.as_object()["drill"].as_object()["alerts"] = measure_alerts(results, shop->topology());
  });
  const std::string stopped = shop->stop();
  if (!request.quiet) {
    std::fprintf(stderr, "stampede drill: shop stopped (%s)\n", stopped.c_str());
  }
  return code;
}

}  // namespace stampede::drill
