// The Lua API of scenarios (documented in docs/SCENARIOS.md) and the worker's Lua state.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/json/parse.hpp>
#include <lua.hpp>

#include "common/closest_name.h"
#include "common/duration.h"
#include "common/version.h"
#include "loadgen/json_selector.h"
#include "loadgen/lua_json.h"
#include "loadgen/lua_runtime.h"
#include "loadgen/options_reader.h"
#include "loadgen/lua_support.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

constexpr const char* response_meta = "stampede.response";
constexpr const char* headers_meta = "stampede.headers";

// Lua-side API, written in Lua where that is simplest. Runs with the shared globals as _ENV.
// pcall/xpcall are yieldable in Lua 5.4, so HTTP calls inside group() and check() just work.
constexpr const char* prelude = R"lua(
local request, iteration_end = __request, __iteration_end
local group_enter, group_exit, record_check = __group_enter, __group_exit, __record_check
local xpcall, pcall, traceback, error, type, pairs = xpcall, pcall, debug.traceback, error, type, pairs

http = {}
function http.request(method, url, body, params)
  if params == nil and type(body) == "table" then params, body = body, nil end
  return request(method, url, body, params)
end
function http.get(url, params) return request("GET", url, nil, params) end
function http.head(url, params) return request("HEAD", url, nil, params) end
function http.options(url, params) return request("OPTIONS", url, nil, params) end
for _, method in ipairs({"POST", "PUT", "PATCH", "DELETE"}) do
  http[method:lower()] = function(url, body, params)
    if params == nil and type(body) == "table" then params, body = body, nil end
    return request(method, url, body, params)
  end
end
http.del = http.delete
http.cookies, http.clear_cookies, http.url_encode = __cookies, __clear_cookies, __url_encode

function group(name, fn)
  if type(name) ~= "string" then error("group: the name must be a string", 2) end
  if type(fn) ~= "function" then error("group: the second argument must be a function", 2) end
  group_enter(name)
  local results = table.pack(pcall(fn))
  group_exit()
  if not results[1] then error(results[2], 0) end
  return table.unpack(results, 2, results.n)
end

function check(value, sets, tags)
  if type(sets) ~= "table" then error("check: the second argument must be a table of name = predicate", 2) end
  local all = true
  for name, predicate in pairs(sets) do
    local passed
    if type(predicate) == "function" then
      local ok, result = pcall(predicate, value)
      passed = ok and result and true or false
    else
      passed = predicate and true or false
    end
    record_check(tostring(name), passed)
    all = all and passed
  end
  return all
end

function fail(message) error(message == nil and "fail() called" or message, 2) end

function __vu_main(fn, data)
  while true do
    local ok, err = xpcall(fn, traceback, data)
    iteration_end(ok, err)  -- yields until this VU's next iteration
  end
end

function __special_main(fn, data)
  local ok, result = xpcall(fn, traceback, data)
  if not ok then return false, result end
  local encoded_ok, encoded = pcall(json.encode, result)
  if not encoded_ok then return false, "the value returned cannot be encoded as JSON: " .. tostring(encoded) end
  return true, encoded
end

csv = { parse = __csv_parse }

chaos = { inject = __chaos_inject, heal = __chaos_heal, heal_all = __chaos_heal_all }

local history_complete = __history_complete
history = {
  invoke = __history_invoke,
  ok = function(id, value) history_complete(id, "ok", value) end,
  fail = function(id, value) history_complete(id, "fail", value) end,
  unknown = function(id, value) history_complete(id, "unknown", value) end,
}
)lua";

worker& owner_of(lua_State* L) { return *static_cast<worker*>(lua_touserdata(L, lua_upvalueindex(1))); }

vu& require_vu(lua_State* L, const char* what) {
  vu* v = current_vu(L);
  if (v == nullptr) {
    push_script_where(L);
    lua_pushfstring(L, "%s can only be called inside VU code (the exec function, setup or teardown), "
                       "not at the top level of the script", what);
    lua_concat(L, 2);
    lua_error(L);
  }
  return *v;
}

// ---- global isolation: _ENV of the script is a proxy ----
int proxy_index(lua_State* L) {  // (proxy, key)
  if (vu* v = current_vu(L); v != nullptr) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->env_ref);  // [+1] private
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL) return 1;
    lua_pop(L, 2);
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));  // shared globals
  return 1;
}

