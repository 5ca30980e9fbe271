-- `stampede run` writes the recovery figures of its faults into its results (recovery_run_test.cpp).
-- MODE=proxy: 40 requests/s through --proxy's "target", +300 ms on it from 5 s to 8 s, and the same on a
--             spare link (env.SPARE) that no request uses.
-- MODE=kill:  two processes killed at 5 s by pid file; the test restarts one (a new pid in its file).
local chaos = {}
if env.MODE == "proxy" then
  chaos = {
    { at = "5s", duration = "3s", fault = "latency", target = "target", latency = 300, label = "clients +300ms" },
    { at = "5s", duration = "3s", fault = "latency", target = "spare", latency = 300, label = "spare +300ms" },
  }
elseif env.MODE == "kill" then
  chaos = {
    { at = "5s", duration = "1s", fault = "kill", target = "pidfile:" .. env.RESPAWNED, label = "respawned" },
    { at = "5s", duration = "1s", fault = "kill", target = "pidfile:" .. env.GONE, label = "gone" },
  }
end

options = {
  scenarios = {
    load = { executor = "constant-arrival-rate", rate = 40, duration = env.DURATION or "15s",
             preAllocatedVUs = 20, maxVUs = 200 },
  },
  proxies = env.SPARE and { spare = env.SPARE } or nil,
  chaos = chaos,
  timeout = "5s",
  recovery = { consecutive_healthy_s = 4 },
}

function default()
  http.get("/hello")
end
