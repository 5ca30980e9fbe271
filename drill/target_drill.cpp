// `stampede drill SCENARIO --target URL --topology FILE`: a game day on the user's own system. The drill
// starts nothing of the system: it puts fault proxies where the topology says (the system is configured to
// reach each link's upstream through its `listen` address), "edge" in front of the target, runs the
// scenario with node faults on the topology's nodes, heals, waits for every node's health command, runs
// the scenario's quiesce() and verify(), and writes every report.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/json.hpp>

#include "chaos/process_faults.h"
#include "chaos/proxy_server.h"
#include "drill/drill.h"
#include "drill/drill_run.h"
#include "drill/heal_guardian.h"
#include "loadgen/http_engine.h"
#include "loadgen/topology.h"

namespace stampede::drill {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

using steady = std::chrono::steady_clock;

// Runs each node's health command until it exits 0 (every command shares `bound`; one attempt may take
// 5 s). Returns [{node, ok, attempts, waited_s, status}] for results.drill.quiet.health.
json::array wait_until_healthy(const loadgen::topology& topology, std::chrono::seconds bound, bool quiet) {
  json::array out;
  const auto start = steady::now();
  const auto deadline = start + bound;
  for (const auto& node : topology.nodes) {
    if (node.commands.health.empty()) continue;
    if (!quiet) std::fprintf(stderr, "stampede drill: waiting until node %s is healthy\n", node.name.c_str());
    int attempts = 0;
    int status = -2;
    while (true) {
      ++attempts;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
      status = chaos::run_shell_command(node.commands.health,
                                        std::clamp(left, std::chrono::milliseconds{100}, std::chrono::milliseconds{5000}));
      if (status == 0 || steady::now() >= deadline || detail::stop_signal_pending()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds{200});  // a health probe has nothing to wait on
    }
    out.push_back(json::object{{"node", node.name},
                               {"ok", status == 0},
                               {"attempts", attempts},
                               {"waited_s", std::chrono::duration<double>(steady::now() - start).count()},
                               {"status", status}});
  }
  return out;
}

json::object link_json(const std::string& name, const std::string& from, const std::string& to,
                       const chaos::proxy_info& info) {
  return json::object{{"name", name}, {"from", from}, {"to", to},
                      {"listen", info.config.listen}, {"upstream", info.config.upstream}};
}

}  // namespace

int run_target_drill(const drill_request& request) {
  loadgen::topology topology;
  json::value topology_doc = nullptr;
  if (!request.topology_path.empty()) {
    std::ifstream in(request.topology_path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "stampede drill: cannot read topology '%s'\n", request.topology_path.c_str());
      return loadgen::exit_usage;
    }
    std::stringstream text;
    text << in.rdbuf();
    try {
      topology = loadgen::parse_topology(text.str());
      topology_doc = json::parse(text.str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stampede drill: topology '%s': %s\n", request.topology_path.c_str(), e.what());
      return loadgen::exit_invalid_options;
    }
    if (topology.link("edge") != nullptr) {
      std::fprintf(stderr, "stampede drill: topology '%s': links: \"edge\" is the drill's own proxy in front of the "
                   "target; name the link differently\n", request.topology_path.c_str());
      return loadgen::exit_invalid_options;
    }
  }
  const std::string target = request.target.empty() ? topology.entry_url : request.target;
  std::string url_error;
  const auto url = loadgen::parse_url(target, nullptr, url_error);
  if (target.empty() || !url || url->host.empty()) {
    std::fprintf(stderr, "stampede drill: %s\n",
                 target.empty() ? "--target URL is required (or entry_url in the topology)"
                                : ("--target: " + url_error).c_str());
    return loadgen::exit_usage;
  }
  {
    std::ifstream scenario(request.scenario);
    if (!scenario) {
      std::fprintf(stderr, "stampede drill: cannot read '%s'\n", request.scenario.c_str());
      return loadgen::exit_usage;
    }
  }

  // Before any thread starts (it forks): resumes paused nodes if this process dies without healing them.
  const heal_guardian guardian(topology);
  auto proxies = std::make_shared<chaos::proxy_server>(chaos::server_options{.threads = 1, .seed = request.seed});
  json::array links;
  std::string edge_listen;
  try {
    fs::create_directories(request.out_dir);
    const std::string upstream = url->host + ":" + std::to_string(url->port);
    auto edge = proxies->add_proxy({"edge", "127.0.0.1:0", upstream, true});
    edge_listen = edge.config.listen;
    links.push_back(link_json("edge", "clients", "target", edge));
    for (const auto& l : topology.links) {
      try {
        links.push_back(link_json(l.name, l.from, l.to, proxies->add_proxy({l.name, l.listen, l.upstream, true})));
      } catch (const std::exception& e) {
        throw std::runtime_error("link '" + l.name + "': cannot listen on " + l.listen + ": " + e.what());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede drill: %s\n", e.what());
    return exit_environment;
  }
  if (!request.quiet) {
    std::fprintf(stderr, "stampede drill: target %s through proxy \"edge\" %s; links:", target.c_str(),
                 edge_listen.c_str());
    for (const auto& l : links) {
      std::fprintf(stderr, " %s (%s -> %s)", std::string(l.at("name").as_string()).c_str(),
                   std::string(l.at("listen").as_string()).c_str(), std::string(l.at("upstream").as_string()).c_str());
    }
    std::fprintf(stderr, "; nodes:");
    for (const auto& n : topology.nodes) std::fprintf(stderr, " %s", n.name.c_str());
    std::fprintf(stderr, "\n");
  }

  loadgen::run_request run;
  // The scenario's requests go through "edge"; a path in --target stays a prefix of relative URLs.
  run.overrides.target = std::string(url->tls ? "https://" : "http://") + edge_listen +
                         (url->path == "/" ? std::string() : std::string(url->path));
  run.env["TARGET_URL"] = target;  // the system itself, not through the edge (e.g. for verify's reads)
  run.proxies = proxies;
  if (!request.topology_path.empty()) run.topology_path = request.topology_path;
  json::array health;
  run.before_verify = [&] { health = wait_until_healthy(topology, request.quiet_timeout, request.quiet); };
  const int code = detail::execute_drill_run(run, request, [&] {
    return json::object{{"mode", "target"},
                        {"target", target},
                        {"links", links},
                        {"topology", topology_doc},
                        {"quiet", json::object{{"health", health}}}};
  });
  return code;
}

}  // namespace stampede::drill
