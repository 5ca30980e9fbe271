#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

TEST(timeout_toxic, drops_every_chunk_and_marks_the_stream_corrupt) {
  auto unit = make(spec_of(toxic_type::timeout));
  capture log;
  EXPECT_FALSE(unit->stream_corrupt());
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    auto h = chunk(seq, 100);
    EXPECT_EQ(unit->on_data(h, log.at(t0)).what, verdict::action::drop);
  }
  EXPECT_TRUE(unit->stream_corrupt());
  ASSERT_EQ(log.entries.size(), 1u);  // logged once, not per chunk
  EXPECT_EQ(log.entries[0].detail, "dropping data");
  EXPECT_FALSE(unit->deadline());  // timeout 0: a black hole until removed
}

TEST(timeout_toxic, closes_the_connection_timeout_after_it_became_active) {
  auto t = spec_of(toxic_type::timeout);
  t.timeout = 300;
  auto unit = make(t, {.activated = t0 + 5s});
  capture log;
  ASSERT_TRUE(unit->deadline());
  EXPECT_EQ(*unit->deadline(), t0 + 5s + 300ms);
  EXPECT_EQ(unit->on_deadline(log.at(t0 + 5300ms)).what, verdict::action::close);
  ASSERT_EQ(log.entries.size(), 1u);
  EXPECT_EQ(log.entries[0].detail, "closed after 300ms");
}

TEST(timeout_toxic, an_update_keeps_the_corruption_of_the_version_it_replaces) {
  auto before = make(spec_of(toxic_type::timeout));
  capture log;
  auto h = chunk(1, 10);
  before->on_data(h, log.at(t0));
  auto after = make(spec_of(toxic_type::timeout));
  after->inherit(*before);
  EXPECT_TRUE(after->stream_corrupt());
  auto clean = make(spec_of(toxic_type::timeout));
  clean->inherit(*make(spec_of(toxic_type::timeout)));
  EXPECT_FALSE(clean->stream_corrupt());
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
