// `stampede shop --db postgres --ha patroni` as real processes: etcd and a Patroni cluster (a primary and one
// synchronous replica, the smallest that can fail over), writes through the database HAProxy, a SIGKILL of
// the primary's Patroni and postmaster, writes back through the new primary, no acknowledged order lost,
// the topology following the failover, and nothing left behind on SIGTERM. Missing binaries are one line.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/http_client.h"
#include "reference_shop/haproxy_config.h"
#include "reference_shop/patroni_cluster.h"
#include "reference_shop/pg_connection.h"
#include "tests/reference_shop/shop_process_support.h"

namespace stampede::shop {
namespace {

using namespace testing;
using steady = std::chrono::steady_clock;

class patroni_shop_test : public shop_process_test {
 protected:
  // Formation (initdb, a base backup, streaming, the sync standby) takes ~20 s here, more under load.
  void start_cluster(std::vector<std::string> extra) {
    std::vector<std::string> args{
        "shop", "--port",    "0",    "--kdf",     "minimal",    "--data", dir_.path().string(),
        "--db", "postgres",  "--ha", "patroni",   "--replicas", "1",      "--nodes",
        "2",    "--threads", "1",    "--db-pool", "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto begin = steady::now();
    supervisor_ = spawn(args, log_file());
    entry_ = read_line(supervisor_.stdout_fd, 180s);
    ASSERT_EQ(entry_.rfind("http://127.0.0.1:", 0), 0u) << "no entry URL; log:\n" << log();
    std::printf("[ measure ] shop with Patroni (2 members) up in %.1f s\n",
                std::chrono::duration<double>(steady::now() - begin).count());
    reread_topology();
  }
  // Every pid of the topology: nodes, HAProxy, emulator, both HAProxies, etcd, each member's Patroni and
  // postmaster.
  std::vector<pid_t> all_pids() {
    auto pids = child_pids();
    const auto& db = topology_["database"].as_object();
    pids.push_back(static_cast<pid_t>(db.at("etcd").at("pid").as_int64()));
    pids.push_back(static_cast<pid_t>(topology_["database_haproxy"].at("pid").as_int64()));
    for (const auto& m : db.at("members").as_array()) {
      pids.push_back(static_cast<pid_t>(m.at("patroni_pid").as_int64()));
      pids.push_back(static_cast<pid_t>(m.at("postmaster_pid").as_int64()));
    }
    return pids;
  }
  void TearDown() override {
    // SIGKILL of the supervisor (a failed assertion): Patroni gets SIGTERM (its death signal) and stops its
    // PostgreSQL; make sure, then remove the directory.
    std::vector<pid_t> pids;
    if (!topology_.empty() && topology_.contains("database_haproxy")) pids = all_pids();
    shop_process_test::TearDown();
    if (!eventually([&] { return std::ranges::all_of(pids, [](pid_t p) { return p <= 0 || gone(p); }); },
                    30s)) {
      ADD_FAILURE() << "database processes outlived the supervisor";
      for (pid_t p : pids) {
        if (p > 0 && !gone(p)) ::kill(p, SIGKILL);
      }
    }
  }
  const json::object& member(const std::string& name) {
    for (const auto& m : topology_["database"].at("members").as_array()) {
      if (m.at("name").as_string() == name) return m.as_object();
    }
    throw std::runtime_error("no member " + name);
  }
  // An order for customer7 with this idempotency key: its id when acknowledged (201), 0 otherwise.
  int64_t try_order(http::blocking_client& c, const std::string& token, const std::string& key) {
    try {
      auto r = c.post_json("/api/orders", R"({"items":[{"product_id":5,"qty":1}]})",
                           {{"Authorization", "Bearer " + token}, {"Idempotency-Key", key}});
      return r.status == 201 ? json::parse(r.body).at("order_id").as_int64() : 0;
    } catch (const std::exception&) {
      return 0;
    }
  }
  std::string login(http::blocking_client& c) {
    auto s = c.post_json("/api/sessions", R"({"email":"customer7@shop.test","password":"stampede"})");
    EXPECT_EQ(s.status, 200) << s.body;
    return s.status == 200 ? std::string{json::parse(s.body).at("token").as_string()} : std::string{};
  }
};

TEST_F(patroni_shop_test, fails_over_through_haproxy_without_losing_acknowledged_orders_in_sync_mode) {
  start_cluster({"--sync-replication", "on"});
  if (HasFatalFailure()) return;
  const auto& db = topology_["database"].as_object();
  EXPECT_EQ(db.at("ha").as_string(), "patroni");
  EXPECT_TRUE(db.at("synchronous_mode").as_bool());
  EXPECT_EQ(member("pg1").at("role").as_string(), "leader");
  EXPECT_EQ(member("pg2").at("role").as_string(), "sync_standby");
  for (pid_t p : all_pids()) EXPECT_FALSE(gone(p)) << "pid " << p << " of the topology is not running";
  // The database HAProxy reaches the primary as the shop's role; 2PC is possible on every member.
  pg::connection sql{std::string{db.at("primary_url").as_string()}, pg::settings{}};
  EXPECT_EQ(sql.exec("SELECT pg_is_in_recovery()::text").text(0, 0), "false");
  EXPECT_EQ(sql.exec("SHOW max_prepared_transactions").text(0, 0), "64");
  EXPECT_EQ(sql.exec("SHOW synchronous_standby_names").text(0, 0), "pg2");

  http::blocking_client c{"127.0.0.1", port_of(entry_), 10s};
  const std::string token = login(c);
  ASSERT_FALSE(token.empty());
  ASSERT_GT(try_order(c, token, "before"), 0) << log();

  // A writer places orders without pause; the primary dies under it.
  std::mutex mu;
  std::vector<int64_t> acknowledged;
  std::atomic<bool> stop_writing{false};
  std::optional<steady::time_point> first_failure, recovered;
  std::atomic<steady::time_point::rep> killed_at{0};
  std::thread writer{[&] {
    http::blocking_client w{"127.0.0.1", port_of(entry_), 5s};
    for (int i = 0; !stop_writing; ++i) {
      const int64_t id = try_order(w, token, "w" + std::to_string(i));
      std::lock_guard lock{mu};
      const bool after_kill = killed_at != 0;
      if (id > 0) {
        acknowledged.push_back(id);
        if (first_failure && !recovered) recovered = steady::now();
      } else if (after_kill && !first_failure) {
        first_failure = steady::now();
      }
      if (id == 0) std::this_thread::sleep_for(200ms);  // a failed write is retried at 5/s, not in a spin
    }
  }};
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lock{mu};
        return acknowledged.size() >= 5;
      },
      30s));
  const auto kill_time = steady::now();
  ASSERT_EQ(::kill(static_cast<pid_t>(member("pg1").at("patroni_pid").as_int64()), SIGKILL), 0);
  ASSERT_EQ(::kill(static_cast<pid_t>(member("pg1").at("postmaster_pid").as_int64()), SIGKILL), 0);
  killed_at = kill_time.time_since_epoch().count();
  const bool back = eventually(
      [&] {
        std::lock_guard lock{mu};
        return recovered.has_value();
      },
      45s);
  stop_writing = true;
  writer.join();
  ASSERT_TRUE(back) << "writes did not succeed again within 45 s of the kill; log:\n" << log();
  {
    std::lock_guard lock{mu};
    ASSERT_TRUE(first_failure.has_value());
    const double rto = std::chrono::duration<double>(*recovered - kill_time).count();
    std::printf("[ measure ] first failed write %.1f s after the kill, writes back after %.1f s (RTO)\n",
                std::chrono::duration<double>(*first_failure - kill_time).count(), rto);
    EXPECT_LT(rto, 30.0) << "a failover with ttl 10 should complete in ~10-15 s";
  }

