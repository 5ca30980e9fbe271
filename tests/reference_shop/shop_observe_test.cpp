// `stampede shop --observe` as real processes: Prometheus and Alertmanager started on 127.0.0.1 and written
// into the topology, every target scraped, the drill rules loaded; a healthy shop fires nothing, a killed
// node raises ShopNodeDown in Prometheus and in the webhook log (DIR/observe/alerts.jsonl) within seconds;
// nothing is left behind on SIGTERM or when the supervisor is SIGKILLed. The data tier is scraped through
// its exporters. Flags that cannot work are usage errors. Skipped, naming the package, when Prometheus or
// Alertmanager is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <thread>
#include <tuple>

#include "common/http_client.h"
#include "reference_shop/observability.h"
#include "tests/reference_shop/shop_process_support.h"

namespace stampede::shop::testing {
namespace {

class observe_shop_test : public shop_process_test {
 protected:
  void SetUp() override {
    if (::access(default_prometheus_bin, X_OK) != 0)
      GTEST_SKIP() << "prometheus not installed (Debian prometheus)";
    if (::access(default_alertmanager_bin, X_OK) != 0) {
      GTEST_SKIP() << "alertmanager not installed (Debian prometheus-alertmanager)";
    }
  }
  const json::object& observability() { return topology_["observability"].as_object(); }
  std::string url(std::string_view process) {
    return std::string{observability().at(process).at("url").as_string()};
  }
  pid_t pid(std::string_view process) {
    return static_cast<pid_t>(observability().at(process).at("pid").as_int64());
  }
  json::value prometheus_get(const std::string& target) {
    http::blocking_client c{"127.0.0.1", port_of(url("prometheus")), 5s};
    const auto r = c.get(target);
    if (r.status != 200) return {};
    return json::parse(r.body);
  }
  // Prometheus's active alerts: (alertname, node or server, state).
  std::vector<std::tuple<std::string, std::string, std::string>> alerts() {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    const auto v = prometheus_get("/api/v1/alerts");
    if (v.is_null()) return out;
    for (const auto& a : v.at("data").at("alerts").as_array()) {
      const auto& labels = a.at("labels").as_object();
      std::string who;
      if (const auto* n = labels.if_contains("node")) who = n->as_string().c_str();
      if (const auto* s = labels.if_contains("server")) who = s->as_string().c_str();
      out.emplace_back(labels.at("alertname").as_string().c_str(), who, a.at("state").as_string().c_str());
    }
    return out;
  }
  bool all_targets_up(size_t expected) {
    const auto v = prometheus_get("/api/v1/targets?state=active");
    if (v.is_null()) return false;
    const auto& targets = v.at("data").at("activeTargets").as_array();
    if (targets.size() != expected) return false;
    for (const auto& t : targets) {
      if (t.at("health") != "up") return false;
    }
    return true;
  }
  std::string webhook_log() {
    std::ifstream in{std::string{observability().at("alert_webhook").at("log").as_string()}};
    return std::string{std::istreambuf_iterator<char>{in}, {}};
  }
  std::string describe(const std::vector<std::tuple<std::string, std::string, std::string>>& list) {
    std::string out;
    for (const auto& [name, who, state] : list) out += name + "{" + who + "} " + state + "\n";
    return out;
  }
  std::vector<pid_t> all_pids() {
    auto pids = child_pids();
    pids.push_back(pid("prometheus"));
    pids.push_back(pid("alertmanager"));
    return pids;
  }
};

TEST_F(observe_shop_test, a_healthy_shop_is_scraped_and_fires_nothing) {
  start({"--nodes", "2", "--observe"});
  ASSERT_TRUE(topology_.contains("observability")) << json::serialize(topology_);
  EXPECT_EQ(observability().at("rules"), "drill");
  EXPECT_FALSE(gone(pid("prometheus")));
  EXPECT_FALSE(gone(pid("alertmanager")));
  EXPECT_EQ(url("alertmanager").rfind("http://127.0.0.1:", 0), 0u);
  // HAProxy's exporter, both nodes and the payment emulator, each scraped and up.
  ASSERT_TRUE(eventually([&] { return all_targets_up(4); }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets"));
  const auto payment =
      prometheus_get("/api/v1/query?query=payment_in_flight_requests%7Bjob%3D%22payment%22%7D");
  ASSERT_FALSE(payment.is_null());
  EXPECT_EQ(payment.at("data").at("result").as_array().size(), 1u) << json::serialize(payment);
  // The shipped drill rules are loaded.
  const auto rules = prometheus_get("/api/v1/rules");
  EXPECT_NE(json::serialize(rules).find("ShopNodeDown"), std::string::npos);

  // Some traffic, then 8 s of a healthy shop: no alert, not even pending, and no notification.
  http::blocking_client entry{"127.0.0.1", port_of(entry_), 5s};
  const auto until = std::chrono::steady_clock::now() + 8s;
  int requests = 0;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(entry.get("/api/products/" + std::to_string(1 + requests % 50)).status, 200);
    ++requests;
    if (requests % 20 == 0) {
      const auto active = alerts();
      ASSERT_TRUE(active.empty()) << describe(active);
    }
    std::this_thread::sleep_for(20ms);  // a steady trickle, not a load test
  }
  EXPECT_TRUE(alerts().empty()) << describe(alerts());
  EXPECT_EQ(webhook_log(), "");
  // The requests are in Prometheus: HAProxy's front door counted them.
  const auto v =
      prometheus_get("/api/v1/query?query=sum(haproxy_frontend_http_requests_total%7Bproxy%3D%22shop%22%7D)");
  ASSERT_FALSE(v.is_null());
  const auto& result = v.at("data").at("result").as_array();
  ASSERT_EQ(result.size(), 1u);
  EXPECT_GE(std::stod(std::string{result[0].at("value").as_array()[1].as_string()}), requests / 2.0);

  const auto pids = all_pids();
  stop_and_expect_nothing_left();
  for (pid_t p : pids) EXPECT_TRUE(gone(p)) << "left behind: pid " << p;
}

TEST_F(observe_shop_test, a_killed_node_fires_node_down_in_prometheus_and_the_webhook) {
  start({"--nodes", "2", "--observe"});
  ASSERT_TRUE(eventually([&] { return all_targets_up(4); }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets"));
  const pid_t node2 = static_cast<pid_t>(topology_["nodes"].as_array()[1].at("pid").as_int64());
  ASSERT_EQ(::kill(node2, SIGKILL), 0);

  // Scraped every second, for: 2s, evaluated every second: firing within a few seconds; 20 s is the bound.
  auto firing = [&](const std::string& name) {
    for (const auto& [alert, who, state] : alerts()) {
      if (alert == name && who == "node2" && state == "firing") return true;
    }
    return false;
  };
  EXPECT_TRUE(eventually([&] { return firing("ShopNodeDown"); }, 20s)) << describe(alerts());
  EXPECT_TRUE(eventually([&] { return firing("ShopBackendServerDown"); }, 20s)) << describe(alerts());
  for (const auto& [alert, who, state] : alerts()) EXPECT_EQ(who, "node2") << alert << " " << state;

  // Alertmanager (group_wait 1 s) delivers it to the webhook receiver, which records it with its times.
  ASSERT_TRUE(eventually(
      [&] { return webhook_log().find("\"alertname\":\"ShopNodeDown\"") != std::string::npos; }, 20s))
      << webhook_log() << log();
  std::istringstream lines{webhook_log()};
  std::string line;
  bool found = false;
  while (std::getline(lines, line)) {
    const auto entry = json::parse(line).as_object();
    if (entry.at("alertname") != "ShopNodeDown") continue;
    found = true;
    EXPECT_EQ(entry.at("status"), "firing");
    EXPECT_EQ(entry.at("labels").at("node"), "node2");
    EXPECT_EQ(entry.at("labels").at("rules"), "drill");
    EXPECT_GT(entry.at("received_at_ms").as_int64(), 0);
    EXPECT_FALSE(entry.at("starts_at").as_string().empty());
    EXPECT_FALSE(entry.at("received_at").as_string().empty());
  }
  EXPECT_TRUE(found);

  const auto pids = all_pids();
  stop_and_expect_nothing_left();
  for (pid_t p : pids) {
    if (p != node2) {
      EXPECT_TRUE(gone(p)) << "left behind: pid " << p;
    }
  }
}

// --autoscale: the nodes' scrape job reads DIR/observe/shop_nodes.json (file_sd), which the supervisor
// rewrites as the pool changes: an added node is scraped (up), a removed one leaves Prometheus's targets. The
// generated configuration passes `promtool check config`.
TEST_F(observe_shop_test, autoscaled_nodes_join_and_leave_prometheus_targets) {
  // A p99 nobody meets while the trickle runs: node2 added; without requests, the pool goes back to one.
  start({"--nodes", "1", "--observe", "--autoscale", "rule", "--max-nodes", "2", "--autoscale-p99-ms",
         "0.001", "--autoscale-tick-ms", "200", "--autoscale-out-cooldown-ms", "500",
         "--autoscale-stabilisation-ms", "2000", "--autoscale-in-cooldown-ms", "2000", "--autoscale-drain-ms",
         "1000"});
  if (HasFatalFailure()) return;
  auto health = [&](const std::string& node) -> std::string {  // "" when not a target
    const auto v = prometheus_get("/api/v1/targets?state=active");
    if (v.is_null()) return "?";
    for (const auto& t : v.at("data").at("activeTargets").as_array()) {
      const auto* name = t.at("labels").as_object().if_contains("node");
      if (name != nullptr && *name == node.c_str()) return std::string{t.at("health").as_string()};
    }
    return "";
  };
  ASSERT_TRUE(eventually([&] { return health("node1") == "up"; }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets"));
  EXPECT_EQ(health("node2"), "");
  {
    std::atomic<bool> stop{false};
    std::thread trickle{[&] {
      http::blocking_client c{"127.0.0.1", port_of(entry_), 5s};
      while (!stop) {
        try {
          c.get("/api/products/1");
        } catch (const std::exception&) {
          c.close();
        }
        std::this_thread::sleep_for(20ms);
      }
    }};
    const bool added = eventually([&] { return health("node2") == "up"; }, 20s);
    stop = true;
    trickle.join();
    ASSERT_TRUE(added) << json::serialize(prometheus_get("/api/v1/targets")) << log();
  }
  std::ifstream in{dir_.file("observe/shop_nodes.json")};
  const auto file = json::parse(std::string{std::istreambuf_iterator<char>{in}, {}});
  EXPECT_EQ(file.as_array().size(), 2u) << json::serialize(file);
  // Idle: scaled in after the 2 s window; node2 leaves the file, then Prometheus's targets.
  EXPECT_TRUE(eventually([&] { return health("node2").empty(); }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets")) << log();
  EXPECT_EQ(health("node1"), "up");
  if (::access("/usr/bin/promtool", X_OK) == 0) {
    const std::string command = "/usr/bin/promtool check config '" + dir_.file("observe/prometheus.yml") +
                                "' > '" + dir_.file("promtool.log") + "' 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << [&] {
      std::ifstream l{dir_.file("promtool.log")};
      return std::string{std::istreambuf_iterator<char>{l}, {}};
    }();
  }
  reread_topology();
  stop_and_expect_nothing_left();
}

// The data tier's exporters (Debian's prometheus-redis-exporter and prometheus-postgres-exporter) are
// started with it, scraped, in the topology, and stopped with the shop.
TEST_F(observe_shop_test, the_data_tier_is_scraped_through_its_exporters) {
  for (const char* bin : {redis_exporter_bin, postgres_exporter_bin, "/usr/bin/redis-server",
                          "/usr/lib/postgresql/15/bin/postgres"}) {
    if (::access(bin, X_OK) != 0) GTEST_SKIP() << bin << " not installed";
  }
  start({"--nodes", "1", "--observe", "--cache", "redis", "--db", "postgres"});
  const auto& exporters = observability().at("exporters").as_array();
  ASSERT_EQ(exporters.size(), 2u) << json::serialize(topology_);
  EXPECT_EQ(exporters[0].at("name"), "redis-exporter");
  EXPECT_EQ(exporters[1].at("name"), "postgres-exporter");
  // HAProxy, the node, the payment emulator, Redis's and PostgreSQL's exporters.
  ASSERT_TRUE(eventually([&] { return all_targets_up(5); }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets"));
  for (const char* query : {"redis_up", "pg_up"}) {
    EXPECT_TRUE(eventually(
        [&] {
          const auto v = prometheus_get(std::string{"/api/v1/query?query="} + query);
          if (v.is_null() || v.at("data").at("result").as_array().empty()) return false;
          return v.at("data").at("result").as_array()[0].at("value").as_array()[1] == "1";
        },
        10s))
        << query;
  }
  EXPECT_TRUE(alerts().empty()) << describe(alerts());
  auto pids = all_pids();
  for (const auto& e : exporters) pids.push_back(static_cast<pid_t>(e.at("pid").as_int64()));
  pids.push_back(static_cast<pid_t>(topology_["redis"].at("pid").as_int64()));
  stop_and_expect_nothing_left();
  for (pid_t p : pids) EXPECT_TRUE(gone(p)) << "left behind: pid " << p;
}

// --ha patroni: each member's REST /metrics is a target (job patroni, label member), parsed by Prometheus
// (the target is up), with one primary among them: ShopDatabaseNoLeader stays quiet.
TEST_F(observe_shop_test, each_patroni_member_is_scraped) {
  for (const char* bin : {"/usr/bin/patroni", "/usr/bin/etcd", "/usr/lib/postgresql/15/bin/postgres"}) {
    if (::access(bin, X_OK) != 0) GTEST_SKIP() << bin << " not installed";
  }
  supervisor_ =
      spawn({"shop", "--port",    "0",    "--kdf",     "minimal",    "--data",   dir_.path().string(),
             "--db", "postgres",  "--ha", "patroni",   "--replicas", "1",        "--nodes",
             "1",    "--threads", "1",    "--db-pool", "4",          "--observe"},
            log_file());
  entry_ = read_line(supervisor_.stdout_fd, 180s);  // a Patroni cluster forms in ~20 s, more under load
  ASSERT_EQ(entry_.rfind("http://127.0.0.1:", 0), 0u) << "no entry URL; log:\n" << log();
  reread_topology();
  auto number = [&](const std::string& query) {
    const auto v = prometheus_get("/api/v1/query?query=" + query);
    if (v.is_null() || v.at("data").at("result").as_array().empty()) return -1.0;
    return std::stod(
        std::string{v.at("data").at("result").as_array()[0].at("value").as_array()[1].as_string()});
  };
  // count(up{job="patroni"}==1), sum(patroni_primary{job="patroni"})
  EXPECT_TRUE(eventually([&] { return number("count(up%7Bjob%3D%22patroni%22%7D%3D%3D1)") == 2; }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets"));
  EXPECT_TRUE(eventually([&] { return number("sum(patroni_primary%7Bjob%3D%22patroni%22%7D)") == 1; }, 20s));
  // count by member: both members named
  const auto members = prometheus_get("/api/v1/query?query=patroni_replica%7Bjob%3D%22patroni%22%7D");
  ASSERT_FALSE(members.is_null());
  std::set<std::string> names;
  for (const auto& r : members.at("data").at("result").as_array())
    names.insert(std::string{r.at("metric").at("member").as_string()});
  EXPECT_EQ(names, (std::set<std::string>{"pg1", "pg2"}));
  for (const auto& [alert, who, state] : alerts()) {
    // Prometheus's first scrape round can be partial (the replica scraped, the primary not yet): no primary
    // for one evaluation puts ShopDatabaseNoLeader in pending, and its `for` keeps it from firing.
    if (alert == "ShopDatabaseNoLeader") {
      EXPECT_NE(state, "firing");
    }
    EXPECT_NE(alert, "ShopPatroniMemberDown") << state;
  }
  stop_and_expect_nothing_left();
}

TEST_F(observe_shop_test, a_killed_supervisor_takes_prometheus_and_alertmanager_with_it) {
  start({"--nodes", "1", "--observe"});
  const pid_t prometheus = pid("prometheus"), alertmanager = pid("alertmanager");
  ::kill(supervisor_.pid, SIGKILL);
  ASSERT_TRUE(wait_exit(supervisor_.pid, 10s).has_value());
  reaped_ = true;
  EXPECT_TRUE(eventually([&] { return gone(prometheus); }, 10s)) << "prometheus outlived the supervisor";
  EXPECT_TRUE(eventually([&] { return gone(alertmanager); }, 10s)) << "alertmanager outlived the supervisor";
}

// Prometheus and Alertmanager killed (SIGKILL) come back on the same URLs, the topology naming their new
// pids: Prometheus scrapes again (samples newer than its death) and evaluates the rules, Alertmanager
// delivers to the webhook (a node killed afterwards reaches alerts.jsonl).
TEST_F(observe_shop_test, a_killed_prometheus_or_alertmanager_is_started_again_on_its_port) {
  start({"--nodes", "2", "--observe"});
  ASSERT_TRUE(eventually([&] { return all_targets_up(4); }, 20s))
      << json::serialize(prometheus_get("/api/v1/targets"));
  for (const std::string process : {"prometheus", "alertmanager"}) {
    const pid_t old = pid(process);
    const std::string old_url = url(process);
    const auto killed_at = std::chrono::system_clock::now();
    ASSERT_EQ(::kill(old, SIGKILL), 0);
    ASSERT_TRUE(eventually(
        [&] {
          reread_topology();
          return pid(process) != old && !gone(pid(process));
        },
        10s))
        << process << " was not started again:\n"
        << log();
    EXPECT_TRUE(gone(old));  // reaped
    EXPECT_EQ(url(process), old_url);
    EXPECT_EQ(observability().at(process).at("restarts"), 1);
    EXPECT_EQ(observability().at(process).at("running"), true);
    EXPECT_NE(log().find("stampede shop: " + process + " restarted (pid " + std::to_string(pid(process))),
              std::string::npos)
        << log();
    // Ready on its port, and Prometheus scrapes every target again: each one's last sample is newer than
    // the kill (the same data directory: the series before it are still there).
    EXPECT_TRUE(eventually(
        [&] {
          try {
            http::blocking_client c{"127.0.0.1", port_of(old_url), 2s};
            return c.get("/-/ready").status == 200;
          } catch (const std::exception&) {
            return false;
          }
        },
        20s))
        << process << " not ready again";
    const double killed_s = std::chrono::duration<double>(killed_at.time_since_epoch()).count();
    EXPECT_TRUE(eventually(
        [&] {
          const auto v =
              prometheus_get("/api/v1/query?query=min(timestamp(up%3D%3D1))%20and%20count(up%3D%3D1)%3D%3D4");
          if (v.is_null() || v.at("data").at("result").as_array().empty()) return false;
          return std::stod(std::string{
                     v.at("data").at("result").as_array()[0].at("value").as_array()[1].as_string()}) >
                 killed_s;
        },
        20s))
        << json::serialize(prometheus_get("/api/v1/targets"));
  }
  // The whole chain after both restarts: node2 killed, ShopNodeDown in the webhook log.
  const pid_t node2 = static_cast<pid_t>(topology_["nodes"].as_array()[1].at("pid").as_int64());
  ASSERT_EQ(::kill(node2, SIGKILL), 0);
  EXPECT_TRUE(eventually(
      [&] { return webhook_log().find("\"alertname\":\"ShopNodeDown\"") != std::string::npos; }, 30s))
      << webhook_log() << log();
  const auto pids = all_pids();
  stop_and_expect_nothing_left();
  for (pid_t p : pids) {
    if (p != node2) {
      EXPECT_TRUE(gone(p)) << "left behind: pid " << p;
    }
  }
}

// A Prometheus that keeps dying is started again observe_max_restarts (5) times in a row, then left dead
// with a line on stderr and `running: false` in the topology; the shop goes on.
TEST_F(observe_shop_test, prometheus_restarts_are_bounded) {
  start({"--nodes", "1", "--observe"});
  for (int kill = 1; kill <= 6; ++kill) {
    const pid_t current = pid("prometheus");
    ASSERT_EQ(::kill(current, SIGKILL), 0);
    if (kill == 6) break;
    ASSERT_TRUE(eventually(
        [&] {
          reread_topology();
          return pid("prometheus") != current;
        },
        10s))
        << "restart " << kill << ":\n"
        << log();
    EXPECT_EQ(observability().at("prometheus").at("restarts"), kill);
  }
  ASSERT_TRUE(eventually(
      [&] {
        reread_topology();
        return observability().at("prometheus").at("running") == false;
      },
      10s))
      << log();
  EXPECT_NE(log().find("prometheus died 6 times in a row; not restarting it again"), std::string::npos)
      << log();
  EXPECT_TRUE(gone(pid("prometheus")));
  EXPECT_EQ(observability().at("alertmanager").at("running"), true);
  http::blocking_client entry{"127.0.0.1", port_of(entry_), 5s};
  EXPECT_EQ(entry.get("/api/products/1").status, 200);  // the shop goes on
  stop_and_expect_nothing_left();
}

TEST_F(observe_shop_test, observe_flags_without_observe_are_usage_errors) {
  for (const auto& flag : std::vector<std::vector<std::string>>{{"--observe-rules", "production"},
                                                                {"--prometheus", "/usr/bin/prometheus"},
                                                                {"--alertmanager", "/bin/true"},
                                                                {"--observe-generator", "127.0.0.1:9464"}}) {
    auto args = flag;
    args.insert(args.begin(), {"shop", "--port", "0", "--data", dir_.path().string()});
    auto p = spawn(args, log_file());
    const auto status = wait_exit(p.pid, 20s);
    ::close(p.stdout_fd);
    ASSERT_TRUE(status.has_value());
    EXPECT_EQ(WEXITSTATUS(*status), 2) << flag[0];
    EXPECT_NE(log().find(flag[0] + " needs --observe"), std::string::npos) << log();
  }
  auto p =
      spawn({"shop", "--port", "0", "--data", dir_.path().string(), "--observe", "--observe-rules", "weekly"},
            log_file());
  const auto status = wait_exit(p.pid, 20s);
  ::close(p.stdout_fd);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(log().find("--observe-rules must be drill or production"), std::string::npos) << log();
  // The generator's address is an IP literal: a host name would need a DNS query.
  p = spawn({"shop", "--port", "0", "--data", dir_.path().string(), "--observe", "--observe-generator",
             "generator.example:9464"},
            log_file());
  const auto named = wait_exit(p.pid, 20s);
  ::close(p.stdout_fd);
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(WEXITSTATUS(*named), 2);
  EXPECT_NE(log().find("--observe-generator 'generator.example:9464' needs an IP address"), std::string::npos)
      << log();
}

TEST_F(observe_shop_test, a_missing_prometheus_is_one_line_naming_the_package) {
  auto p = spawn({"shop", "--port", "0", "--kdf", "minimal", "--nodes", "1", "--data", dir_.path().string(),
                  "--observe", "--prometheus", "/nonexistent/prometheus"},
                 log_file());
  const auto status = wait_exit(p.pid, 60s);
  ::close(p.stdout_fd);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_NE(log().find("install Debian's prometheus package"), std::string::npos) << log();
}

}  // namespace
}  // namespace stampede::shop::testing
