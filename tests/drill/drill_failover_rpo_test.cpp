// RPO in bytes of WAL after a failover (drill/failover_rpo.h): LSN arithmetic, timeline history files,
// record ends across page and segment boundaries, pg_waldump's output, and the measurement itself on a real
// pg_wal (initdb, then pg_waldump) against hand-made timeline histories, with known answers: a fork with
// WAL past it, zero bytes, no fork, an old primary that still runs.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "chaos/proxy_server.h"
#include "drill/failover_rpo.h"
#include "drill/replication_links.h"
#include "tests/support/child_process.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace stampede::drill;

TEST(failover_rpo, lsn_parses_and_formats_as_postgresql_prints_it) {
  EXPECT_EQ(parse_lsn("0/3000148"), 0x3000148u);
  EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848u);
  EXPECT_EQ(parse_lsn(" FFFFFFFF/FFFFFFFF "), UINT64_MAX);
  EXPECT_EQ(parse_lsn("0/0"), 0u);
  for (const char* bad : {"", "0", "/1", "1/", "G/1", "1/x", "123456789/0", "0/123456789", "-1/0", "1//2"}) {
    EXPECT_FALSE(parse_lsn(bad).has_value()) << bad;
  }
  EXPECT_EQ(format_lsn(0x16B374D848u), "16/B374D848");
  EXPECT_EQ(format_lsn(0), "0/0");
  EXPECT_EQ(format_lsn(0x3000148u), "0/3000148");
  // RPO bytes are plain differences of the 64-bit positions, also across the X/ boundary.
  EXPECT_EQ(*parse_lsn("1/00000010") - *parse_lsn("0/FFFFFFF0"), 0x20u);
}

TEST(failover_rpo, timeline_history_names_each_fork) {
  // Timeline 3's history as PostgreSQL 15 writes it: tab-separated, one line per ancestor.
  const auto h = parse_timeline_history(
      "1\t0/3000148\tno recovery target specified\n\n2\t0/5000060\tno recovery target specified\n");
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].parent_timeline, 1u);
  EXPECT_EQ(switch_point(h, 1), 0x3000148u);
  EXPECT_EQ(switch_point(h, 2), 0x5000060u);
  EXPECT_FALSE(switch_point(h, 3).has_value()) << "no fork from the timeline itself";
  EXPECT_FALSE(switch_point(h, 4).has_value());
  EXPECT_TRUE(parse_timeline_history("").empty());
  EXPECT_TRUE(parse_timeline_history("# comment\n\n").empty());
  EXPECT_FALSE(switch_point({}, 1).has_value()) << "timeline 1 has no history: no fork";
  try {
    parse_timeline_history("1\t0/3000148\tok\nx\t0/1\n");
    ADD_FAILURE() << "a bad line must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_timeline_history("1\tnot-an-lsn\treason\n"), std::invalid_argument);
  EXPECT_THROW(parse_timeline_history("0\t0/1\treason\n"), std::invalid_argument);
}

TEST(failover_rpo, record_end_follows_page_and_segment_headers) {
  // Pairs (record, the next record's start) read from a real pg_waldump run (PostgreSQL 15, initdb).
  EXPECT_EQ(wal_record_end(0x1511A88, 114), 0x1511B00u);   // one page, rounded up to 8
  EXPECT_EQ(wal_record_end(0x1001FC8, 621), 0x1002250u);   // crosses a page: 24-byte header
  EXPECT_EQ(wal_record_end(0x10F9C60, 8243), 0x10FBCB0u);  // a full-page image over three pages
  // Computed: ends exactly at a page end (no header counted); crosses into a new segment (40 bytes).
  EXPECT_EQ(wal_record_end(0x1FE0, 32), 0x2000u);
  EXPECT_EQ(wal_record_end(0xFFFFF0, 100), 0x1000080u);
  EXPECT_EQ(wal_record_end(0x100, 20000), 0x4F50u);
  EXPECT_EQ(wal_record_end(0x28, 0), 0x28u);
}