int proxy_newindex(lua_State* L) {  // (proxy, key, value)
  if (vu* v = current_vu(L); v != nullptr) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, v->env_ref);
  } else {
    lua_pushvalue(L, lua_upvalueindex(1));
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

// ---- helpers ----
std::string_view to_view(lua_State* L, int index) {
  size_t n = 0;
  const char* s = lua_tolstring(L, index, &n);
  return s == nullptr ? std::string_view{} : std::string_view(s, n);
}

bool header_name_is(std::string_view name, std::string_view lower) {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(name[i])) != lower[i]) return false;
  }
  return true;
}

bool valid_header_token(std::string_view text, bool value) {
  if (!value && text.empty()) return false;
  for (char c : text) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
    if (!value && (c == ':' || c == ' ')) return false;
  }
  return true;
}

void url_encode_into(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

std::chrono::nanoseconds duration_arg(lua_State* L, int index, const char* what) {
  if (lua_type(L, index) == LUA_TNUMBER) {
    const double seconds = lua_tonumber(L, index);
    if (!(seconds >= 0) || seconds > 1e8) throw lua_usage_error(std::string(what) + " must be a non-negative number of seconds");
    return std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9));
  }
  if (lua_type(L, index) == LUA_TSTRING) {
    if (auto d = try_parse_duration(to_view(L, index))) return *d;
  }
  throw lua_usage_error(std::string(what) + " must be seconds or a duration such as \"250ms\" or \"2s\"");
}

// ---- script mistakes ----
// A mistake in how the script calls the API that no iteration can get past (a relative URL without a
// target, an unknown request parameter, an unsupported res:json selector). It ends the iteration like
// any error and also stops the run, at its first occurrence (exit 107), instead of failing every
// iteration of the test.
struct script_mistake : lua_usage_error {
  using lua_usage_error::lua_usage_error;
};

// As lua_guarded; a script_mistake also stops the run, with the script's file:line.
template <class F>
int api_guarded(lua_State* L, F&& body) {
  return lua_guarded(L, [&] {
    try {
      return body();
    } catch (const script_mistake& e) {
      if (vu* v = current_vu(L); v != nullptr) {
        push_script_where(L);  // [+1]
        std::string where = lua_tostring(L, -1);
        lua_pop(L, 1);
        v->owner.abort_run(where + e.what(), stop_cause::script_error);
      }
      throw;
    }
  });
}

// ---- http ----
constexpr std::array<std::string_view, 9> param_names = {
    "headers", "body", "json", "form", "name", "timeout", "expectedStatuses", "history", "historyValue"};

// Every key of the params table at `index` is a known parameter: a misspelt one would otherwise send
// a bare request.
void check_param_names(lua_State* L, int index) {
  lua_pushnil(L);
  while (lua_next(L, index) != 0) {  // stack: key, value
    lua_pop(L, 1);
    const std::string key = lua_type(L, -1) == LUA_TSTRING ? std::string(to_view(L, -1)) : "";
    if (std::find(param_names.begin(), param_names.end(), key) != param_names.end()) continue;
    std::string message =
        "http: unknown request parameter '" + (key.empty() ? luaL_tolstring(L, -1, nullptr) : key) + "'";
    const std::string hint = did_you_mean(key, param_names);
    if (!hint.empty()) throw script_mistake(message + hint);
    message += " (known: ";
    for (std::string_view name : param_names) {
      message.append(name).append(name == param_names.back() ? ")" : ", ");
    }
    throw script_mistake(message);
  }
}

// [+1] params[key], which must be nil or of `type`.
int param_field(lua_State* L, const char* key, int type, const char* expected) {
  const int got = lua_getfield(L, 4, key);
  if (got != LUA_TNIL && got != type) {
    throw script_mistake(std::string("http: params.") + key + " must be " + expected + ", not a " +
                         luaL_typename(L, -1));
  }
  return got;
}

