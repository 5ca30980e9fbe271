// `stampede shop --observe`: a Prometheus and an Alertmanager (Debian's `prometheus` and
// `prometheus-alertmanager`) for the shop, on 127.0.0.1 with free ports, their data and generated
// configuration in DIR/observe. Prometheus scrapes HAProxy's exporter, every node's /metrics, the payment
// emulator's, the data tier's exporters (Redis, PostgreSQL) and, with --ha patroni, each Patroni member's
// REST /metrics, each second, and evaluates the rules shipped in reference_shop/observability/ (compiled into
// the binary, so an installed `stampede` needs no source tree); Alertmanager sends every notification to the
// supervisor's webhook receiver (alert_webhook.h). docs/SHOP.md, "Observing the shop".
//
// The supervisor owns the processes (it reaps every child): this file renders the configuration, starts
// each process and waits until it is ready. Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stampede::shop {

inline constexpr const char* default_prometheus_bin = "/usr/bin/prometheus";
inline constexpr const char* default_alertmanager_bin = "/usr/bin/prometheus-alertmanager";
// The data tier's exporters: used when installed (Debian's packages of the same names), skipped otherwise.
inline constexpr const char* redis_exporter_bin = "/usr/bin/prometheus-redis-exporter";
inline constexpr const char* postgres_exporter_bin = "/usr/bin/prometheus-postgres-exporter";

// The rule files shipped in reference_shop/observability/ (their text, compiled in).
std::string_view shipped_rules(std::string_view set);  // "production" | "drill"; empty for anything else
bool valid_rule_set(std::string_view set);

struct scrape_target {
  std::string job;                                          // "haproxy", "shop_node"
  std::string address;                                      // host:port
  std::vector<std::pair<std::string, std::string>> labels;  // e.g. {"node", "node2"}
};

struct observe_options {
  std::string prometheus_bin = default_prometheus_bin;
  std::string alertmanager_bin = default_alertmanager_bin;
  std::string rules = "drill";  // which shipped rule set Prometheus loads
  // --observe-generator: the load generator's live metrics (`stampede run --metrics-listen`), scraped as job
  // "stampede" (up only while a run lasts); empty: not scraped.
  std::string generator_address;
};

// A job whose targets Prometheus reads from a file (file_sd_configs, re-read when it changes) rather than
// from its configuration: the shop's nodes, whose pool --autoscale changes at run time.
struct file_sd_job {
  std::string job;
  std::string file;  // absolute path of its targets JSON (render_file_sd)
};

// prometheus.yml: 1 s scrape and evaluation interval, the targets, the rule file, the Alertmanager; the jobs
// of `file_jobs` with file_sd_configs (their static targets, if any, are left out: they belong in the file).
std::string render_prometheus_config(const std::vector<scrape_target>& targets, const std::string& rule_file,
                                     uint16_t alertmanager_port,
                                     const std::vector<file_sd_job>& file_jobs = {});
// A file_sd targets file: [{"targets": ["host:port"], "labels": {"node": "node1"}}, ...].
std::string render_file_sd(const std::vector<scrape_target>& targets);
// alertmanager.yml: one route (every alert its own group) to the webhook; the drill set waits 1 s before a
// group's first notification, production 30 s.
std::string render_alertmanager_config(const std::string& webhook_url, std::string_view rules);

// Writes the configuration and starts Prometheus and Alertmanager in `dir`, each logging to dir/NAME.log.
// The caller owns (reaps, stops) the processes; each launch returns the pid at once.
class observability_launcher {
 public:
  observability_launcher(observe_options options, std::filesystem::path dir)
      : options_(std::move(options)), dir_(std::move(dir)) {}

  // Throws std::runtime_error naming the Debian package when a binary is missing.
  void check_binaries() const;
  // Each on a free port (read back with the ports below); throws std::runtime_error when the
  // configuration cannot be written or fork fails.
  pid_t launch_alertmanager(const std::string& webhook_url);
  // After launch_alertmanager. The "shop_node" targets go to node_targets_file() (file_sd), the others into
  // its configuration.
  pid_t launch_prometheus(const std::vector<scrape_target>& targets);
  // Rewrites node_targets_file() atomically (write, then rename over it): Prometheus picks the new pool up
  // within its refresh (1 s) and never reads a half-written file. Throws std::runtime_error.
  void write_node_targets(const std::vector<scrape_target>& nodes);
  // Starts "prometheus" or "alertmanager" again after it died: the same port, configuration and data
  // directory, so its URL in the topology and its targets' and rules' view stay the same.
  pid_t relaunch(std::string_view name);
  // An exporter `name` (log dir/NAME.log) listening on a free loopback port (returned in `port`), its
  // secrets in `env` ("NAME=value", the whole environment), never on argv.
  pid_t launch_exporter(const std::string& name, const std::string& bin, std::vector<std::string> argv,
                        const std::vector<std::string>& env, uint16_t& port);
  // Polls GET /-/ready (`path`) until 200; `running` says whether the process still lives (the caller reaps).
  // Throws std::runtime_error with the end of its log when it exits or is not ready within `timeout`.
  void wait_ready(std::string_view name, uint16_t port, const std::function<bool()>& running,
                  std::chrono::milliseconds timeout = std::chrono::seconds{30},
                  std::string_view path = "/-/ready") const;

  uint16_t prometheus_port() const noexcept { return prometheus_port_; }
  uint16_t alertmanager_port() const noexcept { return alertmanager_port_; }
  const std::filesystem::path& dir() const noexcept { return dir_; }
  const std::string& rules() const noexcept { return options_.rules; }
  const observe_options& options() const noexcept { return options_; }
  std::filesystem::path prometheus_config() const { return dir_ / "prometheus.yml"; }
  std::filesystem::path alertmanager_config() const { return dir_ / "alertmanager.yml"; }
  std::filesystem::path node_targets_file() const { return dir_ / "shop_nodes.json"; }
  std::filesystem::path rule_file() const { return dir_ / ("shop_rules_" + options_.rules + ".yml"); }
  std::filesystem::path log_path(std::string_view name) const { return dir_ / (std::string{name} + ".log"); }

 private:
  pid_t spawn_prometheus();
  pid_t spawn_alertmanager();

  observe_options options_;
  std::filesystem::path dir_;
  uint16_t prometheus_port_ = 0, alertmanager_port_ = 0;
  std::string node_targets_;  // as last written
};

}  // namespace stampede::shop
