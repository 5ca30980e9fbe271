// The scenario API's scheduling and bookkeeping: sleep(), the end of an iteration, group(), check()
// and stampede.abort() (docs/SCENARIOS.md). Each hands the work to the worker.
#include <cstdio>

#include "loadgen/lua_bindings.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

int lua_sleep(lua_State* L) {
  vu& v = require_vu(L, "sleep()");
  worker& w = owner_of(L);
  lua_guarded(L, [&] {
    const auto d = duration_arg(L, 1, "sleep()");
    w.start_sleep(v, std::chrono::duration<double>(d).count());
    return 0;
  });
  return lua_yield(L, 0);
}

int lua_iteration_end(lua_State* L) {
  vu& v = require_vu(L, "__iteration_end");
  worker& w = owner_of(L);
  lua_guard& guard = guard_of(L);
  if (guard.tripped()) return lua_yield(L, 0);  // stopped by the guard: the worker never resumes it
  const bool ok = lua_toboolean(L, 1) != 0;
  if (!ok) {
    const lua_guard::harness_scope harness(guard);  // reporting the error must not fail for memory
    luaL_tolstring(L, 2, nullptr);  // [+1]
    // Lua's bare "not enough memory" after a refused allocation gets the line and the limit.
    const std::string_view error = to_view(L, -1);
    if (error.rfind("not enough memory", 0) == 0) {
      const std::string explained = guard.explain(error);
      lua_pushlstring(L, explained.data(), explained.size());
    }
  }
  const std::string_view error = ok ? std::string_view{} : to_view(L, -1);
  bool next_now = false;
  try {
    next_now = w.end_iteration(v, ok, error);
  } catch (const std::exception& e) {  // bad_alloc: counting must never take the worker down
    std::fprintf(stderr, "stampede: VU %lld: %s\n", static_cast<long long>(v.id), e.what());
  }
  lua_settop(L, 0);
  if (next_now) return 0;  // __vu_main loops straight into the next iteration
  return lua_yield(L, 0);
}

int lua_group_enter(lua_State* L) {
  vu& v = require_vu(L, "group()");
  const std::string_view name = luaL_checkstring(L, 1);
  return lua_guarded(L, [&] {
    owner_of(L).enter_group(v, name);
    return 0;
  });
}

int lua_group_exit(lua_State* L) {
  vu& v = require_vu(L, "group()");
  return lua_guarded(L, [&] {
    owner_of(L).exit_group(v);
    return 0;
  });
}

int lua_record_check(lua_State* L) {
  vu& v = require_vu(L, "check()");
  const std::string_view name = luaL_checkstring(L, 1);
  const bool ok = lua_toboolean(L, 2) != 0;
  return lua_guarded(L, [&] {
    owner_of(L).record_check(v, name, ok);
    return 0;
  });
}

}  // namespace

int lua_stampede_abort(lua_State* L) {
  const std::string_view reason = luaL_optstring(L, 1, "stampede.abort() called");
  return lua_guarded(L, [&] {
    owner_of(L).abort_run(std::string(reason));
    return 0;
  });
}

void add_iteration_functions(lua_State* L, worker& owner) {
  const luaL_Reg functions[] = {{"__iteration_end", lua_iteration_end}, {"__group_enter", lua_group_enter},
                                {"__group_exit", lua_group_exit},       {"__record_check", lua_record_check},
                                {"sleep", lua_sleep},                   {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
}

}  // namespace stampede::loadgen