TEST(failover_rpo, last_record_end_reads_pg_waldump_output) {
  const std::string out =
      "rmgr: Transaction len (rec/tot):     66/    66, tx:        723, lsn: 0/01511A40, prev 0/015119A0, "
      "desc: "
      "COMMIT 2026-12-06 15:56:14.909133 UTC\n"
      "rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/01511A88, prev 0/01511A40, "
      "desc: "
      "CHECKPOINT_SHUTDOWN redo 0/1511A88; tli 1\n"
      "pg_waldump: error: error in WAL record at 0/1511A88: invalid record length at 0/1511B00: wanted 24, "
      "got 0\n";
  EXPECT_EQ(last_record_end(out), 0x1511B00u);
  EXPECT_FALSE(
      last_record_end("pg_waldump: error: could not find a valid record after 0/1511B00\n").has_value());
  EXPECT_FALSE(last_record_end("").has_value());
  EXPECT_FALSE(last_record_end("rmgr: XLOG len (rec/tot): garbage, lsn: nope\n").has_value());
}

TEST(failover_rpo, pg_bin_dir_is_the_last_flag_or_debians) {
  EXPECT_EQ(pg_bin_dir_of({}), "/usr/lib/postgresql/15/bin");
  EXPECT_EQ(pg_bin_dir_of({"--db", "postgres", "--pg-bin", "/a", "--pg-bin=/b"}), "/b");
}

// ---- the measurement on a real pg_wal ----

const fs::path pg_bin = "/usr/lib/postgresql/15/bin";

// A topology as the shop writes it: `old_dir` led at the start (its postmaster `old_pid`), `new_dir` leads
// now.
std::pair<json::value, json::value> topologies(const fs::path& old_dir, const fs::path& new_dir,
                                               int64_t old_pid) {
  auto member = [](const char* name, const char* role, const fs::path& dir, int64_t pid) {
    return json::object{{"name", name}, {"role", role}, {"postmaster_pid", pid}, {"data_dir", dir.string()}};
  };
  json::value start = json::object{
      {"database", json::object{{"members", json::array{member("pg1", "leader", old_dir, old_pid),
                                                        member("pg2", "sync_standby", new_dir, 0)}}}}};
  json::value now = json::object{
      {"database", json::object{{"members", json::array{member("pg1", "unknown", old_dir, old_pid),
                                                        member("pg2", "leader", new_dir, 0)}}}}};
  return {start, now};
}

