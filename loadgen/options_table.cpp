#include "loadgen/options_table.h"

#include "loadgen/lua_guard.h"

namespace stampede::loadgen::options_detail {

int get_field(lua_State* L, int index, const char* key, const std::string& path) {
  index = lua_absindex(L, index);
  if (!lua_getmetatable(L, index)) return lua_getfield(L, index, key);  // a plain table: no script code runs
  lua_pop(L, 1);
  lua_pushcfunction(L, [](lua_State* S) -> int {  // (t, key) -> t[key]
    lua_gettable(S, 1);
    return 1;
  });
  lua_pushvalue(L, index);
  lua_pushstring(L, key);
  if (lua_pcall(L, 2, 1, 0) != LUA_OK) {  // [+1] the error
    const int type = lua_type(L, -1);
    std::string message = type == LUA_TSTRING ? lua_tostring(L, -1) : std::string("a ") + lua_typename(L, type) + " error";
    if (lua_guard* guard = find_guard(L); guard != nullptr) message = guard->explain(message);  // memory limit
    lua_pop(L, 1);
    bad(path, "reading it raised an error: " + message);
  }
  return lua_type(L, -1);
}

}  // namespace stampede::loadgen::options_detail
