// The Patroni game days end to end with the real binary, in their short forms: database failover (sync,
// and async with a held-back replica), a partition of the primary (sync and async) and replica lag (three
// read modes), each on `stampede shop --db postgres --ha patroni` (30-60 s each, label slow-e2e). Apart from
// drill_end_to_end_test.cpp because they need PostgreSQL and Patroni and run long; the other game days
// stay there. Every run is bounded (the child is killed at its deadline).
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/drill/drill_end_to_end.h"
#include "tests/support/drill_process.h"

namespace {

namespace json = boost::json;

using stampede::testing::drill_run;
using stampede::testing::read_text;
using stampede::testing::temp_dir;
using stampede::testing::drill_e2e::drill;
using stampede::testing::drill_e2e::expect_faults_with_recovery;

// The invariant called `name` (a failed expectation and an empty object when there is none).
const json::object& invariant_named(const drill_run& r, std::string_view name) {
  static const json::object none;
  for (const auto& inv : r.results.at("verify").at("invariants").as_array()) {
    if (inv.at("name").as_string() == name) return inv.as_object();
  }
  ADD_FAILURE() << "no invariant " << name;
  return none;
}

// The verdict block every Patroni game day starts with: the drill's exit code, its results, `count`
// invariants, each holding except the one at index `broken` (which must fail). Fatal failures end the
// helper only: call it through ASSERT_NO_FATAL_FAILURE.
void expect_verdict(const drill_run& r, int code, size_t count, std::optional<size_t> broken = std::nullopt) {
  EXPECT_EQ(r.code, code) << r.log;
  ASSERT_TRUE(r.results.is_object()) << r.log;
  const auto& invariants = r.results.at("verify").at("invariants").as_array();
  ASSERT_EQ(invariants.size(), count) << json::serialize(invariants);
  for (size_t i = 0; i < invariants.size(); ++i) {
    EXPECT_EQ(invariants[i].at("ok").as_bool(), i != broken) << json::serialize(invariants[i]);
  }
}

// The run's invariants, in the scenario's order.
const json::array& invariants_of(const drill_run& r) {
  return r.results.at("verify").at("invariants").as_array();
}

// The database game day's short form: `stampede shop --db postgres --ha patroni` (primary + 1 synchronous
// replica), the primary (resolved through Patroni's REST API when the fault fires) SIGKILLed under orders
// and a flash sale: orders fail, then succeed again through the new primary within RTO_MAX, no acknowledged
// order is lost, and the sale's 20 units go to 20 of its 30 buyers exactly.
TEST(drill_gameday, db_failover_loses_no_acknowledged_order_in_sync_mode) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill("gameday_db_failover.lua", dir,
                 {"--shop-arg", "--replicas", "--shop-arg", "1", "-e", "DURATION=30s", "-e", "FAULT_AT=4s"});
  ASSERT_NO_FATAL_FAILURE(expect_verdict(r, 0, 8));
  expect_faults_with_recovery(r, 1);
  const auto& sale = invariant_named(r, "the flash sale sells out exactly through the failover");
  EXPECT_EQ(sale.at("evidence").at("sold").to_number<int64_t>(), 20) << json::serialize(sale);
  EXPECT_EQ(sale.at("evidence").at("customers_who_bought").to_number<int64_t>(), 20) << json::serialize(sale);
  // RPO: no acknowledged order lost; the WAL the old primary wrote past the switch point is measured (it
  // may be > 0: commits that waited for the standby and were never acknowledged, background records).
  const auto& rpo = invariant_named(r, "acknowledged orders lost in the failover (RPO)");
  EXPECT_EQ(rpo.at("evidence").at("lost_count"), 0) << json::serialize(rpo);
  EXPECT_EQ(rpo.at("evidence").at("mode"), "synchronous replication");
  const auto& failover = r.results.at("drill").at("failover");
  ASSERT_TRUE(failover.at("measured").as_bool()) << json::serialize(failover);
  EXPECT_EQ(rpo.at("evidence").at("rpo_wal_bytes"), failover.at("rpo_wal_bytes"));
  std::printf("[ measure ] db failover, sync: RPO 0 orders, %lld bytes of WAL past %s\n",
              static_cast<long long>(failover.at("rpo_wal_bytes").to_number<int64_t>()),
              std::string(failover.at("switch_lsn").as_string()).c_str());
  const auto& writes_inv = invariant_named(r, "writes recover after the primary is killed");
  const auto& writes = writes_inv.at("evidence").as_object();
  EXPECT_GT(
      writes.at("failed_writes").to_number<int64_t>() + writes.at("unknown_writes").to_number<int64_t>(), 0);
  const double rto = writes.at("rto_s").to_number<double>();
  std::printf("[ measure ] db failover: detect %.1f s, failed writes for %.1f s, RTO %.1f s\n",
              writes.at("time_to_detect_s").to_number<double>(),
              writes.at("seconds_with_failed_writes").to_number<double>(), rto);
  EXPECT_LE(rto, 30.0);
  // The fault hit the member that led at start (pg1), and the drill's topology shows the new leader.
  const auto& members = r.results.at("drill").at("topology").at("database").at("members").as_array();
  for (const auto& m : members) {
    if (m.at("name") == "pg2") {
      EXPECT_EQ(m.at("role").as_string(), "leader") << json::serialize(members);
    }
  }
}

