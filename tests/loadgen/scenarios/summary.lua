-- handleSummary(data), one variant per case (-e CASE=name): three requests and a check, then the hook.
local case = assert(env.CASE, "-e CASE=name is required")

options = {
  scenarios = { main = { executor = "per-vu-iterations", vus = 1, iterations = 3 } },
  thresholds = { http_req_duration = { "p(95)<5000" }, http_req_failed = { "rate<0.5" } },
  teardownTimeout = "1s",
}

function default()
  local res = http.get("/hello")
  check(res, { ["hello is 200"] = function(r) return r.status == 200 end })
end

local hooks = {}

function hooks.files(data)
  local trend = data.metrics.http_req_duration
  return {
    stdout = "custom summary: " .. data.metrics.http_reqs.values.count .. " requests\n",
    ["seen.json"] = {
      requests = data.metrics.http_reqs.values.count,
      p95 = trend.values["p(95)"],
      trend_type = trend.type,
      p95_threshold_ok = trend.thresholds["p(95)<5000"].ok,
      failed_rate = data.metrics.http_req_failed.values.rate,
      checks_rate = data.metrics.checks.values.rate,
      check_name = data.checks[1].name,
      duration_ms = data.state.testRunDurationMs,
      seed = data.results.meta.seed,
      thresholds = #data.thresholds,
    },
    ["sub/dir/report.txt"] = "p95 under 5 s\n",
  }
end

function hooks.escape(data)
  return {
    ["../escape.txt"] = "out",
    [env.ABSOLUTE] = "out",
    ["kept.txt"] = "in",
  }
end

function hooks.lua_error(data)
  local missing = nil
  return { stdout = missing.field }  -- line 47: indexing nil
end

function hooks.endless(data)
  while true do end
end

handleSummary = hooks[case]