// __request(method, url, body, params): builds the request into the VU's buffer, starts it, yields.
int lua_request(lua_State* L) {
  vu& v = require_vu(L, "http requests");
  worker& w = owner_of(L);
  const bool ok = api_guarded(L, [&] {
    const std::string_view method = to_view(L, 1);
    if (lua_type(L, 2) != LUA_TSTRING) throw lua_usage_error("http: the URL must be a string");
    const std::string_view url_text = to_view(L, 2);
    if (method.empty() || !valid_header_token(method, false)) throw lua_usage_error("http: bad method");
    const bool has_params = lua_type(L, 4) == LUA_TTABLE;
    if (!lua_isnoneornil(L, 4) && !has_params) throw script_mistake("http: params must be a table");
    std::string_view explicit_name;  // stays valid: the params table holds the string
    if (has_params) {
      check_param_names(L, 4);
      // [+1] params.name
      if (param_field(L, "name", LUA_TSTRING, "a string") == LUA_TSTRING) explicit_name = to_view(L, -1);
      lua_pop(L, 1);
    }
    request_cache& cache = v.last_request;
    if (!cache.valid || cache.url != url_text || cache.method != method || cache.name != explicit_name) {
      cache.valid = false;
      cache.url.assign(url_text);
      cache.method.assign(method);
      cache.name.assign(explicit_name);
      std::string error;
      auto parsed = parse_url(cache.url, w.base_url(), error);
      if (!parsed && w.base_url() == nullptr && url_text.starts_with('/')) {
        throw script_mistake("http: " + error);  // no iteration can get past it
      }
      if (!parsed) throw lua_usage_error("http: " + error);
      cache.parsed = std::move(*parsed);
      std::string step_name(explicit_name);
      if (step_name.empty()) {
        const std::string_view path = cache.parsed.path.substr(0, cache.parsed.path.find('?'));
        step_name.append(method).append(" ").append(path);
      }
      cache.step = w.request_step(step_name);
      cache.valid = true;
    }
    const parsed_url* url = &cache.parsed;
    if (!has_params) v.expected_statuses.clear();

    std::string body;
    std::string_view content_type;
    if (lua_type(L, 3) == LUA_TSTRING) {
      body = to_view(L, 3);
    } else if (!lua_isnoneornil(L, 3)) {
      throw script_mistake("http: the body must be a string (use params.json or params.form for tables)");
    }
    v.timeout = w.plan().options.request_timeout;
    std::string& wire = v.wire;
    wire.clear();
    wire.append(method).append(" ").append(url->path).append(" HTTP/1.1\r\nHost: ").append(url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host);
    if (url->port != (url->tls ? 443 : 80)) {
      char port[8];
      auto [end, ec] = std::to_chars(port, port + sizeof port, url->port);
      wire.append(":").append(port, end);
    }
    wire.append("\r\n");
    bool user_agent = false, cookie_header = false, content_type_header = false;
    if (has_params) {
      if (lua_getfield(L, 4, "json") != LUA_TNIL) {  // [+1]
        body = encode_json(L, -1);
        content_type = "application/json";
      }
      lua_pop(L, 1);
      if (param_field(L, "form", LUA_TTABLE, "a table") == LUA_TTABLE) {
        body.clear();
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {  // stack: form, key, value
          if (!body.empty()) body += '&';
          lua_pushvalue(L, -2);
          url_encode_into(body, to_view(L, -1));
          lua_pop(L, 1);
          body += '=';
          url_encode_into(body, luaL_tolstring(L, -1, nullptr));
          lua_pop(L, 2);
        }
        content_type = "application/x-www-form-urlencoded";
      }
      lua_pop(L, 1);
      if (param_field(L, "body", LUA_TSTRING, "a string") == LUA_TSTRING) body = to_view(L, -1);
      lua_pop(L, 1);
      if (lua_getfield(L, 4, "timeout") != LUA_TNIL) v.timeout = duration_arg(L, -1, "params.timeout");
      lua_pop(L, 1);
      v.expected_statuses.clear();
      if (param_field(L, "expectedStatuses", LUA_TTABLE, "a list of status codes") == LUA_TTABLE) {
        const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
        for (lua_Integer i = 1; i <= n; ++i) {
          lua_rawgeti(L, -1, i);
          if (!lua_isinteger(L, -1)) {
            throw script_mistake("http: params.expectedStatuses must be a list of status codes");
          }
          v.expected_statuses.push_back(static_cast<int>(lua_tointeger(L, -1)));
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
      if (param_field(L, "headers", LUA_TTABLE, "a table of name = value") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2) != 0) {  // stack: headers, key, value
          if (lua_type(L, -2) != LUA_TSTRING) throw script_mistake("http: header names must be strings");
          const std::string_view name = to_view(L, -2);
          const std::string_view value = luaL_tolstring(L, -1, nullptr);
          if (!valid_header_token(name, false) || !valid_header_token(value, true)) {
            throw lua_usage_error("http: invalid header '" + std::string(name) + "'");
          }
          if (header_name_is(name, "host") || header_name_is(name, "content-length")) {
            lua_pop(L, 2);
            continue;  // computed from the URL and the body
          }
          user_agent |= header_name_is(name, "user-agent");
          cookie_header |= header_name_is(name, "cookie");
          content_type_header |= header_name_is(name, "content-type");
          wire.append(name).append(": ").append(value).append("\r\n");
          lua_pop(L, 2);
        }
      }
      lua_pop(L, 1);
    }
    if (!user_agent && !w.plan().options.user_agent.empty()) {  // "" sends none (as in k6)
      wire.append("User-Agent: ").append(w.plan().options.user_agent).append("\r\n");
    }
    if (!content_type_header && !content_type.empty()) wire.append("Content-Type: ").append(content_type).append("\r\n");
    if (!cookie_header) {
      bool first = true;
      for (const auto& c : v.cookies) {
        if (c.host != url->host) continue;
        wire.append(first ? "Cookie: " : "; ").append(c.name).append("=").append(c.value);
        first = false;
      }
      if (!first) wire.append("\r\n");
    }
    const bool body_method = method == "POST" || method == "PUT" || method == "PATCH";
    if (!body.empty() || body_method) wire.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
    wire.append("\r\n").append(body);
    v.head = method == "HEAD";
    v.idempotent = method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "PUT" || method == "DELETE";
    v.history_id = 0;
    if (has_params) {
      // [+1] record this request as an operation
      if (param_field(L, "history", LUA_TSTRING, "an operation name") == LUA_TSTRING) {
        const std::string op(to_view(L, -1));
        std::string value = "null";
        if (lua_getfield(L, 4, "historyValue") != LUA_TNIL) value = encode_json(L, -1);  // [+1]
        lua_pop(L, 1);
        v.history_id = w.history_invoke(v, op, std::move(value));
      }
      lua_pop(L, 1);
    }
    w.start_request(v, *url, cache.step);
    return 1;
  });
  (void)ok;
  return lua_yield(L, 0);  // resumed by the worker with the response object
}

