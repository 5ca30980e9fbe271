#include "loadgen/lua_json.h"

#include <cmath>

#include <boost/json.hpp>
#include <lua.hpp>

#include "loadgen/lua_support.h"

namespace stampede::loadgen {

namespace json = boost::json;

namespace {

constexpr const char* null_key = "stampede.json.null";
constexpr const char* array_key = "stampede.json.array";
constexpr int max_depth = 200;

void push_null(lua_State* L) { lua_getfield(L, LUA_REGISTRYINDEX, null_key); }

void push_value(lua_State* L, const json::value& v, int depth) {
  if (depth > max_depth) throw lua_usage_error("json.decode: nesting too deep");
  luaL_checkstack(L, 4, "json.decode: nesting too deep");
  switch (v.kind()) {
    case json::kind::null: push_null(L); break;
    case json::kind::bool_: lua_pushboolean(L, v.get_bool()); break;
    case json::kind::int64: lua_pushinteger(L, v.get_int64()); break;
    case json::kind::uint64: {
      const uint64_t u = v.get_uint64();
      if (u <= static_cast<uint64_t>(LUA_MAXINTEGER)) {
        lua_pushinteger(L, static_cast<lua_Integer>(u));
      } else {
        lua_pushnumber(L, static_cast<lua_Number>(u));
      }
      break;
    }
    case json::kind::double_: lua_pushnumber(L, v.get_double()); break;
    case json::kind::string: {
      const auto& s = v.get_string();
      lua_pushlstring(L, s.data(), s.size());
      break;
    }
    case json::kind::array: {
      const auto& a = v.get_array();
      lua_createtable(L, static_cast<int>(a.size()), 0);
      lua_Integer i = 1;
      for (const auto& item : a) {
        push_value(L, item, depth + 1);
        lua_rawseti(L, -2, i++);
      }
      luaL_setmetatable(L, array_key);
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      lua_createtable(L, 0, static_cast<int>(o.size()));
      for (const auto& item : o) {
        lua_pushlstring(L, item.key().data(), item.key().size());
        push_value(L, item.value(), depth + 1);
        lua_rawset(L, -3);
      }
      break;
    }
  }
}

json::value to_value(lua_State* L, int index, int depth);

bool is_array(lua_State* L, int index, lua_Integer& length) {
  if (lua_getmetatable(L, index)) {  // [+1]
    luaL_getmetatable(L, array_key);
    const bool marked = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (marked) {
      length = static_cast<lua_Integer>(lua_rawlen(L, index));
      return true;
    }
  }
  length = static_cast<lua_Integer>(lua_rawlen(L, index));
  if (length == 0) return false;  // empty plain table: an object
  lua_Integer keys = 0;
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {
    lua_pop(L, 1);
    if (!lua_isinteger(L, -1)) {
      lua_pop(L, 1);
      return false;
    }
    ++keys;
  }
  return keys == length;
}

json::value to_value(lua_State* L, int index, int depth) {
  if (depth > max_depth) throw lua_usage_error("json.encode: nesting deeper than 200 (a cycle?)");
  index = lua_absindex(L, index);
  switch (lua_type(L, index)) {
    case LUA_TNIL: return nullptr;
    case LUA_TBOOLEAN: return lua_toboolean(L, index) != 0;
    case LUA_TNUMBER:
      if (lua_isinteger(L, index)) return static_cast<int64_t>(lua_tointeger(L, index));
      {
        const double d = lua_tonumber(L, index);
        if (!std::isfinite(d)) throw lua_usage_error("json.encode: cannot encode NaN or infinity");
        // Integral floats (6 / 2 is 3.0 in Lua) encode as integers, as JSON.stringify does; Boost
        // would write "3E0", which servers expecting an integer reject.
        if (d == std::trunc(d) && std::abs(d) < 0x1p53) return static_cast<int64_t>(d);
        return d;
      }
    case LUA_TSTRING: {
      size_t n = 0;
      const char* s = lua_tolstring(L, index, &n);
      return json::string(s, n);
    }
    case LUA_TLIGHTUSERDATA: {
      push_null(L);
      const bool is_null = lua_rawequal(L, -1, index);
      lua_pop(L, 1);
      if (is_null) return nullptr;
      throw lua_usage_error("json.encode: cannot encode a userdata");
    }
    case LUA_TTABLE: {
      luaL_checkstack(L, 4, "json.encode: nesting too deep");
      lua_Integer length = 0;
      if (is_array(L, index, length)) {
        json::array a;
        a.reserve(static_cast<size_t>(length));
        for (lua_Integer i = 1; i <= length; ++i) {
          lua_rawgeti(L, index, i);
          a.push_back(to_value(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        return a;
      }
      json::object o;
      lua_pushnil(L);
      while (lua_next(L, index) != 0) {  // stack: key, value
        std::string key;
        if (lua_type(L, -2) == LUA_TSTRING) {
          size_t n = 0;
          const char* s = lua_tolstring(L, -2, &n);
          key.assign(s, n);
        } else if (lua_type(L, -2) == LUA_TNUMBER) {
          lua_pushvalue(L, -2);
          key = lua_tostring(L, -1);  // converts the copy, not the key lua_next needs
          lua_pop(L, 1);
        } else {
          throw lua_usage_error(std::string("json.encode: object keys must be strings or numbers, got ") +
                                luaL_typename(L, -2));
        }
        o[key] = to_value(L, -1, depth + 1);
        lua_pop(L, 1);
      }
      return o;
    }
    default: throw lua_usage_error(std::string("json.encode: cannot encode a ") + luaL_typename(L, index));
  }
}

int json_encode(lua_State* L) {
  luaL_checkany(L, 1);
  return lua_guarded(L, [&] {
    const std::string text = encode_json(L, 1);
    lua_pushlstring(L, text.data(), text.size());
    return 1;
  });
}

int json_decode(lua_State* L) {
  size_t n = 0;
  const char* s = luaL_checklstring(L, 1, &n);
  return lua_guarded(L, [&] {
    push_json(L, std::string_view(s, n));
    return 1;
  });
}

int json_array(lua_State* L) {
  if (lua_isnoneornil(L, 1)) {  // json.array() and json.array(nil): a new empty array
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  luaL_setmetatable(L, array_key);
  return 1;
}

}  // namespace

void open_json_library(lua_State* L) {
  // A unique light userdata as json.null: address of a static object.
  static const char null_sentinel = 0;
  lua_pushlightuserdata(L, const_cast<char*>(&null_sentinel));
  lua_setfield(L, LUA_REGISTRYINDEX, null_key);
  luaL_newmetatable(L, array_key);
  lua_pop(L, 1);

  lua_newtable(L);  // [+1] json
  lua_pushcfunction(L, json_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, json_decode);
  lua_setfield(L, -2, "decode");
  lua_pushcfunction(L, json_array);
  lua_setfield(L, -2, "array");
  push_null(L);
  lua_setfield(L, -2, "null");
  lua_setfield(L, -2, "json");  // [-1] into the table below
}

void push_json(lua_State* L, std::string_view text) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = max_depth;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, {}, options);
  if (ec) throw lua_usage_error("invalid JSON: " + ec.message());
  push_value(L, v, 0);
}

void push_json_value(lua_State* L, const json::value& value) { push_value(L, value, 0); }

std::string encode_json(lua_State* L, int index) { return json::serialize(to_value(L, index, 0)); }

}  // namespace stampede::loadgen
