// Node faults on the data tier through the chaos timeline, as a drill's `options.chaos` names them from the
// shop's topology (real processes, `stampede shop`):
// - `restart` of `redis` (with --redis-respawn-ms off, so only the fault brings it back): SIGKILL, the
//   supervisor starts it again on its port at the fault's request; the nodes fall back to the database, then
//   read Redis again (their hit counters grow); `pause` of `redis`: the nodes fall back within their Redis
//   timeouts, and read Redis again after the heal;
// - `pause` of `primary`: the whole member freezes (Patroni, the postmaster and every backend, as a frozen
//   machine): a write on a session opened before the pause fails within the session's deadline instead of
//   being served by its still-running backend, a new session cannot start; after the heal writes succeed;
// - `restart` of `replica1`: the first replica's Patroni and PostgreSQL are killed and started again; the
//   fault returns once it answers, and it streams from the leader again.
#include <gtest/gtest.h>

#include <signal.h>

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "chaos/process_faults.h"
#include "common/http_client.h"
#include "loadgen/chaos_timeline.h"
#include "reference_shop/pg_connection.h"
#include "tests/reference_shop/shop_process_support.h"
#include "tests/support/sanitizers.h"

namespace stampede::shop::testing {
namespace {

using steady = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  return std::string{std::istreambuf_iterator<char>{in}, {}};
}

// The value of a metric's sample line in a Prometheus text (0 when absent).
double metric(const std::string& text, const std::string& sample) {
  const auto at = text.find("\n" + sample + " ");
  return at == std::string::npos ? 0 : std::stod(text.substr(at + sample.size() + 2));
}

loadgen::fault_spec node_fault(const std::string& fault, const std::string& target) {
  loadgen::fault_spec f;
  f.fault = fault;
  f.target = target;
  return f;
}

class data_faults_test : public shop_process_test {
 protected:
  loadgen::chaos_timeline timeline() {
    return loadgen::chaos_timeline{1, read_file(dir_.file("topology.json")), nullptr, dir_.file("topology.json")};
  }
  std::string node_metrics(size_t i, int64_t product) {
    const auto port = port_of(std::string{topology_["nodes"].as_array()[i].at("url").as_string()});
    http::blocking_client c{"127.0.0.1", port, 5s};
    c.get("/api/products/" + std::to_string(product));
    return c.get("/metrics").body;
  }
};

TEST_F(data_faults_test, restart_of_redis_brings_it_back_and_the_nodes_use_it_again) {
  start({"--nodes", "2", "--cache", "redis", "--redis-respawn-ms", "off"});
  const pid_t first = static_cast<pid_t>(topology_["redis"].at("pid").as_int64());
  const auto port = topology_["redis"].at("port").as_int64();
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(eventually([&] { return metric(node_metrics(i, 3), "shop_cache_redis_up") == 1; }, 10s));
  }
  double fallbacks_before[2], hits_before[2];
  for (size_t i = 0; i < 2; ++i) {
    const auto m = node_metrics(i, 3);
    fallbacks_before[i] = metric(m, R"(shop_cache_fallbacks_total{reason="redis_down"})") +
                          metric(m, R"(shop_cache_fallbacks_total{reason="redis_error"})");
    hits_before[i] = metric(m, R"(shop_cache_requests_total{result="hit"})");
  }
  auto chaos = timeline();
  const auto begin = steady::now();
  chaos.inject(node_fault("restart", "redis"), 1.0);  // returns once the supervisor answered
  std::printf("[ measure ] redis restart fault: %.2f s\n", std::chrono::duration<double>(steady::now() - begin).count());
  chaos.observe(2.0);
  const auto records = chaos.records();
  EXPECT_FALSE(records[0].as_object().contains("error")) << json::serialize(records);
  EXPECT_TRUE(records[0].at("back_s").is_number()) << "the new pid is seen: " << json::serialize(records);
  reread_topology();
  const pid_t second = static_cast<pid_t>(topology_["redis"].at("pid").as_int64());
  EXPECT_NE(second, first);
  EXPECT_TRUE(gone(first));
  EXPECT_EQ(topology_["redis"].at("port").as_int64(), port);
  EXPECT_NE(log().find("redis restarted on request"), std::string::npos) << log();
  for (size_t i = 0; i < 2; ++i) {
    // Its connections died with the old Redis: the node falls back to the database (different products,
    // so the local single-flight does not hide a lookup), then reads the new Redis and hits again.
    EXPECT_TRUE(eventually([&] {
      const auto m = node_metrics(i, 100 + static_cast<int64_t>(i));
      return metric(m, R"(shop_cache_fallbacks_total{reason="redis_down"})") +
                 metric(m, R"(shop_cache_fallbacks_total{reason="redis_error"})") > fallbacks_before[i];
    }, 10s)) << "node" << i + 1 << " never fell back";
    EXPECT_TRUE(eventually([&] {
      const auto m = node_metrics(i, 3);
      return metric(m, "shop_cache_redis_up") == 1 &&
             metric(m, R"(shop_cache_requests_total{result="hit"})") > hits_before[i] + 1;
    }, 15s)) << "node" << i + 1 << " does not hit Redis again:\n" << node_metrics(i, 3);
  }
  stop_and_expect_nothing_left();
}