int lua_cookies(lua_State* L) {
  vu& v = require_vu(L, "http.cookies");
  lua_newtable(L);
  for (const auto& c : v.cookies) {
    lua_pushlstring(L, c.value.data(), c.value.size());
    lua_setfield(L, -2, c.name.c_str());
  }
  return 1;
}

int lua_clear_cookies(lua_State* L) {
  require_vu(L, "http.clear_cookies").cookies.clear();
  return 0;
}

int lua_url_encode(lua_State* L) {
  const std::string_view text = luaL_checkstring(L, 1);
  return lua_guarded(L, [&] {
    std::string out;
    url_encode_into(out, text);
    lua_pushlstring(L, out.data(), out.size());
    return 1;
  });
}

// ---- response object ----
struct response_data {
  int status;
  error_kind error;
  request_timings timings;
};
enum response_slot { slot_body = 1, slot_headers, slot_error, slot_url, slot_cache, slot_count = slot_cache };

response_data& check_response(lua_State* L, int index) {
  return *static_cast<response_data*>(luaL_checkudata(L, index, response_meta));
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
  for (size_t i = 0; i < key.size(); ++i) lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(key[i])));
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
      lua_getiuservalue(L, self, slot_body);  // [+1]
      boost::system::error_code ec;
      boost::json::parse_options options;
      options.max_depth = 200;
      const std::string_view body = to_view(L, -1);
      const boost::json::value document =
          boost::json::parse(boost::json::string_view(body.data(), body.size()), ec, {}, options);
      lua_pop(L, 1);
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
      lua_getiuservalue(L, self, slot_body);
      const std::string_view body = to_view(L, -1);
      push_json(L, body);  // [+1]
      lua_remove(L, -2);
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
    lua_getiuservalue(L, 1, slot_body);
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
      lua_getiuservalue(L, 1, slot_headers);
      http::header_block block;
      block.raw = to_view(L, -1);
      lua_pop(L, 1);
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

// ---- scheduling primitives ----
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

int lua_abort(lua_State* L) {
  const std::string_view reason = luaL_optstring(L, 1, "stampede.abort() called");
  return lua_guarded(L, [&] {
    owner_of(L).abort_run(std::string(reason));
    return 0;
  });
}

// ---- chaos.* at run time ----
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

