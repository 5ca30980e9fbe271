// `stampede shop --autoscale`: measuring, deciding and acting on the pool of nodes (supervisor_autoscale.h).
#include "reference_shop/supervisor_autoscale.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/http_client.h"
#include "reference_shop/haproxy_runtime.h"
#include "reference_shop/supervisor_internal.h"

namespace stampede::shop::supervision {

namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto poll_interval = 100ms;
constexpr auto runtime_timeout = 1s;
constexpr auto metrics_timeout = 200ms;  // one node's /metrics
constexpr auto metrics_budget = 300ms;   // all of a tick's /metrics reads: the loop's longest stall
constexpr auto launch_bound = 30s;       // an added node reports its port within this
constexpr auto delete_bound = 30s;       // `del server` waits for the node's connections to close

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t index_of(const std::string& name) { return std::atoll(name.c_str() + 4); }  // "nodeN"

}  // namespace

elastic_pool::elastic_pool(supervisor& s, const autoscale_options& options, const std::string& data_dir)
    : s_(s),
      o_(options),
      log_path_((std::filesystem::path{data_dir} / "autoscale.jsonl").string()),
      log_(log_path_, std::ios::trunc),
      engine_(options.policy),
      next_index_(s.o_.nodes + 1) {
  if (!log_) throw std::runtime_error("cannot write " + log_path_);
  for (const auto& c : s_.children_) {
    if (c.role == "node") pool_.push_back(member{c.name, true, phase::ready, steady::now(), true});
  }
  next_tick_ = steady::now() + o_.policy.tick;
  next_poll_ = steady::now();
}

elastic_pool::~elastic_pool() {
  for (const auto& m : pool_) {
    if (m.ready_fd >= 0) ::close(m.ready_fd);
  }
}

json::object elastic_pool::topology() const {
  const auto& p = o_.policy;
  return json::object{{"mode", autoscale::mode_name(p.kind)},
                      {"log", log_path_},
                      {"min_nodes", p.min_nodes},
                      {"max_nodes", p.max_nodes},
                      {"target_in_flight", p.target_in_flight},
                      {"p99_ms", p.p99_threshold_ms},
                      {"tick_ms", p.tick.count()},
                      {"metrics", "haproxy_runtime_api+node_metrics"}};
}

// One line: t_unix_ms first, then the fields in order; fractions with 3 decimals at most (Boost.JSON would
// write 1.2E1).
void elastic_pool::event(json::object fields) {
  std::string line = "{\"t_unix_ms\":" + std::to_string(unix_ms());
  for (const auto& [key, value] : fields) {
    line += "," + json::serialize(json::string{key}) + ":";
    if (value.is_double() && !std::isfinite(value.get_double())) {
      line += "null";
    } else if (value.is_double()) {
      char number[64];
      std::snprintf(number, sizeof number, "%.3f", value.get_double());
      std::string text = number;
      while (text.back() == '0') text.pop_back();
      if (text.back() == '.') text.pop_back();
      line += text;
    } else {
      line += json::serialize(value);
    }
  }
  log_ << line << "}\n";
  log_.flush();  // readers (a game day) follow the file while the shop runs
}

// The topology and (--observe) Prometheus's node targets follow the pool.
void elastic_pool::pool_changed() {
  s_.write_topology();
  s_.update_node_targets();
}

std::optional<std::string> elastic_pool::runtime(const std::string& command) const {
  return haproxy_runtime_command(s_.hc_.runtime_port, command, runtime_timeout);
}

void elastic_pool::write_haproxy_config() const {
  std::ofstream out{s_.config_path_};
  out << render_haproxy_config(s_.hc_);
  if (!out) std::fprintf(stderr, "stampede shop: autoscale: cannot write %s\n", s_.config_path_.c_str());
}

bool elastic_pool::node_alive(const std::string& name) const {
  for (const auto& c : s_.children_) {
    if (c.name == name && c.role == "node") return c.alive;
  }
  return false;
}

void elastic_pool::step() {
  // Retired nodes, once reaped, leave the children (nothing holds a pointer to them between steps).
  std::erase_if(s_.children_, [](const child& c) { return c.role == "retired" && !c.alive; });
  check_launches();
  const auto now = steady::now();
  if (now >= next_poll_) {
    next_poll_ = now + poll_interval;
    poll();
    drop_dead_nodes();
    advance_drains();
  }
  if (steady::now() >= next_tick_) {
    next_tick_ += o_.policy.tick;
    if (next_tick_ < steady::now()) next_tick_ = steady::now() + o_.policy.tick;  // a long stall: no burst
    tick();
  }
}

