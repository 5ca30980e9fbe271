#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(slow_open_toxic, holds_the_connect_for_delay_and_logs_it_once) {
  auto t = spec_of(toxic_type::slow_open);
  t.delay = 150;
  auto unit = make(t, {.direction = "connection"});
  capture log;
  EXPECT_EQ(unit->connect_delay(log.at(t0)), 150ms);
  EXPECT_EQ(unit->connect_delay(log.at(t0 + 100ms)), 150ms);
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "connect delayed 150ms");
  EXPECT_EQ(log.entries[0].direction, "connection");
}

TEST(slow_open_toxic, says_nothing_when_the_delay_is_already_over) {
  auto t = spec_of(toxic_type::slow_open);
  t.delay = 150;
  auto unit = make(t);
  capture log;
  EXPECT_EQ(unit->connect_delay(log.at(t0 + 1s)), 150ms);
  EXPECT_TRUE(log.entries.empty());
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
