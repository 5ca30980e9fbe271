-- One scenario per executor, chosen by -e CASE=...; every iteration requests env.PATH (default /hello).
local cases = {
  constant_vus = { executor = "constant-vus", vus = 3, duration = "1s" },
  -- Iterations still running 200 ms after the end are interrupted (with PATH=/delay?ms=3000).
  graceful_stop = { executor = "constant-vus", vus = 2, duration = "500ms", gracefulStop = "200ms" },
  per_vu_iterations = { executor = "per-vu-iterations", vus = 3, iterations = 7 },
  shared_iterations = { executor = "shared-iterations", vus = 4, iterations = 53 },
  ramping_vus = { executor = "ramping-vus", startVUs = 0,
                  stages = { { duration = "500ms", target = 5 }, { duration = "500ms", target = 5 },
                             { duration = "300ms", target = 0 } } },
  constant_arrival_rate = { executor = "constant-arrival-rate", rate = 100, timeUnit = "1s", duration = "2s",
                            preAllocatedVUs = 5, maxVUs = 20 },
  -- 50 arrivals in 1 s, but 2 VUs that each need 200 ms per iteration can start only about 10.
  dropped = { executor = "constant-arrival-rate", rate = 50, duration = "1s", preAllocatedVUs = 1, maxVUs = 2 },
  -- 0 -> 120/s over 1 s (60), 120/s for 0.5 s (60), 120 -> 0 over 0.5 s (30): 150 in total.
  ramping_arrival_rate = { executor = "ramping-arrival-rate", startRate = 0, timeUnit = "1s",
                           preAllocatedVUs = 5, maxVUs = 30,
                           stages = { { duration = "1s", target = 120 }, { duration = "500ms", target = 120 },
                                      { duration = "500ms", target = 0 } } },
}

options = { scenarios = { main = assert(cases[env.CASE], "unknown CASE") } }

local path = env.PATH or "/hello"

function default()
  local res = http.get(path)
  if res.status ~= 200 then fail("status " .. res.status) end
end
