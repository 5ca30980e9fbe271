// A plain Lua 5.4 state with the shipped scenarios' folder on package.path, for tests of the pure
// scenario libraries (scenarios/lib/*.lua: checkers, game-day figures) on hand-made histories with known
// answers. The test defines STAMPEDE_SCENARIOS_DIR and links Lua (PkgConfig::LUA).
#pragma once

#include <lua.hpp>
#include <memory>
#include <stdexcept>
#include <string>

namespace stampede::testing {

class scenario_lua {
 public:
  // Opens the standard libraries, sets package.path and runs `prelude`; a prelude error is thrown.
  explicit scenario_lua(const std::string& prelude) : L_(luaL_newstate()) {
    luaL_openlibs(L_.get());
    const std::string error = run(std::string{"package.path = '"} + STAMPEDE_SCENARIOS_DIR +
                                  "/?.lua;' .. package.path\n" + prelude);
    if (!error.empty()) throw std::runtime_error("scenario_lua prelude: " + error);
  }

  // Runs a chunk; returns Lua's error message, or "" when it ran.
  std::string run(const std::string& code) {
    if (luaL_dostring(L_.get(), code.c_str()) == LUA_OK) return {};
    std::string error = lua_tostring(L_.get(), -1);
    lua_pop(L_.get(), 1);
    return error;
  }

  // A Lua expression's value as text, as tostring() gives it ("nil" when nil, "error: ..." when it fails).
  std::string eval(const std::string& expr) {
    if (luaL_dostring(L_.get(), ("return tostring(" + expr + ")").c_str()) != LUA_OK) {
      std::string error = std::string{"error: "} + lua_tostring(L_.get(), -1);
      lua_pop(L_.get(), 1);
      return error;
    }
    std::string out = lua_tostring(L_.get(), -1);
    lua_pop(L_.get(), 1);
    return out;
  }

 private:
  struct closer {
    void operator()(lua_State* L) const { lua_close(L); }
  };
  std::unique_ptr<lua_State, closer> L_;
};

}  // namespace stampede::testing
