// results.drill.shards on known answers (drill/shard_outcomes.h, drill/in_doubt_sampler.h): the tracker's
// resolution times from samples, each transaction's time in doubt (its parts' longest), stuck ones, those
// resolved by recovery (past the lease), the orders per outcome from the audit's txn_outcomes, 2pc and saga,
// and a drill where nothing happened.
#include "drill/shard_outcomes.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace stampede::drill {
namespace {

namespace json = boost::json;

constexpr int64_t t0 = 1'700'000'000'000;  // unix ms

json::object audit_2pc(int64_t orders, int64_t aborts, int64_t prepared) {
  return json::object{
      {"prepared_transactions", prepared},
      {"sagas_open", 0},
      {"txn_outcomes",
       json::object{
           {"cross_shard_orders", orders},
           {"cross_shard_failed", 0},
           {"decisions", json::object{{"commit", orders}, {"abort", aborts}}},
           {"sagas", json::object{{"running", 0}, {"done", 0}, {"compensating", 0}, {"compensated", 0}}},
           {"released_parts_without_order", 0}}}};
}

TEST(in_doubt_tracker, a_transaction_is_resolved_at_the_first_sample_of_its_shard_without_it) {
  in_doubt_tracker t;
  t.observe(0, t0 + 250, {{"stampede:1:A:0", t0}});
  t.observe(1, t0 + 260, {{"stampede:1:A:1", t0 + 5}});
  t.observe_failure(0, t0 + 500);  // frozen: concludes nothing
  t.observe(1, t0 + 510, {});      // shard 1's part gone
  t.observe(0, t0 + 3000, {{"stampede:1:A:0", t0}});
  t.observe(0, t0 + 3250, {});
  ASSERT_EQ(t.records.size(), 2u);
  EXPECT_EQ(t.records[0].shard, 0);
  EXPECT_EQ(t.records[0].last_seen_ms, t0 + 3000);
  EXPECT_EQ(t.records[0].resolved_ms, t0 + 3250);
  EXPECT_EQ(t.records[1].resolved_ms, t0 + 510);
  EXPECT_EQ(t.samples, 5);
  EXPECT_EQ(t.failed_samples, 1);
}

TEST(shard_outcomes, counts_stuck_transactions_recovery_and_every_outcome_with_two_phase_commit) {
  shard_outcome_inputs in;
  in.txn = "2pc";
  in.shards = 2;
  in.lease_ms = 3000;
  in.end_ms = t0 + 20'000;
  // A: 0.2 s (not stuck); B: 4.5 s on shard 0, 1.0 s on shard 1 -> 4.5 s, past the lease (recovery);
  // C: 1.5 s, stuck, by its coordinator; D: never resolved (12 s until the end of sampling).
  in.in_doubt.observe(0, t0 + 200, {{"stampede:1:A:0", t0}, {"stampede:0:B:0", t0}});
  in.in_doubt.observe(1, t0 + 210, {{"stampede:0:B:1", t0 + 100}, {"stampede:0:C:1", t0 + 500}});
  in.in_doubt.observe(0, t0 + 400, {{"stampede:0:B:0", t0}});
  in.in_doubt.observe(1, t0 + 1100, {{"stampede:0:C:1", t0 + 500}});
  in.in_doubt.observe(1, t0 + 2000, {});
  in.in_doubt.observe(0, t0 + 4500, {{"stampede:1:D:0", t0 + 8000}});
  in.audit = audit_2pc(40, 2, 1);
  const json::object out = shard_outcomes(in);
  const auto& d = out.at("in_doubt").as_object();
  EXPECT_EQ(d.at("transactions").as_int64(), 4);
  EXPECT_EQ(d.at("stuck").as_int64(), 3);  // B, C, D
  EXPECT_DOUBLE_EQ(d.at("max_s").as_double(), 12.0);
  EXPECT_DOUBLE_EQ(d.at("stuck_total_s").as_double(), 12.0 + 4.5 + 1.5);
  EXPECT_EQ(d.at("unresolved").as_int64(), 1);
  const auto& longest = d.at("longest").as_array();
  ASSERT_EQ(longest.size(), 3u);
  EXPECT_EQ(longest[0].at("gid").as_string(), "stampede:1:D");
  EXPECT_FALSE(longest[0].at("resolved").as_bool());
  EXPECT_EQ(longest[1].at("gid").as_string(), "stampede:0:B");
  EXPECT_EQ(longest[1].at("parts_seen").as_int64(), 2);
  const auto& o = out.at("orders").as_object();
  EXPECT_EQ(o.at("committed").as_int64(), 40);
  EXPECT_EQ(o.at("aborted").as_int64(), 2);
  EXPECT_TRUE(o.at("compensated").is_null());
  EXPECT_EQ(o.at("resolved_by_recovery").as_int64(), 1);  // B only: D is not resolved, C within the lease
  EXPECT_EQ(o.at("in_doubt").as_int64(), 1);
  EXPECT_TRUE(out.at("audit_read").as_bool());
  const std::string line = shard_outcomes_line(json::object{{"drill", json::object{{"shards", out}}}});
  EXPECT_EQ(
      line,
      "cross-shard orders (2pc): 40 committed, 2 aborted, - compensated, 1 resolved by recovery, 1 still in "
      "doubt; in doubt: 3 stuck >= 1 s, longest 12.0 s, 1 unresolved");
}

TEST(shard_outcomes, sagas_report_compensations_and_nothing_in_doubt) {
  shard_outcome_inputs in;
  in.txn = "saga";
  in.shards = 3;
  in.end_ms = t0;
  in.audit = audit_2pc(25, 0, 0);
  in.audit["txn_outcomes"].as_object()["sagas"].as_object()["compensated"] = 7;
  const json::object out = shard_outcomes(in);
  const auto& o = out.at("orders").as_object();
  EXPECT_EQ(o.at("committed").as_int64(), 25);
  EXPECT_TRUE(o.at("aborted").is_null());
  EXPECT_EQ(o.at("compensated").as_int64(), 7);
  EXPECT_TRUE(o.at("resolved_by_recovery").is_null());
  EXPECT_EQ(o.at("in_doubt").as_int64(), 0);
}

TEST(shard_outcomes, nothing_happened_gives_zeros_and_an_unread_audit_says_so) {
  shard_outcome_inputs in;
  in.txn = "2pc";
  in.shards = 2;
  in.end_ms = t0 + 1000;
  in.in_doubt.observe(0, t0 + 250, {});
  in.in_doubt.observe(1, t0 + 250, {});
  in.audit = audit_2pc(0, 0, 0);
  json::object out = shard_outcomes(in);
  const auto& d = out.at("in_doubt").as_object();
  EXPECT_EQ(d.at("transactions").as_int64(), 0);
  EXPECT_EQ(d.at("stuck").as_int64(), 0);
  EXPECT_DOUBLE_EQ(d.at("max_s").as_double(), 0.0);
  EXPECT_EQ(d.at("samples").as_int64(), 2);
  EXPECT_TRUE(d.at("longest").as_array().empty());
  for (const char* key : {"committed", "aborted", "resolved_by_recovery", "in_doubt"}) {
    EXPECT_EQ(out.at("orders").at(key).as_int64(), 0) << key;
  }
  in.audit = {};  // the audit could not be read
  out = shard_outcomes(in);
  EXPECT_FALSE(out.at("audit_read").as_bool());
  EXPECT_EQ(out.at("orders").at("committed").as_int64(), 0);
  EXPECT_EQ(shard_outcomes_line(json::object{}), "");
}

}  // namespace
}  // namespace stampede::drill
