// Reading the scenario's `options` tables (loadgen/options_reader.cpp): a strict reader of one Lua table
// whose accessors check each value's type and name its full option path in errors, and remember which
// keys were read so that any other key is named as unknown (with the closest valid name).
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <lua.hpp>

#include "common/closest_name.h"
#include "common/duration.h"
#include "loadgen/options.h"
#include "loadgen/options_reader.h"

namespace stampede::loadgen::options_detail {

[[noreturn]] inline void bad(const std::string& path, const std::string& what) {
  throw std::invalid_argument("options." + path + ": " + what);
}

// [-0, +1] t[key] of the table at `index`, like lua_getfield, but the metamethods of a table that has a
// metatable (script code: __index may raise, yield or loop) run in a protected call: an error there is an
// option error naming the script's file:line, not a Lua error thrown through C++ frames (outside a
// protected call Lua would abort the process). Returns the value's type.
int get_field(lua_State* L, int index, const char* key, const std::string& path);

// Reads the table at the top of the stack; every accessor pops what it pushes.
class table_reader {
 public:
  table_reader(lua_State* L, std::string path) : L_(L), path_(std::move(path)) {}

  void mark_seen(const char* key) { seen_.insert(key); }

  bool has(const char* key) {
    const bool present = get_field(L_, -1, key, path(key)) != LUA_TNIL;
    lua_pop(L_, 1);
    return present;
  }

  std::optional<std::string> string(const char* key) {
    return scalar<std::string>(key, LUA_TSTRING, "expected a string", [](lua_State* L) { return lua_tostring(L, -1); });
  }

  std::optional<double> number(const char* key) {
    auto out = scalar<double>(key, LUA_TNUMBER, "expected a number", [](lua_State* L) { return lua_tonumber(L, -1); });
    if (out && (!std::isfinite(*out) || *out < 0)) bad(path(key), "must be a non-negative number");
    return out;
  }

  std::optional<int64_t> count(const char* key) {
    auto n = number(key);
    if (!n) return std::nullopt;
    if (*n != std::floor(*n) || *n > 1e9) bad(path(key), "must be a whole number");
    return static_cast<int64_t>(*n);
  }

  std::optional<bool> boolean(const char* key) {
    return scalar<bool>(key, LUA_TBOOLEAN, "expected true or false",
                        [](lua_State* L) { return lua_toboolean(L, -1) != 0; });
  }

  std::optional<nanos> duration(const char* key) {
    seen_.insert(key);
    std::optional<nanos> out;
    const int type = get_field(L_, -1, key, path(key));
    if (type == LUA_TNUMBER) {
      const double seconds = lua_tonumber(L_, -1);
      if (!(seconds >= 0) || seconds > 3.15e8) {
        lua_pop(L_, 1);
        bad(path(key), "must be a non-negative number of seconds");
      }
      out = nanos(static_cast<int64_t>(seconds * 1e9));
    } else if (type == LUA_TSTRING) {
      out = try_parse_duration(lua_tostring(L_, -1));
      if (!out) {
        std::string text = lua_tostring(L_, -1);
        lua_pop(L_, 1);
        bad(path(key), "invalid duration '" + text + "' (expected e.g. \"250ms\", \"30s\", \"2m\")");
      }
    } else if (type != LUA_TNIL) {
      lua_pop(L_, 1);
      bad(path(key), "expected a duration string or a number of seconds");
    }
    lua_pop(L_, 1);
    return out;
  }

