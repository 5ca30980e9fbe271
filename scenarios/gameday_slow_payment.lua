-- Game day: slow payment provider (500 ms more on every answer from the gateway, on the nodes' link).
-- Hypothesis: checkout latency for customers does not change (payment is asynchronous, after the 201);
-- the queue of pending orders grows during the fault and drains afterwards; no capture is doubled by
-- retries of slow calls.
-- Pass: every invariant holds; POST /api/orders p(99) < 500 ms.
--@shop --lease-ms 5000
local gameday = require("lib.gameday")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "latency", target = "payment",
    stream = "downstream", latency = tonumber(env.LATENCY_MS or "500"), label = "payment +500ms" },
}, {
  ["http_req_duration{name:POST /api/orders}"] = { "p(99)<500" },
  http_req_failed = { "rate<0.05" },
})
gameday.install(_ENV)
