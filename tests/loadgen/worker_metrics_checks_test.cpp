// worker_metrics' checks: indexed once by (group, name), counted in the run's totals and in the second's
// snapshot, which holds only the checks recorded in that second and sums to the live totals.
#include <gtest/gtest.h>

#include "loadgen/metrics.h"

namespace stampede::loadgen {
namespace {

TEST(worker_metrics_checks, a_check_is_indexed_once_by_group_and_name) {
  worker_metrics m;
  const size_t ok = m.check_index("", "status 200");
  EXPECT_EQ(m.check_index("", "status 200"), ok);
  const size_t in_group = m.check_index("::cart", "status 200");  // the same name in a group: another check
  EXPECT_NE(in_group, ok);
  EXPECT_EQ(m.check_index("::cart", "status 200"), in_group);
  EXPECT_NE(m.check_index("", "body"), ok);
}

TEST(worker_metrics_checks, totals_and_seconds_have_known_counts) {
  worker_metrics m;
  const size_t a = m.check_index("", "a"), b = m.check_index("::g", "b"), idle = m.check_index("", "idle");
  m.record_check(a, true);
  m.record_check(a, true);
  m.record_check(a, false);
  m.record_check(b, false);
  const interval_snapshot first = m.roll_interval(0, 0, 1, 1);
  ASSERT_EQ(first.checks.size(), 2u);  // `idle` was indexed but never recorded
  EXPECT_EQ(first.checks.at(check_key{"", "a"}).passes, 2);
  EXPECT_EQ(first.checks.at(check_key{"", "a"}).fails, 1);
  EXPECT_EQ(first.checks.at(check_key{"::g", "b"}).fails, 1);
  EXPECT_EQ(first.checks_total().passes, 2);
  EXPECT_EQ(first.checks_total().fails, 2);
  EXPECT_EQ(first.errors_by_kind[static_cast<size_t>(error_kind::check_failed)], 2);

  m.record_check(b, true);
  const interval_snapshot second = m.roll_interval(1, 0, 1, 1);
  ASSERT_EQ(second.checks.size(), 1u);  // only this second's
  EXPECT_EQ(second.checks.at(check_key{"::g", "b"}).passes, 1);
  EXPECT_EQ(second.checks_total().passes, 1);
  EXPECT_EQ(second.checks_total().fails, 0);
  EXPECT_TRUE(m.roll_interval(2, 0, 1, 1).checks.empty());  // nothing since

  const auto totals = m.checks();  // the run's, for the end-of-run merge: the checks recorded
  ASSERT_EQ(totals.size(), 2u);
  EXPECT_EQ(totals.at(check_key{"", "a"}).passes, 2);
  EXPECT_EQ(totals.at(check_key{"", "a"}).fails, 1);
  EXPECT_EQ(totals.at(check_key{"::g", "b"}).passes, 1);
  EXPECT_EQ(totals.at(check_key{"::g", "b"}).fails, 1);
  EXPECT_FALSE(totals.contains(check_key{"", "idle"}));
  (void)idle;
}

}  // namespace
}  // namespace stampede::loadgen