// The broken mode (deterministic loss): asynchronous replication and the replica held back for 3 s before
// the kill (pg1's WAL stream to it dropped on `replication:pg1`). Orders acknowledged in those seconds are
// lost: the drill exits 98, "acknowledged orders exist exactly once" fails naming them, and the RPO
// invariant holds (the loss was caught). Cross-checked against the recorded history: every named order
// was acknowledged (its id and key in an ok operation), after the hold-back began and before the kill,
// and looked up again on the new primary it is absent; the WAL the old primary wrote past the new
// timeline's switch point is measured and > 0.
TEST(drill_gameday, db_failover_with_a_held_back_async_replica_names_the_lost_orders) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill("gameday_db_failover.lua", dir,
                 {"--shop-arg", "--replicas", "--shop-arg", "1", "--shop-arg", "--sync-replication",
                  "--shop-arg", "off", "-e", "DURATION=30s", "-e", "FAULT_AT=6s", "-e", "HOLD_BACK=3s"});
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 98) << r.log;
  EXPECT_FALSE(r.results.at("verify").at("ok").as_bool());
  const auto& set = invariant_named(r, "acknowledged orders exist exactly once");
  EXPECT_FALSE(set.at("ok").as_bool()) << json::serialize(set);
  const auto& rpo = invariant_named(r, "acknowledged orders lost in the failover (RPO)");
  EXPECT_TRUE(rpo.at("ok").as_bool()) << json::serialize(rpo);
  const auto& e = rpo.at("evidence").as_object();
  EXPECT_EQ(e.at("mode"), "asynchronous replication, replica held back");
  const auto lost = e.at("lost_count").to_number<int64_t>();
  EXPECT_GT(lost, 0) << json::serialize(rpo);
  EXPECT_EQ(set.at("evidence").at("lost_count").to_number<int64_t>(), lost);
  // The acknowledged orders of the history: order id -> (key, ack time); an id may have been acknowledged
  // twice: the new primary's sequence gives the ids of lost orders again.
  std::multimap<int64_t, std::pair<std::string, double>> acked;
  std::map<int64_t, const json::object*> invokes;
  for (const auto& h : r.results.at("history").as_array()) {
    const auto& o = h.as_object();
    if (o.at("op") != "order" && o.at("op") != "flash_purchase") continue;
    if (o.at("type") == "invoke") invokes[o.at("id").to_number<int64_t>()] = &o;
    if (o.at("type") != "ok") continue;
    const auto* inv = invokes[o.at("id").to_number<int64_t>()];
    ASSERT_NE(inv, nullptr);
    const auto& v = inv->at("value").as_object();
    const std::string key =
        o.at("op") == "order"
            ? "order/" + json::serialize(v.at("user_id")) + "/" + std::string(v.at("key").as_string())
            : "flash/" + json::serialize(v.at("sale_id")) + "/" + json::serialize(v.at("user_id"));
    acked.emplace(o.at("value").at("order_id").to_number<int64_t>(),
                  std::pair{key, o.at("t").to_number<double>()});
  }
  const double kill_s = e.at("kill_at_s").to_number<double>();
  const double hold_s = e.at("hold_back_from_s").to_number<double>();
  const auto& named = e.at("lost_orders").as_array();
  EXPECT_EQ(static_cast<int64_t>(named.size()), std::min<int64_t>(lost, 100));
  int64_t looked_up = 0;
  for (const auto& n : named) {
    const auto id = n.at("order_id").to_number<int64_t>();
    const std::string key(n.at("key").as_string());
    SCOPED_TRACE("lost order " + std::to_string(id) + " " + key);
    // The history says this id was acknowledged for this key, between the hold-back and the kill
    // (the kill's second: an answer already on its way when the primary died).
    const auto [from, to] = acked.equal_range(id);
    const auto it = std::find_if(from, to, [&](const auto& a) { return a.second.first == key; });
    ASSERT_NE(it, to) << "named but never acknowledged for this key";
    EXPECT_GE(it->second.second, hold_s - 0.5);
    EXPECT_LE(it->second.second, kill_s + 1.0);
    if (n.as_object().contains("on_new_primary")) {
      EXPECT_EQ(n.at("on_new_primary"), "absent");
      ++looked_up;
    }
  }
  EXPECT_GT(looked_up, 0);
  EXPECT_EQ(e.at("lookups").at("absent").to_number<int64_t>(), looked_up);
  for (const auto& c : e.at("controls").as_array()) {
    EXPECT_EQ(c.at("found"), "present") << "the lookup finds a customer's order that was not lost";
  }
  EXPECT_FALSE(e.at("controls").as_array().empty());
  // Orders acknowledged before the hold-back began are not lost.
  for (const auto& [id, a] : acked) {
    if (a.second < hold_s - 0.5) {
      for (const auto& n : named) EXPECT_NE(n.at("key").as_string(), a.first) << id;
    }
  }
  // The ids are in the reports: JUnit's failure and the Markdown summary.
  const std::string junit = read_text(dir.path() / "out" / "junit.xml");
  const std::string md = read_text(dir.path() / "out" / "summary.md");
  const std::string first = std::to_string(named.at(0).at("order_id").to_number<int64_t>()) + " (" +
                            std::string(named.at(0).at("key").as_string()) + ")";
  EXPECT_NE(junit.find(first), std::string::npos) << first;
  EXPECT_NE(md.find(first), std::string::npos) << first;
  // RPO in bytes of WAL, measured and > 0, beside the orders in the invariant and on the kill fault.
  const auto& failover = r.results.at("drill").at("failover");
  ASSERT_TRUE(failover.at("measured").as_bool()) << json::serialize(failover);
  EXPECT_EQ(failover.at("old_primary"), "pg1");
  EXPECT_EQ(failover.at("new_primary"), "pg2");
  const auto bytes = failover.at("rpo_wal_bytes").to_number<int64_t>();
  EXPECT_GT(bytes, 0);
  EXPECT_EQ(e.at("rpo_wal_bytes").to_number<int64_t>(), bytes);
  EXPECT_NE(std::string(rpo.at("detail").as_string()).find("RPO in WAL: " + std::to_string(bytes) + " bytes"),
            std::string::npos);
  bool on_fault = false;
  for (const auto& c : r.results.at("chaos").as_array()) {
    if (c.at("fault") == "kill") on_fault = c.at("rpo").at("rpo_wal_bytes").to_number<int64_t>() == bytes;
  }
  EXPECT_TRUE(on_fault);
  std::printf("[ measure ] db failover, async held back 3 s: RPO %lld orders, %lld bytes of WAL\n",
              static_cast<long long>(lost), static_cast<long long>(bytes));
}

