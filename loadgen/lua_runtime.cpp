// The worker's Lua state (lua_runtime.h): the standard libraries through the sandbox, the scenario API
// (registered by the lua_*.cpp files, lua_bindings.h), the Lua-side prelude, per-VU globals, print and
// per-VU math.random.
#include <cstdio>
#include <cstring>

#include "common/version.h"
#include "loadgen/lua_bindings.h"
#include "loadgen/lua_json.h"
#include "loadgen/vu.h"

namespace stampede::loadgen {

namespace {

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
http.batch = __batch

local file_meta = { __name = "stampede.file" }
function http.file(data, filename, content_type)
  if type(data) ~= "string" then error("http.file: the data must be a string", 2) end
  return setmetatable({ data = data, filename = filename or "file",
                        content_type = content_type or "application/octet-stream" }, file_meta)
end

local url_meta = { __name = "stampede.url", __tostring = function(u) return u.url end }
function http.url(template, ...)
  if type(template) ~= "string" then error("http.url: the template must be a string", 2) end
  local url = select("#", ...) > 0 and template:format(...) or template
  local name = template:gsub("%%[-+ #0]*%d*%.?%d*[%a%%]", function(verb) return verb == "%%" and "%" or "{}" end)
  return setmetatable({ url = url, template = name }, url_meta)
end

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

local hash = __hash
crypto = {
  hmac = __hmac, random_bytes = __random_bytes, uuid4 = __uuid4,
  md5 = function(s, enc) return hash("md5", s, enc) end,
  sha1 = function(s, enc) return hash("sha1", s, enc) end,
  sha256 = function(s, enc) return hash("sha256", s, enc) end,
  sha384 = function(s, enc) return hash("sha384", s, enc) end,
  sha512 = function(s, enc) return hash("sha512", s, enc) end,
}
encoding = { b64encode = __b64encode, b64decode = __b64decode, url_encode = __url_encode, url_decode = __url_decode }
uuid = { v4 = __uuid4 }

chaos = { inject = __chaos_inject, heal = __chaos_heal, heal_all = __chaos_heal_all }

local history_complete = __history_complete
history = {
  invoke = __history_invoke,
  ok = function(id, value) history_complete(id, "ok", value) end,
  fail = function(id, value) history_complete(id, "fail", value) end,
  unknown = function(id, value) history_complete(id, "unknown", value) end,
}
)lua";


// ---- global isolation: _ENV of the script is a proxy ----
// A VU's `vu` table and private globals are made at their first use: 100,000 VUs of a script that reads no
// `vu` and sets no global in VU code cost no table (~0.3 KB each with their registry slots).
void push_vu_table(lua_State* L, vu& v, std::string_view scenario = {}) {
  if (v.table_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, v.table_ref);
    return;
  }
  if (v.scenario != nullptr) scenario = v.scenario->options->name;
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, v.id);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, v.iterations_done);  // as update_vu_table set it when this iteration began
  lua_setfield(L, -2, "iteration");
  lua_pushlstring(L, scenario.data(), scenario.size());
  lua_setfield(L, -2, "scenario");
  lua_pushvalue(L, -1);
  v.table_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

// The VU's private globals, holding its `vu` from the start (as if made with the VU). [-0, +1]
void push_private_globals(lua_State* L, vu& v, std::string_view scenario = {}) {
  if (v.env_ref != LUA_NOREF) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, v.env_ref);
    return;
  }
  lua_newtable(L);
  push_vu_table(L, v, scenario);
  lua_setfield(L, -2, "vu");
  lua_pushvalue(L, -1);
  v.env_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

bool is_vu_key(lua_State* L, int index) {
  if (lua_type(L, index) != LUA_TSTRING) return false;
  size_t length = 0;
  const char* key = lua_tolstring(L, index, &length);
  return length == 2 && key[0] == 'v' && key[1] == 'u';
}

int proxy_index(lua_State* L) {  // (proxy, key)
  if (vu* v = current_vu(L); v != nullptr) {
    if (v->env_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, v->env_ref);  // [+1] private
      lua_pushvalue(L, 2);
      if (lua_rawget(L, -2) != LUA_TNIL) return 1;
      lua_pop(L, 2);
    } else if (is_vu_key(L, 2)) {  // no private globals yet: they would hold `vu`
      push_vu_table(L, *v);
      return 1;
    }
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));  // shared globals
  return 1;
}