// One initdb for the suite (a few seconds); each test writes its own history file.
class failover_rpo_wal : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new wal_fixture(); }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void SetUp() override {
    if (!fs::exists(pg_bin / "initdb") || !fs::exists(pg_bin / "pg_waldump")) {
      GTEST_SKIP() << "PostgreSQL 15 is not installed (scripts/setup.sh installs it)";
    }
    ASSERT_TRUE(shared_->error.empty()) << shared_->error;
    fs::remove_all(dir_.path() / "new");
    fs::create_directories(dir_.path() / "new" / "pg_wal");
  }

  struct wal_fixture {
    wal_fixture() {
      if (!fs::exists(pg_bin / "initdb") || !fs::exists(pg_bin / "pg_waldump")) return;
      try {
        make();
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    void make();
    stampede::testing::temp_dir dir{"stampede-rpo-test"};
    std::string error, last_record;
    uint64_t last_lsn = 0, end = 0;
  };
  static wal_fixture* shared_;
  // The new primary's history: it left timeline `parent` at `lsn`.
  void fork_at(uint32_t parent, uint64_t lsn) {
    std::ofstream(dir_.path() / "new" / "pg_wal" / "00000002.history")
        << parent << "\t" << format_lsn(lsn) << "\tno recovery target specified\n";
  }

  json::value measure(int64_t old_pid = 0) {
    auto [start, now] = topologies(dir_.path() / "old", dir_.path() / "new", old_pid);
    return measure_failover_rpo(start, now, pg_bin.string(), dir_.path().string());
  }

  const stampede::testing::temp_dir& dir_ = shared_->dir;
  const std::string& last_record_ = shared_->last_record;
  const uint64_t& last_lsn_ = shared_->last_lsn;
  const uint64_t& end_ = shared_->end;
};

failover_rpo_wal::wal_fixture* failover_rpo_wal::shared_ = nullptr;

void failover_rpo_wal::wal_fixture::make() {
  std::vector<std::string> initdb{
      (pg_bin / "initdb").string(), "-D", (dir.path() / "old").string(), "--no-sync", "-A", "trust"};
  if (::geteuid() == 0) {  // initdb refuses root: the postgres user, in a directory it owns
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("no postgres user");
    if (::chown(dir.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) throw std::runtime_error("chown failed");
    initdb.insert(initdb.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  }
  if (stampede::testing::run_bounded(initdb, dir.path() / "initdb.log", std::chrono::seconds(60)) != 0)
    throw std::runtime_error("initdb: " + stampede::testing::read_text(dir.path() / "initdb.log"));
  // The old primary's WAL after initdb ends with its shutdown checkpoint at 0/?, whose end the dump gives.
  const int rc = stampede::testing::run_bounded(
      {(pg_bin / "pg_waldump").string(), "--path=" + (dir.path() / "old" / "pg_wal").string(),
       "--start=0/1000000"},
      dir.path() / "dump.txt", std::chrono::seconds(30));
  if (rc < 0) throw std::runtime_error("pg_waldump did not run");
  const std::string dump = stampede::testing::read_text(dir.path() / "dump.txt");
  const auto last = dump.rfind("\nrmgr:");
  if (last == std::string::npos) throw std::runtime_error("no record: " + dump.substr(0, 500));
  last_record = dump.substr(last + 1, dump.find('\n', last + 1) - last - 1);
  const auto at = last_record.find("lsn: ") + 5;
  last_lsn = *parse_lsn(last_record.substr(at, last_record.find(',', at) - at));
  end = *last_record_end(dump);
}

TEST_F(failover_rpo_wal, bytes_past_the_switch_point_are_the_old_primarys_last_records) {
  // The new primary forked before the old one's last record (its shutdown checkpoint): that record is
  // what it lacks.
  fork_at(1, last_lsn_);
  const auto r = measure();
  ASSERT_TRUE(r.at("measured").as_bool()) << json::serialize(r);
  EXPECT_EQ(r.at("old_primary"), "pg1");
  EXPECT_EQ(r.at("new_primary"), "pg2");
  EXPECT_EQ(r.at("old_timeline"), 1);
  EXPECT_EQ(r.at("new_timeline"), 2);
  EXPECT_EQ(r.at("switch_lsn").as_string(), format_lsn(last_lsn_));
  EXPECT_EQ(r.at("old_end_lsn").as_string(), format_lsn(end_));
  EXPECT_EQ(r.at("rpo_wal_bytes").to_number<uint64_t>(), end_ - last_lsn_) << last_record_;
  EXPECT_EQ(r.at("records_after_switch"), 1);
  EXPECT_GT(end_ - last_lsn_, 0u);
}

TEST_F(failover_rpo_wal, zero_bytes_when_the_new_primary_had_everything) {
  fork_at(1, end_);
  const auto r = measure();
  ASSERT_TRUE(r.at("measured").as_bool()) << json::serialize(r);
  EXPECT_EQ(r.at("rpo_wal_bytes"), 0);
  EXPECT_EQ(r.at("records_after_switch"), 0);
  EXPECT_EQ(r.at("old_end_lsn").as_string(), format_lsn(end_));
}

TEST_F(failover_rpo_wal, no_fork_from_the_old_timeline_is_not_measured) {
  fork_at(7, end_);  // timeline 2 descends from 7, not from the old primary's 1
  auto r = measure();
  EXPECT_FALSE(r.at("measured").as_bool());
  EXPECT_NE(std::string(r.at("reason").as_string()).find("no fork"), std::string::npos) << json::serialize(r);
  fs::remove(dir_.path() / "new" / "pg_wal" / "00000002.history");  // timeline 1 on both: no failover fork
  r = measure();
  EXPECT_FALSE(r.at("measured").as_bool());
  EXPECT_NE(std::string(r.at("reason").as_string()).find("no fork"), std::string::npos) << json::serialize(r);
}

TEST_F(failover_rpo_wal, an_old_primary_that_still_runs_is_not_measured) {
  fork_at(1, last_lsn_);
  const auto r = measure(::getpid());  // a live pid stands for its postmaster
  EXPECT_FALSE(r.at("measured").as_bool());
  EXPECT_NE(std::string(r.at("reason").as_string()).find("still runs"), std::string::npos)
      << json::serialize(r);
}

TEST(failover_rpo, no_failover_and_no_patroni_are_said) {
  auto [start, now] = topologies("/nonexistent/a", "/nonexistent/b", 0);
  EXPECT_TRUE(measure_failover_rpo(json::object{}, json::object{}, pg_bin.string(), "/tmp").is_null());
  const auto same = measure_failover_rpo(start, start, pg_bin.string(), "/tmp");
  EXPECT_FALSE(same.at("measured").as_bool());
  EXPECT_NE(std::string(same.at("reason").as_string()).find("no failover: pg1 still leads"),
            std::string::npos);
}

// --shards with --ha patroni: the shard whose leader changed is the one measured, named with its shard; the
// kill of `shard1-primary` gets the figures.
TEST(failover_rpo, a_sharded_shop_measures_the_shard_that_failed_over) {
  auto [start0, now0] = topologies("/nonexistent/a", "/nonexistent/b", 0);
  auto [start1, now1] = topologies("/nonexistent/c", "/nonexistent/d", 0);
  auto sharded = [](const json::value& shard0, const json::value& shard1) {
    json::object s0 = shard0.at("database").as_object(), s1 = shard1.at("database").as_object();
    s0["shard"] = 0;
    s1["shard"] = 1;
    return json::value{
        {"database", json::object{{"members", s0.at("members")}, {"shards", json::array{s0, s1}}}}};
  };
  const auto r =
      measure_failover_rpo(sharded(start0, start1), sharded(start0, now1), pg_bin.string(), "/tmp");
  EXPECT_EQ(r.at("shard"), 1) << json::serialize(r);
  EXPECT_EQ(r.at("old_primary"), "shard1-pg1") << json::serialize(r);
  EXPECT_EQ(r.at("new_primary"), "shard1-pg2") << json::serialize(r);
  EXPECT_FALSE(r.at("measured").as_bool());  // no WAL at these paths
  const auto none =
      measure_failover_rpo(sharded(start0, start1), sharded(start0, start1), pg_bin.string(), "/tmp");
  EXPECT_EQ(none.at("reason"), "no failover in any shard") << json::serialize(none);

  json::value results = json::parse(R"({
    "chaos": [{"fault": "kill", "target": "shard1-primary"}, {"fault": "kill", "target": "shard0-primary"}],
    "drill": {"failover": {"measured": false, "shard": 1, "old_primary": "shard1-pg1", "reason": "x"}}})");
  apply_failover_rpo(results);
  EXPECT_TRUE(results.at("chaos").at(0).as_object().contains("rpo"));
  EXPECT_FALSE(results.at("chaos").at(1).as_object().contains("rpo"));
}

TEST(failover_rpo, apply_fills_the_invariant_that_asks_and_the_kill_fault) {
  json::value results = json::parse(R"({
    "chaos": [{"fault": "kill", "target": "primary"}, {"fault": "timeout", "target": "replication:pg1"}],
    "verify": {"ok": false, "invariants": [
      {"name": "a", "ok": true, "evidence": {}, "detail": "untouched"},
      {"name": "rpo", "ok": true, "evidence": {"lost_count": 3, "rpo_wal_bytes": "pending"}, "detail": "3 lost"}]},
    "drill": {"failover": {"measured": true, "old_primary": "pg1", "new_primary": "pg2", "new_timeline": 2,
              "switch_lsn": "0/3000148", "old_end_lsn": "0/3000A00", "rpo_wal_bytes": 2232}}})");
  apply_failover_rpo(results);
  const auto& inv = results.at("verify").at("invariants").as_array();
  EXPECT_EQ(inv[0].at("detail"), "untouched");
  EXPECT_EQ(inv[1].at("evidence").at("rpo_wal_bytes"), 2232);
  EXPECT_EQ(
      inv[1].at("detail"),
      "3 lost; RPO in WAL: 2232 bytes that pg1 wrote past the switch point 0/3000148 of pg2's timeline 2 "
      "(its end of WAL 0/3000A00)");
  EXPECT_EQ(results.at("chaos").at(0).at("rpo").at("rpo_wal_bytes"), 2232);
  results.at("drill").at("failover").as_object()["records_after_switch"] = 31;
  EXPECT_EQ(
      failover_rpo_line(results),
      "failover pg1 -> pg2: RPO 2232 bytes of WAL past the switch point 0/3000148 (old end 0/3000A00, 31 "
      "records)");
  EXPECT_FALSE(results.at("chaos").at(1).as_object().contains("rpo"));

  json::value unmeasured = json::parse(R"({"verify": {"invariants": [
      {"name": "rpo", "ok": true, "evidence": {"rpo_wal_bytes": "pending"}, "detail": ""}]},
    "drill": {"failover": {"measured": false, "reason": "no failover: pg1 still leads"}}})");
  apply_failover_rpo(unmeasured);
  const auto& e = unmeasured.at("verify").at("invariants").at(0);
  EXPECT_TRUE(e.at("evidence").at("rpo_wal_bytes").is_null());
  EXPECT_EQ(e.at("detail"), "RPO in WAL not measured: no failover: pg1 still leads");
  EXPECT_EQ(failover_rpo_line(unmeasured), "failover: RPO in WAL not measured: no failover: pg1 still leads");
  EXPECT_EQ(failover_rpo_line(json::parse(R"({"drill": {}})")), "");
}

