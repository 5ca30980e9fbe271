#include "toxic_test_support.h"

namespace stampede::chaos::toxics::testing {
namespace {

struct slice {
  size_t size;
  steady::time_point at;
};

// Writes one chunk of `size` bytes through the slicer as the pump would; returns the slices.
std::vector<slice> write_through(toxic_unit& unit, capture& log, uint64_t seq, size_t size,
                                 steady::time_point& now) {
  std::vector<slice> out;
  size_t offset = 0;
  while (offset < size) {
    auto h = chunk(seq, size, t0, offset);
    const verdict v = unit.on_data(h, log.at(now));
    if (!v.passes()) {
      EXPECT_EQ(v.what, verdict::action::wait);
      now = v.until;
      continue;
    }
    const size_t n = std::min(h.remaining(), h.write_limit);
    out.push_back({n, now});
    offset += n;
    unit.on_written(chunk(seq, size, t0, offset), n, log.at(now));
  }
  return out;
}

TEST(slicer_toxic, slices_of_average_size_plus_minus_variation_delay_apart) {
  auto t = spec_of(toxic_type::slicer);
  t.average_size = 100;
  t.size_variation = 30;
  t.delay = 500;  // microseconds
  auto unit = make(t);
  capture log;
  auto now = t0;
  const auto slices = write_through(*unit, log, 1, 10'000, now);
  size_t total = 0;
  for (size_t i = 0; i < slices.size(); ++i) {
    total += slices[i].size;
    if (i + 1 < slices.size()) {
      EXPECT_GE(slices[i].size, 70u);
      EXPECT_LE(slices[i].size, 130u);
      EXPECT_EQ(slices[i + 1].at - slices[i].at, 500us);
    }
  }
  EXPECT_EQ(total, 10'000u);
  EXPECT_GE(slices.size(), 10'000u / 130);
  // The next chunk starts at once: the delay is between the slices of one chunk.
  auto next = chunk(2, 10);
  EXPECT_TRUE(unit->on_data(next, log.at(now)).passes());
}

TEST(slicer_toxic, same_seed_same_slices) {
  auto t = spec_of(toxic_type::slicer);
  t.average_size = 64;
  t.size_variation = 60;
  auto a = make(t, {.seed = 3}), b = make(t, {.seed = 3}), c = make(t, {.seed = 4});
  capture log;
  auto now = t0;
  std::vector<size_t> sa, sb, sc;
  for (const auto& s : write_through(*a, log, 1, 5000, now)) sa.push_back(s.size);
  for (const auto& s : write_through(*b, log, 1, 5000, now)) sb.push_back(s.size);
  for (const auto& s : write_through(*c, log, 1, 5000, now)) sc.push_back(s.size);
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

}  // namespace
}  // namespace stampede::chaos::toxics::testing
