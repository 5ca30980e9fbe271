// gameday.write_recovery (scenarios/lib/gameday.lua), the customers' view of a write outage that the
// failover and partition game days state, on hand-made order histories with known answers: nothing
// happened (not judged as recovered: the fault did not take), an outage that recovers inside the bound,
// one that recovers too late, one that never recovers, and failures before the fault's window ignored.
#include <gtest/gtest.h>

#include <string>

#include "tests/support/scenario_lua.h"

namespace {

// `order(h, id, t0, t1, outcome)`: one order invoked at t0, answered at t1 with outcome ("ok", "fail",
// "info": unknown, "pending": never answered).
constexpr const char* prelude = R"LUA(
env = {}
gameday = require('lib.gameday')
function order(h, id, t0, t1, outcome)
  h[#h + 1] = { id = id, op = "order", type = "invoke", value = { key = "k" .. id }, t = t0 }
  if outcome ~= "pending" then h[#h + 1] = { id = id, op = "order", type = outcome, value = {}, t = t1 } end
end
)LUA";

class write_recovery_test : public ::testing::Test {
 protected:
  // Runs `code` (which fills history `h`), then write_recovery for a fault at 10 s with an RTO bound of
  // 5 s; leaves OK, E (evidence) and D (detail) as globals.
  void check(const std::string& code) {
    const std::string all =
        "local h = {}\n" + code + "\nOK, E, D = gameday.write_recovery(h, 10, 5, 'the kill')";
    ASSERT_EQ(lua_.run(all), "");
  }
  std::string eval(const std::string& expr) { return lua_.eval(expr); }  // "nil" when nil

  stampede::testing::scenario_lua lua_{prelude};
};

TEST_F(write_recovery_test, nothing_failed_is_not_a_recovery_the_fault_did_not_take) {
  check("for i = 1, 20 do order(h, i, i, i + 0.1, 'ok') end");
  EXPECT_EQ(eval("OK"), "false");
  EXPECT_EQ(eval("D"), "no order failed after the kill (was the fault injected?)");
  EXPECT_EQ(eval("E.failed_writes"), "0");
  EXPECT_EQ(eval("E.unknown_writes"), "0");
  EXPECT_EQ(eval("E.seconds_with_failed_writes"), "0");
  EXPECT_EQ(eval("E.time_to_detect_s"), "nil");
  EXPECT_EQ(eval("E.rto_s"), "nil");
  EXPECT_EQ(eval("E.fault_at_s"), "10");
}

TEST_F(write_recovery_test, an_outage_that_recovers_inside_the_bound) {
  check(R"(order(h, 1, 8.0, 8.1, 'ok')
           order(h, 2, 10.5, 10.6, 'fail')
           order(h, 3, 11.0, 14.0, 'info')
           order(h, 4, 12.5, 12.6, 'fail')
           order(h, 5, 13.0, 13.2, 'ok')
           order(h, 6, 14.0, 14.1, 'ok'))");
  EXPECT_EQ(eval("OK"), "true") << eval("D");
  EXPECT_EQ(eval("E.failed_writes"), "2");
  EXPECT_EQ(eval("E.unknown_writes"), "1");
  EXPECT_EQ(eval("E.time_to_detect_s"), "0.5");
  EXPECT_EQ(eval("E.seconds_with_failed_writes"), "2.0");
  // The first order invoked after the last failure (12.5) and acknowledged: 13.2 - 10.
  EXPECT_EQ(eval("string.format('%.1f', E.rto_s)"), "3.2");
  EXPECT_EQ(eval("E.rto_max_s"), "5");
  EXPECT_EQ(eval("D"),
            "first failed order 0.5 s after the kill, 2 failed + 1 unknown over 2.0 s, orders acknowledged "
            "again 3.2 s after the kill (RTO, bound 5 s)");
}

TEST_F(write_recovery_test, a_recovery_past_the_bound_fails_with_its_figures) {
  check(R"(order(h, 1, 10.2, 10.3, 'fail')
           order(h, 2, 14.0, 14.1, 'fail')
           order(h, 3, 16.0, 16.5, 'ok'))");
  EXPECT_EQ(eval("OK"), "false");
  EXPECT_EQ(eval("string.format('%.1f', E.rto_s)"), "6.5");
}

TEST_F(write_recovery_test, never_recovered_says_so) {
  check(R"(order(h, 1, 9.5, 9.6, 'ok')
           order(h, 2, 11.0, 11.1, 'fail')
           order(h, 3, 12.0, 0, 'pending'))");
  EXPECT_EQ(eval("OK"), "false");
  EXPECT_EQ(eval("E.rto_s"), "nil");
  EXPECT_EQ(eval("E.failed_writes"), "1");
  EXPECT_EQ(eval("E.unknown_writes"), "1");  // never answered: unknown
  EXPECT_EQ(eval("D"), "orders failing since 1.0 s after the kill; none acknowledged afterwards");
}

TEST_F(write_recovery_test, failures_long_before_the_fault_are_not_the_faults) {
  // A failure at 3 s (more than 1 s before the fault) is not counted; from 9 s on it is (detection 0).
  check(R"(order(h, 1, 3.0, 3.1, 'fail')
           order(h, 2, 9.2, 9.3, 'fail')
           order(h, 3, 10.0, 10.4, 'ok'))");
  EXPECT_EQ(eval("E.failed_writes"), "1");
  EXPECT_EQ(eval("E.time_to_detect_s"), "0");
  EXPECT_EQ(eval("OK"), "true") << eval("D");
}

}  // namespace