// The broken mode's hold-back acts on `replication:pg1`: the drill makes the links for asynchronous
// replication (explicit or Patroni's default) and for replica reads, not for a synchronous cluster without
// them (its replicas' lag reaches no customer).
TEST(failover_rpo, replication_links_exist_for_asynchronous_replication) {
  auto links_for = [](std::vector<std::string> args) {
    stampede::chaos::server_options po;
    po.threads = 1;
    stampede::chaos::proxy_server proxies(po);
    json::array links;
    const auto flags = add_replication_links(args, proxies, links);
    return std::pair{flags, links.size()};
  };
  const std::vector<std::string> base{"--db", "postgres", "--ha", "patroni", "--replicas", "1"};
  auto with = [&](std::vector<std::string> more) {
    auto a = base;
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  EXPECT_EQ(links_for(with({"--sync-replication", "off"})).second, 2u);
  EXPECT_EQ(links_for(with({})).second, 2u) << "asynchronous is Patroni's default";
  EXPECT_EQ(links_for(with({"--sync-replication", "on", "--sync-replication", "off"})).second, 2u)
      << "the last wins";
  EXPECT_EQ(links_for(with({"--sync-replication", "on"})).second, 0u);
  EXPECT_EQ(links_for(with({"--sync-replication", "on", "--replica-reads", "on"})).second, 2u);
  EXPECT_EQ(links_for({"--db", "postgres", "--sync-replication", "off"}).second, 0u)
      << "no Patroni, no replicas";
  const auto [flags, n] = links_for(with({"--sync-replication=off"}));
  ASSERT_EQ(flags.size(), 4u);
  EXPECT_EQ(flags[0], "--pg-ports");
  EXPECT_EQ(flags[2], "--replication-via");
  EXPECT_EQ(flags[3].rfind("pg1=127.0.0.1:", 0), 0u) << flags[3];
}

}  // namespace
