#include "loadgen/options_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <stdexcept>

#include <boost/json.hpp>
#include <lua.hpp>

#include "common/duration.h"
#include "loadgen/options_table.h"

namespace stampede::loadgen {

using options_detail::bad;
using options_detail::get_field;
using options_detail::table_reader;

namespace {

executor_kind parse_executor(const std::string& name, const std::string& path) {
  if (name == "constant-vus") return executor_kind::constant_vus;
  if (name == "ramping-vus") return executor_kind::ramping_vus;
  if (name == "per-vu-iterations") return executor_kind::per_vu_iterations;
  if (name == "shared-iterations") return executor_kind::shared_iterations;
  if (name == "constant-arrival-rate") return executor_kind::constant_arrival_rate;
  if (name == "ramping-arrival-rate") return executor_kind::ramping_arrival_rate;
  bad(path, "unknown executor '" + name +
                "' (expected constant-vus, ramping-vus, per-vu-iterations, shared-iterations, "
                "constant-arrival-rate or ramping-arrival-rate)");
}

scenario_options read_scenario(lua_State* L, const std::string& name) {
  const std::string path = "scenarios." + name;
  table_reader r(L, path);
  scenario_options s;
  s.name = name;
  auto executor = r.string("executor");
  if (!executor) bad(path + ".executor", "required");
  s.executor = parse_executor(*executor, path + ".executor");
  if (auto v = r.string("exec")) s.exec = *v;
  if (auto v = r.duration("startTime")) s.start_time = *v;
  if (auto v = r.duration("gracefulStop")) s.graceful_stop = *v;
  s.tags = r.string_map("tags");
  s.env = r.string_map("env");
  const auto require = [&](bool present, const char* key) {
    if (!present) bad(path + "." + key, std::string("required for ") + *executor);
  };
  switch (s.executor) {
    case executor_kind::constant_vus: {
      if (auto v = r.count("vus")) s.vus = *v;
      if (s.vus < 1) bad(path + ".vus", "must be at least 1");
      auto d = r.duration("duration");
      require(d.has_value(), "duration");
      s.duration = *d;
      break;
    }
    case executor_kind::ramping_vus: {
      if (auto v = r.count("startVUs")) s.start_vus = *v;
      s.stages = r.stages("stages");
      require(!s.stages.empty(), "stages");
      if (auto v = r.duration("gracefulRampDown")) s.graceful_ramp_down = *v;
      break;
    }
    case executor_kind::per_vu_iterations:
    case executor_kind::shared_iterations: {
      if (auto v = r.count("vus")) s.vus = *v;
      if (auto v = r.count("iterations")) s.iterations = *v;
      if (auto v = r.duration("maxDuration")) s.max_duration = *v;
      if (s.vus < 1) bad(path + ".vus", "must be at least 1");
      if (s.iterations < 1) bad(path + ".iterations", "must be at least 1");
      if (s.executor == executor_kind::shared_iterations && s.iterations < s.vus) s.vus = s.iterations;
      break;
    }
    case executor_kind::constant_arrival_rate: {
      auto rate = r.number("rate");
      require(rate.has_value(), "rate");
      s.rate = *rate;
      auto d = r.duration("duration");
      require(d.has_value(), "duration");
      s.duration = *d;
      [[fallthrough]];
    }
    case executor_kind::ramping_arrival_rate: {
      if (s.executor == executor_kind::ramping_arrival_rate) {
        if (auto v = r.number("startRate")) s.start_rate = *v;
        s.stages = r.stages("stages");
        require(!s.stages.empty(), "stages");
      }
      if (auto v = r.duration("timeUnit")) s.time_unit = *v;
      if (s.time_unit <= nanos{0}) bad(path + ".timeUnit", "must be positive");
      auto pre = r.count("preAllocatedVUs");
      require(pre.has_value(), "preAllocatedVUs");
      s.pre_allocated_vus = *pre;
      s.max_vus = r.count("maxVUs").value_or(s.pre_allocated_vus);
      if (s.max_vus < s.pre_allocated_vus) bad(path + ".maxVUs", "must be at least preAllocatedVUs");
      if (s.max_vus <= 0) bad(path + ".preAllocatedVUs", "at least one VU is needed");
      break;
    }
  }
  r.reject_unknown();
  return s;
}

void read_thresholds(lua_State* L, run_options& out) {
  // stack: thresholds table
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  // stack: thresholds, metric, list
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      bad("thresholds", "keys must be metric names");
    }
    const std::string metric = lua_tostring(L, -2);
    const std::string path = "thresholds[\"" + metric + "\"]";
    if (lua_type(L, -1) == LUA_TSTRING) {  // a single expression is accepted too
      out.thresholds.push_back({metric, lua_tostring(L, -1), false, nanos{0}});
      lua_pop(L, 1);
      continue;
    }
    if (lua_type(L, -1) != LUA_TTABLE) {
      lua_pop(L, 2);
      bad(path, "expected a list of expressions");
    }
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= n; ++i) {
      const int type = lua_rawgeti(L, -1, i);
      if (type == LUA_TSTRING) {
        out.thresholds.push_back({metric, lua_tostring(L, -1), false, nanos{0}});
      } else if (type == LUA_TTABLE) {
        table_reader r(L, path + "[" + std::to_string(i) + "]");
        threshold_input t;
        t.metric = metric;
        auto expression = r.string("threshold");
        if (!expression) {
          lua_pop(L, 3);
          bad(path + "[" + std::to_string(i) + "].threshold", "required");
        }
        t.expression = *expression;
        t.abort_on_fail = r.boolean("abortOnFail").value_or(false);
        t.delay_abort_eval = r.duration("delayAbortEval").value_or(nanos{0});
        r.reject_unknown();
        out.thresholds.push_back(std::move(t));
      } else {
        lua_pop(L, 3);
        bad(path + "[" + std::to_string(i) + "]", "expected an expression string or { threshold = ... }");
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
}

// options.recovery = { consecutive_healthy_s = 5, confidence = 0.999, ... } (common/recovery_tolerances.h).
recovery_tolerances read_recovery(lua_State* L) {
  // stack: recovery table
  recovery_tolerances t;
  lua_pushnil(L);
  while (lua_next(L, -2) != 0) {  // stack: recovery, key, value
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 2);
      bad("recovery", "expected a table of name = number");
    }
    const std::string key = lua_tostring(L, -2);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 2);
      bad("recovery." + key, "expected a number");
    }
    const std::string problem = set_recovery_tolerance(t, key, lua_tonumber(L, -1));
    lua_pop(L, 1);
    if (!problem.empty()) {
      lua_pop(L, 1);
      bad("recovery." + key, problem);
    }
  }
  if (const std::string problem = check_recovery_tolerances(t); !problem.empty()) {
    throw std::invalid_argument("options.recovery." + problem);  // the table is popped by the caller's unwind
  }
  return t;
}

}  // namespace

