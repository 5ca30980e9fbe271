#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

constexpr toxic_type all_types[] = {
    toxic_type::latency,    toxic_type::bandwidth,   toxic_type::slow_close, toxic_type::timeout,
    toxic_type::reset_peer, toxic_type::slicer,      toxic_type::limit_data, toxic_type::limit_time,
    toxic_type::slow_open,  toxic_type::packet_loss, toxic_type::http_abort, toxic_type::http_delay,
};

TEST(toxic_catalogue, every_type_has_a_unit_of_its_type) {
  for (toxic_type type : all_types) {
    auto t = spec_of(type);
    if (type == toxic_type::slicer) t.average_size = 10;
    auto unit = make(t);
    ASSERT_NE(unit, nullptr) << to_string(type);
    EXPECT_EQ(unit->spec().type, type);
    EXPECT_EQ(entry(type).type, type);
  }
}

TEST(toxic_catalogue, stream_toxics_drop_before_they_delay_and_delay_before_they_cut) {
  auto rank = [](toxic_type t) { return entry(t).rank; };
  EXPECT_LT(rank(toxic_type::timeout), rank(toxic_type::reset_peer));
  EXPECT_LT(rank(toxic_type::reset_peer), rank(toxic_type::packet_loss));
  EXPECT_LT(rank(toxic_type::packet_loss), rank(toxic_type::latency));
  EXPECT_LT(rank(toxic_type::latency), rank(toxic_type::limit_data));
  EXPECT_LT(rank(toxic_type::limit_data), rank(toxic_type::slicer));
  EXPECT_LT(rank(toxic_type::slicer), rank(toxic_type::bandwidth));
  EXPECT_EQ(entry(toxic_type::limit_time).scope, scope::connection);
  EXPECT_EQ(entry(toxic_type::http_abort).scope, scope::request);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