// ---- data ----
int lua_open(lua_State* L) {
  if (current_vu(L) != nullptr) {
    return luaL_error(L, "open() is only available at the top level of the script (init), not in VU code");
  }
  const std::string_view path = luaL_checkstring(L, 1);
  return lua_guarded(L, [&] {
    const std::string file = owner_of(L).sandbox().readable(path, "open()", lua_sandbox::relative_to::script_folder);
    std::ifstream in(file, std::ios::binary);
    if (!in) throw lua_usage_error("open(): cannot read '" + file + "'");
    std::ostringstream content;
    content << in.rdbuf();
    const std::string text = content.str();
    lua_pushlstring(L, text.data(), text.size());
    return 1;
  });
}

// csv.parse(text, {header = true, delimiter = ","}): RFC 4180 quoting; rows as tables
// keyed by the header's names (header = true, the default) or as arrays.
int lua_csv_parse(lua_State* L) {
  const std::string_view text = luaL_checkstring(L, 1);
  bool header = true;
  char delimiter = ',';
  if (lua_type(L, 2) == LUA_TTABLE) {
    if (lua_getfield(L, 2, "header") != LUA_TNIL) header = lua_toboolean(L, -1) != 0;
    lua_pop(L, 1);
    if (lua_getfield(L, 2, "delimiter") == LUA_TSTRING && lua_rawlen(L, -1) == 1) delimiter = lua_tostring(L, -1)[0];
    lua_pop(L, 1);
  }
  return lua_guarded(L, [&] {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, field_started = false;
    size_t line = 1;
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (quoted) {
        if (c == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field += '"';
            ++i;
          } else {
            quoted = false;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
        }
      } else if (c == '"' && !field_started) {
        quoted = field_started = true;
      } else if (c == delimiter) {
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
      } else if (c == '\n' || c == '\r') {
        if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
        row.push_back(std::move(field));
        field.clear();
        field_started = false;
        if (!(row.size() == 1 && row[0].empty())) rows.push_back(std::move(row));
        row.clear();
        ++line;
      } else {
        field += c;
        field_started = true;
      }
    }
    if (quoted) throw lua_usage_error("csv.parse: unterminated quote (line " + std::to_string(line) + ")");
    if (field_started || !row.empty()) {
      row.push_back(std::move(field));
      rows.push_back(std::move(row));
    }
    lua_createtable(L, static_cast<int>(rows.size()), 0);
    size_t first = 0;
    if (header && !rows.empty()) first = 1;
    for (size_t r = first; r < rows.size(); ++r) {
      lua_createtable(L, header ? 0 : static_cast<int>(rows[r].size()), header ? static_cast<int>(rows[r].size()) : 0);
      for (size_t c = 0; c < rows[r].size(); ++c) {
        lua_pushlstring(L, rows[r][c].data(), rows[r][c].size());
        if (header) {
          if (c < rows[0].size()) {
            lua_setfield(L, -2, rows[0][c].c_str());
          } else {
            lua_pop(L, 1);
          }
        } else {
          lua_rawseti(L, -2, static_cast<lua_Integer>(c + 1));
        }
      }
      lua_rawseti(L, -2, static_cast<lua_Integer>(r - first + 1));
    }
    return 1;
  });
}

// ---- per-VU randomness (math.random / math.randomseed) ----
int lua_random(lua_State* L) {
  vu* v = current_vu(L);
  const uint64_t bits = v != nullptr ? v->random.next() : owner_of(L).init_rng()();
  const double unit = static_cast<double>(bits >> 11) * 0x1.0p-53;
  const int args = lua_gettop(L);
  if (args == 0) {
    lua_pushnumber(L, unit);
    return 1;
  }
  lua_Integer low = 1, high;
  if (args == 1) {
    high = luaL_checkinteger(L, 1);
    if (high == 0) {  // math.random(0): a random integer of all bits, as in Lua 5.4
      lua_pushinteger(L, static_cast<lua_Integer>(bits));
      return 1;
    }
  } else {
    low = luaL_checkinteger(L, 1);
    high = luaL_checkinteger(L, 2);
  }
  luaL_argcheck(L, low <= high, args, "interval is empty");
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  const uint64_t pick = span == UINT64_MAX ? bits : bits % (span + 1);
  lua_pushinteger(L, static_cast<lua_Integer>(static_cast<uint64_t>(low) + pick));
  return 1;
}

int lua_randomseed(lua_State* L) {
  const auto seed = static_cast<uint64_t>(luaL_optinteger(L, 1, 0));
  if (vu* v = current_vu(L); v != nullptr) {
    v->random.reseed(seed);
  } else {
    owner_of(L).init_rng().seed(seed);
  }
  return 0;
}

