// The backup game day end to end with the real binary (scenarios/gameday_backup_restore.lua, its short
// form): `stampede shop --db postgres --wal-archive on` archives its WAL, the scenario's operator takes a
// base backup and marks restore points through the drill's backup API while customers order, and the drill
// restores into a fresh cluster. The verdict passes with the restore time and backup size in the results and
// reports, and nothing is left running. The broken case (restoring to the earlier point by mistake) fails
// with the orders acknowledged in between named. Every run is bounded (the child is killed at its deadline).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/drill_process.h"
#include "tests/support/sanitizers.h"

namespace {

namespace json = boost::json;
namespace fs = std::filesystem;

using stampede::testing::drill_run;
using stampede::testing::read_text;
using stampede::testing::temp_dir;

const std::vector<std::string> short_form{"-e", "DURATION=15s", "-e", "BACKUP_AT=2s", "-e", "MARK_AT=10s"};

// The game day's short form on a fresh 3-node shop: ~40 s here.
drill_run drill(const temp_dir& dir, const std::vector<std::string>& extra) {
  std::vector<std::string> args{"--nodes", "3", "--quiet", "--quiet-timeout", "20s"};
  args.insert(args.end(), short_form.begin(), short_form.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return stampede::testing::run_drill(
      {.scenario = stampede::testing::scenario_path("gameday_backup_restore.lua"),
       .dir = dir.path(),
       .args = std::move(args),
       .bound = std::chrono::seconds{150},
       .sanitized_bound = std::chrono::seconds{300}});
}

const json::object* invariant(const drill_run& r, std::string_view prefix) {
  return stampede::testing::find_invariant(r.results, prefix);
}

bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

// Processes whose command line mentions `path` (the drill's work directory: the shop, its PostgreSQL, a
// restored cluster).
std::vector<std::string> processes_mentioning(const std::string& path) {
  std::vector<std::string> out;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = ::readdir(proc)) {
    if (std::atoi(e->d_name) <= 0) continue;
    std::ifstream in{std::string{"/proc/"} + e->d_name + "/cmdline"};
    std::string args{std::istreambuf_iterator<char>{in}, {}};
    for (char& c : args) c = c == '\0' ? ' ' : c;
    if (args.find(path) != std::string::npos) out.push_back(std::string{e->d_name} + ": " + args);
  }
  ::closedir(proc);
  return out;
}

// The work directory (TMPDIR/stampede-drill-XXXXXX) from the shop's data directory in the results.
std::string work_dir_of(const drill_run& r) {
  const fs::path data{std::string(r.results.at("drill").at("topology_at_start").at("data_dir").as_string())};
  return data.parent_path().string();
}

void expect_nothing_left(const drill_run& r) {
  const auto& db = r.results.at("drill").at("topology_at_start").at("database");
  EXPECT_TRUE(gone(static_cast<pid_t>(db.at("pid").to_number<int64_t>()))) << json::serialize(db);
  for (const auto& restore : r.results.at("drill").at("backup").at("restores").as_array()) {
    const auto pid = static_cast<pid_t>(restore.at("restored_pid").to_number<int64_t>());
    EXPECT_GT(pid, 0);
    EXPECT_TRUE(gone(pid)) << "the restored cluster " << pid << " still runs";
  }
  const std::string work = work_dir_of(r);
  EXPECT_TRUE(processes_mentioning(work).empty()) << processes_mentioning(work).front();
  EXPECT_FALSE(fs::exists(work)) << work;
}

TEST(drill_backup_restore, restore_to_the_target_keeps_every_acknowledged_order_and_reports_its_time) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, {});
  EXPECT_EQ(r.code, 0) << r.log;
  ASSERT_TRUE(r.results.is_object()) << r.log;
  const auto& invariants = r.results.at("verify").at("invariants").as_array();
  ASSERT_EQ(invariants.size(), 7u) << json::serialize(invariants);
  for (const auto& inv : invariants) EXPECT_TRUE(inv.at("ok").as_bool()) << json::serialize(inv);

  const auto* pit = invariant(r, "point-in-time restore");
  ASSERT_NE(pit, nullptr);
  const auto& e = pit->at("evidence").as_object();
  // Orders were placed on both sides of the target, and every one acknowledged before it came back.
  EXPECT_GT(e.at("acknowledged_before").to_number<int64_t>(), 20) << json::serialize(e);
  EXPECT_EQ(e.at("present_before"), e.at("acknowledged_before")) << json::serialize(e);
  EXPECT_GT(e.at("started_after").to_number<int64_t>(), 10) << json::serialize(e);
  EXPECT_EQ(e.at("absent_after"), e.at("started_after")) << json::serialize(e);
  EXPECT_EQ(e.at("lost").to_number<int64_t>(), 0);

  const auto* timing = invariant(r, "the restore completes in time");
  ASSERT_NE(timing, nullptr);
  const auto& t = timing->at("evidence").as_object();
  const double restore_s = t.at("restore_s").to_number<double>();
  EXPECT_GT(restore_s, 0.0);
  EXPECT_GE(restore_s, t.at("recovery_s").to_number<double>());
  EXPECT_GT(t.at("base_backup_bytes").to_number<int64_t>(), 1'000'000) << json::serialize(t);
  EXPECT_GT(t.at("archived_segments").to_number<int64_t>(), 0) << json::serialize(t);
  EXPECT_NE(
      std::string(t.at("recovery_stop").as_string()).find("recovery stopping at restore point \"target\""),
      std::string::npos)
      << json::serialize(t);
  // The recovery's parts, from the restored server's own log.
  for (const char* phase : {"startup_s", "replay_s", "promote_s"}) {
    EXPECT_TRUE(t.at("recovery_phases").at(phase).is_number()) << phase << " in " << json::serialize(t);
  }
  std::printf("[ measure ] backup restore: %s\n", std::string(timing->at("detail").as_string()).c_str());

  // results.drill.backup: the backup, both restore points (early before target), the restore.
  const auto& backup = r.results.at("drill").at("backup").as_object();
  ASSERT_EQ(backup.at("base_backups").as_array().size(), 1u) << json::serialize(backup);
  EXPECT_GT(backup.at("base_backups").at(0).at("size_bytes").to_number<int64_t>(), 1'000'000);
  ASSERT_EQ(backup.at("restore_points").as_array().size(), 2u) << json::serialize(backup);
  EXPECT_EQ(backup.at("restores").at(0).at("target"), "target");
  EXPECT_EQ(backup.at("restores").at(0).at("restore_s").to_number<double>(), restore_s);

  // The reports state the restore time with the invariants.
  EXPECT_NE(read_text(r.out / "summary.md").find("restored to 'target' in"), std::string::npos);
  EXPECT_NE(read_text(r.out / "junit.xml").find("name=\"the restore completes in time\""), std::string::npos);
  EXPECT_NE(read_text(r.out / "report.html").find("the restore completes in time"), std::string::npos);
  expect_nothing_left(r);
}