  // Bytes: a whole number or a string with a unit ("10MB"); at least `min`.
  std::optional<size_t> bytes(const char* key, size_t min) {
    seen_.insert(key);
    std::optional<size_t> out;
    const int type = get_field(L_, -1, key, path(key));
    if (type == LUA_TNUMBER || type == LUA_TSTRING) {
      std::string text = type == LUA_TNUMBER && lua_isinteger(L_, -1) ? std::to_string(lua_tointeger(L_, -1))
                                                                       : std::string(lua_tostring(L_, -1));
      out = parse_byte_size(text);
      lua_pop(L_, 1);
      if (!out) bad(path(key), "invalid size '" + text + "' (expected bytes or e.g. \"512KB\", \"10MB\", \"1GB\")");
      if (*out < min) bad(path(key), "must be at least " + std::to_string(min) + " bytes");
      return out;
    }
    if (type != LUA_TNIL) {
      lua_pop(L_, 1);
      bad(path(key), "expected a size such as \"10MB\" or a number of bytes");
    }
    lua_pop(L_, 1);
    return out;
  }

  std::map<std::string, std::string> string_map(const char* key) {
    seen_.insert(key);
    std::map<std::string, std::string> out;
    const int type = get_field(L_, -1, key, path(key));
    if (type == LUA_TTABLE) {
      lua_pushnil(L_);
      while (lua_next(L_, -2) != 0) {
        if (lua_type(L_, -2) != LUA_TSTRING || !lua_isstring(L_, -1)) {
          lua_pop(L_, 3);
          bad(path(key), "expected a table of string = string");
        }
        out[lua_tostring(L_, -2)] = lua_tostring(L_, -1);
        lua_pop(L_, 1);
      }
    } else if (type != LUA_TNIL) {
      lua_pop(L_, 1);
      bad(path(key), "expected a table");
    }
    lua_pop(L_, 1);
    return out;
  }

  std::vector<stage> stages(const char* key) {
    seen_.insert(key);
    std::vector<stage> out;
    const int type = get_field(L_, -1, key, path(key));
    if (type == LUA_TTABLE) {
      const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L_, -1));
      for (lua_Integer i = 1; i <= n; ++i) {
        if (lua_rawgeti(L_, -1, i) != LUA_TTABLE) {
          lua_pop(L_, 2);
          bad(path(key) + "[" + std::to_string(i) + "]", "expected { duration = ..., target = ... }");
        }
        table_reader stage_reader(L_, path(key) + "[" + std::to_string(i) + "]");
        stage s;
        auto d = stage_reader.duration("duration");
        auto t = stage_reader.number("target");
        stage_reader.reject_unknown();
        lua_pop(L_, 1);
        if (!d || !t) {
          lua_pop(L_, 1);
          bad(path(key) + "[" + std::to_string(i) + "]", "needs both duration and target");
        }
        s.duration = *d;
        s.target = *t;
        out.push_back(s);
      }
    } else if (type != LUA_TNIL) {
      lua_pop(L_, 1);
      bad(path(key), "expected a list of stages");
    }
    lua_pop(L_, 1);
    return out;
  }

  // Every key must have been read by now; anything else is a typo worth naming.
  void reject_unknown() {
    lua_pushnil(L_);
    while (lua_next(L_, -2) != 0) {
      lua_pop(L_, 1);  // stack: table, key
      const std::string key = lua_type(L_, -1) == LUA_TSTRING ? lua_tostring(L_, -1) : "?";
      if (!seen_.contains(key)) {
        lua_pop(L_, 1);
        // Every key this table accepts has been asked for by now: they are the candidates.
        const std::vector<std::string_view> known(seen_.begin(), seen_.end());
        bad(path(key), "unknown option" + did_you_mean(key, known));
      }
    }
  }

  std::string path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  // t[key] when it is of `type` (read by `read` at the top of the stack), nullopt when nil; else `expected`.
  template <class T, class Read>
  std::optional<T> scalar(const char* key, int type, const char* expected, Read read) {
    seen_.insert(key);
    std::optional<T> out;
    const int actual = get_field(L_, -1, key, path(key));
    if (actual == type) {
      out = read(L_);
    } else if (actual != LUA_TNIL) {
      lua_pop(L_, 1);
      bad(path(key), expected);
    }
    lua_pop(L_, 1);
    return out;
  }

  lua_State* L_;
  std::string path_;
  std::set<std::string> seen_;
};

}  // namespace stampede::loadgen::options_detail