int lua_print(lua_State* L) {  // to stderr, prefixed with the VU, so the live progress line stays clean
  const int n = lua_gettop(L);  // before the buffer takes stack slots
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  if (vu* v = current_vu(L); v != nullptr) {
    lua_pushfstring(L, "[vu %I] ", static_cast<lua_Integer>(v->id));
  } else {
    lua_pushstring(L, "[init] ");
  }
  luaL_addvalue(&b);
  for (int i = 1; i <= n; ++i) {
    luaL_tolstring(L, i, nullptr);
    luaL_addvalue(&b);
    if (i < n) luaL_addchar(&b, '\t');
  }
  luaL_addchar(&b, '\n');
  luaL_pushresult(&b);
  size_t len = 0;
  const char* text = lua_tolstring(L, -1, &len);
  std::fwrite(text, 1, len, stderr);
  return 0;
}

// An error outside any protected call: nothing can continue. Say what it was before abort().
int panic(lua_State* L) {
  const char* message = lua_tostring(L, -1);
  std::fprintf(stderr, "stampede: unprotected Lua error: %s\n", message != nullptr ? message : "(not a string)");
  return 0;
}

int traceback_handler(lua_State* L) {
  const char* message = lua_tostring(L, 1);
  if (message == nullptr) message = luaL_tolstring(L, 1, nullptr);
  luaL_traceback(L, L, message, 1);
  return 1;
}

}  // namespace

vu* current_vu(lua_State* L) noexcept { return *static_cast<vu**>(lua_getextraspace(L)); }

lua_runtime::lua_runtime(worker& owner)
    : owner_(owner),
      guard_(owner.plan().options.lua_memory_limit),
      sandbox_(owner.plan().unsafe_lua),
      L_(lua_newstate(&lua_guard::allocate, &guard_)),
      data_ref_(LUA_NOREF),
      proxy_ref_(LUA_NOREF),
      shared_ref_(LUA_NOREF) {
  if (L_ == nullptr) throw std::bad_alloc();
  lua_atpanic(L_, panic);
  *static_cast<vu**>(lua_getextraspace(L_)) = nullptr;
  sandbox_.open_libraries(L_);
  guard_.wrap_coroutine_library(L_);
  // Generational GC: every response leaves short-lived garbage, which is what it is built for.
  lua_gc(L_, LUA_GCGEN, 0, 0);

  luaL_newmetatable(L_, response_meta);
  lua_pushcfunction(L_, response_index);
  lua_setfield(L_, -2, "__index");
  lua_pushcfunction(L_, response_tostring);
  lua_setfield(L_, -2, "__tostring");
  lua_pop(L_, 1);
  luaL_newmetatable(L_, headers_meta);
  lua_pushcfunction(L_, headers_index);
  lua_setfield(L_, -2, "__index");
  lua_pop(L_, 1);

  lua_pushglobaltable(L_);  // [+1] G
  open_json_library(L_);
  const luaL_Reg functions[] = {
      {"__request", lua_request},         {"__iteration_end", lua_iteration_end},
      {"__group_enter", lua_group_enter}, {"__group_exit", lua_group_exit},
      {"__record_check", lua_record_check}, {"__cookies", lua_cookies},
      {"__clear_cookies", lua_clear_cookies}, {"__url_encode", lua_url_encode},
      {"__csv_parse", lua_csv_parse},     {"sleep", lua_sleep},
      {"__history_invoke", lua_history_invoke}, {"__history_complete", lua_history_complete},
      {"__chaos_inject", lua_chaos_inject}, {"__chaos_heal", lua_chaos_heal},
      {"__chaos_heal_all", lua_chaos_heal_all},
      {"open", lua_open},                 {"print", lua_print},
      {nullptr, nullptr}};
  lua_pushlightuserdata(L_, &owner_);
  luaL_setfuncs(L_, functions, 1);

  lua_getfield(L_, -1, "math");
  lua_pushlightuserdata(L_, &owner_);
  lua_pushcclosure(L_, lua_random, 1);
  lua_setfield(L_, -2, "random");
  lua_pushlightuserdata(L_, &owner_);
  lua_pushcclosure(L_, lua_randomseed, 1);
  lua_setfield(L_, -2, "randomseed");
  lua_pop(L_, 1);

  // stampede = { version, worker, threads, seed, abort }
  lua_newtable(L_);
  lua_pushlstring(L_, stampede::version.data(), stampede::version.size());
  lua_setfield(L_, -2, "version");
  lua_pushinteger(L_, owner.index());
  lua_setfield(L_, -2, "worker");
  lua_pushinteger(L_, owner.plan().threads);
  lua_setfield(L_, -2, "threads");
  lua_pushinteger(L_, static_cast<lua_Integer>(owner.plan().seed));
  lua_setfield(L_, -2, "seed");
  lua_pushlightuserdata(L_, &owner_);
  lua_pushcclosure(L_, lua_abort, 1);
  lua_setfield(L_, -2, "abort");
  lua_setfield(L_, -2, "stampede");

  lua_newtable(L_);  // env
  for (const auto& [key, value] : owner.plan().env) {
    lua_pushlstring(L_, value.data(), value.size());
    lua_setfield(L_, -2, key.c_str());
  }
  lua_setfield(L_, -2, "env");
  lua_newtable(L_);  // vu outside VU code: id 0
  lua_pushinteger(L_, 0);
  lua_setfield(L_, -2, "id");
  lua_pushinteger(L_, 0);
  lua_setfield(L_, -2, "iteration");
  lua_setfield(L_, -2, "vu");

  if (luaL_loadbuffer(L_, prelude, std::strlen(prelude), "=stampede") != LUA_OK || lua_pcall(L_, 0, 0, 0) != LUA_OK) {
    throw std::logic_error(std::string("stampede prelude failed: ") + lua_tostring(L_, -1));
  }

  // The proxy that becomes the script's _ENV (see the header comment).
  lua_newtable(L_);            // [+1] proxy
  lua_newtable(L_);            // [+1] its metatable
  lua_pushvalue(L_, -3);       // G
  lua_pushcclosure(L_, proxy_index, 1);
  lua_setfield(L_, -2, "__index");
  lua_pushvalue(L_, -3);
  lua_pushcclosure(L_, proxy_newindex, 1);
  lua_setfield(L_, -2, "__newindex");
  lua_setmetatable(L_, -2);
  lua_pushvalue(L_, -1);
  proxy_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);  // [-1]
  // The proxy becomes the state's global table, so every chunk loaded later (the script and the
  // modules it require()s) sees per-VU globals; the prelude above keeps the real table.
  lua_rawseti(L_, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS);  // [-1]
  shared_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);  // [-1] G
  guard_.attach(L_);
}

