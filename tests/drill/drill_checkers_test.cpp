// The checkers library (scenarios/lib/checkers.lua) on hand-made histories and audits: a healthy shop
// passes; lost, duplicated and phantom orders, overselling, over-limit buyers, double and orphan
// captures, stock out of bounds and broken queue accounting are each caught and named with their ids.
// Runs the library in a plain Lua 5.4 state (it is pure: no I/O in these functions).
#include <gtest/gtest.h>

#include <lua.hpp>

#include <map>
#include <memory>
#include <string>

namespace {

struct verdict {
  bool ok = false;
  std::string detail;
};

class checkers_test : public ::testing::Test {
 protected:
  void SetUp() override {
    L_.reset(luaL_newstate());
    luaL_openlibs(L_.get());
    const std::string prelude = "package.path = '" STAMPEDE_SCENARIOS_DIR "/?.lua;' .. package.path\n"
                                "C = require('lib.checkers')\n" + std::string(fixtures);
    ASSERT_EQ(luaL_dostring(L_.get(), prelude.c_str()), LUA_OK) << lua_tostring(L_.get(), -1);
  }

  // Runs `code` (which returns a list of invariants) and returns name -> verdict.
  std::map<std::string, verdict> run(const std::string& code) {
    lua_State* L = L_.get();
    lua_settop(L, 0);
    if (luaL_dostring(L, code.c_str()) != LUA_OK) {
      ADD_FAILURE() << lua_tostring(L, -1);
      return {};
    }
    std::map<std::string, verdict> out;
    if (!lua_istable(L, -1)) {
      ADD_FAILURE() << "expected a list of invariants";
      return out;
    }
    const lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_geti(L, -1, i);                // [+1] invariant
      lua_getfield(L, -1, "name");       // [+1]
      lua_getfield(L, -2, "ok");         // [+1]
      lua_getfield(L, -3, "detail");     // [+1]
      verdict v{lua_toboolean(L, -2) != 0, lua_isstring(L, -1) ? lua_tostring(L, -1) : ""};
      out[lua_tostring(L, -3)] = v;
      lua_pop(L, 4);
    }
    return out;
  }

