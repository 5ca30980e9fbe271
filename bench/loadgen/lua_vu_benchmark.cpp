// What a VU costs per request on the Lua side, without I/O: a coroutine calls a C function that
// yields (as http.get does), the "event loop" resumes it with a response userdata carrying body
// and headers (as worker::on_http_complete does). Run: lua_vu_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>
#include <lua.hpp>

#include <string>

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

}  // namespace

BENCHMARK_MAIN();
