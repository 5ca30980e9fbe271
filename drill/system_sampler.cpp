#include "drill/system_sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include <boost/json.hpp>

#include "common/host_port.h"
#include "common/http_client.h"
#include "reference_shop/haproxy_runtime.h"

namespace stampede::drill {

namespace json = boost::json;

node_reading read_node_metrics(std::string name, std::string_view metrics_text) {
  const prometheus_samples m = parse_prometheus_text(metrics_text);
  node_reading out;
  out.name = std::move(name);
  out.answered = true;
  out.queue_depth = m.sum("shop_queue_depth");
  out.dead_letters = m.sum("shop_dead_letters");
  const auto hits = m.sum("shop_cache_requests_total", {{"result", "hit"}});
  const auto negative_hits = m.sum("shop_cache_requests_total", {{"result", "negative_hit"}});
  if (hits || negative_hits) out.cache_hits = hits.value_or(0) + negative_hits.value_or(0);
  out.cache_misses = m.sum("shop_cache_requests_total", {{"result", "miss"}});
  out.db_running = m.sum("shop_database_requests", {{"state", "running"}});
  out.db_waiting = m.sum("shop_database_requests", {{"state", "waiting"}});
  out.db_shed = m.sum("shop_database_shed_total");
  return out;
}

int64_t counter_delta(int64_t prev, int64_t cur) { return cur >= prev ? cur - prev : cur; }
double counter_delta(double prev, double cur) { return cur >= prev ? cur - prev : cur; }

namespace {

double seconds_since(int64_t unix_ms, int64_t start_unix_ms) {
  return std::round(static_cast<double>(unix_ms - start_unix_ms) / 10.0) / 100.0;  // 0.01 s
}

json::value number_or_null(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return nullptr;
  return *v;
}

struct server_track {
  std::string backend, name;
  std::optional<haproxy_server_stat> last;  // the last reading that had it
  int64_t last_unix_ms = 0;
  json::array seconds;
};

// The health changes and the per-server rows of the readings.
void add_servers(const std::vector<system_reading>& readings, int64_t start_unix_ms, json::object& out) {
  std::vector<server_track> servers;  // in order of first appearance
  auto track_of = [&](const haproxy_server_stat& s) -> server_track& {
    for (auto& t : servers) {
      if (t.backend == s.backend && t.name == s.server) return t;
    }
    servers.push_back({s.backend, s.server, std::nullopt, 0, {}});
    return servers.back();
  };
  json::array changes;
  size_t gaps = 0;
  for (size_t i = 0; i < readings.size(); ++i) {
    const auto& r = readings[i];
    const double t = seconds_since(r.unix_ms, start_unix_ms);
    const bool keep = i > 0 && t >= 0;  // the first reading is the counters' baseline
    if (!r.haproxy) ++gaps;
    std::vector<bool> seen(servers.size(), false);
    if (r.haproxy) {
      for (const auto& s : *r.haproxy) {
        server_track& track = track_of(s);
        const auto index = static_cast<size_t>(&track - servers.data());
        if (index >= seen.size()) seen.resize(index + 1, false);
        seen[index] = true;
        // A server that appears after the baseline is new (added at run time): its counters start at 0.
        const int64_t prev_total = track.last ? track.last->total_sessions : (i == 0 ? s.total_sessions : 0);
        const int64_t prev_5xx = track.last ? track.last->responses_5xx : (i == 0 ? s.responses_5xx : 0);
        if (keep) {
          track.seconds.push_back(json::object{{"t", t},
                                               {"requests", counter_delta(prev_total, s.total_sessions)},
                                               {"errors_5xx", counter_delta(prev_5xx, s.responses_5xx)},
                                               {"sessions", s.current_sessions},
                                               {"status", s.status}});
        }
        if (track.last && health_word(track.last->status) != health_word(s.status)) {
          // It happened after the previous reading and by this one; HAProxy's lastchg (whole seconds of two
          // truncated clocks: within 1 s of the truth) narrows that. The middle of what is left.
          double lo = seconds_since(track.last_unix_ms, start_unix_ms), hi = t;
          if (s.last_change_s) {
            const double ago = static_cast<double>(*s.last_change_s);
            if (t - ago - 1 < hi && t - ago + 1 > lo) {
              lo = std::max(lo, t - ago - 1);
              hi = std::min(hi, t - ago + 1);
            }
          }
          const double when = (lo + hi) / 2;
          changes.push_back(json::object{{"t", std::round(when * 100) / 100},
                                         {"server", s.server},
                                         {"backend", s.backend},
                                         {"from", health_word(track.last->status)},
                                         {"to", health_word(s.status)},
                                         {"check_status", s.check_status}});
        }
        track.last = s;
        track.last_unix_ms = r.unix_ms;
      }
    }
    if (!keep) continue;
    for (size_t k = 0; k < servers.size(); ++k) {
      if (k >= seen.size() || !seen[k]) servers[k].seconds.push_back(json::object{{"t", t}, {"gap", true}});
    }
  }
  json::array list;
  for (auto& s : servers) {
    list.push_back(json::object{{"name", s.name}, {"backend", s.backend}, {"seconds", std::move(s.seconds)}});
  }
  out["haproxy_gaps"] = gaps;
  out["servers"] = std::move(list);
  out["health_changes"] = std::move(changes);
}

// The per-second queue, cache and database figures over the nodes that answered.
void add_seconds(const std::vector<system_reading>& readings, int64_t start_unix_ms, json::object& out) {
  struct counters {
    std::optional<double> hits, misses, shed;
  };
  std::map<std::string, counters> last;  // per node: its counters at its last answer
  json::array rows;
  for (size_t i = 0; i < readings.size(); ++i) {
    const auto& r = readings[i];
    const double t = seconds_since(r.unix_ms, start_unix_ms);
    const bool keep = i > 0 && t >= 0;
    int answered = 0;
    std::optional<double> queue, dead, hits, misses, running, waiting, shed;
    auto add = [](std::optional<double>& sum, const std::optional<double>& v) {
      if (v) sum = sum.value_or(0) + *v;
    };
    auto most = [](std::optional<double>& m, const std::optional<double>& v) {
      if (v) m = std::max(m.value_or(*v), *v);
    };
    auto delta = [](const std::optional<double>& prev,
                    const std::optional<double>& cur) -> std::optional<double> {
      if (!cur) return std::nullopt;
      return prev ? counter_delta(*prev, *cur) : 0.0;  // a node's first answer is its baseline
    };
    for (const auto& n : r.nodes) {
      if (!n.answered) continue;
      ++answered;
      most(queue, n.queue_depth);  // one shared database: every node sees the same queue
      most(dead, n.dead_letters);
      add(running, n.db_running);
      add(waiting, n.db_waiting);
      auto& c = last[n.name];
      add(hits, delta(c.hits, n.cache_hits));
      add(misses, delta(c.misses, n.cache_misses));
      add(shed, delta(c.shed, n.db_shed));
      c = {n.cache_hits, n.cache_misses, n.db_shed};
    }
    if (!keep) continue;
    std::optional<double> ratio;
    if (hits && misses && *hits + *misses > 0) ratio = std::round(*hits / (*hits + *misses) * 10000) / 10000;
    rows.push_back(json::object{{"t", t},
                                {"nodes_answered", answered},
                                {"queue_depth", number_or_null(queue)},
                                {"dead_letters", number_or_null(dead)},
                                {"cache_hits", number_or_null(hits)},
                                {"cache_misses", number_or_null(misses)},
                                {"cache_hit_ratio", number_or_null(ratio)},
                                {"db_running", number_or_null(running)},
                                {"db_waiting", number_or_null(waiting)},
                                {"db_shed", number_or_null(shed)}});
  }
  out["seconds"] = std::move(rows);
}

}  // namespace

json::object build_system_section(const std::vector<system_reading>& readings, int64_t start_unix_ms,
                                  std::chrono::milliseconds interval, std::chrono::milliseconds deadline) {
  json::object out{{"interval_s", static_cast<double>(interval.count()) / 1000.0},
                   {"read_deadline_ms", deadline.count()},
                   {"readings", readings.size()}};
  add_servers(readings, start_unix_ms, out);
  add_seconds(readings, start_unix_ms, out);
  return out;
}

sampler_targets sampler_targets_of(const json::object& topology) {
  sampler_targets out;
  const auto* haproxy = topology.if_contains("haproxy");
  const auto* runtime =
      haproxy != nullptr && haproxy->is_object() ? haproxy->as_object().if_contains("runtime_api") : nullptr;
  if (runtime == nullptr || !runtime->is_string())
    throw std::runtime_error("the topology has no haproxy.runtime_api");
  out.haproxy_runtime_port = parse_host_port(std::string(runtime->as_string()), "haproxy.runtime_api").port;
  const auto* nodes = topology.if_contains("nodes");
  if (nodes == nullptr || !nodes->is_array()) throw std::runtime_error("the topology has no nodes");
  for (const auto& n : nodes->as_array()) {
    const auto& o = n.as_object();
    out.nodes.push_back(
        {std::string(o.at("name").as_string()), static_cast<uint16_t>(o.at("port").to_number<int>())});
  }
  return out;
}

std::string system_summary(const json::value& results) {
  const auto* root = results.if_object();
  const auto* drill = root != nullptr ? root->if_contains("drill") : nullptr;
  const auto* sys =
      drill != nullptr && drill->is_object() ? drill->as_object().if_contains("system") : nullptr;
  if (sys == nullptr || !sys->is_object()) return {};
  std::string changes, servers;
  char buffer[64];
  for (const auto& c : sys->as_object().at("health_changes").as_array()) {
    std::snprintf(buffer, sizeof buffer, " at %.1fs", c.at("t").to_number<double>());
    const std::string check(c.at("check_status").as_string());
    changes += std::string(changes.empty() ? "" : ", ") + std::string(c.at("server").as_string()) + " " +
               std::string(c.at("from").as_string()) + " -> " + std::string(c.at("to").as_string()) + buffer +
               (check.empty() ? "" : " (" + check + ")");
  }
  for (const auto& s : sys->as_object().at("servers").as_array()) {
    int64_t requests = 0;
    for (const auto& row : s.at("seconds").as_array()) {
      if (const auto* n = row.as_object().if_contains("requests")) requests += n->to_number<int64_t>();
    }
    servers += std::string(servers.empty() ? "" : ", ") + std::string(s.at("name").as_string()) + " " +
               std::to_string(requests);
  }
  return "    system: " + (changes.empty() ? std::string("no health change") : changes) +
         "; requests per server: " + (servers.empty() ? std::string("none read") : servers) + "\n";
}

void add_system_section(json::value& results, system_sampler& sampler) {
  const auto readings = sampler.stop();
  const auto& meta = results.at("meta").as_object();
  results.as_object()["drill"].as_object()["system"] = build_system_section(
      readings, meta.at("start_unix_ms").to_number<int64_t>(), sampler.interval(), sampler.deadline());
}

system_sampler::system_sampler(sampler_targets targets, std::chrono::milliseconds interval,
                               std::chrono::milliseconds deadline)
    : targets_(std::move(targets)), interval_(interval), deadline_(deadline), thread_([this] { loop(); }) {}

system_sampler::~system_sampler() { stop(); }

std::vector<system_reading> system_sampler::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return {};
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  return std::move(readings_);
}