std::optional<size_t> parse_byte_size(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) ++digits;
  if (digits == 0) return std::nullopt;
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(std::string(text.substr(0, digits)), &used);
    if (used != digits) return std::nullopt;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit(text.substr(digits));
  for (char& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") {
    scale = 1;
  } else if (unit == "K" || unit == "KB" || unit == "KIB") {
    scale = 1024.0;
  } else if (unit == "M" || unit == "MB" || unit == "MIB") {
    scale = 1024.0 * 1024;
  } else if (unit == "G" || unit == "GB" || unit == "GIB") {
    scale = 1024.0 * 1024 * 1024;
  } else {
    return std::nullopt;
  }
  const double bytes = value * scale;
  if (!(bytes >= 0) || bytes > 0x1p50 || (scale == 1 && value != std::floor(value))) return std::nullopt;
  return static_cast<size_t>(bytes);
}

fault_spec read_fault(lua_State* L, int index, const std::string& path) {
  index = lua_absindex(L, index);
  if (!lua_istable(L, index)) bad(path, "expected a table { fault = ..., target = ..., ... }");
  lua_pushvalue(L, index);
  table_reader r(L, path);
  fault_spec f;
  try {
    f.fault = r.string("fault").value_or("");
    if (f.fault.empty()) bad(path + ".fault", "required");
    f.target = r.string("target").value_or("target");
    f.label = r.string("label").value_or("");
    f.at = r.duration("at");
    f.duration = r.duration("duration");
    f.restart_command = r.string("restart").value_or("");
    // HTTP faults act on requests, so their default direction is upstream; TCP faults on responses.
    const bool http_fault = f.fault.rfind("http_", 0) == 0;
    const std::string stream = r.string("stream").value_or(http_fault ? "upstream" : "downstream");
    const double toxicity = r.number("toxicity").value_or(1.0);
    if (toxicity > 1.0) bad(path + ".toxicity", "must be between 0 and 1");
    if (f.network()) {
      // Everything else is a toxic attribute, passed to the proxy as Toxiproxy JSON.
      std::string attributes;
      lua_pushnil(L);
      while (lua_next(L, -2) != 0) {  // stack: fault, key, value
        if (lua_type(L, -2) == LUA_TSTRING) {
          const std::string key = lua_tostring(L, -2);
          static const std::set<std::string> common = {"fault", "target", "label", "at", "duration", "restart",
                                                       "stream", "toxicity"};
          if (!common.contains(key)) {
            std::string value;
            if (lua_type(L, -1) == LUA_TNUMBER) {
              value = lua_isinteger(L, -1) ? std::to_string(lua_tointeger(L, -1)) : std::to_string(lua_tonumber(L, -1));
            } else if (lua_type(L, -1) == LUA_TBOOLEAN) {
              value = lua_toboolean(L, -1) ? "true" : "false";
            } else if (lua_type(L, -1) == LUA_TSTRING) {
              value = boost::json::serialize(boost::json::value(lua_tostring(L, -1)));
            } else {
              lua_pop(L, 2);  // value, key (the catch below pops the fault table)
              bad(path + "." + key, "toxic attributes are numbers, strings or booleans");
            }
            if (!attributes.empty()) attributes += ',';
            attributes += boost::json::serialize(boost::json::value(key)) + ":" + value;
          }
          r.mark_seen(key.c_str());
        }
        lua_pop(L, 1);
      }
      f.toxic_json = "{\"type\":" + boost::json::serialize(boost::json::value(f.fault)) +
                     ",\"stream\":" + boost::json::serialize(boost::json::value(stream)) +
                     ",\"toxicity\":" + std::to_string(toxicity) + ",\"attributes\":{" + attributes + "}}";
    }
    r.reject_unknown();
  } catch (...) {
    lua_pop(L, 1);
    throw;
  }
  lua_pop(L, 1);
  return f;
}

