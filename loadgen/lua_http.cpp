// http.* of the scenario API (docs/SCENARIOS.md): reads a call's arguments into the VU's http_request
// (request.h), hands it to the worker, yields, and is resumed with the response object defined here.
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include <boost/json/parse.hpp>

#include "common/closest_name.h"
#include "loadgen/json_selector.h"
#include "loadgen/lua_bindings.h"
#include "loadgen/lua_http_request.h"
#include "loadgen/lua_json.h"
#include "loadgen/request.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

constexpr const char* response_meta = "stampede.response";
constexpr const char* headers_meta = "stampede.headers";

// ---- helpers ----
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


// ---- http ----
constexpr std::array<std::string_view, 10> param_names = {"headers", "body",    "json",   "form",         "name",
                                                         "timeout", "expectedStatuses", "history", "historyValue",
                                                         "tags"};

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

// [+1] params[key] (the params table at `params`), which must be nil or of `type`.
int param_field(lua_State* L, int params, const char* key, int type, const char* expected) {
  const int got = lua_getfield(L, params, key);
  if (got != LUA_TNIL && got != type) {
    throw script_mistake(std::string("http: params.") + key + " must be " + expected + ", not a " +
                         luaL_typename(L, -1));
  }
  return got;
}

// The metric step of a request: params.name, or "METHOD /path" (without the query).
size_t step_of(worker& w, std::string_view method, const parsed_url& url, std::string_view explicit_name) {
  std::string step_name(explicit_name);
  if (step_name.empty()) {
    const std::string_view path = std::string_view(url.path).substr(0, url.path.find('?'));
    step_name.append(method).append(" ").append(path);
  }
  return w.request_step(step_name, !explicit_name.empty());
}

parsed_url parse_target(worker& w, std::string_view url_text) {
  std::string error;
  auto parsed = parse_url(url_text, w.base_url(), error);
  if (!parsed && w.base_url() == nullptr && url_text.starts_with('/')) {
    throw script_mistake("http: " + error);  // no iteration can get past it
  }
  if (!parsed) throw lua_usage_error("http: " + error);
  return std::move(*parsed);
}

// The request's target: a repeated method, URL and name (the common case) reuse the VU's last parse,
// metric name and step instead of parsing again.
const parsed_url& resolve_target(vu& v, worker& w, std::string_view method, std::string_view url_text,
                                 std::string_view explicit_name) {
  request_cache& cache = v.last_request;
  if (cache.valid && cache.url == url_text && cache.method == method && cache.name == explicit_name) {
    return *cache.target;
  }
  cache.valid = false;
  cache.url.assign(url_text);
  cache.method.assign(method);
  cache.name.assign(explicit_name);
  if (const target_cache::entry* known = w.targets().find(method, url_text, explicit_name)) {
    cache.target = &known->url;
    cache.step = known->step;
  } else {
    parsed_url parsed = parse_target(w, cache.url);
    cache.step = step_of(w, method, parsed, explicit_name);
    if (const target_cache::entry* kept =
            w.targets().insert(method, url_text, explicit_name, parsed, cache.step)) {
      cache.target = &kept->url;
    } else {
      cache.parsed = std::move(parsed);
      cache.target = &cache.parsed;
    }
  }
  cache.valid = true;
  return *cache.target;
}

// Whether the value at `index` is a table made by the prelude with the metatable named `name`
// (http.file: "stampede.file", http.url: "stampede.url").
bool is_marked(lua_State* L, int index, const char* name) {
  if (lua_type(L, index) != LUA_TTABLE || !lua_getmetatable(L, index)) return false;  // [+1]
  lua_getfield(L, -1, "__name");                                                   // [+1]
  const bool marked = lua_type(L, -1) == LUA_TSTRING && to_view(L, -1) == name;
  lua_pop(L, 2);
  return marked;
}

// [+0] t[key] of the table at `index` as a string ("" when absent).
std::string string_field(lua_State* L, int index, const char* key) {
  lua_getfield(L, index, key);
  std::string out = lua_type(L, -1) == LUA_TSTRING ? std::string(to_view(L, -1)) : std::string();
  lua_pop(L, 1);
  return out;
}

// A quoted parameter of Content-Disposition: quotes and line breaks would end it early.
void append_quoted(std::string& out, std::string_view text) {
  out += '"';
  for (char c : text) out += (c == '"' || c == '\r' || c == '\n') ? '_' : c;
  out += '"';
}