void elastic_pool::poll() {
  const auto text = runtime("show stat");
  stat_ = text ? autoscale::parse_show_stat(*text, "nodes") : std::nullopt;
  if (!stat_) return;
  int64_t in_flight = stat_->queued;
  for (auto& m : pool_) {
    const auto it = stat_->servers.find(m.name);
    if (it == stat_->servers.end()) continue;
    const auto& server = it->second;
    if (m.state == phase::starting && server.up() && node_alive(m.name)) {
      m.state = phase::ready;
      engine_.set_startup_time(std::chrono::duration_cast<autoscale::millis>(steady::now() - m.since));
      event({{"event", "node_ready"}, {"node", m.name}});
      std::fprintf(stderr, "stampede shop: autoscale: %s ready\n", m.name.c_str());
    }
    if (!m.served && server.total > 0) {
      m.served = true;
      event({{"event", "node_first_request"}, {"node", m.name}});
    }
    if (m.state == phase::ready) in_flight += server.in_flight + server.queued;
  }
  in_flight_sum_ += static_cast<double>(in_flight);
  ++in_flight_polls_;
}

void elastic_pool::tick() {
  autoscale::sample s;
  s.t = std::chrono::duration_cast<autoscale::millis>(steady::now() - origin_);
  // Rate: requests through the backend since the last tick (HAProxy's counters restart with it).
  if (stat_) {
    const auto now = steady::now();
    if (last_total_) {
      const int64_t delta = stat_->total >= *last_total_ ? stat_->total - *last_total_ : stat_->total;
      const double dt = std::chrono::duration<double>(now - last_total_at_).count();
      if (dt > 0) s.rate_per_s = static_cast<double>(delta) / dt;
    }
    last_total_ = stat_->total;
    last_total_at_ = now;
  }
  // p99 of the tick: each ready node's duration histogram, as a difference from the last tick's.
  autoscale::duration_buckets delta{};
  const auto budget_end = steady::now() + metrics_budget;
  for (const auto& m : pool_) {
    if (m.state == phase::launching || m.state == phase::starting || m.state == phase::removing) continue;
    const child* c = nullptr;
    for (const auto& x : s_.children_) {
      if (x.name == m.name && x.alive) c = &x;
    }
    // Ready: UP in HAProxy (a paused or unreachable node is not capacity, and is not asked for its metrics:
    // it would hold the tick for the timeout); without an answer from HAProxy, alive.
    const bool up = !stat_ || (stat_->servers.contains(m.name) && stat_->servers.at(m.name).up());
    if (m.state == phase::ready && c != nullptr && up) ++s.ready_nodes;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(budget_end - steady::now());
    if (c == nullptr || !up || left < 10ms) continue;  // out of budget: this tick's p99 without it
    try {
      http::blocking_client client{"127.0.0.1", c->port,
                                   std::min<std::chrono::milliseconds>(left, metrics_timeout)};
      const auto r = client.get("/metrics");
      if (r.status != 200) continue;
      const auto now = autoscale::parse_duration_buckets(r.body);
      const auto before = last_buckets_.find(m.name);
      const auto d = before == last_buckets_.end() ? autoscale::duration_buckets{}
                                                   : autoscale::bucket_delta(now, before->second);
      for (size_t i = 0; i < delta.size(); ++i) delta[i] += d[i];
      last_buckets_[m.name] = now;
    } catch (const std::exception&) {
      // A node that does not answer in time (paused, overloaded) adds nothing to this tick's p99.
    }
  }
  s.p99_ms = autoscale::p99_ms(delta);
  for (const auto& m : pool_) {
    if (m.state == phase::launching || m.state == phase::starting ||
        (m.state == phase::ready && (node_alive(m.name) || s_.o_.respawn_ms >= 0))) {
      ++s.nodes;
    }
  }
  const double in_flight = in_flight_polls_ > 0 ? in_flight_sum_ / in_flight_polls_ : 0;
  in_flight_sum_ = 0;
  in_flight_polls_ = 0;
  s.in_flight_per_node = in_flight / std::max(s.ready_nodes, 1);
  const auto d = engine_.observe(s);
  json::object line{{"event", "sample"},
                    {"nodes", s.nodes},
                    {"ready_nodes", s.ready_nodes},
                    {"rate_per_s", s.rate_per_s},
                    {"in_flight_per_node", s.in_flight_per_node}};
  line["p99_ms"] = s.p99_ms ? json::value(*s.p99_ms) : json::value(nullptr);
  if (const auto f = engine_.last_forecast(); f && o_.policy.kind == autoscale::mode::predictive) {
    line["forecast_rate_per_s"] = *f;
  }
  event(std::move(line));
  if (d) act(*d);
}