  // A consistent world: orders 1 (paid, user 10), 2 (paid, user 11), 3 (failed: declined, user 12),
  // flash purchase order 4 (paid, user 20); SKU 7 sold 2 of 100 to orders 1 and 2.
  static constexpr const char* fixtures = R"LUA(
function healthy()
  local h = {
    { id = 1, op = "order", type = "invoke", value = { user_id = 10, key = "k1", items = { { product_id = 7, qty = 1 } } }, t = 0.1 },
    { id = 1, op = "order", type = "ok", value = { order_id = 1, lines = { { product_id = 7, qty = 1 } } }, t = 0.2 },
    { id = 2, op = "order", type = "invoke", value = { user_id = 11, key = "k2", items = { { product_id = 7, qty = 1 } } }, t = 0.3 },
    { id = 2, op = "order", type = "ok", value = { order_id = 2, lines = { { product_id = 7, qty = 1 } } }, t = 0.4 },
    { id = 3, op = "order", type = "invoke", value = { user_id = 12, key = "k3", items = { { product_id = 8, qty = 2 } } }, t = 0.5 },
    { id = 3, op = "order", type = "ok", value = { order_id = 3, lines = { { product_id = 8, qty = 2 } } }, t = 0.6 },
    { id = 4, op = "flash_purchase", type = "invoke", value = { user_id = 20, sale_id = 1 }, t = 0.7 },
    { id = 4, op = "flash_purchase", type = "ok", value = { order_id = 4 }, t = 0.8 },
    { id = 5, op = "flash_purchase", type = "invoke", value = { user_id = 21, sale_id = 1 }, t = 0.9 },
    { id = 5, op = "flash_purchase", type = "fail", value = { error = "sold_out" }, t = 1.0 },
  }
  local audit = {
    skus = { { product_id = 7, initial_stock = 100, remaining = 98, sold = 2 } },
    orders = {
      { order_id = 1, user_id = 10, status = "paid", total = 500, captured = 500, refunded = 0, idempotency_key = "k1" },
      { order_id = 2, user_id = 11, status = "paid", total = 700, captured = 700, refunded = 0, idempotency_key = "k2" },
      { order_id = 3, user_id = 12, status = "failed", total = 900, captured = 0, refunded = 0, idempotency_key = "k3" },
      { order_id = 4, user_id = 20, status = "paid", total = 250, captured = 250, refunded = 0, flash_sale_id = 1 },
    },
    orders_by_state = { pending = 0, paid = 3, failed = 1, archived = 900 },
    flash_sales = { { sale_id = 1, product_id = 1, stock = 1, remaining = 0, per_user_limit = 1, sold = 1,
                      purchases = { { user_id = 20, count = 1 } } } },
    outbox = { pending = 0, in_flight = 0, done = 4, dead = 0 },
    dead_letters = {},
    payments = { captured = 1450, refunded = 0 },
  }
  local gateway = { captures = {
    { order_id = 1, amount = 500, calls = 1, refunded = false },
    { order_id = 2, amount = 700, calls = 2, refunded = false },
    { order_id = 4, amount = 250, calls = 1, refunded = false },
  } }
  return h, audit, gateway
end
ORDERS = "acknowledged orders exist exactly once"
STOCK = "stock per SKU never negative and within purchase bounds"
FLASH = "flash sale never oversold, nobody over the per-user limit"
MONEY = "one capture per paid order, captures - refunds = paid totals"
QUEUE = "queue accounting: published = done + dead-lettered + pending"
)LUA";

  struct lua_closer {
    void operator()(lua_State* L) const { lua_close(L); }
  };
  std::unique_ptr<lua_State, lua_closer> L_;
};

constexpr const char* orders = "acknowledged orders exist exactly once";
constexpr const char* stock = "stock per SKU never negative and within purchase bounds";
constexpr const char* flash = "flash sale never oversold, nobody over the per-user limit";
constexpr const char* money = "one capture per paid order, captures - refunds = paid totals";
constexpr const char* queue = "queue accounting: published = done + dead-lettered + pending";

TEST_F(checkers_test, healthy_shop_passes_every_invariant) {
  auto v = run("local h, a, g = healthy() return C.shop_invariants(h, a, g)");
  ASSERT_EQ(v.size(), 5u);
  for (const auto& [name, verdict] : v) EXPECT_TRUE(verdict.ok) << name << ": " << verdict.detail;
  EXPECT_NE(v[money].detail.find("paid totals 1450"), std::string::npos) << v[money].detail;
}

TEST_F(checkers_test, lost_acknowledged_order_is_named) {
  auto v = run(R"(local h, a, g = healthy()
    table.remove(a.orders, 2)          -- order 2 was acknowledged (201) but is gone
    a.outbox.done = 3; a.orders_by_state.paid = 2
    a.skus[1].remaining = 99; a.skus[1].sold = 1
    table.remove(g.captures, 2)
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[orders].ok);
  EXPECT_NE(v[orders].detail.find("1 lost: 2"), std::string::npos) << v[orders].detail;
  EXPECT_FALSE(v[stock].ok) << "order 2's unit came back although it was acknowledged";
  EXPECT_NE(v[stock].detail.find("SKU 7"), std::string::npos) << v[stock].detail;
}