int proxy_newindex(lua_State* L) {  // (proxy, key, value)
  if (vu* v = current_vu(L); v != nullptr) {
    push_private_globals(L, *v);
  } else {
    lua_pushvalue(L, lua_upvalueindex(1));
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
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

namespace {

// [-0, +0] Into the global table on top: the API's C functions, math.random, `stampede`, `env` and `vu`.
void add_api(lua_State* L, worker& owner) {
  open_json_library(L);
  add_http_functions(L, owner);
  add_iteration_functions(L, owner);
  add_data_functions(L, owner);
  add_chaos_history_functions(L, owner);
  add_metric_functions(L, owner);
  add_helper_functions(L, owner);
  lua_pushlightuserdata(L, &owner);
  lua_pushcclosure(L, lua_print, 1);
  lua_setfield(L, -2, "print");

  lua_getfield(L, -1, "math");
  lua_pushlightuserdata(L, &owner);
  lua_pushcclosure(L, lua_random, 1);
  lua_setfield(L, -2, "random");
  lua_pushlightuserdata(L, &owner);
  lua_pushcclosure(L, lua_randomseed, 1);
  lua_setfield(L, -2, "randomseed");
  lua_pop(L, 1);

  // stampede = { version, worker, threads, seed, abort }
  lua_newtable(L);
  lua_pushlstring(L, stampede::version.data(), stampede::version.size());
  lua_setfield(L, -2, "version");
  lua_pushinteger(L, owner.index());
  lua_setfield(L, -2, "worker");
  lua_pushinteger(L, owner.plan().threads);
  lua_setfield(L, -2, "threads");
  lua_pushinteger(L, static_cast<lua_Integer>(owner.plan().seed));
  lua_setfield(L, -2, "seed");
  lua_pushlightuserdata(L, &owner);
  lua_pushcclosure(L, lua_stampede_abort, 1);
  lua_setfield(L, -2, "abort");
  lua_setfield(L, -2, "stampede");

  lua_newtable(L);  // env
  for (const auto& [key, value] : owner.plan().env) {
    lua_pushlstring(L, value.data(), value.size());
    lua_setfield(L, -2, key.c_str());
  }
  lua_setfield(L, -2, "env");
  lua_newtable(L);  // vu outside VU code: id 0
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "id");
  lua_pushinteger(L, 0);
  lua_setfield(L, -2, "iteration");
  lua_setfield(L, -2, "vu");
}

}  // namespace

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
  register_response_types(L_);

  lua_pushglobaltable(L_);  // [+1] G
  add_api(L_, owner_);
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
  v.env_ref = v.table_ref = LUA_NOREF;
  if (v.scenario == nullptr) {  // one at a time: made now, named after the function it runs
    push_private_globals(L, v, scenario_name);
    lua_pop(L, 1);
  }
}

void lua_runtime::release_thread(vu& v) {
  luaL_unref(L_, LUA_REGISTRYINDEX, v.thread_ref);
  luaL_unref(L_, LUA_REGISTRYINDEX, v.env_ref);
  luaL_unref(L_, LUA_REGISTRYINDEX, v.table_ref);
  luaL_unref(L_, LUA_REGISTRYINDEX, v.data_ref);
  v.thread_ref = v.env_ref = v.table_ref = v.data_ref = LUA_NOREF;
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
  // Each VU gets its own copy of setup()'s data, as in k6 (decoded when the VU starts, kept for its later
  // iterations): a VU changing it is seen by no other VU, whatever the thread count, and a large `data` is
  // decoded once per VU, not once per iteration. The JSON was checked by set_setup_data().
  if (v.data_ref == LUA_NOREF) {
    push_json(T, owner_.plan().setup_data_json);
    lua_pushvalue(T, -1);
    v.data_ref = luaL_ref(T, LUA_REGISTRYINDEX);
  } else {
    lua_rawgeti(T, LUA_REGISTRYINDEX, v.data_ref);
  }
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
  if (v.table_ref == LUA_NOREF) return;  // not made yet: it will be made with the current iteration
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  lua_rawgeti(L_, LUA_REGISTRYINDEX, v.table_ref);
  lua_pushinteger(L_, v.iterations_done);
  lua_setfield(L_, -2, "iteration");
  lua_pop(L_, 1);
}

void lua_runtime::push_response(vu& v) {
  const lua_guard::harness_scope harness(guard_);  // the worker's own allocations
  push_response_object(v.thread, v);
  owner_.http().recycle(v.outcome);  // the script has its copy: a VU between requests holds no buffers
}

void lua_runtime::push_batch_responses(vu& v) {
  const lua_guard::harness_scope harness(guard_);
  lua_State* T = v.thread;
  const auto& items = v.batch->items;
  lua_createtable(T, static_cast<int>(items.size()), 0);  // [+1]
  for (const auto& item : items) {
    push_response_object(T, item->outcome, item->url_text);
    owner_.http().recycle(item->outcome);
    lua_rawseti(T, -2, static_cast<lua_Integer>(item->index + 1));
  }
}


}  // namespace stampede::loadgen
