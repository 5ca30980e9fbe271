#include "loadgen/chaos_timeline.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>

#include "chaos/api.h"
#include "chaos/process_faults.h"
#include "chaos/proxy_server.h"
#include "chaos/toxic.h"

namespace stampede::loadgen {

namespace json = boost::json;

bool is_node_fault(std::string_view fault) noexcept {
  return fault == "kill" || fault == "terminate" || fault == "pause" || fault == "restart";
}

bool fault_spec::network() const { return !is_node_fault(fault); }

namespace {

// `partition`: nothing passes either way until the heal, connections held open (as a cut cable: peers
// find out by their own timeouts), then closed at the heal (the streams lost data).
chaos::toxic_spec toxic_of(const fault_spec& spec) {
  if (spec.fault != "partition") return chaos::parse_toxic(spec.toxic_json);
  chaos::toxic_spec toxic;
  toxic.type = chaos::toxic_type::timeout;
  toxic.stream = chaos::stream_direction::both;
  toxic.timeout = 0;
  return toxic;
}

}  // namespace

struct chaos_timeline::active_fault {
  int id = 0;
  fault_spec spec;
  std::string toxic_name;
  double planned_start_s = -1;
  double start_s = -1;
  double end_s = -1;                 // -1 while active
  std::optional<double> planned_end_s;
  uint64_t injections = 0;
  std::string error;
  chaos::process_faults* process = nullptr;
  std::vector<std::string> proxies;  // network faults: the proxies acted on (the target, a `prefix*`'s, a group's)
  std::string resolved;              // a group target: what it stood for when the fault fired
  pid_t down_pid = 0;            // kill/terminate/restart: the pid taken down
  bool watch_back = false;       // its return can be seen (see observe)
  std::optional<double> back_s;  // when it ran again under a new pid
};

chaos_timeline::chaos_timeline(uint64_t seed, std::string topology_json, std::shared_ptr<chaos::proxy_server> proxies,
                               std::string topology_path)
    : seed_(seed), topology_path_(std::move(topology_path)), proxies_(std::move(proxies)) {
  if (topology_json.empty()) return;
  topology_ = parse_topology(topology_json);
  for (const auto& l : topology_.links) {
    ensure_proxies_locked();
    if (proxies_->proxy(l.name)) continue;  // the embedder (stampede drill) created it already
    try {
      proxies_->add_proxy({l.name, l.listen, l.upstream, true});
    } catch (const std::exception& e) {
      throw std::runtime_error("link '" + l.name + "': cannot listen on " + l.listen + ": " + e.what());
    }
  }
}

void chaos_timeline::ensure_proxies_locked() {
  if (proxies_) return;
  chaos::server_options options;
  options.seed = seed_;
  proxies_ = std::make_shared<chaos::proxy_server>(options);
}

chaos_timeline::~chaos_timeline() { heal_all(-1); }

std::string chaos_timeline::add_proxy(const std::string& name, const std::string& upstream) {
  std::lock_guard lock(mutex_);
  ensure_proxies_locked();
  chaos::proxy_config config;
  config.name = name;
  config.listen = "127.0.0.1:0";
  config.upstream = upstream;
  return proxies_->add_proxy(config).config.listen;
}

void chaos_timeline::set_link_groups(link_group_resolver resolver) {
  std::lock_guard lock(mutex_);
  groups_ = std::move(resolver);
}

bool chaos_timeline::has_proxies() const {
  std::lock_guard lock(mutex_);
  return proxies_ != nullptr;
}

void chaos_timeline::validate(const fault_spec& spec) const {
  if (spec.fault.empty()) throw std::invalid_argument("fault: required");
  if (spec.network()) {
    if (spec.fault != "partition" && !chaos::parse_toxic_type(spec.fault)) {
      throw std::invalid_argument("unknown fault '" + spec.fault +
                                  "' (network: latency, bandwidth, slow_close, timeout, reset_peer, slicer, "
                                  "limit_data, limit_time, slow_open, packet_loss, http_abort, http_delay, "
                                  "partition; node: kill, terminate, pause, restart)");
    }
    (void)toxic_of(spec);  // throws with the attribute's name
    std::lock_guard lock(mutex_);
    const bool known_group = proxies_ && groups_ && groups_.known(spec.target);
    if (network_targets_locked(spec.target).empty() && !known_group) {
      throw std::invalid_argument("network fault target '" + spec.target +
                                  (spec.target.ends_with('*') ? "' names no proxy of this run"
                                                              : "' is not a proxy of this run") +
                                  " (use --proxy, which creates \"target\", or options.proxies)");
    }
    return;
  }
  const std::string& t = spec.target;
  if (t.rfind("pid:", 0) == 0 || t.rfind("pidfile:", 0) == 0) return;
  const topology_node* node = topology_.node(t);
  if (node == nullptr) {
    throw std::invalid_argument("node fault target '" + t + "' is unknown (pid:N, pidfile:PATH, or a node of the topology" +
                                std::string(topology_.nodes.empty() ? "; no topology given" : "") + ")");
  }
  if (!node->supports(spec.fault) && !(spec.fault == "restart" && !spec.restart_command.empty())) {
    throw std::invalid_argument("node '" + t + "' cannot take a " + spec.fault + " fault: it has no " +
                                (spec.fault == "restart" ? std::string("commands.restart (or a restart command in the fault)")
                                                         : "pid, pid_file or commands." + spec.fault));
  }
}

// `name`, or with a trailing `*` every proxy whose name starts with what comes before it (`db:*`: every
// node's database link); empty when none matches.
std::vector<std::string> chaos_timeline::network_targets_locked(const std::string& target) const {
  std::vector<std::string> out;
  if (!proxies_) return out;
  if (!target.ends_with('*')) {
    if (proxies_->proxy(target)) out.push_back(target);
    return out;
  }
  const std::string_view prefix = std::string_view{target}.substr(0, target.size() - 1);
  for (const auto& p : proxies_->proxies()) {
    if (std::string_view{p.config.name}.starts_with(prefix)) out.push_back(p.config.name);
  }
  return out;
}

chaos::process_faults& chaos_timeline::process_for(const fault_spec& spec) {
  const std::string& target = spec.target;
  auto it = processes_.find(target);
  if (it != processes_.end()) return *it->second;
  chaos::process_target p;
  p.name = target;
  if (target.rfind("pid:", 0) == 0) {
    p.pid = std::stoi(target.substr(4));
  } else if (target.rfind("pidfile:", 0) == 0) {
    p.pid_file = target.substr(8);
  } else {
    const topology_node& n = *topology_.node(target);  // validate() checked it
    p.pid = n.pid;
    p.pid_file = n.pid_file;
    p.kill_command = n.commands.kill;
    p.stop_command = n.commands.terminate;
    p.pause_command = n.commands.pause;
    p.resume_command = n.commands.resume;
    p.restart_command = n.commands.restart;
  }
  if (!spec.restart_command.empty()) p.restart_command = spec.restart_command;
  return *processes_.emplace(target, std::make_unique<chaos::process_faults>(p)).first->second;
}

int chaos_timeline::inject(const fault_spec& spec, double now_s) {
  validate(spec);
  std::lock_guard lock(mutex_);
  auto f = std::make_unique<active_fault>();
  f->id = static_cast<int>(faults_.size()) + 1;
  f->spec = spec;
  if (f->spec.label.empty()) f->spec.label = spec.fault + " " + spec.target;
  f->planned_start_s = spec.at ? std::chrono::duration<double>(*spec.at).count() : now_s;
  f->start_s = now_s;
  if (spec.duration) f->planned_end_s = now_s + std::chrono::duration<double>(*spec.duration).count();
  try {
    if (spec.network()) {
      chaos::toxic_spec toxic = toxic_of(spec);
      toxic.name = "fault" + std::to_string(f->id) + "_" + std::string(chaos::to_string(toxic.type));
      f->toxic_name = toxic.name;
      std::vector<std::string> targets = network_targets_locked(spec.target);
      std::function<void()> applied;
      if (targets.empty()) {  // validate() let it through: a group of the embedder's
        if (!groups_) throw std::runtime_error("'" + spec.target + "' is not a proxy of this run");
        link_group group = groups_.resolve(spec.target);
        if (group.proxies.empty()) throw std::runtime_error("'" + spec.target + "' has no links");
        targets = std::move(group.proxies);
        f->resolved = std::move(group.resolved);
        applied = std::move(group.applied);
      }
      for (const auto& t : targets) {
        proxies_->add_toxic(t, toxic);
        f->proxies.push_back(t);  // healed (removed) below, also after a later one failed
      }
      if (applied) applied();
    } else {
      chaos::process_faults& p = process_for(spec);
      f->process = &p;
      if (spec.fault != "pause" && watchable(spec.target)) {
        f->down_pid = current_pid(spec.target, reread_topology());
        if (f->down_pid == 0) f->down_pid = p.pid();  // the file unreadable now: the pid the fault acts on
        f->watch_back = true;
      }
      if (spec.fault == "kill") {
        p.kill();
      } else if (spec.fault == "terminate") {
        p.stop();  // commands.terminate, else SIGTERM then SIGKILL after the grace
      } else if (spec.fault == "pause") {
        p.pause();
      } else if (spec.fault == "restart") {
        p.restart();
      }
    }
  } catch (const std::exception& e) {
    f->error = e.what();
    f->end_s = now_s;
    for (const auto& t : f->proxies) {  // a group acted on in part: none of it stays
      try {
        proxies_->remove_toxic(t, f->toxic_name);
      } catch (const std::exception&) {
      }
    }
    faults_.push_back(std::move(f));
    throw std::runtime_error("fault '" + faults_.back()->spec.label + "' failed: " + faults_.back()->error);
  }
  faults_.push_back(std::move(f));
  return faults_.back()->id;
}

void chaos_timeline::heal_locked(active_fault& f, double now_s) noexcept {
  if (f.end_s >= 0) return;
  f.end_s = now_s;
  try {
    if (!f.toxic_name.empty() && proxies_) {
      for (const auto& t : f.proxies) {  // each one, whatever happens to another
        try {
          if (auto info = proxies_->proxy(t)) {
            if (auto it = info->injections.find(f.toxic_name); it != info->injections.end()) f.injections += it->second;
          }
          proxies_->remove_toxic(t, f.toxic_name);
        } catch (const std::exception& e) {
          if (f.error.empty()) f.error = "heal " + t + ": " + e.what();
        }
      }
    } else if (f.process != nullptr) {
      f.injections = 1;
      if (f.spec.fault == "pause") f.process->resume();
    }
  } catch (const std::exception& e) {
    if (f.error.empty()) f.error = std::string("heal: ") + e.what();
  }
}

void chaos_timeline::heal(int id, double now_s) noexcept {
  std::lock_guard lock(mutex_);
  if (id >= 1 && static_cast<size_t>(id) <= faults_.size()) heal_locked(*faults_[static_cast<size_t>(id) - 1], now_s);
}

void chaos_timeline::heal_all(double now_s) noexcept {
  std::lock_guard lock(mutex_);
  for (auto& f : faults_) heal_locked(*f, now_s < 0 ? f->start_s : now_s);
  if (proxies_) {
    try {
      proxies_->reset();  // also toxics added by hand
    } catch (...) {
    }
  }
  for (auto& [name, p] : processes_) p->heal();  // resumes anything paused
}

std::vector<int> chaos_timeline::due_to_heal(double now_s) const {
  std::lock_guard lock(mutex_);
  std::vector<int> due;
  for (const auto& f : faults_) {
    if (f->end_s < 0 && f->planned_end_s && *f->planned_end_s <= now_s) due.push_back(f->id);
  }
  return due;
}

bool chaos_timeline::watchable(const std::string& target) const {
  if (target.rfind("pidfile:", 0) == 0) return true;
  const topology_node* n = topology_.node(target);
  return n != nullptr && (!n->pid_file.empty() || (n->pid > 0 && !topology_path_.empty()));
}

// The topology file as it is now (the reference shop's supervisor writes it anew when it respawns a
// node); none without a file, or while it is unreadable or being replaced.
std::optional<topology> chaos_timeline::reread_topology() const {
  if (topology_path_.empty()) return std::nullopt;
  try {
    std::ifstream in(topology_path_, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return parse_topology(text.str());
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The target's pid now, from its freshest source: its pid file, or the re-read topology `now`. 0: unknown.
pid_t chaos_timeline::current_pid(const std::string& target, const std::optional<topology>& now) const {
  if (target.rfind("pidfile:", 0) == 0) return chaos::read_pid_file(target.substr(8));
  const topology_node* n = topology_.node(target);
  if (n == nullptr) return 0;
  if (!n->pid_file.empty()) return chaos::read_pid_file(n->pid_file);
  if (topology_path_.empty()) return n->pid;
  const topology_node* m = now ? now->node(target) : nullptr;
  return m != nullptr ? m->pid : 0;
}

void chaos_timeline::observe(double now_s) noexcept {
  std::lock_guard lock(mutex_);
  auto outstanding = [](const auto& f) { return f->watch_back && !f->back_s && f->error.empty(); };
  if (std::none_of(faults_.begin(), faults_.end(), outstanding)) return;
  const std::optional<topology> now = reread_topology();  // once per call, whatever the number of faults
  for (auto& f : faults_) {
    if (!outstanding(f)) continue;
    const pid_t pid = current_pid(f->spec.target, now);
    if (pid > 0 && pid != f->down_pid && chaos::process_running(pid)) f->back_s = now_s;
  }
}

json::array chaos_timeline::records() const {
  std::lock_guard lock(mutex_);
  json::array out;
  for (const auto& f : faults_) {
    json::object r;
    r["id"] = f->id;
    r["label"] = f->spec.label;
    r["kind"] = f->spec.network() ? "network" : "node";
    r["fault"] = f->spec.fault;
    r["target"] = f->spec.target;
    r["planned_start_s"] = f->planned_start_s;
    r["start_s"] = f->start_s;
    if (f->end_s >= 0) {
      r["end_s"] = f->end_s;
    } else {
      r["end_s"] = nullptr;
    }
    if (f->planned_end_s) r["planned_end_s"] = *f->planned_end_s;
    if (f->spec.fault == "partition") {  // what it does, not the attributes the script could give
      r["parameters"] = json::object{{"type", "timeout"}, {"stream", "both"}, {"attributes", json::object{{"timeout", 0}}}};
    } else {
      r["parameters"] = f->spec.toxic_json.empty() ? json::value(json::object{}) : json::parse(f->spec.toxic_json);
    }
    r["injections"] = f->injections;
    if (!f->resolved.empty() || f->proxies.size() > 1) {
      r["resolved"] = f->resolved;
      json::array links;
      for (const auto& p : f->proxies) links.push_back(json::value(p));
      r["links"] = std::move(links);
    }
    if (f->watch_back) r["back_s"] = f->back_s ? json::value(*f->back_s) : json::value(nullptr);
    if (!f->error.empty()) r["error"] = f->error;
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace stampede::loadgen
