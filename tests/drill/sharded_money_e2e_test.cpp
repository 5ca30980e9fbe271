// checkers.sharded_money (scenarios/lib/checkers.lua) on the audit of a real sharded store
// (reference_shop/shards.h on PostgreSQL, tests/reference_shop/shop_shards_fixture.h), end to end from the
// store to the verdict. In the broken --txn 2pc-no-decision-log mode a coordinator that dies after its first
// COMMIT PREPARED leaves a customer of shard 0 with the header (committed first) and no shard-1 part;
// the payment pipeline's claim and settlement charge it, and the money invariant names that order. With the
// decision log (--txn 2pc) the same crash is committed everywhere by recovery and the invariant holds.
#include <lua.hpp>

#include "tests/reference_shop/shop_shards_fixture.h"

namespace stampede::shop {
namespace {

// A JSON value as a Lua value on the stack (what the drill's json module gives a scenario).
void push(lua_State* L, const json::value& v) {
  if (v.is_int64()) {
    lua_pushinteger(L, v.as_int64());
  } else if (v.is_uint64()) {
    lua_pushinteger(L, static_cast<lua_Integer>(v.as_uint64()));
  } else if (v.is_double()) {
    lua_pushnumber(L, v.as_double());
  } else if (v.is_bool()) {
    lua_pushboolean(L, v.as_bool());
  } else if (v.is_string()) {
    lua_pushlstring(L, v.as_string().data(), v.as_string().size());
  } else if (v.is_array()) {
    lua_newtable(L);
    lua_Integer i = 0;
    for (const auto& x : v.as_array()) {
      push(L, x);
      lua_seti(L, -2, ++i);
    }
  } else if (v.is_object()) {
    lua_newtable(L);
    for (const auto& [key, x] : v.as_object()) {
      push(L, x);
      lua_setfield(L, -2, std::string{key}.c_str());
    }
  } else {
    lua_pushnil(L);
  }
}

struct verdict {
  bool ok = false;
  std::string detail;
};

// checkers.sharded_money(audit) with the shop's own records (no gateway).
verdict sharded_money(const json::object& audit) {
  std::unique_ptr<lua_State, decltype(&lua_close)> state{luaL_newstate(), &lua_close};
  lua_State* L = state.get();
  luaL_openlibs(L);
  const std::string prelude = "package.path = '" STAMPEDE_SCENARIOS_DIR
                              "/?.lua;' .. package.path\n"
                              "C = require('lib.checkers')\n";
  if (luaL_dostring(L, prelude.c_str()) != LUA_OK) return {false, lua_tostring(L, -1)};
  push(L, audit);
  lua_setglobal(L, "A");
  if (luaL_dostring(L, "local inv = C.sharded_money(A, nil) return inv.ok, inv.detail") != LUA_OK) {
    return {false, lua_tostring(L, -1)};
  }
  return {lua_toboolean(L, -2) != 0, lua_tostring(L, -1)};
}

// Customer 4's home is shard 0; product 2 is on shard 0, product 3 on shard 1.
constexpr int64_t customer_of_shard0 = 4;

// The coordinator dies after its first COMMIT PREPARED (shard 0: the header and product 2's part),
// recovery resolves the rest, then the payment pipeline claims and settles the order's message as it does
// after the gateway's capture. Returns the order's id (0: none was charged).
int64_t crash_then_charge(sharded_store& db) {
  EXPECT_THROW(db.checkout(customer_of_shard0, "", "", cross_cart, 1000), store_unavailable);
  db.recover_in_doubt();
  auto claimed = db.claim_outbox("w", 2000, 60'000, 10);
  if (claimed.size() != 1u) return 0;
  EXPECT_TRUE(db.complete_payment(claimed[0], "w", "cap_1", 3000));
  return claimed[0].order_id;
}

sharded_store_options crashing(two_phase::protocol mode) {
  sharded_store_options o;
  o.coordinator.mode = mode;
  o.coordinator.hook = [](two_phase::point p, std::string_view) {
    return p != two_phase::point::first_committed;
  };
  o.lease = 0ms;
  return o;
}

TEST_F(shards_test, the_broken_two_phase_mode_charges_a_partial_order_and_the_money_invariant_names_it) {
  auto db = open(crashing(two_phase::protocol::two_phase_no_log));
  const int64_t order = crash_then_charge(*db);
  ASSERT_NE(order, 0);
  const auto audit = db->audit();
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:placed");  // shard 1's rolled back
  const auto v = sharded_money(audit);
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.detail,
            "charged but not complete: orders " + std::to_string(order) + " (no placed part on shard 1)");
}

TEST_F(shards_test, the_same_crash_with_the_decision_log_is_committed_everywhere_and_the_money_holds) {
  auto db = open(crashing(two_phase::protocol::two_phase));
  ASSERT_NE(crash_then_charge(*db), 0);
  const auto audit = db->audit();
  EXPECT_EQ(part_statuses(audit.at("orders").as_array().back()), "0:placed 1:placed");
  const auto v = sharded_money(audit);
  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_NE(v.detail.find("every charge is of a complete order's total"), std::string::npos) << v.detail;
}

}  // namespace
}  // namespace stampede::shop
