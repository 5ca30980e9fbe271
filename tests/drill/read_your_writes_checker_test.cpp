// The read-your-writes checker (scenarios/lib/read_your_writes.lua) on hand-made histories with known
// answers: nothing stale (0 violations), a known number of violations named by order id, and what is not
// judged (concurrent and unknown writes, another customer's orders, a truncated list). Runs the library in a
// plain Lua 5.4 state (it is pure: no I/O).
#include <gtest/gtest.h>

#include <string>

#include "tests/support/scenario_lua.h"

namespace {

// Hand-made histories: `order(id, user, order_id, t_invoke, t_ok)` and `read(id, user, ids, t_invoke, t_ok)`.
constexpr const char* prelude = R"LUA(
RYW = require('lib.read_your_writes')
function order(h, id, user, order_id, t0, t1, outcome)
  h[#h + 1] = { id = id, op = "order", type = "invoke", value = { user_id = user, key = "k" .. id }, t = t0 }
  if outcome ~= "pending" then
    h[#h + 1] = { id = id, op = "order", type = outcome or "ok", value = { order_id = order_id }, t = t1 }
  end
end
function read(h, id, user, ids, t0, t1, complete)
  h[#h + 1] = { id = id, op = "read_orders", type = "invoke", value = { user_id = user }, t = t0 }
  h[#h + 1] = { id = id, op = "read_orders", type = "ok",
                value = { order_ids = ids, complete = complete ~= false }, t = t1 }
end
)LUA";

class read_your_writes_test : public ::testing::Test {
 protected:
  // Runs `code` (which builds `h`), then the checker; leaves the invariant in global `R`.
  void check(const std::string& code) {
    const std::string all = "local h = {}\n" + code + "\nR = RYW(h)";
    ASSERT_EQ(lua_.run(all), "");
  }
  std::string eval(const std::string& expr) { return lua_.eval(expr); }  // "nil" when nil

  stampede::testing::scenario_lua lua_{prelude};
};

TEST_F(read_your_writes_test, nothing_happened_is_no_violation) {
  check("");
  EXPECT_EQ(eval("R.ok"), "true");
  EXPECT_EQ(eval("R.evidence.violations"), "0");
  EXPECT_EQ(eval("R.evidence.reads_checked"), "0");
  EXPECT_EQ(eval("R.name"), "customers read their own orders (read-your-writes)");
}

TEST_F(read_your_writes_test, every_read_sees_earlier_orders) {
  check(R"(order(h, 1, 10, 101, 0.0, 0.1)
           read(h, 2, 10, { 101 }, 0.2, 0.3)
           order(h, 3, 10, 102, 0.4, 0.5)
           read(h, 4, 10, { 102, 101 }, 0.6, 0.7)
           order(h, 5, 11, 201, 0.1, 0.2)
           read(h, 6, 11, { 201 }, 0.3, 0.4))");
  EXPECT_EQ(eval("R.ok"), "true") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.violations"), "0");
  EXPECT_EQ(eval("R.evidence.reads_checked"), "3");
  EXPECT_EQ(eval("R.evidence.writes_checked"), "3");
}

// Customer 10's read at 0.6 s misses order 102 (acknowledged at 0.5 s) and the read at 0.9 s misses 102 and
// 103; customer 11's read misses 201: 4 violations in 3 reads, orders 102, 103, 201.
TEST_F(read_your_writes_test, known_violations_are_counted_and_named) {
  check(R"(order(h, 1, 10, 101, 0.0, 0.1)
           order(h, 2, 10, 102, 0.4, 0.5)
           read(h, 3, 10, { 101 }, 0.6, 0.7)
           order(h, 4, 10, 103, 0.7, 0.8)
           read(h, 5, 10, { 101 }, 0.9, 1.0)
           order(h, 6, 11, 201, 0.1, 0.2)
           read(h, 7, 11, {}, 1.5, 1.6)
           read(h, 8, 11, { 201 }, 1.7, 1.8))");
  EXPECT_EQ(eval("R.ok"), "false");
  EXPECT_EQ(eval("R.evidence.violations"), "4") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.stale_reads"), "3");
  EXPECT_EQ(eval("R.evidence.reads_checked"), "4");
  EXPECT_EQ(eval("R.evidence.orders_count"), "3");
  EXPECT_EQ(eval("table.concat(R.evidence.orders, ',')"), "102,103,201");
  EXPECT_EQ(eval("#R.evidence.violations_listed"), "4");
  EXPECT_EQ(eval("R.evidence.violations_listed[1].order_id"), "102");
  EXPECT_EQ(eval("R.evidence.violations_listed[1].user_id"), "10");
  EXPECT_EQ(eval("string.format('%.1f', R.evidence.max_behind_s)"), "1.3");  // 201: acked 0.2, read at 1.5
  EXPECT_NE(eval("R.detail").find("4 violations in 3 of 4 reads (3 orders: 102, 103, 201)"),
            std::string::npos)
      << eval("R.detail");
}

// Not required: a write acknowledged after the read was sent (concurrent), a write with an unknown or
// failed outcome, another customer's order, an order older than a truncated list's oldest entry, and a
// failed read.
TEST_F(read_your_writes_test, concurrent_unknown_and_truncated_are_not_judged) {
  check(R"(order(h, 1, 10, 101, 0.0, 0.5)            -- acked at 0.5, read sent at 0.4: concurrent
           read(h, 2, 10, {}, 0.4, 0.6)
           order(h, 3, 10, nil, 0.7, 0.8, "unknown")  -- may not have happened
           order(h, 4, 10, nil, 0.7, 0.8, "pending")
           order(h, 5, 10, nil, 0.7, 0.8, "fail")
           order(h, 6, 12, 301, 0.0, 0.1)             -- someone else's order
           read(h, 7, 10, { 101 }, 1.0, 1.1)
           order(h, 8, 13, 401, 0.0, 0.1)
           order(h, 9, 13, 402, 0.2, 0.3)
           read(h, 10, 13, { 402 }, 0.4, 0.5, false)  -- the newest only: 401 is not judged
           h[#h + 1] = { id = 11, op = "read_orders", type = "invoke", value = { user_id = 13 }, t = 0.6 }
           h[#h + 1] = { id = 11, op = "read_orders", type = "fail", value = { status = 401 }, t = 0.7 })");
  EXPECT_EQ(eval("R.ok"), "true") << eval("R.detail");
  EXPECT_EQ(eval("R.evidence.violations"), "0");
  EXPECT_EQ(eval("R.evidence.reads_checked"), "3");
}

TEST_F(read_your_writes_test, a_complete_list_without_an_older_order_is_a_violation) {
  check(R"(order(h, 1, 13, 401, 0.0, 0.1)
           order(h, 2, 13, 402, 0.2, 0.3)
           read(h, 3, 13, { 402 }, 0.4, 0.5))");
  EXPECT_EQ(eval("R.ok"), "false");
  EXPECT_EQ(eval("R.evidence.violations"), "1");
  EXPECT_EQ(eval("R.evidence.orders[1]"), "401");
}

}  // namespace
