-- Game day: latency and bandwidth squeeze at the edge (clients -> HAProxy): +150 ms each way and
-- 64 KB/s towards the clients.
-- Hypothesis: customers see slower pages (the browsing crowd's throughput drops, closed model) but no
-- errors; the checkout stream (open model) keeps its rate; recovery is immediate after the heal.
-- Pass: every invariant holds; failed requests < 5%.
local gameday = require("lib.gameday")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "latency", target = "edge", stream = "both",
    latency = tonumber(env.LATENCY_MS or "150"), label = "edge +150ms" },
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "bandwidth", target = "edge",
    stream = "downstream", rate = tonumber(env.RATE_KBPS or "64"), label = "edge 64 KB/s" },
}, {
  http_req_failed = { "rate<0.05" },
})
gameday.install(_ENV)