  // Sync mode: every acknowledged order is on the new primary.
  pg::connection after{std::string{db.at("primary_url").as_string()}, pg::settings{}};
  EXPECT_EQ(after.exec("SELECT pg_is_in_recovery()::text").text(0, 0), "false");
  std::string ids;
  for (int64_t id : acknowledged) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const int64_t present = after.exec("SELECT COUNT(*) FROM orders WHERE id IN (" + ids + ")").int64(0, 0);
  std::printf("[ measure ] %zu orders acknowledged, %lld present after the failover\n", acknowledged.size(),
              static_cast<long long>(present));
  EXPECT_EQ(present, static_cast<int64_t>(acknowledged.size()));

  // The topology follows: pg2 leads, pg1 is gone (its pids -1 once reaped).
  const auto old_pids = all_pids();
  EXPECT_TRUE(eventually(
      [&] {
        reread_topology();
        return member("pg2").at("role").as_string() == "leader";
      },
      10s));
  const pid_t new_primary = static_cast<pid_t>(member("pg2").at("postmaster_pid").as_int64());
  EXPECT_FALSE(gone(new_primary));
  // SIGTERM: the shop stops (bounded: the cluster's stop is ~20 s at worst), nothing of the topology runs.
  const auto stop_begin = steady::now();
  ASSERT_EQ(::kill(supervisor_.pid, SIGTERM), 0);
  const auto status = wait_exit(supervisor_.pid, 40s);
  ASSERT_TRUE(status.has_value()) << "supervisor did not exit";
  reaped_ = true;
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << log();
  std::printf("[ measure ] stopped in %.1f s\n",
              std::chrono::duration<double>(steady::now() - stop_begin).count());
  for (pid_t p : old_pids) EXPECT_TRUE(p <= 0 || gone(p)) << "left behind: pid " << p;
}