// params.form (the table on top) holding an http.file value: the body as multipart/form-data (RFC 7578).
void read_multipart(lua_State* L, http_request& r) {
  r.body.clear();
  r.content_type_buffer = "multipart/form-data; boundary=" + multipart_boundary();
  const std::string_view boundary = std::string_view(r.content_type_buffer).substr(r.content_type_buffer.find('=') + 1);
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  // stack: form, key, value
    lua_pushvalue(L, -2);
    const std::string name(to_view(L, -1));
    lua_pop(L, 1);
    r.body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=");
    append_quoted(r.body, name);
    if (is_marked(L, -1, "stampede.file")) {
      r.body.append("; filename=");
      append_quoted(r.body, string_field(L, lua_absindex(L, -1), "filename"));
      const std::string type = string_field(L, lua_absindex(L, -1), "content_type");
      if (!valid_header_token(type, true)) throw script_mistake("http.file: bad content type");
      r.body.append("\r\nContent-Type: ").append(type).append("\r\n\r\n");
      r.body.append(string_field(L, lua_absindex(L, -1), "data"));
    } else {
      r.body.append("\r\n\r\n").append(luaL_tolstring(L, -1, nullptr));
      lua_pop(L, 1);
    }
    r.body.append("\r\n");
    lua_pop(L, 1);
  }
  r.body.append("--").append(boundary).append("--\r\n");
  r.content_type = r.content_type_buffer;
}

// params.form (the table on top): the body as application/x-www-form-urlencoded, or multipart/form-data
// when a value is an http.file.
void read_form(lua_State* L, http_request& r) {
  bool multipart = false;
  lua_pushnil(L);
  while (!multipart && lua_next(L, -2) != 0) {  // stack: form, key, value
    multipart = is_marked(L, -1, "stampede.file");
    lua_pop(L, 1);
  }
  if (multipart) {
    lua_pop(L, 1);  // the key lua_next left
    return read_multipart(L, r);
  }
  r.body.clear();
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  // stack: form, key, value
    if (!r.body.empty()) r.body += '&';
    lua_pushvalue(L, -2);
    url_encode_into(r.body, to_view(L, -1));
    lua_pop(L, 1);
    r.body += '=';
    url_encode_into(r.body, luaL_tolstring(L, -1, nullptr));
    lua_pop(L, 2);
  }
  r.content_type = "application/x-www-form-urlencoded";
}

// params.expectedStatuses (the table on top).
void read_expected_statuses(lua_State* L, http_request& r) {
  const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, -1, i);
    if (!lua_isinteger(L, -1)) throw script_mistake("http: params.expectedStatuses must be a list of status codes");
    r.expected_statuses.push_back(static_cast<int>(lua_tointeger(L, -1)));
    lua_pop(L, 1);
  }
}

// params.headers (the table on top).
void read_headers(lua_State* L, http_request& r) {
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  // stack: headers, key, value
    if (lua_type(L, -2) != LUA_TSTRING) throw script_mistake("http: header names must be strings");
    const std::string_view name = to_view(L, -2);
    const std::string_view value = luaL_tolstring(L, -1, nullptr);  // [+1]
    if (!valid_header_token(name, false) || !valid_header_token(value, true)) {
      throw lua_usage_error("http: invalid header '" + std::string(name) + "'");
    }
    r.headers.emplace_back(name, value);
    lua_pop(L, 2);
  }
}

// params.tags (the table on top): name = string, number or boolean.
void read_tags(lua_State* L, http_request& r, bool keep) {
  lua_pushnil(L);  // [+1]
  while (lua_next(L, -2) != 0) {  // [+1] key, value
    const int t = lua_type(L, -1);
    if (lua_type(L, -2) != LUA_TSTRING || (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN)) {
      throw script_mistake("http: params.tags must be a table of name = string (or number, boolean)");
    }
    if (keep) {
      std::string value = t == LUA_TBOOLEAN ? (lua_toboolean(L, -1) ? "true" : "false") : "";
      if (t != LUA_TBOOLEAN) {
        lua_pushvalue(L, -1);  // [+1] a copy: lua_tolstring converts numbers in place
        value = to_view(L, -1);
        lua_pop(L, 1);
      }
      r.tags.emplace_back(std::string(to_view(L, -2)), std::move(value));
    }
    lua_pop(L, 1);  // [-1] value
  }
}

// The params table (at `params`): body, json, form, timeout, expectedStatuses, headers, tags into `r`
// (tags kept only when some threshold asks for tag sets: `keep_tags`).
void read_params(lua_State* L, int params, http_request& r, bool keep_tags) {
  if (lua_getfield(L, params, "json") != LUA_TNIL) {  // [+1]
    r.body = encode_json(L, -1);
    r.content_type = "application/json";
  }
  lua_pop(L, 1);
  if (param_field(L, params, "form", LUA_TTABLE, "a table") == LUA_TTABLE) read_form(L, r);
  lua_pop(L, 1);
  if (param_field(L, params, "body", LUA_TSTRING, "a string") == LUA_TSTRING) r.body = to_view(L, -1);
  lua_pop(L, 1);
  if (lua_getfield(L, params, "timeout") != LUA_TNIL) r.timeout = duration_arg(L, -1, "params.timeout");
  lua_pop(L, 1);
  if (param_field(L, params, "expectedStatuses", LUA_TTABLE, "a list of status codes") == LUA_TTABLE) {
    read_expected_statuses(L, r);
  }
  lua_pop(L, 1);
  if (param_field(L, params, "headers", LUA_TTABLE, "a table of name = value") == LUA_TTABLE) read_headers(L, r);
  lua_pop(L, 1);
  if (param_field(L, params, "tags", LUA_TTABLE, "a table of name = value") == LUA_TTABLE) read_tags(L, r, keep_tags);
  lua_pop(L, 1);
}

}  // namespace

