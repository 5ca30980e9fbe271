#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(limit_time_toxic, cuts_time_after_the_connection_started_with_fin_or_rst) {
  auto t = spec_of(toxic_type::limit_time);
  t.time = 200;
  auto fin = make(t, {.activated = t0, .connection_start = t0});
  capture log;
  EXPECT_EQ(*fin->deadline(), t0 + 200ms);
  EXPECT_EQ(fin->on_deadline(log.at(t0 + 200ms)).what, verdict::action::close);
  t.reset = true;
  auto rst = make(t);
  EXPECT_EQ(rst->on_deadline(log.at(t0 + 200ms)).what, verdict::action::reset);
  ASSERT_EQ(log.entries.size(), 2u);
  EXPECT_EQ(log.entries[0].detail, "closed after 200ms");
  EXPECT_EQ(log.entries[1].detail, "reset after 200ms");
}

TEST(limit_time_toxic, counts_from_when_it_appeared_on_an_older_connection) {
  auto t = spec_of(toxic_type::limit_time);
  t.time = 200;
  auto unit = make(t, {.activated = t0 + 10s, .connection_start = t0});
  EXPECT_EQ(*unit->deadline(), t0 + 10s + 200ms);
  auto data = chunk(1, 10);
  capture log;
  EXPECT_TRUE(unit->on_data(data, log.at(t0)).passes());  // no effect on the bytes themselves
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