void system_sampler::loop() {
  auto next = std::chrono::steady_clock::now();
  while (true) {
    system_reading r = read_once();
    std::unique_lock lock(mutex_);
    readings_.push_back(std::move(r));
    if (stopping_) return;
    // On a fixed grid: a slow read shortens the next wait, it does not shift the grid; a read longer than
    // the interval skips the missed ticks.
    const auto now = std::chrono::steady_clock::now();
    do next += interval_;
    while (next <= now);
    // The last round after stop(): the rows reach the end of the drain.
    if (wake_.wait_until(lock, next, [this] { return stopping_; })) {
      lock.unlock();
      system_reading last = read_once();
      lock.lock();
      readings_.push_back(std::move(last));
      return;
    }
  }
}

system_reading system_sampler::read_once() const {
  system_reading r;
  r.unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  if (targets_.haproxy_runtime_port != 0) {
    if (auto text = shop::haproxy_runtime_command(targets_.haproxy_runtime_port, "show stat", deadline_)) {
      r.haproxy = parse_show_stat(*text).servers;
      if (r.haproxy->empty()) r.haproxy.reset();  // an answer without a server row is no reading
    }
  }
  for (const auto& n : targets_.nodes) {
    node_reading reading;
    reading.name = n.name;
    try {
      http::blocking_client client("127.0.0.1", n.port, deadline_);
      const auto res = client.get("/metrics");
      if (res.status == 200) reading = read_node_metrics(n.name, res.body);
    } catch (const std::exception&) {  // refused, reset, timed out: a gap for this node
    }
    r.nodes.push_back(std::move(reading));
  }
  return r;
}

}  // namespace stampede::drill
