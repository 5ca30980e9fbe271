// The response object of http.* (docs/SCENARIOS.md): what a VU's http.get/post/... returns once the
// worker resumes it. One userdata per response holds the status, timings, body and header bytes; the body's
// Lua string, the headers table and the decoded JSON are made only when the script reads them. Apart from
// lua_http.cpp, which reads a call's arguments into a request.
#include <boost/json/parse.hpp>
#include <cctype>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

#include "loadgen/json_selector.h"
#include "loadgen/lua_bindings.h"
#include "loadgen/lua_http_request.h"
#include "loadgen/lua_json.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

constexpr const char* response_meta = "stampede.response";
constexpr const char* headers_meta = "stampede.headers";

// The body's and the header block's bytes follow the struct in the same userdata: one allocation per
// response, and a Lua string for the body only when the script reads res.body (most never do).
struct response_data {
  int status;
  error_kind error;
  request_timings timings;
  size_t body_size;
  size_t headers_size;
  std::string_view body() const noexcept { return {reinterpret_cast<const char*>(this + 1), body_size}; }
  std::string_view headers() const noexcept {
    return {reinterpret_cast<const char*>(this + 1) + body_size, headers_size};
  }
};
enum response_slot { slot_body = 1, slot_error, slot_url, slot_cache, slot_count = slot_cache };

response_data& check_response(lua_State* L, int index) {
  return *static_cast<response_data*>(luaL_checkudata(L, index, response_meta));
}

// [+1] res.body: the Lua string, made at the first read and kept in the response.
void push_body(lua_State* L, int index) {
  index = lua_absindex(L, index);
  if (lua_getiuservalue(L, index, slot_body) != LUA_TNIL) return;
  lua_pop(L, 1);
  const std::string_view body = static_cast<const response_data*>(lua_touserdata(L, index))->body();
  lua_pushlstring(L, body.data(), body.size());
  lua_pushvalue(L, -1);
  lua_setiuservalue(L, index, slot_body);
}

void push_cache(lua_State* L, int index) {  // [+1] the response's lazily created cache table
  index = lua_absindex(L, index);
  if (lua_getiuservalue(L, index, slot_cache) == LUA_TNIL) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, index, slot_cache);
  }
}

int headers_index(lua_State* L) {  // case-insensitive lookup: keys are stored lower-case
  if (lua_type(L, 2) != LUA_TSTRING) return 0;
  const std::string_view key = to_view(L, 2);
  char lower[256];
  if (key.size() >= sizeof lower) return 0;
  for (size_t i = 0; i < key.size(); ++i)
    lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
  lua_pushlstring(L, lower, key.size());
  lua_rawget(L, 1);
  return 1;
}

// res.json() and res:json() both work: the method is a closure bound to its response. With a selector,
// res:json("items.0.id") returns that part of the body, nil when it is absent (json_selector.h).
int response_json(lua_State* L) {
  const int self = lua_upvalueindex(1);
  const int selector_index = lua_rawequal(L, 1, self) ? 2 : 1;  // res:json(s) passes res first
  return api_guarded(L, [&] {
    if (!lua_isnoneornil(L, selector_index)) {
      if (lua_type(L, selector_index) != LUA_TSTRING) {
        throw script_mistake("res:json: the selector must be a string such as \"items.0.id\"");
      }
      json_selector selector;
      try {
        selector = parse_json_selector(to_view(L, selector_index));
      } catch (const std::invalid_argument& e) {
        throw script_mistake(std::string("res:json: ") + e.what());
      }
      boost::system::error_code ec;
      boost::json::parse_options options;
      options.max_depth = 200;
      const std::string_view body = static_cast<const response_data*>(lua_touserdata(L, self))->body();
      const boost::json::value document =
          boost::json::parse(boost::json::string_view(body.data(), body.size()), ec, {}, options);
      if (ec) throw lua_usage_error("res:json: invalid JSON: " + ec.message());
      if (auto selected = select_json(document, selector)) {
        push_json_value(L, *selected);
      } else {
        lua_pushnil(L);
      }
      return 1;
    }
    push_cache(L, self);  // [+1]
    if (lua_getfield(L, -1, "json") == LUA_TNIL) {
      lua_pop(L, 1);
      push_json(L, static_cast<const response_data*>(lua_touserdata(L, self))->body());  // [+1]
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "json");
    }
    return 1;
  });
}