void elastic_pool::act(const autoscale::decision& d) {
  event({{"event", "decision"},
         {"action", autoscale::action_name(d.what)},
         {"from", d.from},
         {"to", d.to},
         {"reason", d.reason}});
  std::fprintf(stderr, "stampede shop: autoscale: %s %d -> %d (%s)\n",
               std::string{autoscale::action_name(d.what)}.c_str(), d.from, d.to, d.reason.c_str());
  if (d.what == autoscale::action::scale_out) {
    for (int n = d.from; n < d.to; ++n) add_node();
    return;
  }
  // Scale in: added nodes first (the newest first), then initial ones, never below --min-nodes (the engine's
  // `to` is at least that).
  std::vector<member*> candidates;
  for (auto& m : pool_) {
    if (m.state == phase::ready && node_alive(m.name)) candidates.push_back(&m);
  }
  std::sort(candidates.begin(), candidates.end(), [](const member* a, const member* b) {
    if (a->initial != b->initial) return !a->initial;
    return index_of(a->name) > index_of(b->name);
  });
  const size_t remove = static_cast<size_t>(std::max(0, d.from - d.to));
  for (size_t i = 0; i < remove && i < candidates.size(); ++i) start_draining(*candidates[i]);
  pool_changed();
}

// Starts the node and returns: check_launches() reads its ready pipe in later steps.
void elastic_pool::add_node() {
  const int64_t index = next_index_++;
  const std::string name = "node" + std::to_string(index);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "stampede shop: autoscale: starting %s failed: no pipe\n", name.c_str());
    return;
  }
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);  // read in later steps without waiting
  auto argv = s_.node_argv(index, 0);
  argv.push_back("--ready-fd");
  argv.push_back("3");
  try {
    const pid_t pid = spawn(s_.exe_, argv, fds[1], s_.node_environment());
    s_.children_.push_back(child{"node_starting", name, pid, 0, true});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: autoscale: starting %s failed: %s\n", name.c_str(), e.what());
    ::close(fds[0]);
    ::close(fds[1]);
    return;
  }
  ::close(fds[1]);
  member m{name, false, phase::launching, steady::now(), false};
  m.ready_fd = fds[0];
  pool_.push_back(std::move(m));
}

void elastic_pool::check_launches() {
  for (auto& m : pool_) {
    if (m.state != phase::launching) continue;
    child* c = nullptr;
    for (auto& x : s_.children_) {
      if (x.name == m.name && x.role == "node_starting") c = &x;
    }
    char buffer[64];
    ssize_t n = -1;
    while (m.ready_text.find('\n') == std::string::npos &&
           (n = ::read(m.ready_fd, buffer, sizeof buffer)) > 0) {
      m.ready_text.append(buffer, static_cast<size_t>(n));
    }
    if (m.ready_text.find('\n') != std::string::npos) {
      const int port = std::atoi(m.ready_text.c_str());
      if (port <= 0 || port > 65535 || c == nullptr || !c->alive) {
        fail_launch(m, port <= 0 || port > 65535 ? "reported a bad port" : "exited");
        continue;
      }
      ::close(m.ready_fd);
      m.ready_fd = -1;
      c->port = static_cast<uint16_t>(port);
      c->role = "node";
      join_haproxy(m, c->port, c->pid);
    } else if (n == 0 || c == nullptr || !c->alive) {
      fail_launch(m, "exited before it was ready (see its messages above)");
    } else if (steady::now() - m.since > launch_bound) {
      fail_launch(m, "did not become ready within 30 s");
    }
  }
  std::erase_if(pool_, [](const member& m) { return m.name.empty(); });
}

// A launch that failed: the process killed (and reaped as any child), the member dropped; the engine sees one
// node fewer and starts another if it is still needed.
void elastic_pool::fail_launch(member& m, const std::string& why) {
  std::fprintf(stderr, "stampede shop: autoscale: starting %s failed: %s\n", m.name.c_str(), why.c_str());
  for (auto& c : s_.children_) {
    if (c.name == m.name && c.role == "node_starting") {
      if (c.alive) ::kill(c.pid, SIGKILL);
      c.role = "retired";
    }
  }
  ::close(m.ready_fd);
  m.ready_fd = -1;
  m.name.clear();  // erased by the caller
}