// The partition game day's short form (primary + 1 synchronous replica): `primary` cut off from etcd, the
// clients, the health checks and its replica for 18 s while it runs. The write probe on every member's own
// port shows no split brain, the old primary acknowledging nothing after the cut (its commits wait for the
// standby it lost) and refusing writes once its Patroni demoted it, within the leader key's ttl; pg2 takes
// over; no acknowledged order and no acknowledged probe write is lost, and orders come back.
TEST(drill_gameday, db_partition_has_no_split_brain_and_loses_no_acknowledged_order_in_sync_mode) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill("gameday_db_partition.lua", dir,
                 {"--shop-arg", "--replicas", "--shop-arg", "1", "-e", "DURATION=34s", "-e", "FAULT_AT=4s",
                  "-e", "FAULT_FOR=18s"});
  ASSERT_NO_FATAL_FAILURE(expect_verdict(r, 0, 9));
  const auto& invariants = invariants_of(r);
  expect_faults_with_recovery(r, 1);
  const auto& fault = r.results.at("chaos").at(0).as_object();
  EXPECT_EQ(fault.at("resolved").as_string(), "pg1") << json::serialize(fault);
  EXPECT_EQ(json::serialize(fault.at("links")), R"(["dcs:pg1","postgres:pg1","rest:pg1","replication:pg1"])");
  EXPECT_EQ(invariants.at(0).at("name").as_string(), "acknowledged orders exist exactly once");
  EXPECT_EQ(invariants.at(0).at("evidence").at("lost_count").to_number<int64_t>(), 0)
      << json::serialize(invariants.at(0));
  const auto& split = invariants.at(5).as_object();
  EXPECT_EQ(split.at("name").as_string(), "no split brain: never two members acknowledging writes at once");
  EXPECT_EQ(split.at("evidence").at("overlap_s").to_number<double>(), 0.0) << json::serialize(split);
  const auto& old = invariants.at(6).at("evidence").as_object();
  EXPECT_EQ(invariants.at(6).at("name").as_string(), "the cut-off primary stopped acknowledging writes");
  EXPECT_EQ(old.at("old_primary").as_string(), "pg1");
  EXPECT_TRUE(old.at("accepting_at_cut").as_bool()) << json::serialize(old);
  // In sync mode a commit on the cut-off primary waits for the standby: nothing acknowledged after the cut.
  EXPECT_EQ(old.at("acks_after_cut").to_number<int64_t>(), 0) << json::serialize(old);
  ASSERT_TRUE(old.contains("refused_from_s")) << "never demoted: " << json::serialize(old);
  const double demoted = old.at("refused_from_s").to_number<double>();
  EXPECT_LE(demoted, 10.0) << "demoted after the leader key's ttl: " << json::serialize(old);
  EXPECT_EQ(old.at("new_primary").as_string(), "pg2") << json::serialize(old);
  const double takeover = old.at("new_primary_first_ack_s").to_number<double>();
  EXPECT_GT(takeover, demoted) << "the new primary acknowledged writes before the old one stopped";
  const auto& kept = invariants.at(7).as_object();
  EXPECT_EQ(kept.at("name").as_string(),
            "every write the probe saw acknowledged is on the primary at the end");
  EXPECT_EQ(kept.at("evidence").at("checked_on").as_string(), "pg2") << json::serialize(kept);
  EXPECT_GT(kept.at("evidence").at("acknowledged").to_number<int64_t>(), 0) << json::serialize(kept);
  EXPECT_EQ(kept.at("evidence").at("lost_count").to_number<int64_t>(), 0) << json::serialize(kept);
  const auto& writes = invariants.back().at("evidence").as_object();
  EXPECT_EQ(invariants.back().at("name").as_string(), "writes recover after the partition");
  const double rto = writes.at("rto_s").to_number<double>();
  EXPECT_LE(rto, 30.0);
  std::printf(
      "[ measure ] db partition: old primary refused writes %.1f s after the cut, new primary acknowledged "
      "from %.1f s, customers' RTO %.1f s\n",
      demoted, takeover, rto);
}