lua_runtime::~lua_runtime() {
  if (L_ != nullptr) lua_close(L_);
}

void lua_runtime::load_script(const std::string& path, std::chrono::nanoseconds timeout,
                              std::optional<script_interruption>& stopped) {
  lua_State* L = L_;
  // Let scenarios require() modules that sit next to them (and, sandboxed, read files there only).
  sandbox_.set_script(L, path);

  lua_pushcfunction(L, traceback_handler);
  const int handler = lua_gettop(L);
  if (luaL_loadfilex(L, path.c_str(), "t") != LUA_OK) {
    std::string message = lua_tostring(L, -1);
    lua_settop(L, handler - 1);
    throw script_error(message);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, proxy_ref_);
  lua_setupvalue(L, -2, 1);  // _ENV of the main chunk
  guard_.enter(L, lua_phase::init, lua_guard::clock::now() + timeout);
  const int status = lua_pcall(L, 0, 0, handler);
  guard_.leave();
  if (status != LUA_OK) {
    std::string message = guard_.explain(luaL_tolstring(L, -1, nullptr));
    if (guard_.tripped()) {
      stopped = guard_.take_interruption();
      message = stopped->reason;  // the line is in the reason
    }
    lua_settop(L, handler - 1);
    throw script_error(message);
  }
  lua_settop(L, handler - 1);
}

void lua_runtime::set_setup_data(std::string_view json_text) {
  lua_State* L = L_;
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  lua_pushcfunction(L, [](lua_State* S) -> int {
    size_t n = 0;
    const char* s = lua_tolstring(S, 1, &n);
    return lua_guarded(S, [&] {
      push_json(S, std::string_view(s, n));
      return 1;
    });
  });
  lua_pushlstring(L, json_text.data(), json_text.size());
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    std::string message = lua_tostring(L, -1);
    lua_pop(L, 1);
    throw script_error("setup() data: " + message);
  }
  if (data_ref_ != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, data_ref_);
  data_ref_ = luaL_ref(L, LUA_REGISTRYINDEX);
}

