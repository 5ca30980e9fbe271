// What the files of the scenario Lua API share (internal to the loadgen library). The API is split by
// theme, each file registering its C functions into the global table:
//   lua_runtime.cpp        the worker's Lua state (lua_runtime), the Lua-side prelude, per-VU globals,
//                          print and math.random
//   lua_http.cpp           http.* (builds an http_request, request.h)
//   lua_http_response.cpp  the response object http.* returns
//   lua_http_batch.cpp     http.batch (lua_http_request.h: what it shares with lua_http.cpp)
//   lua_iteration.cpp      sleep, group, check, the iteration's end, stampede.abort
//   lua_data.cpp           open() and csv.parse
//   lua_chaos_history.cpp  chaos.* at run time and history.* (Jepsen-style operation records)
//   lua_metrics.cpp        metrics.* (custom metrics, custom_metrics.h)
//   lua_helpers.cpp        crypto.*, encoding.*, uuid.v4 (OpenSSL, Boost.URL)
// Each C function gets the worker as its first upvalue (owner_of()).
#pragma once

#include <chrono>
#include <lua.hpp>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "loadgen/lua_runtime.h"
#include "loadgen/lua_support.h"

namespace stampede::loadgen {

class worker;
struct vu;
struct http_outcome;

inline worker& owner_of(lua_State* L) {
  return *static_cast<worker*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// The VU running this code; a Lua error naming `what` at the top level of the script.
inline vu& require_vu(lua_State* L, const char* what) {
  vu* v = current_vu(L);
  if (v == nullptr) {
    push_script_where(L);
    lua_pushfstring(L,
                    "%s can only be called inside VU code (the exec function, setup or teardown), "
                    "not at the top level of the script",
                    what);
    lua_concat(L, 2);
    lua_error(L);
  }
  return *v;
}

inline std::string_view to_view(lua_State* L, int index) {
  size_t n = 0;
  const char* s = lua_tolstring(L, index, &n);
  return s == nullptr ? std::string_view{} : std::string_view(s, n);
}

// Seconds (a number) or a duration string ("250ms"); throws lua_usage_error naming `what`.
inline std::chrono::nanoseconds duration_arg(lua_State* L, int index, const char* what) {
  if (lua_type(L, index) == LUA_TNUMBER) {
    const double seconds = lua_tonumber(L, index);
    if (!(seconds >= 0) || seconds > 1e8) {
      throw lua_usage_error(std::string(what) + " must be a non-negative number of seconds");
    }
    return std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
  }
  if (lua_type(L, index) == LUA_TSTRING) {
    if (auto d = try_parse_duration(to_view(L, index))) return *d;
  }
  throw lua_usage_error(std::string(what) + " must be seconds or a duration such as \"250ms\" or \"2s\"");
}

// [-0, +0] Each registers its C functions (as __name for the prelude, or under their public name) into the
// table on top of the stack, with `owner` as their upvalue.
void add_http_functions(lua_State* L, worker& owner);
void add_iteration_functions(lua_State* L, worker& owner);
void add_data_functions(lua_State* L, worker& owner);
void add_chaos_history_functions(lua_State* L, worker& owner);
void add_metric_functions(lua_State* L, worker& owner);  // lua_metrics.cpp: metrics.*
void add_helper_functions(lua_State* L, worker& owner);  // crypto, encoding, uuid (lua_helpers.cpp)

// A fresh multipart boundary (lua_helpers.cpp): random, so that no body holds it.
std::string multipart_boundary();

// stampede.abort([reason]) (lua_iteration.cpp).
int lua_stampede_abort(lua_State* L);

// The response object's metatables (lua_http_response.cpp), created once per state.
void register_response_types(lua_State* L);
// [-0, +1] The response object for the VU's finished request.
void push_response_object(lua_State* T, vu& v);
// [-0, +1] A response object for `out`, a request to `url` (http.batch's responses).
void push_response_object(lua_State* T, const http_outcome& out, std::string_view url);

}  // namespace stampede::loadgen
