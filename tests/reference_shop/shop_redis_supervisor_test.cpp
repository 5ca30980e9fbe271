// `stampede shop --cache redis` as real processes: the supervisor starts one redis-server, writes it into
// the topology (name, pid, port), the nodes use it, a killed Redis is started again on its port and the
// nodes reconnect, and nothing is left behind on SIGTERM (even with Redis paused) or when the supervisor
// itself is SIGKILLed. A missing binary is one line naming the package and exit 1, never a hang.
#include <gtest/gtest.h>

#include "common/http_client.h"
#include "tests/reference_shop/shop_process_support.h"

namespace stampede::shop::testing {
namespace {

class redis_shop_test : public shop_process_test {
 protected:
  pid_t redis_pid() { return static_cast<pid_t>(topology_["redis"].at("pid").as_int64()); }
  uint16_t redis_port() { return static_cast<uint16_t>(topology_["redis"].at("port").as_int64()); }
  std::string node_metrics(size_t i) {
    const auto port = port_of(std::string{topology_["nodes"].as_array()[i].at("url").as_string()});
    http::blocking_client c{"127.0.0.1", port, 5s};
    c.get("/api/products/" + std::to_string(40 + i));  // a lookup: a node finds Redis back on its next call
    return c.get("/metrics").body;
  }
};

TEST_F(redis_shop_test, redis_is_started_used_restarted_after_a_kill_and_stopped_with_the_shop) {
  start({"--nodes", "2", "--cache", "redis", "--redis-respawn-ms", "100"});
  ASSERT_EQ(topology_["cache"], "redis") << json::serialize(topology_);
  ASSERT_TRUE(topology_.contains("redis")) << json::serialize(topology_);
  EXPECT_EQ(topology_["redis"].at("name"), "redis");
  const pid_t first = redis_pid();
  const uint16_t port = redis_port();
  EXPECT_FALSE(gone(first));
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(eventually([&] { return node_metrics(i).find("shop_cache_redis_up 1") != std::string::npos; }, 10s))
        << "node" << i + 1;
  }
  // Both nodes read one product through the shared cache: one load over the whole shop.
  http::blocking_client entry{"127.0.0.1", port_of(entry_), 5s};
  for (int i = 0; i < 6; ++i) ASSERT_EQ(entry.get("/api/products/7").status, 200);

  ::kill(first, SIGKILL);  // what a chaos `kill` on target "redis" does
  ASSERT_TRUE(eventually([&] {
    reread_topology();
    return redis_pid() != first;
  }, 15s)) << log();
  EXPECT_EQ(redis_port(), port) << "a restarted Redis keeps its port: the nodes know it";
  EXPECT_NE(log().find("cache redis restarted"), std::string::npos) << log();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(eventually([&] {
      const auto m = node_metrics(i);
      return m.find("shop_cache_redis_up 1") != std::string::npos &&
             m.find("shop_cache_redis_reconnects_total 0") == std::string::npos;
    }, 15s)) << "node" << i + 1 << " did not reconnect:\n" << node_metrics(i);
  }
  EXPECT_EQ(entry.get("/api/products/7").status, 200);

  // Paused when the shop stops: it is stopped all the same.
  ::kill(redis_pid(), SIGSTOP);
  auto pids = child_pids();
  pids.push_back(redis_pid());
  stop_and_expect_nothing_left();
  for (pid_t pid : pids) EXPECT_TRUE(eventually([&] { return gone(pid); }, 5s)) << "left behind: pid " << pid;
}

TEST_F(redis_shop_test, a_killed_supervisor_takes_redis_with_it) {
  start({"--nodes", "1", "--cache", "redis"});
  const pid_t redis = redis_pid();
  ::kill(supervisor_.pid, SIGKILL);
  ASSERT_TRUE(wait_exit(supervisor_.pid, 10s).has_value());
  reaped_ = true;
  EXPECT_TRUE(eventually([&] { return gone(redis); }, 10s)) << "redis-server outlived the supervisor";
}

TEST_F(redis_shop_test, a_missing_binary_is_one_line_naming_the_package_and_bad_flags_are_usage_errors) {
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"shop", "--port", "0", "--kdf", "minimal", "--data", dir_.path().string()});
    auto p = spawn(args, log_file());
    auto status = wait_exit(p.pid, 20s);
    ::close(p.stdout_fd);
    if (!status) {
      ::kill(p.pid, SIGKILL);
      wait_exit(p.pid, 5s);
      return -1;
    }
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  };
  EXPECT_EQ(run({"--cache", "redis", "--redis-bin", "/nonexistent/redis-server"}), 1) << log();
  EXPECT_NE(log().find("install Debian's redis-server package"), std::string::npos) << log();
  EXPECT_FALSE(std::filesystem::exists(dir_.file("topology.json"))) << "nothing was started";
  EXPECT_EQ(run({"--cache", "memcached"}), 2);
  EXPECT_NE(log().find("--cache must be local or redis"), std::string::npos) << log();
  EXPECT_EQ(run({"--redis-respawn-ms", "100"}), 2);
  EXPECT_NE(log().find("--redis-respawn-ms needs --cache redis"), std::string::npos) << log();
}

}  // namespace
}  // namespace stampede::shop::testing