int response_index(lua_State* L) {
  const response_data& r = check_response(L, 1);
  const std::string_view key = to_view(L, 2);
  const auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
  if (key == "status") {
    lua_pushinteger(L, r.status);
  } else if (key == "body") {
    push_body(L, 1);
  } else if (key == "ok") {
    lua_pushboolean(L, r.error == error_kind::none);
  } else if (key == "error") {
    lua_getiuservalue(L, 1, slot_error);
  } else if (key == "error_code") {
    if (r.error == error_kind::none) {
      lua_pushnil(L);
    } else {
      const auto name = to_string(r.error);
      lua_pushlstring(L, name.data(), name.size());
    }
  } else if (key == "url") {
    lua_getiuservalue(L, 1, slot_url);
  } else if (key == "json") {
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, response_json, 1);
  } else if (key == "headers") {
    push_cache(L, 1);
    if (lua_getfield(L, -1, "headers") == LUA_TNIL) {
      lua_pop(L, 1);
      lua_newtable(L);  // [+1]
      http::header_block block;
      block.raw = r.headers();
      block.for_each([&](std::string_view name, std::string_view value) {
        std::string lower(name);
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        lua_pushlstring(L, lower.data(), lower.size());
        if (lua_rawget(L, -2) == LUA_TSTRING) {  // repeated header: join with ", " as HTTP allows
          std::string joined(to_view(L, -1));
          joined.append(", ").append(value);
          lua_pop(L, 1);
          lua_pushlstring(L, lower.data(), lower.size());
          lua_pushlstring(L, joined.data(), joined.size());
        } else {
          lua_pop(L, 1);
          lua_pushlstring(L, lower.data(), lower.size());
          lua_pushlstring(L, value.data(), value.size());
        }
        lua_rawset(L, -3);
      });
      luaL_setmetatable(L, headers_meta);
      lua_pushvalue(L, -1);
      lua_setfield(L, -3, "headers");
    }
  } else if (key == "timings") {
    lua_createtable(L, 0, 7);
    const auto set = [&](const char* name, int64_t us) {
      lua_pushnumber(L, ms(us));
      lua_setfield(L, -2, name);
    };
    set("blocked", r.timings.blocked);
    set("connecting", r.timings.connect);
    set("tls_handshaking", r.timings.tls);
    set("sending", r.timings.send);
    set("waiting", r.timings.wait);
    set("receiving", r.timings.receive);
    set("duration", r.timings.send + r.timings.wait + r.timings.receive);
    set("total", r.timings.total);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

int response_tostring(lua_State* L) {
  const response_data& r = check_response(L, 1);
  lua_pushfstring(L, "response(%d)", r.status);
  return 1;
}

}  // namespace

void register_response_types(lua_State* L) {
  luaL_newmetatable(L, response_meta);
  lua_pushcfunction(L, response_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, response_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  luaL_newmetatable(L, headers_meta);
  lua_pushcfunction(L, headers_index);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

void push_response_object(lua_State* T, const http_outcome& out, std::string_view url) {
  const size_t bytes = sizeof(response_data) + out.body.size() + out.headers.raw.size();
  auto* r = static_cast<response_data*>(lua_newuserdatauv(T, bytes, slot_count));
  r->status = out.status;
  r->error = out.error;
  r->timings = out.timings;
  r->body_size = out.body.size();
  r->headers_size = out.headers.raw.size();
  char* bytes_after = reinterpret_cast<char*>(r + 1);
  if (!out.body.empty()) std::memcpy(bytes_after, out.body.data(), out.body.size());
  if (!out.headers.raw.empty())
    std::memcpy(bytes_after + out.body.size(), out.headers.raw.data(), out.headers.raw.size());
  luaL_setmetatable(T, response_meta);
  if (out.error != error_kind::none) {
    if (out.error_message.empty()) {
      lua_pushfstring(T, "HTTP %d", out.status);
    } else {
      lua_pushlstring(T, out.error_message.data(), out.error_message.size());
    }
    lua_setiuservalue(T, -2, slot_error);
  }
  lua_pushlstring(T, url.data(), url.size());
  lua_setiuservalue(T, -2, slot_url);
}

void push_response_object(lua_State* T, vu& v) { push_response_object(T, v.outcome, v.last_request.url); }

}  // namespace stampede::loadgen
