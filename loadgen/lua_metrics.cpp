// metrics.* of the scenario API (docs/SCENARIOS.md, "Custom metrics"): metrics.trend/counter/rate/gauge
// declare a metric at the top level of the script (as k6's `new Trend(...)` in the init context) and return an
// object whose :add(value[, tags]) records a sample into the worker's custom_metrics (custom_metrics.h).
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "loadgen/lua_bindings.h"
#include "loadgen/vu.h"
#include "loadgen/worker.h"

namespace stampede::loadgen {

namespace {

constexpr const char* metric_meta = "stampede.metric";

struct metric_handle {
  size_t index;
};

int declare(lua_State* L, results::metric_type type, const char* what) {
  if (current_vu(L) != nullptr) {
    push_script_where(L);
    lua_pushfstring(L,
                    "%s declares a metric: call it at the top level of the script (init), as k6 does, "
                    "not inside VU code",
                    what);
    lua_concat(L, 2);
    return lua_error(L);
  }
  if (lua_type(L, 1) != LUA_TSTRING) {
    push_script_where(L);
    lua_pushfstring(L, "%s: the metric name must be a string", what);
    lua_concat(L, 2);
    return lua_error(L);
  }
  const std::string_view name = to_view(L, 1);
  const bool is_time = type == results::metric_type::trend && lua_toboolean(L, 2) != 0;
  if (type != results::metric_type::trend && !lua_isnoneornil(L, 2)) {
    push_script_where(L);
    lua_pushfstring(L, "%s takes only a name (isTime is for metrics.trend)", what);
    lua_concat(L, 2);
    return lua_error(L);
  }
  worker& w = owner_of(L);
  const size_t index = lua_guarded(L, [&] {
    return static_cast<int>(w.metrics().custom().declare(name, type, is_time));
  });
  auto* handle = static_cast<metric_handle*>(lua_newuserdatauv(L, sizeof(metric_handle), 0));  // [+1]
  handle->index = index;
  luaL_setmetatable(L, metric_meta);
  return 1;
}

int lua_trend(lua_State* L) { return declare(L, results::metric_type::trend, "metrics.trend()"); }
int lua_counter(lua_State* L) { return declare(L, results::metric_type::counter, "metrics.counter()"); }
int lua_rate(lua_State* L) { return declare(L, results::metric_type::rate, "metrics.rate()"); }
int lua_gauge(lua_State* L) { return declare(L, results::metric_type::gauge, "metrics.gauge()"); }

[[noreturn]] void add_error(lua_State* L, const custom_metric& m, const char* problem) {
  push_script_where(L);
  lua_pushfstring(L, "%s:add(): %s", m.name.c_str(), problem);
  lua_concat(L, 2);
  lua_error(L);
  std::abort();  // unreachable: lua_error does not return
}

// The value of add(): a finite number (>= 0 for a trend); a rate also takes a boolean.
double sample_value(lua_State* L, const custom_metric& m) {
  const int t = lua_type(L, 2);
  if (m.type == results::metric_type::rate && t == LUA_TBOOLEAN) return lua_toboolean(L, 2) != 0 ? 1 : 0;
  if (t != LUA_TNUMBER) {
    add_error(L, m, m.type == results::metric_type::rate ? "the value must be a boolean or a number"
                                                         : "the value must be a number");
  }
  const double value = lua_tonumber(L, 2);
  if (!std::isfinite(value)) add_error(L, m, "the value must be a finite number (not NaN or infinite)");
  if (m.type == results::metric_type::trend && value < 0) {
    add_error(L, m, "a trend takes values >= 0 (its samples are an HdrHistogram)");
  }
  return value;
}

// The sample's tags, first source first (a lookup takes the first match): add()'s tags, the system tags
// (scenario, group), the scenario's tags, options.tags. Only read when a threshold asks for a sub-metric of
// this metric.
void collect_tags(lua_State* L, const vu& v, std::vector<std::string>& storage,
                  std::vector<std::pair<std::string_view, std::string_view>>& tags) {
  storage.clear();
  if (lua_istable(L, 3)) {
    lua_pushnil(L);  // [+1]
    while (lua_next(L, 3) != 0) {  // [+1] key, value (types checked by lua_metric_add before)
      storage.emplace_back(to_view(L, -2));
      if (lua_type(L, -1) == LUA_TBOOLEAN) {
        storage.emplace_back(lua_toboolean(L, -1) ? "true" : "false");
      } else {
        storage.emplace_back(luaL_tolstring(L, -1, nullptr));  // [+1]
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
  }
  const auto add = [&](std::string_view key, std::string_view value) {
    storage.emplace_back(key);
    storage.emplace_back(value);
  };
  if (v.scenario != nullptr) add("scenario", v.scenario->options->name);
  add("group", v.groups.empty() ? std::string_view() : std::string_view(v.groups.back().path));
  if (v.scenario != nullptr) {
    for (const auto& [key, value] : v.scenario->options->tags) add(key, value);
  }
  for (const auto& [key, value] : v.owner.plan().options.tags) add(key, value);
  tags.clear();
  for (size_t i = 0; i + 1 < storage.size(); i += 2) tags.emplace_back(storage[i], storage[i + 1]);
}

int lua_metric_add(lua_State* L) {
  const auto* handle = static_cast<const metric_handle*>(luaL_testudata(L, 1, metric_meta));
  if (handle == nullptr) {  // t.add(v) instead of t:add(v)
    push_script_where(L);
    lua_pushliteral(L, "metric:add(): call it with ':' (my_metric:add(value)), not '.'");
    lua_concat(L, 2);
    return lua_error(L);
  }
  vu& v = require_vu(L, "metric:add()");
  worker& w = owner_of(L);
  custom_metrics& registry = w.metrics().custom();
  const custom_metric& m = *registry.metrics()[handle->index];
  const double value = sample_value(L, m);
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3)) add_error(L, m, "tags must be a table of name = value");
  const int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  if (!registry.has_subs(handle->index)) {  // the common case: no tags read, nothing allocated
    registry.add(handle->index, value, now_us, {});
    return 0;
  }
  // Tag mistakes raise here, before any C++ object with a destructor exists; the collection then runs inside
  // lua_guarded (no Lua error can skip the vectors' destructors).
  if (lua_istable(L, 3)) {
    lua_pushnil(L);
    while (lua_next(L, 3) != 0) {
      const int t = lua_type(L, -1);
      if (lua_type(L, -2) != LUA_TSTRING) add_error(L, m, "tag names must be strings");
      if (t != LUA_TSTRING && t != LUA_TNUMBER && t != LUA_TBOOLEAN) {
        add_error(L, m, "tag values must be strings, numbers or booleans");
      }
      lua_pop(L, 1);
    }
  }
  return lua_guarded(L, [&] {
    std::vector<std::string> storage;
    std::vector<std::pair<std::string_view, std::string_view>> tags;
    collect_tags(L, v, storage, tags);
    registry.add(handle->index, value, now_us, tags);
    return 0;
  });
}

int lua_metric_index(lua_State* L) {
  const auto* handle = static_cast<const metric_handle*>(luaL_checkudata(L, 1, metric_meta));
  const custom_metric& m = *owner_of(L).metrics().custom().metrics()[handle->index];
  const std::string_view key = to_view(L, 2);
  if (key == "add") {
    lua_pushvalue(L, lua_upvalueindex(2));
  } else if (key == "name") {
    lua_pushlstring(L, m.name.data(), m.name.size());
  } else if (key == "type") {
    const std::string_view type = results::to_string(m.type);
    lua_pushlstring(L, type.data(), type.size());
  } else if (key == "isTime") {
    lua_pushboolean(L, m.is_time ? 1 : 0);
  } else {
    lua_pushnil(L);
  }
  return 1;
}

int lua_metric_tostring(lua_State* L) {
  const auto* handle = static_cast<const metric_handle*>(luaL_checkudata(L, 1, metric_meta));
  const custom_metric& m = *owner_of(L).metrics().custom().metrics()[handle->index];
  lua_pushfstring(L, "metric %s (%s)", m.name.c_str(), std::string(results::to_string(m.type)).c_str());
  return 1;
}

}  // namespace

void add_metric_functions(lua_State* L, worker& owner) {
  // The metric object's metatable; its __index hands out add (a closure with the owner upvalue).
  luaL_newmetatable(L, metric_meta);  // [+1]
  lua_pushlightuserdata(L, &owner);
  lua_pushlightuserdata(L, &owner);
  lua_pushcclosure(L, lua_metric_add, 1);  // [+1] add
  lua_pushcclosure(L, lua_metric_index, 2);  // [-2, +1]
  lua_setfield(L, -2, "__index");
  lua_pushlightuserdata(L, &owner);
  lua_pushcclosure(L, lua_metric_tostring, 1);
  lua_setfield(L, -2, "__tostring");
  lua_pushliteral(L, "metric");
  lua_setfield(L, -2, "__metatable");  // getmetatable() cannot reach the C functions' internals
  lua_pop(L, 1);  // [-1]

  lua_newtable(L);  // [+1] metrics
  const luaL_Reg functions[] = {{"trend", lua_trend},
                                {"counter", lua_counter},
                                {"rate", lua_rate},
                                {"gauge", lua_gauge},
                                {nullptr, nullptr}};
  lua_pushlightuserdata(L, &owner);
  luaL_setfuncs(L, functions, 1);
  lua_setfield(L, -2, "metrics");  // [-1]
}

}  // namespace stampede::loadgen