// The request at stack slots base..base+3 (method, url, body, params) into `r`. `item`: a request of
// http.batch, with its own URL; nullptr: the VU's own request, through the VU's target cache.
void read_request(lua_State* L, int base, vu& v, worker& w, http_request& r, batch_item* item) {
  const int params = base + 3;
  const std::string_view method = to_view(L, base);
  std::string templated_name;  // http.url("/products/%d", id): "GET /products/{}" unless params.name
  if (lua_type(L, base + 1) == LUA_TTABLE && is_marked(L, base + 1, "stampede.url")) {
    std::string name = string_field(L, base + 1, "template");
    templated_name.assign(method).append(" ").append(name.substr(0, name.find('?')));
    lua_getfield(L, base + 1, "url");  // [+1]
    lua_replace(L, base + 1);
  }
  if (lua_type(L, base + 1) != LUA_TSTRING) throw lua_usage_error("http: the URL must be a string");
  if (method.empty() || !valid_header_token(method, false)) throw lua_usage_error("http: bad method");
  const bool has_params = lua_type(L, params) == LUA_TTABLE;
  if (!lua_isnoneornil(L, params) && !has_params) throw script_mistake("http: params must be a table");
  std::string_view explicit_name;  // stays valid: the params table holds the string
  if (has_params) {
    check_param_names(L, params);
    // [+1] params.name
    if (param_field(L, params, "name", LUA_TSTRING, "a string") == LUA_TSTRING) explicit_name = to_view(L, -1);
    lua_pop(L, 1);
  }
  if (explicit_name.empty()) explicit_name = templated_name;
  r.clear();
  if (item == nullptr) {
    r.url = &resolve_target(v, w, method, to_view(L, base + 1), explicit_name);
    r.step = v.last_request.step;
  } else {
    item->url_text = to_view(L, base + 1);
    item->url = parse_target(w, item->url_text);
    item->origin = item->url.origin_key();
    r.url = &item->url;
    r.step = step_of(w, method, item->url, explicit_name);
  }
  r.method.assign(method);
  r.timeout = w.plan().options.request_timeout;
  if (lua_type(L, base + 2) == LUA_TSTRING) {
    r.body = to_view(L, base + 2);
  } else if (!lua_isnoneornil(L, base + 2)) {
    throw script_mistake("http: the body must be a string (use params.json or params.form for tables)");
  }
  if (has_params) read_params(L, params, r, !w.metrics().tagged_steps().empty());
}

namespace {

// __request(method, url, body, params): builds the VU's http_request, starts it, yields.
int lua_request(lua_State* L) {
  vu& v = require_vu(L, "http requests");
  worker& w = owner_of(L);
  api_guarded(L, [&] {
    read_request(L, 1, v, w, v.request, nullptr);
    v.history_id = 0;
    // [+1] params.history: record this request as an operation
    if (lua_type(L, 4) == LUA_TTABLE && param_field(L, 4, "history", LUA_TSTRING, "an operation name") == LUA_TSTRING) {
      const std::string op(to_view(L, -1));
      std::string value = "null";
      if (lua_getfield(L, 4, "historyValue") != LUA_TNIL) value = encode_json(L, -1);  // [+1]
      lua_pop(L, 1);
      v.history_id = w.history_invoke(v, op, std::move(value));
    }
    if (lua_type(L, 4) == LUA_TTABLE) lua_pop(L, 1);
    w.start_request(v);
    return 1;
  });
  return lua_yield(L, 0);  // resumed by the worker with the response object
}

int lua_cookies(lua_State* L) {
  vu& v = require_vu(L, "http.cookies");
  lua_newtable(L);
  for (const cookie& c : v.cookies.cookies()) {
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

void add_http_functions(lua_State* L, worker& owner) {
  const luaL_Reg functions[] = {{"__request", lua_request},
                                {"__cookies", lua_cookies},
                                {"__clear_cookies", lua_clear_cookies},
                                {"__url_encode", lua_url_encode},
                                {"__batch", lua_batch},
                                {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
}

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