// A paused Redis (SIGSTOP by pid, as a frozen cache host): the nodes' calls end at their command timeout and
// they answer from the database (fallbacks grow, every page 200, each within a second); after the heal they
// read Redis again.
TEST_F(data_faults_test, pause_of_redis_makes_the_nodes_fall_back_then_use_it_again) {
  start({"--nodes", "2", "--cache", "redis"});
  const pid_t redis = static_cast<pid_t>(topology_["redis"].at("pid").as_int64());
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(eventually([&] { return metric(node_metrics(i, 3), "shop_cache_redis_up") == 1; }, 10s));
  }
  const auto fallbacks = [&](size_t i, int64_t product) {
    const auto m = node_metrics(i, product);
    return metric(m, R"(shop_cache_fallbacks_total{reason="redis_down"})") +
           metric(m, R"(shop_cache_fallbacks_total{reason="redis_error"})");
  };
  const double before[2] = {fallbacks(0, 3), fallbacks(1, 3)};
  auto chaos = timeline();
  const int paused = chaos.inject(node_fault("pause", "redis"), 1.0);
  // A stop is delivered when the target next runs: its state follows kill() shortly, not at once.
  EXPECT_TRUE(eventually([&] { return chaos::process_state(redis) == 'T'; }, 2s));
  for (size_t i = 0; i < 2; ++i) {
    const auto port = port_of(std::string{topology_["nodes"].as_array()[i].at("url").as_string()});
    http::blocking_client c{"127.0.0.1", port, 5s};
    for (int64_t product = 200; product < 205; ++product) {
      const auto begin = steady::now();
      EXPECT_EQ(c.get("/api/products/" + std::to_string(product)).status, 200);
      // Redis calls are bounded by 100 ms (command) and 200 ms (connect), then a circuit: well within 1 s.
      EXPECT_LT(steady::now() - begin, stampede::testing::sanitized_build ? 3s : 1s)
          << "a page waited on the paused Redis";
    }
    EXPECT_GT(fallbacks(i, 210), before[i]) << "node" << i + 1;
  }
  chaos.heal(paused, 3.0);
  EXPECT_TRUE(eventually([&] { return chaos::process_state(redis) != 'T'; }, 2s));
  for (size_t i = 0; i < 2; ++i) {
    const double hits = metric(node_metrics(i, 3), R"(shop_cache_requests_total{result="hit"})");
    EXPECT_TRUE(eventually([&] {
      const auto m = node_metrics(i, 3);
      return metric(m, "shop_cache_redis_up") == 1 &&
             metric(m, R"(shop_cache_requests_total{result="hit"})") > hits + 1;
    }, 15s)) << "node" << i + 1 << " does not hit Redis again";
  }
  stop_and_expect_nothing_left();
}

class patroni_faults_test : public data_faults_test {
 protected:
  void start_cluster() {
    std::vector<std::string> args{"shop", "--port", "0", "--kdf", "minimal", "--data", dir_.path().string(),
                                  "--db", "postgres", "--ha", "patroni", "--replicas", "1", "--nodes", "1",
                                  "--threads", "1", "--db-pool", "2"};
    supervisor_ = spawn(args, log_file());
    entry_ = read_line(supervisor_.stdout_fd, 180s);
    ASSERT_EQ(entry_.rfind("http://127.0.0.1:", 0), 0u) << "no entry URL; log:\n" << log();
    reread_topology();
  }
  const json::object& member_with_role(const std::string& role) {
    for (const auto& m : topology_["database"].at("members").as_array()) {
      if (m.at("role").as_string() == role) return m.as_object();
    }
    throw std::runtime_error("no member is " + role + ": " + json::serialize(topology_["database"]));
  }
  // The primary through the database HAProxy, as the superuser (its password file).
  std::string primary_conninfo() {
    const std::string url(topology_["database"].at("primary_url").as_string());
    const std::string port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
    std::string password = read_file((dir_.path() / "patroni" / "superuser.password").string());
    password.erase(password.find_last_not_of("\n") + 1);
    return "host=127.0.0.1 port=" + port + " user=postgres dbname=postgres password=" + password;
  }
  void TearDown() override {
    // Whatever happened, nothing stays stopped (the timeline's destructor resumes what it paused).
    shop_process_test::TearDown();
  }
};