// The mistake the checker must catch: the restore goes to the earlier restore point, so the orders
// acknowledged between the two points are missing, named by idempotency key, customer and order id.
TEST(drill_backup_restore, restore_to_an_earlier_point_is_caught_naming_the_lost_orders) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill(dir, {"-e", "RESTORE_TO=early"});
  EXPECT_EQ(r.code, 98) << r.log;
  ASSERT_TRUE(r.results.is_object()) << r.log;
  const auto* pit = invariant(r, "point-in-time restore");
  ASSERT_NE(pit, nullptr);
  EXPECT_FALSE(pit->at("ok").as_bool());
  const auto& e = pit->at("evidence").as_object();
  const int64_t lost = e.at("lost").to_number<int64_t>();
  EXPECT_GT(lost, 0) << json::serialize(e);
  EXPECT_EQ(e.at("restored_to"), "early");
  const auto& first = e.at("lost_orders").at(0).as_object();
  EXPECT_EQ(std::string(first.at("key").as_string()).rfind("pitr-", 0), 0u) << json::serialize(first);
  EXPECT_TRUE(first.at("order_id").is_number()) << json::serialize(first);
  // Lost orders were acknowledged before the target (not in flight at it).
  EXPECT_GT(first.at("before_mark_s").to_number<double>(), 0.0) << json::serialize(first);
  EXPECT_NE(std::string(pit->at("detail").as_string()).find("LOST " + std::to_string(lost)),
            std::string::npos);
  // Everything else about the drill held: only the restore's target was wrong.
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    if (&inv.as_object() != pit) {
      EXPECT_TRUE(inv.at("ok").as_bool()) << json::serialize(inv);
    }
  }
  expect_nothing_left(r);
}

// --wal-archive is PostgreSQL's, on the single server: elsewhere a usage error naming the flag.
TEST(drill_backup_restore, wal_archive_needs_postgres_without_patroni) {
  temp_dir dir{"stampede-shop-test"};
  const fs::path log = dir.path() / "shop.log";
  EXPECT_EQ(stampede::testing::run_bounded(
                {STAMPEDE_BINARY, "shop", "--data", (dir.path() / "d").string(), "--wal-archive", "on"}, log,
                std::chrono::seconds{20}, std::chrono::seconds{2}),
            2);
  EXPECT_NE(read_text(log).find("--wal-archive on needs --db postgres"), std::string::npos) << read_text(log);
  EXPECT_EQ(stampede::testing::run_bounded({STAMPEDE_BINARY, "shop", "--data", (dir.path() / "e").string(),
                                            "--db", "postgres", "--wal-archive", "maybe"},
                                           log, std::chrono::seconds{20}, std::chrono::seconds{2}),
            2);
  EXPECT_NE(read_text(log).find("--wal-archive must be on or off"), std::string::npos) << read_text(log);
}

}  // namespace