// A failover loses order 2 (acknowledged, key k2) with the WAL that also held the sequence's last values:
// the new primary gives id 2 again, to user 11's next order (key k9). The id is present, the acknowledged
// order is not: lost, named by id and key (an id-only check passed it).
TEST_F(checkers_test, lost_order_whose_id_was_given_again_is_named_by_key) {
  auto v = run(R"(local h, a, g = healthy()
    table.insert(h, { id = 6, op = "order", type = "invoke", value = { user_id = 11, key = "k9", items = { { product_id = 7, qty = 1 } } }, t = 1.1 })
    table.insert(h, { id = 6, op = "order", type = "ok", value = { order_id = 2, lines = { { product_id = 7, qty = 1 } } }, t = 1.2 })
    a.orders[2].idempotency_key = "k9"
    local out = C.shop_invariants(h, a, g)
    local e = out[1].evidence
    assert(e.lost_count == 1 and e.lost[1] == 2, "lost " .. tostring(e.lost_count))
    assert(e.lost_orders[1].id == 2 and e.lost_orders[1].key == "order/11/k2", tostring(e.lost_orders[1].key))
    return out)");
  EXPECT_FALSE(v[orders].ok);
  EXPECT_NE(v[orders].detail.find("1 lost: 2 (order/11/k2)"), std::string::npos) << v[orders].detail;
}

TEST_F(checkers_test, duplicated_and_phantom_orders_are_named) {
  auto v = run(R"(local h, a, g = healthy()
    -- order 5 repeats order 1's idempotency key (one operation, two orders); order 6 comes from the
    -- operation that definitely failed (sold out) -> phantom.
    table.insert(a.orders, { order_id = 5, user_id = 10, status = "pending", total = 500, captured = 0, refunded = 0, idempotency_key = "k1" })
    table.insert(a.orders, { order_id = 6, user_id = 21, status = "pending", total = 250, captured = 0, refunded = 0, flash_sale_id = 1 })
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[orders].ok);
  EXPECT_NE(v[orders].detail.find("1 duplicated: 5"), std::string::npos) << v[orders].detail;
  EXPECT_NE(v[orders].detail.find("1 phantom: 6"), std::string::npos) << v[orders].detail;
}

TEST_F(checkers_test, unknown_operation_may_or_may_not_take_effect) {
  // A purchase whose response was lost (unknown) created order 5: allowed, and stock may move by its units.
  auto v = run(R"(local h, a, g = healthy()
    table.insert(h, { id = 6, op = "order", type = "invoke", value = { user_id = 13, key = "k6", items = { { product_id = 7, qty = 3 } } }, t = 1.1 })
    table.insert(h, { id = 6, op = "order", type = "unknown", value = json_null, t = 1.2 })
    table.insert(a.orders, { order_id = 5, user_id = 13, status = "paid", total = 300, captured = 300, refunded = 0, idempotency_key = "k6" })
    table.insert(g.captures, { order_id = 5, amount = 300, refunded = false })
    a.orders_by_state.paid = 4; a.outbox.done = 5
    a.skus[1].remaining = 95; a.skus[1].sold = 5
    return C.shop_invariants(h, a, g))");
  for (const auto& [name, verdict] : v) EXPECT_TRUE(verdict.ok) << name << ": " << verdict.detail;
  EXPECT_NE(v[orders].detail.find("1 unknown operations, 1 of them took effect"), std::string::npos) << v[orders].detail;
  // ...but not by more units than the acknowledged and unknown purchases allow.
  v = run(R"(local h, a, g = healthy()
    a.skus[1].remaining = 90; a.skus[1].sold = 10
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[stock].ok);
  EXPECT_NE(v[stock].detail.find("SKU 7 took 10, expected 2..2"), std::string::npos) << v[stock].detail;
}

TEST_F(checkers_test, oversold_flash_sale_and_over_limit_buyer_are_named) {
  auto v = run(R"(local h, a, g = healthy()
    local s = a.flash_sales[1]
    s.remaining = -1; s.sold = 2                       -- two units sold out of one
    s.purchases = { { user_id = 20, count = 2 } }       -- by the same buyer
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[flash].ok);
  EXPECT_NE(v[flash].detail.find("sale 1: stock 1, sold 2, remaining -1"), std::string::npos) << v[flash].detail;
  EXPECT_NE(v[flash].detail.find("user 20 (2)"), std::string::npos) << v[flash].detail;
  EXPECT_NE(v[flash].detail.find("history allows 1..1"), std::string::npos) << v[flash].detail;
}

