// Faults on a run's timeline: network faults through in-process fault proxies (chaos/) and node
// faults by signal (chaos/process_faults). The coordinator starts and heals faults at their planned
// times; VUs may also call chaos.inject/heal from Lua. Every fault heals at its end and, whatever
// happens, when the controller is destroyed (end of run, error, Ctrl-C): nothing outlives the run.
//
// Thread-safety: every member function may be called from any thread (one mutex; calls are short
// and bounded: proxy control never waits for traffic).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>

#include "loadgen/topology.h"

namespace stampede::chaos {
class proxy_server;
class process_faults;
}  // namespace stampede::chaos

namespace stampede::loadgen {

// One fault as a scenario declares it (options.chaos[i] or chaos.inject{...}).
struct fault_spec {
  std::string label;                 // for reports; default "<fault> <target>"
  std::string fault;                 // a toxic type (latency, bandwidth, ..., http_abort), partition (a black hole
                                     // both ways: a timeout toxic, timeout 0, on both streams) or
                                     // kill/terminate/pause/restart
  std::string target;                // proxy name (network; "prefix*": every proxy so named; or a link group)
                                     // or process name (node faults)
  std::optional<std::chrono::nanoseconds> at;        // timeline faults: offset from the run's start
  std::optional<std::chrono::nanoseconds> duration;  // none: until the end of the run (or heal)
  std::string toxic_json;            // network faults: Toxiproxy toxic JSON (type, stream, toxicity, attributes)
  std::string restart_command;       // restart: how to bring the process back
  bool network() const;
};

bool is_node_fault(std::string_view fault) noexcept;

// A network fault may name a group of proxies as its target: the embedder says which names are groups and
// resolves one when the fault fires (`stampede drill`: a Patroni member's links, `primary` = the member that
// leads at that moment). The fault then acts on every proxy of the group, and heals them together.
struct link_group {
  std::string resolved;              // what the target stood for when the fault fired ("pg1"), for records
  std::vector<std::string> proxies;  // the proxies to act on
  std::function<void()> applied;     // optional: called once the fault acts on every one of them
};
struct link_group_resolver {
  std::function<bool(std::string_view)> known;          // validate(): whether the name is a group
  std::function<link_group(std::string_view)> resolve;  // inject(): its proxies now; throws std::runtime_error
  explicit operator bool() const { return known && resolve; }
};

class chaos_timeline {
 public:
  // `topology_json` (loadgen/topology.h; may be empty): its nodes are the targets of node faults, and each
  // of its links becomes a fault proxy (listening on the link's `listen`) unless `proxies` already has one
  // of that name. `proxies`: an existing proxy server whose proxies faults may target (null: one is
  // created when needed). `topology_path`: the file the topology came from, re-read by observe() to learn
  // when a killed node is back under a new pid (the reference shop's supervisor rewrites it when it
  // respawns a node). Throws std::invalid_argument for a bad topology, std::runtime_error when a link's
  // proxy cannot listen.
  chaos_timeline(uint64_t seed, std::string topology_json, std::shared_ptr<chaos::proxy_server> proxies = nullptr,
                 std::string topology_path = {});
  ~chaos_timeline();  // heal_all()

  // Adds a fault proxy listening on 127.0.0.1 (ephemeral port) in front of `upstream` ("host:port");
  // returns the listen address "127.0.0.1:PORT".
  std::string add_proxy(const std::string& name, const std::string& upstream);
  // Targets of network faults that are groups of proxies (see link_group). Set before the run starts.
  void set_link_groups(link_group_resolver resolver);
  // Checks a spec before the run (known fault, known target, valid attributes). Throws std::invalid_argument.
  void validate(const fault_spec& spec) const;
  // Starts a fault now; returns its id. Throws std::invalid_argument / std::runtime_error.
  int inject(const fault_spec& spec, double now_s);
  void heal(int id, double now_s) noexcept;
  void heal_all(double now_s) noexcept;
  // Faults still active whose planned end has come.
  std::vector<int> due_to_heal(double now_s) const;
  // Notes the time a process taken down by kill/terminate/restart runs again under a new pid: the "heal"
  // of a node fault in the recovery figures. Watched: a pid file (a `pidfile:` target, a node's pid_file)
  // and a node's pid in the topology file (re-read). Not watched: `pid:N` targets and nodes known only by
  // commands (their heal is the fault's end). Cheap when no watched fault is outstanding; call it as often
  // as the timeline is driven.
  void observe(double now_s) noexcept;
  // The faults' records for results JSON: id, label, fault, target, planned and actual start/end (s),
  // parameters, injections, error; for a watched kill/terminate/restart (see observe) also back_s: when
  // the process ran again (null: not before the end).
  boost::json::array records() const;
  bool has_proxies() const;

 private:
  struct active_fault;
  chaos::process_faults& process_for(const fault_spec& spec);
  std::vector<std::string> network_targets_locked(const std::string& target) const;
  void ensure_proxies_locked();
  bool watchable(const std::string& target) const;
  std::optional<topology> reread_topology() const;
  pid_t current_pid(const std::string& target, const std::optional<topology>& now) const;
  void heal_locked(active_fault& f, double now_s) noexcept;

  mutable std::mutex mutex_;
  uint64_t seed_;
  topology topology_;
  std::string topology_path_;
  std::shared_ptr<chaos::proxy_server> proxies_;
  std::map<std::string, std::unique_ptr<chaos::process_faults>> processes_;
  std::vector<std::unique_ptr<active_fault>> faults_;
  link_group_resolver groups_;
};

}  // namespace stampede::loadgen