// The same partition with asynchronous replication: the old primary acknowledges the probe's writes on its
// side for the seconds until its Patroni demotes it (bounded by the ttl, still no split brain), and every one
// of them is gone once pg2 leads: the probe's check names them by token (exit 98, the expectation set by the
// mode). The shop's own orders are not lost: its clients' path was cut at once.
TEST(drill_gameday, db_partition_in_async_mode_names_the_writes_the_old_primary_acknowledged_and_lost) {
  temp_dir dir{"stampede-drill-test"};
  auto r = drill("gameday_db_partition.lua", dir,
                 {"--shop-arg", "--replicas", "--shop-arg", "1", "--shop-arg", "--sync-replication",
                  "--shop-arg", "off", "-e", "DURATION=34s", "-e", "FAULT_AT=4s", "-e", "FAULT_FOR=18s"});
  ASSERT_NO_FATAL_FAILURE(expect_verdict(r, 98, 9, 7));
  const auto& invariants = invariants_of(r);
  const auto& old = invariants.at(6).at("evidence").as_object();
  const int64_t acked = old.at("acks_after_cut").to_number<int64_t>();
  EXPECT_GT(acked, 0) << "asynchronous: the cut-off primary acknowledges writes until it is demoted";
  EXPECT_LE(old.at("last_ack_after_cut_s").to_number<double>(), 10.0) << json::serialize(old);
  EXPECT_EQ(invariants.at(5).at("evidence").at("overlap_s").to_number<double>(), 0.0);
  const auto& lost = invariants.at(7).at("evidence").as_object();
  // Every write it acknowledged after the cut is lost, give or take the one in flight as the links were cut
  // (the cut is noted just before the proxies' toxics are in place; an asynchronous commit acknowledged just
  // before it may not have streamed yet).
  const int64_t lost_after_cut = lost.at("lost_after_cut").to_number<int64_t>();
  EXPECT_GE(lost_after_cut, acked - 1) << json::serialize(lost);
  EXPECT_LE(lost_after_cut, acked) << json::serialize(lost);
  EXPECT_LE(lost.at("lost_count").to_number<int64_t>() - lost_after_cut, 1)
      << "only those: " << json::serialize(lost);
  EXPECT_EQ(std::string(lost.at("lost").at(0).as_string()).rfind("pg1-", 0), 0u) << json::serialize(lost);
  std::printf(
      "[ measure ] db partition, async: the old primary acknowledged %lld writes until %.1f s after the "
      "cut, all lost\n",
      static_cast<long long>(acked), old.at("last_ack_after_cut_s").to_number<double>());
}

