// The partition game day's split-brain analysis (drill/split_brain.h) on probe data with known answers:
// a clean handover, two members acknowledging writes at once, an old primary that kept acknowledging for a
// while, commits left waiting, and nothing happened at all.
#include "drill/split_brain.h"

#include <gtest/gtest.h>

#include <vector>

namespace stampede::drill {
namespace {

using outcome = probe_outcome;

// One member's attempts every 0.2 s from `from` to `to` (exclusive), each taking 10 ms, with `result`.
void add(std::vector<probe_attempt>& out, const std::string& member, double from, double to, outcome result) {
  const int n = static_cast<int>((to - from) / 0.2 + 0.5);
  for (int i = 0; i < n; ++i) out.push_back({member, from + i * 0.2, from + i * 0.2 + 0.01, result, {}});
}

TEST(split_brain, a_clean_handover_has_no_overlap_and_names_both_times) {
  std::vector<probe_attempt> a;
  add(a, "pg1", 0, 10, outcome::ok);        // the primary until the cut at 10 s
  add(a, "pg1", 10, 14, outcome::unknown);  // commits wait for the standby it lost
  add(a, "pg1", 14, 30, outcome::refused);  // demoted: read-only or stopped
  add(a, "pg2", 0, 21, outcome::refused);   // the replica: read-only
  add(a, "pg2", 21, 30, outcome::ok);       // promoted
  const auto r = analyse_split_brain(a, partition_cut{"pg1", 10});
  EXPECT_EQ(r.attempts, static_cast<int>(a.size()));
  EXPECT_TRUE(r.overlaps.empty());
  EXPECT_EQ(r.overlap_s, 0);
  EXPECT_TRUE(r.old_primary_accepting_at_cut);
  EXPECT_FALSE(r.old_primary_last_ack_s.has_value()) << "nothing acknowledged after the cut";
  ASSERT_TRUE(r.old_primary_stopped_s.has_value());
  EXPECT_NEAR(*r.old_primary_stopped_s, 0.01, 1e-6);
  ASSERT_TRUE(r.old_primary_refused_s.has_value());
  EXPECT_NEAR(*r.old_primary_refused_s, 4.01, 1e-6) << "read-only from 14 s: 4 s after the cut";
  EXPECT_EQ(r.old_primary_acks_after_cut, 0);
  EXPECT_EQ(r.old_primary_unknown_after_cut, 20);
  EXPECT_EQ(r.old_primary_refused_after_cut, 80);
  EXPECT_EQ(r.new_primary, "pg2");
  ASSERT_TRUE(r.new_primary_first_ack_s.has_value());
  EXPECT_NEAR(*r.new_primary_first_ack_s, 11.01, 1e-6);
  ASSERT_EQ(r.spans.size(), 2u);
  EXPECT_EQ(r.spans[0].member, "pg1");
  EXPECT_NEAR(r.spans[0].from_s, -10, 1e-6);
  EXPECT_NEAR(r.spans[0].to_s, -0.19, 1e-6);
  EXPECT_EQ(r.spans[0].writes, 50);
  EXPECT_EQ(r.spans[1].member, "pg2");
  EXPECT_NEAR(r.spans[1].from_s, 11, 1e-6);
}

TEST(split_brain, two_members_acknowledging_at_once_is_an_overlap_in_seconds) {
  std::vector<probe_attempt> a;
  add(a, "pg1", 0, 16, outcome::ok);  // the old primary goes on acknowledging 6 s after the cut
  add(a, "pg1", 16, 20, outcome::refused);
  add(a, "pg2", 0, 12, outcome::refused);
  add(a, "pg2", 12, 20, outcome::ok);  // promoted at 12 s: 4 s of split brain
  const auto r = analyse_split_brain(a, partition_cut{"pg1", 10});
  ASSERT_EQ(r.overlaps.size(), 1u);
  EXPECT_EQ(r.overlaps[0].member, "pg1+pg2");
  EXPECT_NEAR(r.overlaps[0].from_s, 2, 1e-6);
  EXPECT_NEAR(r.overlaps[0].to_s, 5.81, 1e-6);
  EXPECT_NEAR(r.overlap_s, 3.81, 1e-6);
  ASSERT_TRUE(r.old_primary_last_ack_s.has_value());
  EXPECT_NEAR(*r.old_primary_last_ack_s, 5.81, 1e-6);
  EXPECT_NEAR(*r.old_primary_stopped_s, 6.01, 1e-6);
  EXPECT_EQ(r.old_primary_acks_after_cut, 30);
  EXPECT_NEAR(*r.new_primary_first_ack_s, 2.01, 1e-6);
  EXPECT_TRUE(to_json(r).at("split_brain").as_bool());
}

// An attempt in flight at the cut: a commit left waiting for the standby is the first sign the old primary
// stopped, and says nothing about whether it was accepting before (the one answered before the cut does);
// one acknowledged while in flight is not counted as acknowledged after the cut.
TEST(split_brain, attempts_in_flight_at_the_cut) {
  std::vector<probe_attempt> a{{"pg1", 9.6, 9.61, outcome::ok, {}},
                               {"pg1", 9.8, 10.8, outcome::unknown, {}},
                               {"pg1", 11, 12, outcome::unknown, {}}};
  auto r = analyse_split_brain(a, partition_cut{"pg1", 10});
  EXPECT_TRUE(r.old_primary_accepting_at_cut);
  EXPECT_NEAR(*r.old_primary_stopped_s, 0.8, 1e-9);
  EXPECT_EQ(r.old_primary_unknown_after_cut, 2);
  a.push_back({"pg1", 9.99, 10.01, outcome::ok, {}});
  r = analyse_split_brain(a, partition_cut{"pg1", 10});
  EXPECT_EQ(r.old_primary_acks_after_cut, 0);
  EXPECT_FALSE(r.old_primary_last_ack_s.has_value());
}

TEST(split_brain, three_members_overlapping_count_each_moment_once) {
  std::vector<probe_attempt> a{
      {"pg1", 0, 4, outcome::ok, {}}, {"pg2", 1, 5, outcome::ok, {}}, {"pg3", 2, 3, outcome::ok, {}}};
  const auto r = analyse_split_brain(a, std::nullopt);
  EXPECT_EQ(r.overlaps.size(), 3u);
  EXPECT_NEAR(r.overlap_s, 3, 1e-9) << "[1, 4] is covered once, although three pairs overlap in it";
}

TEST(split_brain, a_refusal_ends_a_run_so_alternating_members_never_overlap) {
  // A member acknowledging a write after a refusal starts a new span: pg1 and pg2 take turns, never at once.
  std::vector<probe_attempt> a{{"pg1", 0, 1, outcome::ok, {}},
                               {"pg1", 1, 2, outcome::refused, {}},
                               {"pg2", 1.5, 2.5, outcome::ok, {}},
                               {"pg2", 2.5, 3, outcome::unknown, {}},
                               {"pg1", 3, 4, outcome::ok, {}}};
  const auto r = analyse_split_brain(a, std::nullopt);
  EXPECT_EQ(r.spans.size(), 3u);
  EXPECT_TRUE(r.overlaps.empty());
}

TEST(split_brain, nothing_happened) {
  const auto empty = analyse_split_brain({}, std::nullopt);
  EXPECT_EQ(empty.attempts, 0);
  EXPECT_TRUE(empty.spans.empty());
  EXPECT_EQ(empty.overlap_s, 0);
  EXPECT_TRUE(to_json(empty).at("cut").is_null());
  // A cut with no attempt at all: nothing measured, nothing invented.
  const auto blind = analyse_split_brain({}, partition_cut{"pg1", 3});
  EXPECT_FALSE(blind.old_primary_accepting_at_cut);
  EXPECT_FALSE(blind.old_primary_last_ack_s.has_value());
  EXPECT_FALSE(blind.old_primary_stopped_s.has_value());
  EXPECT_FALSE(blind.old_primary_refused_s.has_value());
  EXPECT_TRUE(blind.new_primary.empty());
  const auto j = to_json(blind);
  EXPECT_TRUE(j.at("new_primary").is_null());
  EXPECT_TRUE(j.at("old_primary_last_ack_s").is_null());
  // One primary all along, no cut: one span, no overlap.
  std::vector<probe_attempt> steady;
  add(steady, "pg1", 0, 5, outcome::ok);
  add(steady, "pg2", 0, 5, outcome::refused);
  const auto calm = analyse_split_brain(steady, std::nullopt);
  ASSERT_EQ(calm.spans.size(), 1u);
  EXPECT_EQ(calm.spans[0].writes, 25);
  EXPECT_FALSE(to_json(calm).at("split_brain").as_bool());
}

// Acknowledged writes looked up at the end: those missing are lost, unknown ones are not judged, and the
// ones acknowledged after the cut are counted apart (the old primary's side of the partition).
TEST(split_brain, acknowledged_writes_missing_at_the_end_are_lost) {
  std::vector<probe_attempt> a{
      {"pg1", 1, 1.1, outcome::ok, "pg1-1"},     {"pg1", 2, 2.1, outcome::ok, "pg1-2"},
      {"pg1", 5, 5.1, outcome::ok, "pg1-3"},     {"pg1", 6, 6.1, outcome::ok, "pg1-4"},
      {"pg1", 7, 8, outcome::unknown, "pg1-5"},  {"pg2", 9, 9.1, outcome::ok, "pg2-1"},
      {"pg2", 3, 3.1, outcome::refused, "pg2-0"}};
  const std::vector<std::string> present{"pg1-1", "pg1-2", "pg2-1"};
  const auto r = check_acknowledged(a, present, partition_cut{"pg1", 4});
  EXPECT_EQ(r.acknowledged, 5);
  EXPECT_EQ(r.lost_count, 2);
  EXPECT_EQ(r.lost, (std::vector<std::string>{"pg1-3", "pg1-4"}));
  EXPECT_EQ(r.lost_after_cut, 2);
  EXPECT_NEAR(*r.first_lost_s, 1.1, 1e-9);
  EXPECT_NEAR(*r.last_lost_s, 2.1, 1e-9);
  // Everything there (the synchronous case), and nothing happened at all.
  const std::vector<std::string> all{"pg1-1", "pg1-2", "pg1-3", "pg1-4", "pg2-1"};
  const auto kept = check_acknowledged(a, all, partition_cut{"pg1", 4});
  EXPECT_EQ(kept.lost_count, 0);
  EXPECT_FALSE(kept.first_lost_s.has_value());
  const auto none = check_acknowledged({}, {}, std::nullopt);
  EXPECT_EQ(none.acknowledged, 0);
  EXPECT_EQ(none.lost_count, 0);
  EXPECT_TRUE(to_json(none).at("first_lost_s").is_null());
}

}  // namespace
}  // namespace stampede::drill
