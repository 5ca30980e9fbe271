// The point-in-time restore checker (scenarios/lib/point_in_time.lua) on hand-made histories with known
// answers: nothing happened, every order restored, one acknowledged order missing (named), one order placed
// after the target restored (named), orders in flight at the mark either way, retries of one key, failed
// orders, and a missing mark or restore. Runs the library in a plain Lua 5.4 state (it is pure: no I/O).
#include <gtest/gtest.h>

#include <string>

#include "tests/support/scenario_lua.h"

namespace {

// `order(h, id, user, key, t_invoke, t_end, outcome, order_id)`; `mark(h, id, name, t0, t1)`: the restore
// point's operation; `row(user, key, id)`: a restored order.
constexpr const char* prelude = R"LUA(
PIT = require('lib.point_in_time')
function order(h, id, user, key, t0, t1, outcome, order_id)
  h[#h + 1] = { id = id, op = "order", type = "invoke", value = { user_id = user, key = key }, t = t0 }
  if outcome ~= "pending" then
    h[#h + 1] = { id = id, op = "order", type = outcome or "ok", value = { order_id = order_id or id }, t = t1 }
  end
end
function mark(h, id, name, t0, t1)
  h[#h + 1] = { id = id, op = "restore_point", type = "invoke", value = { name = name }, t = t0 }
  h[#h + 1] = { id = id, op = "restore_point", type = "ok", value = { name = name, lsn = "0/3000100" }, t = t1 }
end
)LUA";

class point_in_time_test : public ::testing::Test {
 protected:
  // Runs `code` (which fills history `h` and restored rows `rows`), then the checker against target "t";
  // leaves the invariant in global `R`. `spec_extra`: more fields of the spec (Lua table body).
  void check(const std::string& code,
             const std::string& spec_extra = "restored = { total = 900 + #rows, keyed = rows }") {
    const std::string all =
        "local h, rows = {}, {}\nlocal function row(u, k, id) rows[#rows + 1] = "
        "{ user_id = u, key = k, id = id } end\n" +
        code + "\nR = PIT(h, { target = 't', " + spec_extra + " })";
    ASSERT_EQ(lua_.run(all), "");
  }
  std::string eval(const std::string& expr) { return lua_.eval(expr); }  // "nil" when nil

  stampede::testing::scenario_lua lua_{prelude};
};

TEST_F(point_in_time_test, nothing_happened_holds_with_nothing_judged) {
  check("mark(h, 1, 't', 5.0, 5.1)");
  EXPECT_EQ(eval("R.ok"), "true") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.acknowledged_before"), "0");
  EXPECT_EQ(eval("R.evidence.started_after"), "0");
  EXPECT_EQ(eval("R.evidence.in_flight"), "0");
  EXPECT_EQ(eval("R.evidence.lost"), "0");
  EXPECT_EQ(eval("R.evidence.restored_total"), "900");
  EXPECT_EQ(eval("R.name"),
            "point-in-time restore: every order acknowledged before the target, none after it");
}

TEST_F(point_in_time_test, every_order_before_restored_and_none_after) {
  check(R"(order(h, 1, 10, "a", 1.0, 1.1)  row(10, "a", 101)
           order(h, 2, 11, "b", 2.0, 2.2)  row(11, "b", 102)
           mark(h, 3, 't', 5.0, 5.1)
           order(h, 4, 10, "c", 6.0, 6.1)
           order(h, 5, 12, "d", 7.0, 7.1))");
  EXPECT_EQ(eval("R.ok"), "true") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.acknowledged_before"), "2");
  EXPECT_EQ(eval("R.evidence.present_before"), "2");
  EXPECT_EQ(eval("R.evidence.started_after"), "2");
  EXPECT_EQ(eval("R.evidence.absent_after"), "2");
  EXPECT_EQ(eval("R.evidence.mark.t_end"), "5.1");
}

TEST_F(point_in_time_test, a_missing_acknowledged_order_is_named) {
  check(R"(order(h, 1, 10, "a", 1.0, 1.1, "ok", 501)  row(10, "a", 501)
           order(h, 2, 11, "b", 2.0, 4.9, "ok", 502)
           mark(h, 3, 't', 5.0, 5.1))");
  EXPECT_EQ(eval("R.ok"), "false");
  EXPECT_EQ(eval("R.evidence.lost"), "1");
  EXPECT_EQ(eval("R.evidence.lost_orders[1].key"), "b");
  EXPECT_EQ(eval("R.evidence.lost_orders[1].user_id"), "11");
  EXPECT_EQ(eval("R.evidence.lost_orders[1].order_id"), "502");
  EXPECT_NE(eval("R.detail").find("LOST 1: b (customer 11, order 502)"), std::string::npos)
      << eval("R.detail");
}

TEST_F(point_in_time_test, an_order_placed_after_the_target_is_named) {
  check(R"(order(h, 1, 10, "a", 1.0, 1.1)  row(10, "a", 101)
           mark(h, 2, 't', 5.0, 5.1)
           order(h, 3, 12, "late", 5.2, 5.3)  row(12, "late", 777))");
  EXPECT_EQ(eval("R.ok"), "false");
  EXPECT_EQ(eval("R.evidence.extra"), "1");
  EXPECT_EQ(eval("R.evidence.extra_orders[1].key"), "late");
  EXPECT_EQ(eval("R.evidence.extra_orders[1].restored_order_id"), "777");
  EXPECT_NE(eval("R.detail").find("EXTRA 1: late (customer 12, order 777)"), std::string::npos)
      << eval("R.detail");
}

TEST_F(point_in_time_test, orders_in_flight_at_the_mark_may_go_either_way) {
  // Acknowledged during the call, started before and answered after it, unknown, still pending: all in
  // flight.
  check(R"(mark(h, 1, 't', 5.0, 5.1)
           order(h, 2, 10, "during", 4.9, 5.05)  row(10, "during", 201)
           order(h, 3, 11, "across", 4.8, 5.3)
           order(h, 4, 12, "unknown", 4.0, 4.5, "unknown")  row(12, "unknown", 203)
           order(h, 5, 13, "pending", 5.1, nil, "pending"))");
  EXPECT_EQ(eval("R.ok"), "true") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.in_flight"), "4");
  EXPECT_EQ(eval("R.evidence.in_flight_restored"), "2");
  EXPECT_EQ(eval("R.evidence.acknowledged_before"), "0");
  EXPECT_EQ(eval("R.evidence.started_after"), "0");
}

TEST_F(point_in_time_test, a_retried_key_is_one_order_and_failed_ones_are_not_judged) {
  // Key "r": the first attempt unknown, the retry acknowledged before the mark: one order, required.
  check(R"(order(h, 1, 10, "r", 1.0, 2.0, "unknown")
           order(h, 2, 10, "r", 2.0, 2.5, "ok", 301)  row(10, "r", 301)
           order(h, 3, 11, "f", 3.0, 3.1, "fail")
           mark(h, 4, 't', 5.0, 5.1)
           row(99, "seed-like", 5))");
  EXPECT_EQ(eval("R.ok"), "true") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.acknowledged_before"), "1");
  EXPECT_EQ(eval("R.evidence.failed_not_judged"), "1");
  EXPECT_EQ(eval("R.evidence.unmatched_restored"), "1");
}

TEST_F(point_in_time_test, no_mark_or_no_restore_fails_saying_why) {
  check(R"(order(h, 1, 10, "a", 1.0, 1.1))");
  EXPECT_EQ(eval("R.ok"), "false");
  EXPECT_NE(eval("R.detail").find("no restore point 't' was marked"), std::string::npos);
  check(R"(mark(h, 1, 't', 5.0, 5.1))", "error = 'restore timed out', figures = { restore_s = 3.5 }");
  EXPECT_EQ(eval("R.ok"), "false");
  EXPECT_EQ(eval("R.detail"), "the restore failed: restore timed out");
  EXPECT_EQ(eval("R.evidence.restore_s"), "3.5");
}

}  // namespace