// The replica-lag game day's two short forms (primary + 1 replica; a 1.5 s latency toxic on the WAL that
// the primary's replication link `replication:pg1` carries): the checker's outcome is set by the mode.
const std::vector<std::string> replica_lag_form{"--shop-arg", "--replicas",   "--shop-arg", "1",
                                                "-e",         "DURATION=15s", "-e",         "FAULT_AT=5s",
                                                "-e",         "FAULT_FOR=8s"};

// The read-your-writes invariant of a replica-lag run (the last one); the others must all hold.
json::object replica_lag_verdict(const drill_run& r) {
  const auto& invariants = r.results.at("verify").at("invariants").as_array();
  EXPECT_EQ(invariants.size(), 6u) << json::serialize(invariants);
  for (size_t i = 0; i + 1 < invariants.size(); ++i) {
    EXPECT_TRUE(invariants[i].at("ok").as_bool()) << json::serialize(invariants[i]);
  }
  EXPECT_EQ(invariants.back().at("name").as_string(), "customers read their own orders (read-your-writes)");
  const auto& chaos = r.results.at("chaos").as_array();
  EXPECT_EQ(chaos.at(0).at("target").as_string(), "replication:pg1");
  EXPECT_GT(chaos.at(0).at("injections").to_number<int64_t>(), 0) << "the replica's stream crossed the proxy";
  return invariants.back().as_object();
}