// The flash-sale invariant shows what each sale went through (stock, sold, remaining, buyers), so a
// passing verdict says whether the sale reached its boundaries at all.
TEST_F(checkers_test, flash_sale_evidence_has_stock_sold_and_remaining_per_sale) {
  auto v = run(R"(local h, a, g = healthy()
    table.insert(a.flash_sales, { sale_id = 2, product_id = 1, stock = 1000, remaining = 1000, per_user_limit = 1,
                                  sold = 0, purchases = {} })
    local inv = C.shop_invariants(h, a, g)[3]
    local parts = {}
    for _, s in ipairs(inv.evidence.per_sale) do
      parts[#parts + 1] = string.format("%d:%d/%d left %d sold_out=%s limit=%d buyers=%d max=%d bounds=%d..%d",
        s.sale_id, s.sold, s.stock, s.remaining, tostring(s.sold_out), s.per_user_limit, s.buyers, s.max_per_user,
        s.history_min, s.history_max)
    end
    return { { name = "evidence", ok = inv.ok, detail = table.concat(parts, "; ") .. " | " .. inv.detail } })");
  EXPECT_TRUE(v["evidence"].ok) << v["evidence"].detail;
  EXPECT_EQ(v["evidence"].detail,
            "1:1/1 left 0 sold_out=true limit=1 buyers=1 max=1 bounds=1..1; "
            "2:0/1000 left 1000 sold_out=false limit=1 buyers=0 max=0 bounds=0..0 | "
            "2 sale(s) within stock and limits: sale 1 sold 1 of 1 (sold out), sale 2 sold 0 of 1000 (1000 left)");
}

TEST_F(checkers_test, double_and_orphan_captures_are_named) {
  auto v = run(R"(local h, a, g = healthy()
    table.insert(g.captures, { order_id = 2, amount = 700, refunded = false })   -- charged twice
    table.insert(g.captures, { order_id = 3, amount = 900, refunded = false })   -- failed order, charged, never refunded
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[money].ok);
  EXPECT_NE(v[money].detail.find("charged twice: orders 2"), std::string::npos) << v[money].detail;
  EXPECT_NE(v[money].detail.find("orphan captures: orders 3"), std::string::npos) << v[money].detail;
  // A refunded charge of a failed order (lost response, refunded by id) is fine.
  v = run(R"(local h, a, g = healthy()
    table.insert(g.captures, { order_id = 3, amount = 900, refunded = true })
    a.orders[3].refunded = 900
    return C.shop_invariants(h, a, g))");
  EXPECT_TRUE(v[money].ok) << v[money].detail;
}