// The supervisor SIGKILLed: nothing runs its shutdown; Patroni gets SIGTERM (its death signal) and stops its
// PostgreSQL, etcd gets SIGKILL. Nothing of the topology may outlive it.
TEST_F(patroni_shop_test, sigkill_of_the_supervisor_takes_the_cluster_down) {
  start_cluster({});
  if (HasFatalFailure()) return;
  const auto pids = all_pids();
  ASSERT_EQ(::kill(supervisor_.pid, SIGKILL), 0);
  ASSERT_TRUE(wait_exit(supervisor_.pid, 10s).has_value());
  reaped_ = true;
  const auto begin = steady::now();
  eventually([&] { return std::ranges::all_of(pids, [](pid_t p) { return p <= 0 || gone(p); }); }, 30s);
  std::printf("[ measure ] cluster gone %.1f s after the supervisor's SIGKILL\n",
              std::chrono::duration<double>(steady::now() - begin).count());
  for (pid_t p : pids) EXPECT_TRUE(p <= 0 || gone(p)) << "left behind: pid " << p;
}

TEST_F(patroni_shop_test, ha_needs_postgres_and_valid_flags) {
  supervisor_ = spawn({"shop", "--ha", "patroni", "--data", dir_.path().string()}, log_file());
  auto status = wait_exit(supervisor_.pid, 10s);
  reaped_ = true;
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(log().find("--ha patroni needs --db postgres"), std::string::npos) << log();
  ::close(supervisor_.stdout_fd);
  supervisor_ = spawn({"shop", "--db", "postgres", "--ha", "patroni", "--sync-replication", "yes", "--data",
                       dir_.path().string()},
                      log_file());
  status = wait_exit(supervisor_.pid, 10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(log().find("--sync-replication must be on or off"), std::string::npos) << log();
}

// The database HAProxy: one listen per role, each member's PostgreSQL port checked on its REST port, cut
// sessions on a demotion, the runtime API for the supervisor's readiness check.
TEST(patroni_haproxy_config, routes_to_the_member_that_answers_primary) {
  haproxy_db_config c;
  c.primary_port = 7000;
  c.replica_port = 7001;
  c.runtime_port = 7002;
  c.members = {{"pg1", 5001, 8001, {}, {}}, {"pg2", 5002, 8002, {}, {}}};
  const std::string text = render_haproxy_db_config(c);
  EXPECT_NE(text.find("mode tcp"), std::string::npos) << text;
  EXPECT_NE(text.find("stats socket ipv4@127.0.0.1:7002 level operator"), std::string::npos) << text;
  const size_t primary = text.find("listen postgres_primary"),
               replicas = text.find("listen postgres_replicas");
  ASSERT_NE(primary, std::string::npos) << text;
  ASSERT_NE(replicas, std::string::npos) << text;
  const std::string p = text.substr(primary, replicas - primary), r = text.substr(replicas);
  EXPECT_NE(p.find("bind 127.0.0.1:7000"), std::string::npos) << p;
  EXPECT_NE(p.find("option httpchk GET /primary"), std::string::npos) << p;
  EXPECT_NE(p.find("on-marked-down shutdown-sessions"), std::string::npos) << p;
  EXPECT_NE(p.find("server pg1 127.0.0.1:5001 check port 8001"), std::string::npos) << p;
  EXPECT_NE(p.find("server pg2 127.0.0.1:5002 check port 8002"), std::string::npos) << p;
  EXPECT_NE(r.find("bind 127.0.0.1:7001"), std::string::npos) << r;
  EXPECT_NE(r.find("option httpchk GET /replica"), std::string::npos) << r;
  c.replica_port = 0;
  c.runtime_port = 0;
  const std::string bare = render_haproxy_db_config(c);
  EXPECT_EQ(bare.find("postgres_replicas"), std::string::npos) << bare;
  EXPECT_EQ(bare.find("stats socket"), std::string::npos) << bare;
}

// --shards with --ha patroni: one more primary frontend per shard, over that shard's members only.
TEST(patroni_haproxy_config, gives_each_shard_its_own_primary_frontend) {
  haproxy_db_config c;
  c.primary_port = 7000;
  c.members = {{"pg1", 5001, 8001, {}, {}}, {"pg2", 5002, 8002, {}, {}}};
  c.other_shards = {{7010, {{"pg1", 5011, 8011, {}, {}}, {"pg2", 5012, 8012, {}, {}}}}};
  const std::string text = render_haproxy_db_config(c);
  const size_t shard0 = text.find("listen postgres_primary\n"),
               shard1 = text.find("listen postgres_primary_shard1");
  ASSERT_NE(shard0, std::string::npos) << text;
  ASSERT_NE(shard1, std::string::npos) << text;
  const std::string first = text.substr(shard0, shard1 - shard0), second = text.substr(shard1);
  EXPECT_NE(first.find("server pg1 127.0.0.1:5001 check port 8001"), std::string::npos) << first;
  EXPECT_EQ(first.find("5011"), std::string::npos) << first;
  EXPECT_NE(second.find("bind 127.0.0.1:7010"), std::string::npos) << second;
  EXPECT_NE(second.find("option httpchk GET /primary"), std::string::npos) << second;
  EXPECT_NE(second.find("server pg2 127.0.0.1:5012 check port 8012"), std::string::npos) << second;
  EXPECT_EQ(second.find("5001"), std::string::npos) << second;
}

// A missing binary is one line naming the Debian package, before anything starts.
TEST(patroni_cluster_test, missing_binaries_name_the_package) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("stampede-patroni-" + std::to_string(::getpid()));
  for (auto [field, package] : {std::pair{0, "etcd-server"}, std::pair{1, "patroni"}}) {
    patroni_cluster_options o;
    o.dir = dir;
    (field == 0 ? o.etcd_bin : o.patroni_bin) = "/nonexistent/bin";
    patroni_cluster cluster{o};
    try {
      cluster.start(std::chrono::seconds{5});
      ADD_FAILURE() << "started without " << package;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string{e.what()}.find(std::string{"install Debian's "} + package), std::string::npos)
          << e.what();
      EXPECT_EQ(std::string{e.what()}.find('\n'), std::string::npos) << e.what();
    }
    EXPECT_EQ(cluster.etcd_pid(), -1);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace stampede::shop