namespace {

// options.chaos: a list of faults, each with its start on the timeline. Stack: options (unchanged).
void read_chaos(lua_State* L, run_options& out) {
  if (get_field(L, -1, "chaos", "chaos") == LUA_TTABLE) {
    const lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, -1));
    for (lua_Integer i = 1; i <= n; ++i) {
      lua_rawgeti(L, -1, i);
      fault_spec f = read_fault(L, -1, "chaos[" + std::to_string(i) + "]");
      lua_pop(L, 1);
      if (!f.at) bad("chaos[" + std::to_string(i) + "].at", "required on the timeline (when the fault starts)");
      out.chaos.push_back(std::move(f));
    }
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    bad("chaos", "expected a list of faults");
  }
  lua_pop(L, 1);
}

// options.scenarios, options.thresholds and options.recovery. Stack: options (unchanged).
void read_subtables(lua_State* L, run_options& out) {
  if (get_field(L, -1, "scenarios", "scenarios") == LUA_TTABLE) {
    lua_pushnil(L);
    while (lua_next(L, -2) != 0) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 3);
        bad("scenarios", "expected name = { executor = ..., ... }");
      }
      out.scenarios.push_back(read_scenario(L, lua_tostring(L, -2)));
      lua_pop(L, 1);
    }
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    bad("scenarios", "expected a table");
  }
  lua_pop(L, 1);

  if (get_field(L, -1, "thresholds", "thresholds") == LUA_TTABLE) {
    read_thresholds(L, out);
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    bad("thresholds", "expected a table");
  }
  lua_pop(L, 1);

  if (lua_getfield(L, -1, "recovery") == LUA_TTABLE) {
    out.recovery = read_recovery(L);
  } else if (!lua_isnil(L, -1)) {
    lua_pop(L, 1);
    bad("recovery", "expected a table { consecutive_healthy_s = ..., confidence = ..., ... }");
  }
  lua_pop(L, 1);
}

// The shorthand options (k6: vus, duration, iterations, stages; ours: rate), the flags applied over them.
struct shorthand {
  std::optional<int64_t> vus;
  std::optional<nanos> duration;
  std::optional<int64_t> iterations;
  std::vector<stage> stages;
  std::optional<double> rate;
};

// The one scenario named "default" that the shorthand (or k6's default) describes; `flags`: set by flags.
scenario_options default_scenario(const shorthand& o, bool flags, const option_overrides& overrides) {
  scenario_options s;
  s.name = "default";
  if (o.rate) {
    s.executor = executor_kind::constant_arrival_rate;
    s.rate = *o.rate;
    s.duration = o.duration.value_or(std::chrono::seconds(10));
    s.pre_allocated_vus = o.vus.value_or(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(*o.rate / 10))));
    s.max_vus = std::max<int64_t>(s.pre_allocated_vus, o.vus.value_or(s.pre_allocated_vus * 10));
  } else if (!o.stages.empty() && !flags) {
    s.executor = executor_kind::ramping_vus;
    s.start_vus = o.vus.value_or(1);
    s.stages = o.stages;
  } else if (o.iterations) {
    s.executor = executor_kind::shared_iterations;
    s.iterations = *o.iterations;
    s.vus = std::min(o.vus.value_or(1), *o.iterations);
  } else if (o.duration) {
    s.executor = executor_kind::constant_vus;
    s.vus = o.vus.value_or(1);
    s.duration = *o.duration;
  } else {
    s.executor = executor_kind::shared_iterations;  // k6's default: one VU, one iteration
    s.vus = o.vus.value_or(1);
    s.iterations = s.vus;
  }
  if (overrides.graceful_stop) s.graceful_stop = *overrides.graceful_stop;
  if (s.vus <= 0 && !is_arrival_rate(s.executor)) bad("vus", "must be at least 1");
  return s;
}