// The reference emulator lists one entry per capture request with its Idempotency-Key: a retry with the same
// key (a replay of the same charge) is not a double charge; a second capture without a key is.
TEST_F(checkers_test, capture_requests_are_one_charge_per_key_and_a_keyless_repeat_is_a_double_charge) {
  const std::string emulator_list = R"(local h, a, g = healthy()
    g.captures = {
      { capture_id = "cap_1", order_id = 1, amount = 500, idempotency_key = "order-1-capture", replayed = false, refunded = false },
      { capture_id = "cap_2", order_id = 2, amount = 700, idempotency_key = "order-2-capture", replayed = false, refunded = false },
      { capture_id = "cap_2", order_id = 2, amount = 700, idempotency_key = "order-2-capture", replayed = true, refunded = false },
      { capture_id = "cap_3", order_id = 4, amount = 250, idempotency_key = "order-4-capture", replayed = false, refunded = false },
    }
  )";
  auto v = run(emulator_list + "return C.shop_invariants(h, a, g)");
  EXPECT_TRUE(v[money].ok) << v[money].detail;
  // Same key, no capture id (another gateway's list): still one charge.
  v = run(R"(local h, a, g = healthy()
    g.captures = {
      { order_id = 1, amount = 500, idempotency_key = "k", refunded = false },
      { order_id = 1, amount = 500, idempotency_key = "k", refunded = false },
      { order_id = 2, amount = 700, refunded = false }, { order_id = 4, amount = 250, refunded = false } }
    return C.shop_invariants(h, a, g))");
  EXPECT_TRUE(v[money].ok) << v[money].detail;
  // A second capture of order 4 without a key (the shop's --inject-bug double-capture) is a double charge.
  v = run(emulator_list + R"(
    g.captures[#g.captures + 1] = { capture_id = "cap_4", order_id = 4, amount = 250, idempotency_key = nil, refunded = false }
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[money].ok);
  EXPECT_NE(v[money].detail.find("charged twice: orders 4"), std::string::npos) << v[money].detail;
  // Two different keys for one order are two charges too.
  v = run(emulator_list + R"(
    g.captures[#g.captures + 1] = { capture_id = "cap_5", order_id = 1, amount = 500, idempotency_key = "other", refunded = false }
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[money].ok);
  EXPECT_NE(v[money].detail.find("charged twice: orders 1"), std::string::npos) << v[money].detail;
}

// A charge of an order the audit still shows pending (its answer on the way to the shop when the audit was
// read) is unsettled, not an orphan; two charges of it are still a double charge.
TEST_F(checkers_test, charge_of_a_pending_order_is_unsettled_not_orphan) {
  auto v = run(R"(local h, a, g = healthy()
    h[#h + 1] = { id = 9, op = "order", type = "invoke", value = { user_id = 13, key = "k9", items = { { product_id = 7, qty = 1 } } }, t = 1.1 }
    h[#h + 1] = { id = 9, op = "order", type = "ok", value = { order_id = 9, lines = { { product_id = 7, qty = 1 } } }, t = 1.2 }
    a.skus[1].remaining, a.skus[1].sold = 97, 3
    a.orders[#a.orders + 1] = { order_id = 9, user_id = 13, status = "pending", total = 300, captured = 0, refunded = 0, idempotency_key = "k9" }
    a.orders_by_state.pending = 1
    a.outbox.in_flight = 1
    g.captures[#g.captures + 1] = { capture_id = "cap_9", order_id = 9, amount = 300, refunded = false }
    return C.shop_invariants(h, a, g))");
  EXPECT_TRUE(v[money].ok) << v[money].detail;
  EXPECT_NE(v[money].detail.find("1 charge(s) of pending orders not judged yet"), std::string::npos) << v[money].detail;
  v = run(R"(local h, a, g = healthy()
    a.orders[#a.orders + 1] = { order_id = 9, user_id = 13, status = "pending", total = 300, captured = 0, refunded = 0 }
    g.captures[#g.captures + 1] = { capture_id = "cap_9", order_id = 9, amount = 300, refunded = false }
    g.captures[#g.captures + 1] = { capture_id = "cap_10", order_id = 9, amount = 300, refunded = false }
    return { C.money { name = MONEY, orders = a.orders, captures = g.captures } })");
  EXPECT_FALSE(v[money].ok);
  EXPECT_NE(v[money].detail.find("charged twice: orders 9"), std::string::npos) << v[money].detail;
}

TEST_F(checkers_test, paid_order_without_capture_breaks_the_balance) {
  auto v = run(R"(local h, a, g = healthy()
    a.orders[1].captured = 0
    table.remove(g.captures, 1)
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[money].ok);
  EXPECT_NE(v[money].detail.find("paid without capture: orders 1"), std::string::npos) << v[money].detail;
}

TEST_F(checkers_test, queue_accounting_mismatch_is_reported) {
  auto v = run(R"(local h, a, g = healthy()
    a.outbox.done = 3          -- one message vanished
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[queue].ok);
  EXPECT_NE(v[queue].detail.find("published 4, done 3"), std::string::npos) << v[queue].detail;
}

TEST_F(checkers_test, negative_stock_is_named) {
  auto v = run(R"(local h, a, g = healthy()
    table.insert(a.skus, { product_id = 9, initial_stock = 1, remaining = -1, sold = 2 })
    return C.shop_invariants(h, a, g))");
  EXPECT_FALSE(v[stock].ok);
  EXPECT_NE(v[stock].detail.find("SKU 9 at -1"), std::string::npos) << v[stock].detail;
}

TEST_F(checkers_test, operations_pair_invokes_and_treat_unfinished_as_unknown) {
  auto v = run(R"(
    local ops = C.operations({
      { id = 1, op = "a", type = "invoke", t = 0 }, { id = 2, op = "b", type = "invoke", t = 0 },
      { id = 1, op = "a", type = "fail", t = 1 }, { id = 3, op = "a", type = "invoke", t = 2 } }, { "a" })
    local c = C.outcomes(ops)
    return { { name = "pairs", ok = #ops == 2 and c.fail == 1 and c.unknown == 1 and ops[2].pending == true,
               detail = #ops .. " " .. c.fail .. " " .. c.unknown } })");
  EXPECT_TRUE(v["pairs"].ok) << v["pairs"].detail;
}

TEST_F(checkers_test, generic_set_without_keys_counts_unknown_operations) {
  // Elements 1..3 acknowledged; 4 and 5 present, one unknown operation can explain only one of them.
  auto v = run(R"(
    local h = {}
    for i = 1, 3 do
      h[#h + 1] = { id = i, op = "add", type = "invoke", value = i, t = i }
      h[#h + 1] = { id = i, op = "add", type = "ok", value = i, t = i + 0.5 }
    end
    h[#h + 1] = { id = 9, op = "add", type = "invoke", value = 4, t = 9 }
    local final = { 1, 2, 3, 4, 5 }
    return { C.set { name = "set", operations = C.operations(h), added = function(op) return op.value end,
                     final = final, id = function(e) return e end } })");
  EXPECT_FALSE(v["set"].ok);
  EXPECT_NE(v["set"].detail.find("phantom: 4, 5"), std::string::npos) << v["set"].detail;
}

TEST_F(checkers_test, tpcw_deck_hits_every_share_exactly_and_draws_converge_within_a_point) {
  auto v = run(R"(
    local tpcw = require("lib.tpcw")
    local out = {}
    for mix, shares in pairs(tpcw.mixes) do
      local total = 0
      for _, p in ipairs(shares) do total = total + p end
      out[#out + 1] = { name = mix .. " sums to 100", ok = math.abs(total - 100) < 1e-9, detail = tostring(total) }
      local rng = (function() local s = 12345 return function() s = (s * 1103515245 + 12345) % 2147483648 return s / 2147483648 end end)()
      local deal, counts, draws = tpcw.deck(mix, rng), {}, {}
      for _ = 1, 10000 do local c = deal() counts[c] = (counts[c] or 0) + 1 end
      local worst_draw = 0
      for _ = 1, 100000 do local c = tpcw.draw(mix, rng) draws[c] = (draws[c] or 0) + 1 end
      local exact = true
      for i, name in ipairs(tpcw.interactions) do
        exact = exact and (counts[name] or 0) == math.floor(shares[i] * 100 + 0.5)
        worst_draw = math.max(worst_draw, math.abs((draws[name] or 0) / 1000 - shares[i]))
      end
      out[#out + 1] = { name = mix .. " deck exact", ok = exact, detail = "" }
      out[#out + 1] = { name = mix .. " draws within 1 point", ok = worst_draw < 1, detail = tostring(worst_draw) }
    end
    local sum, max = 0, 0
    local rng = (function() local s = 7 return function() s = (s * 1103515245 + 12345) % 2147483648 return s / 2147483648 end end)()
    for _ = 1, 100000 do local t = tpcw.think_time(7, rng) sum = sum + t max = math.max(max, t) end
    out[#out + 1] = { name = "think time", ok = math.abs(sum / 100000 - 7) < 0.2 and max <= 70, detail = sum / 100000 .. " " .. max }
    return out)");
  ASSERT_EQ(v.size(), 10u);
  for (const auto& [name, verdict] : v) EXPECT_TRUE(verdict.ok) << name << ": " << verdict.detail;
}

// A sharded shop's audit (--shards 2): the healthy world with order 1 across shards 0 and 1, order 3
// (failed) across both too. Whole orders pass; a missing part, a part without its order (the broken
// mode's partial order), a failed order whose part kept its stock and a prepared transaction left in
// doubt are each caught and named.
TEST_F(checkers_test, atomicity_of_sharded_orders_names_partial_orders_and_leftovers) {
  const std::string sharded = R"(local h, a, g = healthy()
    a.shards = { { shard = 0 }, { shard = 1 } }
    a.prepared_transactions = 0
    a.orphan_parts = {}
    a.orders[1].shards = { 0, 1 }
    a.orders[1].parts = { { shard = 0, status = "placed" }, { shard = 1, status = "placed" } }
    a.orders[3].shards = { 0, 1 }
    a.orders[3].parts = { { shard = 0, status = "released" }, { shard = 1, status = "released" } }
  )";
  const std::string atomic =
      "cross-shard orders atomic: complete on every shard or nowhere, nothing left prepared";
  auto whole = run(sharded + "return C.shop_invariants(h, a, g)");
  ASSERT_EQ(whole.size(), 7u);  // + atomicity and the sharded money invariant
  for (const auto& [name, verdict] : whole) EXPECT_TRUE(verdict.ok) << name << ": " << verdict.detail;
  EXPECT_NE(whole[atomic].detail.find("2 cross-shard-capable orders whole on 2 shards"), std::string::npos)
      << whole[atomic].detail;
  EXPECT_EQ(run("local h, a, g = healthy() return C.shop_invariants(h, a, g)").size(),
            5u);  // unsharded: no 6th nor 7th

  auto broken = run(sharded + R"(
    a.orders[1].parts = { { shard = 0, status = "placed" } }                  -- shard 1's part is gone
    a.orphan_parts = { { order_id = 9, shard = 0, status = "placed" } }      -- a part whose order aborted
    a.orders[3].parts[2].status = "placed"                                    -- failed, stock still held
    a.prepared_transactions = 2
    return { C.atomicity(a) })");
  ASSERT_EQ(broken.size(), 1u);
  EXPECT_FALSE(broken[atomic].ok);
  EXPECT_EQ(broken[atomic].detail,
            "live (pending or paid) orders missing a part: 1@shard1; parts without their order (partial "
            "orders): 9@shard0; "
            "failed orders whose stock was not returned: 3@shard1; 2 prepared transaction(s) left in doubt");
}

// Money of a sharded shop: captures match the totals of complete orders only. The clean sharded world
// (orders 1 and 3 span shards 0 and 1, with their parts' subtotals) passes; each kind of violation is caught
// and named by order id: a charge of an order missing a part (2pc without its decision log, the home shard
// committed first), of a compensated order that exists nowhere, of a failed order whose parts were
// released; a complete paid order without a charge; a second charge; a charge that is not the total.
TEST_F(checkers_test, sharded_money_charges_complete_orders_only_and_names_each_violation) {
  const std::string sharded = R"(local h, a, g = healthy()
    a.shards = { { shard = 0 }, { shard = 1 } }
    a.prepared_transactions = 0
    a.orphan_parts = {}
    a.orders[1].shards = { 0, 1 }
    a.orders[1].parts = { { shard = 0, status = "placed", subtotal = 200 }, { shard = 1, status = "placed", subtotal = 300 } }
    a.orders[3].shards = { 0, 1 }
    a.orders[3].parts = { { shard = 0, status = "released", subtotal = 400 }, { shard = 1, status = "released", subtotal = 500 } }
  )";
  const std::string name = "money: captures match the totals of complete orders only";
  auto clean = run(sharded + "return { C.sharded_money(a, g.captures) }");
  EXPECT_TRUE(clean[name].ok) << clean[name].detail;
  EXPECT_EQ(clean[name].detail,
            "1 complete cross-shard orders (500); every charge is of a complete order's total");
  clean = run(sharded + "return { C.sharded_money(a, nil) }");  // the shop's own records
  EXPECT_TRUE(clean[name].ok) << clean[name].detail;
  EXPECT_TRUE(
      run("local h, a, g = healthy() return { C.sharded_money(a, g.captures) }")[name].ok);  // unsharded

  // Order 1 paid and charged, but its part on shard 1 never committed.
  auto v = run(sharded + R"(a.orders[1].parts[2] = nil
    return { C.sharded_money(a, g.captures) })");
  EXPECT_FALSE(v[name].ok);
  EXPECT_EQ(v[name].detail, "charged but not complete: orders 1 (no placed part on shard 1)");
  // Order 1's parts add up to less than what was charged (a part's lines lost).
  v = run(sharded + R"(a.orders[1].parts[2].subtotal = 100
    return { C.sharded_money(a, g.captures) })");
  EXPECT_EQ(v[name].detail, "charged but not complete: orders 1 (its parts add up to 300, not 500)");
  // A compensated saga's order (no header anywhere) charged; the failed order 3 charged, never refunded.
  v = run(sharded + R"(g.captures[#g.captures + 1] = { order_id = 41, amount = 120, refunded = false }
    g.captures[#g.captures + 1] = { order_id = 3, amount = 900, refunded = false }
    return { C.sharded_money(a, g.captures) })");
  EXPECT_FALSE(v[name].ok);
  EXPECT_EQ(v[name].detail,
            "charged but not complete: orders 3 (no placed part on shard 0,1), 41 (no order)");
  // Refunded, the failed order's charge is fine.
  v = run(sharded + R"(g.captures[#g.captures + 1] = { order_id = 3, amount = 900, refunded = true }
    return { C.sharded_money(a, g.captures) })");
  EXPECT_TRUE(v[name].ok) << v[name].detail;
  // Complete and paid, never charged.
  v = run(sharded + R"(table.remove(g.captures, 1)
    return { C.sharded_money(a, g.captures) })");
  EXPECT_EQ(v[name].detail, "complete and paid without a charge: orders 1");
  // Charged twice (two charges without a shared key), and a charge that is not the total.
  v = run(sharded + R"(g.captures[#g.captures + 1] = { order_id = 1, amount = 500, refunded = false }
    return { C.sharded_money(a, g.captures) })");
  EXPECT_NE(v[name].detail.find("charged twice: orders 1"), std::string::npos) << v[name].detail;
  v = run(sharded + R"(g.captures[1].amount = 450
    return { C.sharded_money(a, g.captures) })");
  EXPECT_EQ(v[name].detail, "charge differs from the complete order's total: orders 1 (450 of 500)");
  // The evidence names the orders and counts them.
  v = run(sharded + R"(a.orders[1].parts[2] = nil
    local inv = C.sharded_money(a, g.captures)
    local x = inv.evidence.charged_not_complete[1]
    return { { name = "evidence", ok = inv.evidence.charged_not_complete_count == 1, detail =
      string.format("%d %s %d %s", x.order_id, x.status, x.captured, x.reason) } })");
  EXPECT_TRUE(v["evidence"].ok);
  EXPECT_EQ(v["evidence"].detail, "1 paid 500 no placed part on shard 1");
}

}  // namespace