TEST_F(patroni_faults_test, pause_freezes_the_whole_primary_and_restart_brings_a_replica_back_streaming) {
  start_cluster();
  const auto& leader = member_with_role("leader");
  const pid_t postmaster = static_cast<pid_t>(leader.at("postmaster_pid").as_int64());
  pg::settings s;
  s.statement_timeout = 1000ms;  // answer deadline 2 s
  s.connect_timeout = 2s;
  pg::connection before{primary_conninfo(), s};
  before.exec("CREATE TABLE IF NOT EXISTS fault_probe (id bigserial PRIMARY KEY)");
  before.exec("INSERT INTO fault_probe DEFAULT VALUES");

  auto chaos = timeline();
  const int paused = chaos.inject(node_fault("pause", "primary"), 1.0);
  EXPECT_TRUE(eventually([&] { return chaos::process_state(postmaster) == 'T'; }, 2s));
  // Its backend (the session opened before) is frozen too: no answer, so the session's deadline ends it.
  const auto begin = steady::now();
  try {
    before.exec("INSERT INTO fault_probe DEFAULT VALUES");
    ADD_FAILURE() << "a write was served by a paused primary";
  } catch (const pg::error& e) {
    EXPECT_TRUE(e.connection_lost()) << e.what();
  }
  const double took = std::chrono::duration<double>(steady::now() - begin).count();
  std::printf("[ measure ] write on the paused primary failed after %.2f s\n", took);
  EXPECT_LT(took, 6.0);
  EXPECT_THROW((pg::connection{primary_conninfo(), s}), pg::error) << "a new session starts on a paused primary";
  chaos.heal(paused, 4.0);
  EXPECT_TRUE(eventually([&] { return chaos::process_state(postmaster) != 'T'; }, 2s));
  EXPECT_TRUE(eventually([&] {
    try {
      pg::connection after{primary_conninfo(), s};
      after.exec("INSERT INTO fault_probe DEFAULT VALUES");
      return true;
    } catch (const pg::error&) {
      return false;
    }
  }, 20s)) << "writes did not resume after the heal";

  // restart of replica1: killed, started again by the supervisor, streaming again.
  reread_topology();
  const auto replica = member_with_role("replica");
  const std::string name(replica.at("name").as_string());
  const pid_t old_patroni = static_cast<pid_t>(replica.at("patroni_pid").as_int64());
  const auto restart_begin = steady::now();
  chaos.inject(node_fault("restart", "replica1"), 5.0);
  std::printf("[ measure ] replica1 (%s) restart fault: %.1f s\n", name.c_str(),
              std::chrono::duration<double>(steady::now() - restart_begin).count());
  EXPECT_FALSE(chaos.records().at(1).as_object().contains("error")) << json::serialize(chaos.records());
  EXPECT_TRUE(gone(old_patroni));
  // The leader (whichever member it is: the topology's roles are refreshed every 2 s) lists it streaming.
  EXPECT_TRUE(eventually([&] {
    for (const auto& m : topology_["database"].at("members").as_array()) {
      try {
        http::blocking_client c{"127.0.0.1", port_of(std::string(m.at("rest_url").as_string())), 2s};
        const auto st = json::parse(c.get("/patroni").body);
        const auto* rep = st.as_object().if_contains("replication");
        for (const auto& r : rep != nullptr ? rep->as_array() : json::array{}) {
          if (r.at("application_name").as_string() == name && r.at("state") == "streaming") return true;
        }
      } catch (const std::exception&) {
      }
    }
    return false;
  }, 60s)) << name << " does not stream again; log:\n" << log();
  reread_topology();
  for (const auto& m : topology_["database"].at("members").as_array()) {
    if (m.at("name").as_string() == name) {
      EXPECT_NE(m.at("patroni_pid").as_int64(), old_patroni);
    }
  }
  stop_and_expect_nothing_left();
}

}  // namespace
}  // namespace stampede::shop::testing