// Every scenario's `exec` names a function of the script. Stack: options (unchanged).
void check_exec_functions(lua_State* L, const run_options& out) {
  lua_pushglobaltable(L);  // stack: options, globals
  for (const auto& s : out.scenarios) {
    const std::string path = "scenarios." + s.name + ".exec";
    const bool function = get_field(L, -1, s.exec.c_str(), path) == LUA_TFUNCTION;
    lua_pop(L, 1);
    if (!function) bad(path, "the script defines no function '" + s.exec + "'");
  }
  lua_pop(L, 1);
}

// The options table's own keys. Stack: options (unchanged).
shorthand read_top_level(lua_State* L, run_options& out) {
  table_reader r(L, "");
  if (auto v = r.string("target")) out.target = *v;
  if (auto v = r.duration("connectTimeout")) out.connect_timeout = *v;
  if (auto v = r.duration("timeout")) out.request_timeout = *v;
  if (auto v = r.count("maxConnectionsPerHost")) out.max_connections_per_host = *v;
  if (auto v = r.count("batch")) out.batch = *v;
  if (auto v = r.count("batchPerHost")) out.batch_per_host = *v;
  if (auto v = r.boolean("insecureSkipTLSVerify")) out.insecure_skip_tls_verify = *v;
  if (auto v = r.boolean("throw")) out.throw_on_iteration_error = *v;
  if (auto v = r.boolean("discardResponseBodies")) out.discard_response_bodies = *v;
  if (auto v = r.bytes("responseBodyLimit", 0)) out.response_body_limit = *v;
  if (auto v = r.bytes("luaMemoryLimit", 1024 * 1024)) out.lua_memory_limit = *v;
  if (auto v = r.string("userAgent")) out.user_agent = *v;
  if (auto v = r.duration("setupTimeout")) out.setup_timeout = *v;
  if (auto v = r.duration("teardownTimeout")) out.teardown_timeout = *v;
  shorthand o;
  o.vus = r.count("vus");
  o.duration = r.duration("duration");
  o.iterations = r.count("iterations");
  o.stages = r.stages("stages");
  o.rate = r.number("rate");
  r.boolean("noConnectionReuse");  // accepted for k6 compatibility, has no effect
  out.tags = r.string_map("tags");
  out.proxies = r.string_map("proxies");
  out.topology_path = r.string("topology").value_or("");
  r.mark_seen("chaos");
  read_chaos(L, out);
  read_subtables(L, out);
  r.mark_seen("scenarios");
  r.mark_seen("thresholds");
  r.mark_seen("recovery");
  r.reject_unknown();
  return o;
}

}  // namespace

run_options read_run_options(lua_State* L, const option_overrides& overrides) {
  run_options out;
  const int top = lua_gettop(L);
  lua_pushglobaltable(L);
  get_field(L, -1, "options", "options");  // [+1] (the globals may have a metatable)
  lua_remove(L, -2);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
  } else if (!lua_istable(L, -1)) {
    lua_settop(L, top);
    throw std::invalid_argument("options: expected a table");
  }
  try {
    shorthand o = read_top_level(L, out);
    if (overrides.target) out.target = *overrides.target;
    if (overrides.vus) o.vus = overrides.vus;
    if (overrides.duration) o.duration = overrides.duration;
    if (overrides.rate) o.rate = overrides.rate;
    if (overrides.iterations) o.iterations = overrides.iterations;
    const bool flags = overrides.vus || overrides.duration || overrides.rate || overrides.iterations;
    if (flags || out.scenarios.empty()) {
      out.scenarios.clear();
      out.scenarios.push_back(default_scenario(o, flags, overrides));
    }
    check_exec_functions(L, out);
  } catch (...) {
    lua_settop(L, top);
    throw;
  }
  lua_settop(L, top);
  return out;
}

}  // namespace stampede::loadgen
