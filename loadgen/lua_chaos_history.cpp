// chaos.* at run time (faults injected and healed by the script) and history.* (Jepsen-style operation
// records for verify()); docs/SCENARIOS.md.
#include "loadgen/chaos_timeline.h"
#include "loadgen/lua_bindings.h"
#include "loadgen/lua_json.h"
#include "loadgen/options_reader.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

double seconds_since_start(worker& w) {
  return std::chrono::duration<double>(steady::now() - w.plan().start).count();
}

int lua_chaos_inject(lua_State* L) {
  worker& w = owner_of(L);
  luaL_checktype(L, 1, LUA_TTABLE);
  return lua_guarded(L, [&] {
    if (w.plan().chaos == nullptr) throw lua_usage_error("chaos is not available in this run");
    fault_spec spec = read_fault(L, 1, "chaos.inject");
    // Faults started from a VU are in effect for `duration` if given; healed at the run's end anyway.
    const int id = w.plan().chaos->inject(spec, seconds_since_start(w));
    lua_pushinteger(L, id);
    return 1;
  });
}

int lua_chaos_heal(lua_State* L) {
  worker& w = owner_of(L);
  const lua_Integer id = luaL_checkinteger(L, 1);
  if (w.plan().chaos != nullptr) w.plan().chaos->heal(static_cast<int>(id), seconds_since_start(w));
  return 0;
}

int lua_chaos_heal_all(lua_State* L) {
  worker& w = owner_of(L);
  if (w.plan().chaos != nullptr) w.plan().chaos->heal_all(seconds_since_start(w));
  return 0;
}

// ---- history (Jepsen-style operation records) ----
int lua_history_invoke(lua_State* L) {
  vu& v = require_vu(L, "history.invoke");
  const std::string_view op = luaL_checkstring(L, 1);
  return lua_guarded(L, [&] {
    std::string value = lua_isnoneornil(L, 2) ? std::string("null") : encode_json(L, 2);
    lua_pushinteger(L, owner_of(L).history_invoke(v, op, std::move(value)));
    return 1;
  });
}

int lua_history_complete(lua_State* L) {  // (id, "ok"|"fail"|"unknown", value)
  vu& v = require_vu(L, "history.ok/fail/unknown");
  const lua_Integer id = luaL_checkinteger(L, 1);
  const std::string_view type = luaL_checkstring(L, 2);
  return lua_guarded(L, [&] {
    std::string value = lua_isnoneornil(L, 3) ? std::string("null") : encode_json(L, 3);
    owner_of(L).history_complete(v, id, type.empty() ? 'u' : type.front(), std::move(value));
    return 0;
  });
}

}  // namespace

void add_chaos_history_functions(lua_State* L, worker& owner) {
  const luaL_Reg functions[] = {{"__history_invoke", lua_history_invoke}, {"__history_complete", lua_history_complete},
                                {"__chaos_inject", lua_chaos_inject},     {"__chaos_heal", lua_chaos_heal},
                                {"__chaos_heal_all", lua_chaos_heal_all}, {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
}

}  // namespace stampede::loadgen
