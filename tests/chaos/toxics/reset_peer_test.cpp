#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(reset_peer_toxic, resets_timeout_after_the_first_data) {
  auto t = spec_of(toxic_type::reset_peer);
  t.timeout = 100;
  auto unit = make(t);
  capture log;
  auto h = chunk(1, 10);
  EXPECT_TRUE(waits_until(unit->on_data(h, log.at(t0 + 1s)), t0 + 1100ms));  // counted from the data
  EXPECT_TRUE(waits_until(unit->on_data(h, log.at(t0 + 1050ms)), t0 + 1100ms));
  EXPECT_TRUE(log.entries.empty());
  EXPECT_EQ(unit->on_data(h, log.at(t0 + 1100ms)).what, verdict::action::reset);
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "reset");
}

TEST(reset_peer_toxic, timeout_zero_resets_at_the_first_data) {
  auto unit = make(spec_of(toxic_type::reset_peer));
  capture log;
  auto h = chunk(1, 10);
  EXPECT_EQ(unit->on_data(h, log.at(t0)).what, verdict::action::reset);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
