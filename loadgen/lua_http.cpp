// http.* of the scenario API (docs/SCENARIOS.md): reads a call's arguments into the VU's http_request
// (request.h), hands it to the worker, yields, and is resumed with the response object
// (lua_http_response.cpp, apart because it reads a response while this file builds a request).
#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "common/closest_name.h"
#include "loadgen/lua_bindings.h"
#include "loadgen/lua_http_request.h"
#include "loadgen/lua_json.h"
#include "loadgen/request.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

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
constexpr std::array<std::string_view, 10> param_names = {
    "headers",          "body",    "json",         "form", "name", "timeout",
    "expectedStatuses", "history", "historyValue", "tags"};

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
  lua_getfield(L, -1, "__name");                                                      // [+1]
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
  const std::string_view boundary =
      std::string_view(r.content_type_buffer).substr(r.content_type_buffer.find('=') + 1);
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
    if (!lua_isinteger(L, -1))
      throw script_mistake("http: params.expectedStatuses must be a list of status codes");
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
  lua_pushnil(L);                 // [+1]
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
  if (param_field(L, params, "headers", LUA_TTABLE, "a table of name = value") == LUA_TTABLE)
    read_headers(L, r);
  lua_pop(L, 1);
  if (param_field(L, params, "tags", LUA_TTABLE, "a table of name = value") == LUA_TTABLE)
    read_tags(L, r, keep_tags);
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
    if (param_field(L, params, "name", LUA_TSTRING, "a string") == LUA_TSTRING)
      explicit_name = to_view(L, -1);
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
    if (lua_type(L, 4) == LUA_TTABLE &&
        param_field(L, 4, "history", LUA_TSTRING, "an operation name") == LUA_TSTRING) {
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

}  // namespace

void add_http_functions(lua_State* L, worker& owner) {
  const luaL_Reg functions[] = {
      {"__request", lua_request},       {"__cookies", lua_cookies}, {"__clear_cookies", lua_clear_cookies},
      {"__url_encode", lua_url_encode}, {"__batch", lua_batch},     {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
}

}  // namespace stampede::loadgen