void elastic_pool::join_haproxy(member& m, uint16_t port, pid_t pid) {
  const std::string& name = m.name;
  s_.hc_.servers.push_back(haproxy_config::server{name, "127.0.0.1", port, 100});
  write_haproxy_config();  // a restarted HAProxy starts with it
  const std::string server = "nodes/" + name;
  const std::string add =
      "add server " + server + " 127.0.0.1:" + std::to_string(port) +
      " check inter 250ms fastinter 250ms downinter 500ms fall 2 rise 2 weight 100 maxconn " +
      std::to_string(s_.hc_.server_maxconn);
  const auto answer = runtime(add);
  if (!answer || answer->find("New server registered") == std::string::npos) {
    std::fprintf(stderr, "stampede shop: autoscale: haproxy refused %s: %s\n", add.c_str(),
                 answer ? answer->c_str() : "no answer");
  }
  runtime("enable health " + server);
  runtime("enable server " + server);
  m.state = phase::starting;
  event({{"event", "node_started"}, {"node", name}, {"port", port}, {"pid", pid}});
  std::fprintf(stderr, "stampede shop: autoscale: %s started on 127.0.0.1:%u (pid %d)\n", name.c_str(), port,
               pid);
  pool_changed();
}

void elastic_pool::start_draining(member& m) {
  runtime("set server nodes/" + m.name + " state drain");
  m.state = phase::draining;
  m.since = steady::now();
  for (auto& c : s_.children_) {
    if (c.name == m.name && c.role == "node") c.role = "retired";  // out of the topology, never respawned
  }
  s_.respawn_due_.erase(m.name);
  std::erase_if(s_.hc_.servers, [&](const auto& server) { return server.name == m.name; });
  write_haproxy_config();
  event({{"event", "node_draining"}, {"node", m.name}});
  std::fprintf(stderr, "stampede shop: autoscale: draining %s\n", m.name.c_str());
}

// Draining -> (no session left, or the drain bound) maint + SIGTERM -> removing -> `del server` accepted.
void elastic_pool::advance_drains() {
  for (auto& m : pool_) {
    if (m.state == phase::draining) {
      const bool gone = !stat_ || !stat_->servers.contains(m.name);
      const auto* server = gone ? nullptr : &stat_->servers.at(m.name);
      const bool idle = server == nullptr || server->in_flight + server->queued == 0;
      if (!idle && steady::now() - m.since < o_.drain_timeout) continue;
      if (!idle)
        std::fprintf(stderr, "stampede shop: autoscale: %s still busy after the drain bound\n",
                     m.name.c_str());
      runtime("set server nodes/" + m.name + " state maint");
      for (const auto& c : s_.children_) {
        if (c.name == m.name && c.alive) ::kill(c.pid, SIGTERM);
      }
      m.state = phase::removing;
      m.since = steady::now();
    }
    if (m.state == phase::removing) {
      const auto answer = runtime("del server nodes/" + m.name);
      const bool deleted = answer && (answer->find("Server deleted") != std::string::npos ||
                                      answer->find("No such server") != std::string::npos);
      if (!deleted && steady::now() - m.since < delete_bound) continue;
      event(
          {{"event", "node_removed"}, {"node", m.name}, {"reason", m.removal}, {"haproxy_deleted", deleted}});
      std::fprintf(stderr, "stampede shop: autoscale: %s removed\n", m.name.c_str());
      last_buckets_.erase(m.name);
      m.name.clear();  // erased below
    }
  }
  std::erase_if(pool_, [](const member& m) { return m.name.empty(); });
}

// Without --respawn-ms an added node that died leaves the pool (and HAProxy); the engine sees one node fewer
// and replaces it if it is still needed. Initial nodes stay as they are without the autoscaler (DOWN).
void elastic_pool::drop_dead_nodes() {
  if (s_.o_.respawn_ms >= 0) return;
  bool changed = false;
  for (auto& m : pool_) {
    if (m.initial || (m.state != phase::ready && m.state != phase::starting) || node_alive(m.name)) continue;
    std::fprintf(stderr, "stampede shop: autoscale: %s died, dropped from the pool\n", m.name.c_str());
    for (auto& c : s_.children_) {
      if (c.name == m.name) c.role = "retired";
    }
    std::erase_if(s_.hc_.servers, [&](const auto& server) { return server.name == m.name; });
    runtime("set server nodes/" + m.name + " state maint");
    m.state = phase::removing;
    m.since = steady::now();
    m.removal = "died";
    changed = true;
  }
  if (changed) {
    write_haproxy_config();
    pool_changed();
  }
}

}  // namespace stampede::shop::supervision
