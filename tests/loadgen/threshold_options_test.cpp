// loadgen's adapter from its flat run options to the results component's k6 threshold grammar
// (results/thresholds.h; the grammar's own tests are tests/results/thresholds_test.cpp).
#include "loadgen/thresholds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "loadgen/options.h"
#include "tests/support/error_of.h"

namespace stampede::loadgen {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

using stampede::testing::error_of;

TEST(build_thresholds, from_run_options) {
  const std::vector<threshold_input> input{
      {"http_req_duration{name:GET /api/cart}", "p(99)<250", true, 5s},
      {"checks", "rate>0.99", false, 0ns},
  };
  const auto t = build_thresholds_from_options(input);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].selector.tags, (std::vector<tag_filter>{{"name", "GET /api/cart"}}));
  EXPECT_EQ(t[0].delay_abort_eval, 5s);
  EXPECT_TRUE(t[0].abort_on_fail);
  EXPECT_EQ(t[1].selector.type, metric_type::rate);
  EXPECT_EQ(
      error_of([] {
        build_thresholds_from_options(std::vector<threshold_input>{{"checks", "count>1", false, 0ns}});
      }),
      "thresholds['checks']: invalid threshold expression 'count>1' for a rate metric: aggregation 'count' "
      "does not apply to a rate metric (expected rate)");
  EXPECT_THAT(error_of([] {
                build_thresholds_from_options(std::vector<threshold_input>{{"checks", "rate>1", true, -1s}});
              }),
              HasSubstr("delayAbortEval must not be negative"));
}

}  // namespace
}  // namespace stampede::loadgen
