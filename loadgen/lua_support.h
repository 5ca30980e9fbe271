// Small helpers for C functions called from Lua. Lua (built as C) raises errors and yields with
// longjmp, which would skip C++ destructors, so C++ work runs inside lua_guarded(): exceptions
// are caught there, every C++ object is gone, and only then is the Lua error raised.
#pragma once

#include <stdexcept>
#include <string>

#include <lua.hpp>

#include "loadgen/lua_guard.h"

namespace stampede::loadgen {

// A script mistake reported to Lua as an error at the caller's file:line.
struct lua_usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

//
// Allocations inside the body are never refused for the memory limit (lua_guard.h): a refusal would
// raise a Lua error across the C++ frames. What the body allocates is bounded by its arguments, and the
// next Lua instruction reports an overrun.
template <class F>
int lua_guarded(lua_State* L, F&& body) {
  lua_guard* guard = find_guard(L);
  if (guard != nullptr) guard->begin_harness();
  try {
    const int results = body();
    if (guard != nullptr) guard->end_harness();
    return results;
  } catch (const std::exception& e) {
    if (guard != nullptr) guard->end_harness();
    luaL_where(L, 1);  // "file:line: " of the Lua code that called us
    lua_pushstring(L, e.what());
    lua_concat(L, 2);
  }
  return lua_error(L);
}

}  // namespace stampede::loadgen
