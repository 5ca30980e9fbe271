// `stampede shop --observe`: the webhook receiver (in this process), Alertmanager and Prometheus, started
// after HAProxy (every scrape target exists and keeps its port for the shop's life: nodes, the payment
// emulator, Patroni's members' REST APIs, the exporters) and stopped first, so
// that stopping the shop raises no alert; with the data tier's exporters when installed. All are children
// like the others: reaped by run(), reported when they die, stopped with SIGINT (their graceful
// shutdown), SIGKILLed after 10 s. Prometheus and Alertmanager are started again when they die (same port,
// configuration and data directory, after a back-off, observe_max_restarts in a row); the exporters are not.
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>

#include "reference_shop/supervisor_internal.h"

namespace stampede::shop::supervision {

void supervisor::check_observability() {
  if (!o_.observe) return;
  observe_.emplace(o_.observability, std::filesystem::path{o_.data} / "observe");
  observe_->check_binaries();
}

// The node itself, not its --node-via proxy: a cut link shows in HAProxy's checks, not as a dead node.
std::vector<scrape_target> supervisor::node_scrape_targets() const {
  std::vector<scrape_target> targets;
  for (const auto& c : children_) {
    if (c.role == "node")
      targets.push_back({"shop_node", "127.0.0.1:" + std::to_string(c.port), {{"node", c.name}}});
  }
  return targets;
}

void supervisor::update_node_targets() {
  if (!observe_ || observe_->prometheus_port() == 0) return;
  try {
    observe_->write_node_targets(node_scrape_targets());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stampede shop: %s\n", e.what());
  }
}

void supervisor::start_observability() {
  if (!observe_) return;
  std::filesystem::create_directories(observe_->dir());

  webhook_ = std::make_unique<alert_webhook>(observe_->dir() / "alerts.jsonl");
  webhook_->start();

  std::vector<scrape_target> targets{{"haproxy", "127.0.0.1:" + std::to_string(hc_.stats_port), {}}};
  for (auto& t : node_scrape_targets()) targets.push_back(std::move(t));
  // The emulator itself, not its --payment-via proxy (as the nodes).
  if (const child* emulator = find("payment_emulator"))
    targets.push_back({"payment", "127.0.0.1:" + std::to_string(emulator->port), {}});
  // --ha patroni: each member's REST API serves /metrics (role, WAL positions, cluster lock), directly
  // rather than through its --member-links proxy.
  // --shards: every shard's members, labelled with their shard too.
  const auto clusters = data_.clusters();
  for (size_t s = 0; s < clusters.size(); ++s) {
    for (const auto& m : clusters[s]->members()) {
      std::vector<std::pair<std::string, std::string>> labels{{"member", m.name}};
      if (clusters.size() > 1) labels.emplace_back("shard", std::to_string(s));
      targets.push_back({"patroni", "127.0.0.1:" + std::to_string(m.rest_port), std::move(labels)});
    }
  }
  auto running = [this](std::string name) {  // names are unique among these children
    return [this, name] {
      reap();
      for (const auto& c : children_) {
        if (c.name == name) return c.alive;
      }
      return false;
    };
  };
  // The load generator (`--observe-generator`: `stampede drill --observe` passes its --metrics-listen).
  if (!observe_->options().generator_address.empty())
    targets.push_back({"stampede", observe_->options().generator_address, {}});
  start_data_exporters(targets);
  const pid_t alertmanager = observe_->launch_alertmanager(webhook_->url());
  children_.push_back(
      child{"alertmanager", "alertmanager", alertmanager, observe_->alertmanager_port(), true});
  const pid_t prometheus = observe_->launch_prometheus(targets);
  children_.push_back(child{"prometheus", "prometheus", prometheus, observe_->prometheus_port(), true});
  observe_->wait_ready("alertmanager", observe_->alertmanager_port(), running("alertmanager"));
  observe_->wait_ready("prometheus", observe_->prometheus_port(), running("prometheus"));
  for (const auto& c : children_) {
    if (c.role == "exporter") {
      observe_->wait_ready(c.name, c.port, running(c.name), std::chrono::seconds{15}, "/metrics");
    }
  }
  std::fprintf(stderr,
               "stampede shop: prometheus on http://127.0.0.1:%u (pid %d, %s rules), alertmanager on "
               "http://127.0.0.1:%u (pid %d), alerts to %s\n",
               observe_->prometheus_port(), prometheus, observe_->rules().c_str(),
               observe_->alertmanager_port(), alertmanager, webhook_->log().c_str());
}

// Redis's and PostgreSQL's exporters (Debian's prometheus-redis-exporter, prometheus-postgres-exporter) when
// that tier runs and the exporter is installed; a line says so when it is not. Passwords go by environment.
void supervisor::start_data_exporters(std::vector<scrape_target>& targets) {
  auto start = [&](const std::string& name, const char* bin, const char* package, const std::string& job,
                   std::vector<std::string> argv, const std::vector<std::string>& env) {
    if (::access(bin, X_OK) != 0) {
      std::fprintf(stderr, "stampede shop: %s not installed (Debian's %s): %s is not scraped\n", bin, package,
                   job.c_str());
      return;
    }
    uint16_t port = 0;
    const pid_t pid = observe_->launch_exporter(name, bin, std::move(argv), env, port);
    children_.push_back(child{"exporter", name, pid, port, true});
    targets.push_back({job, "127.0.0.1:" + std::to_string(port), {}});
  };
  if (cache_.redis()) {
    std::vector<std::string> env;
    for (const auto& [k, v] : cache_.node_env()) {
      if (k == "STAMPEDE_REDIS_PASSWORD") env.push_back("REDIS_PASSWORD=" + v);
    }
    start("redis-exporter", redis_exporter_bin, "prometheus-redis-exporter", "redis",
          {"redis_exporter", "--redis.addr=redis://127.0.0.1:" + std::to_string(cache_.port())}, env);
  }
  const auto database = data_.topology();
  const auto* url = database.if_contains(data_.cluster() != nullptr ? "primary_url" : "url");
  if (url != nullptr && url->is_string()) {
    // The shop role's URL (the cluster's: through the database HAProxy, the current primary); lib/pq would
    // try TLS first, which the shop's servers do not offer.
    start("postgres-exporter", postgres_exporter_bin, "prometheus-postgres-exporter", "postgres",
          {"postgres_exporter"}, {"DATA_SOURCE_NAME=" + std::string{url->as_string()} + "?sslmode=disable"});
  }
}

// One step of run(): a dead Prometheus or Alertmanager is started again after 100 ms << (restarts in a row),
// the topology rewritten with its new pid. A process that keeps dying is left dead, said once on stderr.
void supervisor::watch_observability() {
  if (!observe_) return;
  for (auto& c : children_) {
    if ((c.role != "prometheus" && c.role != "alertmanager") || c.alive) continue;
    observe_restart& r = observe_restarts_[c.role];
    if (r.given_up) continue;
    const auto now = steady::now();
    if (!r.due) {
      if (now - r.started >= observe_restart_reset) r.count = 0;
      if (r.count >= observe_max_restarts) {
        std::fprintf(stderr,
                     "stampede shop: %s died %d times in a row; not restarting it again (the shop goes on "
                     "unobserved; log %s)\n",
                     c.name.c_str(), r.count + 1, observe_->log_path(c.name).c_str());
        r.given_up = true;
        write_topology();
        continue;
      }
      const std::chrono::milliseconds delay{100 << r.count};
      std::fprintf(stderr, "stampede shop: restarting %s in %lld ms\n", c.name.c_str(),
                   static_cast<long long>(delay.count()));
      r.due = now + delay;
    }
    if (now < *r.due) continue;
    r.due.reset();
    ++r.count;
    ++r.total;
    r.started = now;
    try {
      c.pid = observe_->relaunch(c.role);
      c.alive = true;
      std::fprintf(stderr, "stampede shop: %s restarted (pid %d, http://127.0.0.1:%u)\n", c.name.c_str(),
                   c.pid, c.port);
      write_topology();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stampede shop: restarting %s failed: %s\n", c.name.c_str(), e.what());
    }
  }
}

boost::json::object supervisor::observability_topology() const {
  boost::json::object prometheus, alertmanager;
  boost::json::array exporters;
  for (const auto& c : children_) {
    const std::string url = "http://127.0.0.1:" + std::to_string(c.port);
    // running false: it died and is not started again (observe_max_restarts in a row).
    const auto restarts = observe_restarts_.find(c.role);
    const bool given_up = restarts != observe_restarts_.end() && restarts->second.given_up;
    const int64_t restarted = restarts == observe_restarts_.end() ? 0 : restarts->second.total;
    if (c.role == "prometheus") {
      prometheus = {{"pid", c.pid},
                    {"url", url},
                    {"running", !given_up},
                    {"restarts", restarted},
                    {"config", observe_->prometheus_config().string()},
                    {"rule_file", observe_->rule_file().string()}};
    } else if (c.role == "alertmanager") {
      alertmanager = {{"pid", c.pid},
                      {"url", url},
                      {"running", !given_up},
                      {"restarts", restarted},
                      {"config", observe_->alertmanager_config().string()}};
    } else if (c.role == "exporter") {
      exporters.push_back(boost::json::object{{"name", c.name}, {"pid", c.pid}, {"url", url + "/metrics"}});
    }
  }
  return {{"rules", observe_->rules()},
          {"prometheus", std::move(prometheus)},
          {"alertmanager", std::move(alertmanager)},
          {"exporters", std::move(exporters)},
          {"alert_webhook", {{"url", webhook_->url()}, {"log", webhook_->log().string()}}}};
}

}  // namespace stampede::shop::supervision
