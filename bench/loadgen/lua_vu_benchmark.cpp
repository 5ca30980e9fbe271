// What a VU costs per request on the Lua side, without I/O: a coroutine calls a C function that
// yields (as http.get does), the "event loop" resumes it with a response userdata carrying body
// and headers (as worker::on_http_complete does). And what the script guard (loadgen/lua_guard.h)
// costs CPU-heavy Lua: its counting allocator and per-run bookkeeping, against the instruction-count
// hook installed for good that it avoids. Run: lua_vu_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <lua.hpp>

#include <cstdlib>
#include <cstring>
#include <string>

#include "loadgen/lua_guard.h"

namespace {

int yielding_request(lua_State* L) { return lua_yield(L, 0); }

int response_index(lua_State* L) {
  lua_getiuservalue(L, 1, 1);
  return 1;
}

struct lua_fixture {
  lua_State* L = luaL_newstate();
  lua_State* co = nullptr;
  lua_fixture(const char* body_code) {
    luaL_openlibs(L);
    lua_gc(L, LUA_GCGEN, 0, 0);
    lua_register(L, "request", yielding_request);
    luaL_newmetatable(L, "response");
    lua_pushcfunction(L, response_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    if (luaL_dostring(L, body_code) != LUA_OK) throw std::runtime_error(lua_tostring(L, -1));
    co = lua_newthread(L);
    lua_getglobal(co, "vu");
    int results = 0;
    lua_resume(co, L, 0, &results);  // runs to the first yield
  }
  ~lua_fixture() { lua_close(L); }
};

void BM_resume_yield(benchmark::State& state) {
  lua_fixture f("function vu() while true do request() end end");
  int results = 0;
  for (auto _ : state) {
    lua_resume(f.co, f.L, 0, &results);
    lua_pop(f.co, results);
  }
}
BENCHMARK(BM_resume_yield);

void BM_resume_with_response(benchmark::State& state) {
  lua_fixture f("function vu() while true do local r = request(); if r.status == 0 then error('x') end end end");
  const std::string body(615, 'x');
  const std::string headers(200, 'h');
  int results = 0;
  for (auto _ : state) {
    lua_newuserdatauv(f.co, 16, 2);
    luaL_setmetatable(f.co, "response");
    lua_pushlstring(f.co, body.data(), body.size());
    lua_setiuservalue(f.co, -2, 1);
    lua_pushlstring(f.co, headers.data(), headers.size());
    lua_setiuservalue(f.co, -2, 2);
    lua_resume(f.co, f.L, 1, &results);
    lua_pop(f.co, results);
  }
}
BENCHMARK(BM_resume_with_response);

// As the response object is made since #17: body and headers copied into the userdata itself (one
// allocation, no Lua string until the script reads res.body).
void BM_resume_with_inline_response(benchmark::State& state) {
  lua_fixture f(
      "function vu() while true do local r = request(); if r.status == 0 then error('x') end end end");
  const std::string body(615, 'x');
  const std::string headers(200, 'h');
  int results = 0;
  for (auto _ : state) {
    auto* bytes = static_cast<char*>(lua_newuserdatauv(f.co, 16 + body.size() + headers.size(), 2));
    std::memcpy(bytes + 16, body.data(), body.size());
    std::memcpy(bytes + 16 + body.size(), headers.data(), headers.size());
    luaL_setmetatable(f.co, "response");
    lua_resume(f.co, f.L, 1, &results);
    lua_pop(f.co, results);
  }
}
BENCHMARK(BM_resume_with_inline_response);

// The same coroutine, its state made with the guard's allocator, every resume wrapped in the guard's
// enter/leave (as worker::resume does).
void BM_resume_with_response_guarded(benchmark::State& state) {
  stampede::loadgen::lua_guard guard(size_t{1} << 30);
  lua_State* L = lua_newstate(&stampede::loadgen::lua_guard::allocate, &guard);
  luaL_openlibs(L);
  lua_gc(L, LUA_GCGEN, 0, 0);
  guard.attach(L);
  lua_register(L, "request", yielding_request);
  luaL_newmetatable(L, "response");
  lua_pushcfunction(L, response_index);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  if (luaL_dostring(L, "function vu() while true do local r = request(); if r.status == 0 then error('x') end end end") !=
      LUA_OK) {
    throw std::runtime_error(lua_tostring(L, -1));
  }
  lua_State* co = lua_newthread(L);
  lua_getglobal(co, "vu");
  int results = 0;
  lua_resume(co, L, 0, &results);
  const std::string body(615, 'x');
  const std::string headers(200, 'h');
  const auto forever = std::chrono::steady_clock::time_point::max();
  for (auto _ : state) {
    lua_newuserdatauv(co, 16, 2);
    luaL_setmetatable(co, "response");
    lua_pushlstring(co, body.data(), body.size());
    lua_setiuservalue(co, -2, 1);
    lua_pushlstring(co, headers.data(), headers.size());
    lua_setiuservalue(co, -2, 2);
    guard.enter(co, stampede::loadgen::lua_phase::iteration, forever);
    lua_resume(co, L, 1, &results);
    guard.leave();
    lua_pop(co, results);
  }
  lua_close(L);
}
BENCHMARK(BM_resume_with_response_guarded);

// CPU-heavy Lua: arithmetic, table writes and reads, string building and a recursive call tree, about
// 20 million VM instructions per run. Variants: 0 plain state (malloc/free allocator); 1 the guard as
// stampede runs it (its allocator, enter/leave, no hook unless the watchdog pokes); 2 and 3 an
// instruction-count hook installed for good with counts 10,000 and 100,000, which the guard avoids;
// 4 a state from luaL_newstate (liblua's own allocator).
constexpr const char* cpu_heavy = R"lua(
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
function work()
  local sum = 0
  for i = 1, 1000000 do sum = sum + (i % 7) * 3 end
  local t = {}
  for i = 1, 100000 do t[i] = i * 2 end
  for i = 1, #t do sum = sum + t[i] end
  local parts = {}
  for i = 1, 20000 do parts[#parts + 1] = tostring(i) end
  local joined = table.concat(parts, ",")
  return sum + fib(20) + #joined
end
)lua";

void noop_hook(lua_State*, lua_Debug*) {}

void* plain_allocate(void*, void* ptr, size_t, size_t size) {
  if (size == 0) {
    std::free(ptr);
    return nullptr;
  }
  return std::realloc(ptr, size);
}

void BM_cpu_heavy_lua(benchmark::State& state) {
  const int variant = static_cast<int>(state.range(0));
  stampede::loadgen::lua_guard guard(size_t{1} << 30);
  lua_State* L = variant == 1   ? lua_newstate(&stampede::loadgen::lua_guard::allocate, &guard)
                 : variant == 0 ? lua_newstate(plain_allocate, nullptr)
                                : luaL_newstate();
  luaL_openlibs(L);
  lua_gc(L, LUA_GCGEN, 0, 0);
  if (variant == 1) guard.attach(L);
  if (variant == 2) lua_sethook(L, noop_hook, LUA_MASKCOUNT, 10'000);
  if (variant == 3) lua_sethook(L, noop_hook, LUA_MASKCOUNT, 100'000);
  if (luaL_dostring(L, cpu_heavy) != LUA_OK) throw std::runtime_error(lua_tostring(L, -1));
  const auto forever = std::chrono::steady_clock::time_point::max();
  for (auto _ : state) {
    lua_getglobal(L, "work");
    if (variant == 1) guard.enter(L, stampede::loadgen::lua_phase::iteration, forever);
    if (lua_pcall(L, 0, 1, 0) != LUA_OK) throw std::runtime_error(lua_tostring(L, -1));
    if (variant == 1) guard.leave();
    benchmark::DoNotOptimize(lua_tointeger(L, -1));
    lua_pop(L, 1);
  }
  static constexpr const char* names[] = {"plain", "guard", "count hook 10k", "count hook 100k", "luaL_newstate"};
  state.SetLabel(names[variant]);
  lua_close(L);
}
BENCHMARK(BM_cpu_heavy_lua)->DenseRange(0, 4)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