// A read-your-writes mode's evidence: no violation over enough reads and writes, and the replica still
// serving order reads.
void expect_no_violation(const json::object& e) {
  EXPECT_EQ(e.at("violations").to_number<int64_t>(), 0);
  EXPECT_GT(e.at("reads_checked").to_number<int64_t>(), 20);
  EXPECT_GT(e.at("writes_checked").to_number<int64_t>(), 20);
  EXPECT_GT(e.at("order_reads").at("replica").to_number<int64_t>(), 0)
      << "readers without a recent write use the replica";
}

// Replica reads on: customers who read right after ordering miss the orders they were just told about
// (stale reads from the lagging replica); the checker counts them and names the orders: exit 98.
TEST(drill_gameday, replica_lag_with_replica_reads_on_reports_violations) {
  temp_dir dir;
  auto args = replica_lag_form;
  args.insert(args.end(), {"--shop-arg", "--replica-reads", "--shop-arg", "on"});
  auto r = drill("gameday_replica_lag.lua", dir, args);
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 98) << r.log;
  const auto ryw = replica_lag_verdict(r);
  EXPECT_FALSE(ryw.at("ok").as_bool()) << json::serialize(ryw);
  const auto& e = ryw.at("evidence").as_object();
  const auto violations = e.at("violations").to_number<int64_t>();
  EXPECT_GT(violations, 0) << json::serialize(ryw);
  EXPECT_GT(e.at("orders").as_array().size(), 0u) << "the stale orders are named";
  EXPECT_EQ(e.at("order_reads").at("primary").to_number<int64_t>(), 0);
  EXPECT_GT(e.at("order_reads").at("replica").to_number<int64_t>(), 0);
  std::printf("[ measure ] replica lag, reads on: %lld violations in %lld of %lld reads, up to %.2f s late\n",
              static_cast<long long>(violations),
              static_cast<long long>(e.at("stale_reads").to_number<int64_t>()),
              static_cast<long long>(e.at("reads_checked").to_number<int64_t>()),
              e.at("max_behind_s").to_number<double>());
}

// read-your-writes (the scenario's default): a customer's reads go to the primary for 5 s after their
// checkout: no violation, while the customers who did not order read from the replica.
TEST(drill_gameday, replica_lag_with_read_your_writes_has_no_violation) {
  temp_dir dir;
  auto r = drill("gameday_replica_lag.lua", dir, replica_lag_form);
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  const auto ryw = replica_lag_verdict(r);
  EXPECT_TRUE(ryw.at("ok").as_bool()) << json::serialize(ryw);
  const auto& e = ryw.at("evidence").as_object();
  expect_no_violation(e);
  EXPECT_GT(e.at("order_reads").at("primary").to_number<int64_t>(), 0);
}

// read-your-writes-lsn: a write's answer carries the primary's WAL position after it; a customer's next
// read waits (200 ms at most) for the replica to have replayed that far, else reads the primary. No
// violation, and reads keep going to the replica (also a writer's, once it has caught up).
TEST(drill_gameday, replica_lag_with_read_your_writes_by_lsn_has_no_violation) {
  temp_dir dir;
  auto args = replica_lag_form;
  args.insert(args.end(), {"--shop-arg", "--replica-reads", "--shop-arg", "read-your-writes-lsn"});
  auto r = drill("gameday_replica_lag.lua", dir, args);
  ASSERT_TRUE(r.results.is_object()) << r.log;
  EXPECT_EQ(r.code, 0) << r.log;
  const auto ryw = replica_lag_verdict(r);
  EXPECT_TRUE(ryw.at("ok").as_bool()) << json::serialize(ryw);
  const auto& e = ryw.at("evidence").as_object();
  expect_no_violation(e);
  std::printf(
      "[ measure ] replica lag, read-your-writes-lsn: %lld reads on the primary, %lld on the replica\n",
      static_cast<long long>(e.at("order_reads").at("primary").to_number<int64_t>()),
      static_cast<long long>(e.at("order_reads").at("replica").to_number<int64_t>()));
}

}  // namespace