bool lua_runtime::has_function(std::string_view name) const {
  lua_rawgeti(L_, LUA_REGISTRYINDEX, shared_ref_);
  lua_pushlstring(L_, name.data(), name.size());
  const bool found = lua_rawget(L_, -2) == LUA_TFUNCTION;
  lua_pop(L_, 2);
  return found;
}

void lua_runtime::create_thread(vu& v, std::string_view scenario_name) {
  lua_State* L = L_;
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  v.thread = lua_newthread(L);  // [+1]
  *static_cast<vu**>(lua_getextraspace(v.thread)) = &v;
  v.thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);  // [-1]
  lua_newtable(L);  // [+1] private globals
  lua_newtable(L);  // [+1] vu
  lua_pushinteger(L, v.id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "iteration");
  lua_pushlstring(L, scenario_name.data(), scenario_name.size());
  lua_setfield(L, -2, "scenario");
  lua_pushvalue(L, -1);
  v.table_ref = luaL_ref(L, LUA_REGISTRYINDEX);  // [-1]
  lua_setfield(L, -2, "vu");                      // [-1]
  v.env_ref = luaL_ref(L, LUA_REGISTRYINDEX);    // [-1]
}

void lua_runtime::release_thread(vu& v) {
  luaL_unref(L_, LUA_REGISTRYINDEX, v.thread_ref);
  luaL_unref(L_, LUA_REGISTRYINDEX, v.env_ref);
  luaL_unref(L_, LUA_REGISTRYINDEX, v.table_ref);
  v.thread_ref = v.env_ref = v.table_ref = LUA_NOREF;
  v.thread = nullptr;
}

int lua_runtime::push_iteration_start(vu& v, std::string_view exec) {
  lua_State* T = v.thread;
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  lua_getglobal(T, "__vu_main");
  lua_rawgeti(T, LUA_REGISTRYINDEX, shared_ref_);
  lua_pushlstring(T, exec.data(), exec.size());
  lua_rawget(T, -2);
  lua_remove(T, -2);
  // Each VU gets its own copy of setup()'s data, as in k6: a VU changing it is seen by no other VU,
  // whatever the thread count. The JSON was checked by set_setup_data().
  push_json(T, owner_.plan().setup_data_json);
  return 2;
}

int lua_runtime::push_special_start(vu& v, std::string_view function, const std::string* argument_json) {
  lua_State* T = v.thread;
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  lua_getglobal(T, "__special_main");
  lua_rawgeti(T, LUA_REGISTRYINDEX, shared_ref_);
  lua_pushlstring(T, function.data(), function.size());
  lua_rawget(T, -2);
  lua_remove(T, -2);
  if (argument_json != nullptr) {
    try {
      push_json(T, *argument_json);
    } catch (const std::exception& e) {
      lua_settop(T, 0);
      throw script_error(std::string(function) + "(): cannot build its argument: " + e.what());
    }
  } else {
    push_json(T, owner_.plan().setup_data_json);  // teardown(data): setup's data, unchanged by the VUs
  }
  return 2;
}

void lua_runtime::update_vu_table(vu& v) {
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  lua_rawgeti(L_, LUA_REGISTRYINDEX, v.table_ref);
  lua_pushinteger(L_, v.iterations_done);
  lua_setfield(L_, -2, "iteration");
  lua_pop(L_, 1);
}

void lua_runtime::push_response(vu& v) {
  lua_State* T = v.thread;
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  http_outcome& out = v.outcome;
  auto* r = static_cast<response_data*>(lua_newuserdatauv(T, sizeof(response_data), slot_count));
  r->status = out.status;
  r->error = out.error;
  r->timings = out.timings;
  luaL_setmetatable(T, response_meta);
  lua_pushlstring(T, out.body.data(), out.body.size());
  lua_setiuservalue(T, -2, slot_body);
  lua_pushlstring(T, out.headers.raw.data(), out.headers.raw.size());
  lua_setiuservalue(T, -2, slot_headers);
  if (out.error != error_kind::none) {
    if (out.error_message.empty()) {
      lua_pushfstring(T, "HTTP %d", out.status);
    } else {
      lua_pushlstring(T, out.error_message.data(), out.error_message.size());
    }
    lua_setiuservalue(T, -2, slot_error);
  }
  lua_pushlstring(T, v.last_request.url.data(), v.last_request.url.size());
  lua_setiuservalue(T, -2, slot_url);
}

}  // namespace stampede::loadgen
