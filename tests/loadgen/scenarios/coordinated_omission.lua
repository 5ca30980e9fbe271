-- An open model at 200/s for 4 s over at most 2 connections: when the server stalls, arrivals keep
-- coming and queue for a connection; the corrected latency must charge that wait to them.
options = {
  maxConnectionsPerHost = 2,
  scenarios = {
    open = { executor = "constant-arrival-rate", rate = tonumber(env.RATE or "200"),
             duration = env.DURATION or "4s", preAllocatedVUs = 20, maxVUs = 400 },
  },
}

function default()
  http.get("/hello")
end
