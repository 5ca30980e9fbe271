// Small helpers for C functions called from Lua. Lua (built as C) raises errors and yields with
// longjmp, which would skip C++ destructors, so C++ work runs inside lua_guarded(): exceptions
// are caught there, every C++ object is gone, and only then is the Lua error raised.
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>

#include <lua.hpp>

#include "loadgen/lua_guard.h"

namespace stampede::loadgen {

// A script mistake reported to Lua as an error at the caller's file:line.
struct lua_usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// [-0, +1] "file:line: " of the script code that called the running C function: the first Lua frame
// outside the API's own Lua prelude (chunk "=stampede"; http.get there calls the C function for the
// script), or "" when there is none.
inline void push_script_where(lua_State* L) {
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar) != 0; ++level) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0 && std::strcmp(ar.source, "=stampede") != 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

// Runs `body` (C++ work of a C function called from Lua); a C++ exception becomes a Lua error at the
// script's file:line. Allocations inside the body are never refused for the memory limit (lua_guard.h): a
// refusal would raise a Lua error across the C++ frames. What the body allocates is bounded by its
// arguments, and the next Lua instruction reports an overrun.
template <class F>
int lua_guarded(lua_State* L, F&& body) {
  lua_guard* guard = find_guard(L);
  if (guard != nullptr) guard->begin_harness();
  try {
    const int results = body();
    if (guard != nullptr) guard->end_harness();
    return results;
  } catch (const std::exception& e) {
    push_script_where(L);  // "file:line: " of the script code that called us (within the harness)
    lua_pushstring(L, e.what());
    lua_concat(L, 2);
    if (guard != nullptr) guard->end_harness();
  }
  return lua_error(L);
}

}  // namespace stampede::loadgen
