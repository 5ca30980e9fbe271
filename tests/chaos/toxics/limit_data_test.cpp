#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(limit_data_toxic, lets_exactly_bytes_through_then_closes) {
  auto t = spec_of(toxic_type::limit_data);
  t.bytes = 1234;
  auto unit = make(t);
  capture log;
  auto first = chunk(1, 1000);
  ASSERT_TRUE(unit->on_data(first, log.at(t0)).passes());
  EXPECT_EQ(first.write_limit, 1234u);
  EXPECT_TRUE(unit->on_written(chunk(1, 1000, t0, 1000), 1000, log.at(t0)).passes());
  auto second = chunk(2, 1000);
  ASSERT_TRUE(unit->on_data(second, log.at(t0)).passes());
  EXPECT_EQ(second.write_limit, 234u);
  EXPECT_EQ(unit->on_written(chunk(2, 1000, t0, 234), 234, log.at(t0)).what, verdict::action::close);
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "closed after 1234 bytes");
}

TEST(limit_data_toxic, zero_bytes_closes_at_the_first_data) {
  auto unit = make(spec_of(toxic_type::limit_data));
  capture log;
  auto h = chunk(1, 10);
  EXPECT_EQ(unit->on_data(h, log.at(t0)).what, verdict::action::close);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
