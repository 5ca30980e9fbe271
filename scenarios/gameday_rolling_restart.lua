-- Game day: a rolling restart. Each node in turn gets SIGTERM (it drains: /readyz answers 503 so HAProxy
-- takes it out, then it stops) and the shop's supervisor starts it again on the same port (--respawn-ms).
-- Hypothesis: no customer-visible errors beyond a handful of requests caught mid-drain, every order
-- acknowledged exactly once, the queue drained at the end.
-- Pass: every invariant holds; failed requests < 5%.
--@shop --respawn-ms 300 --lease-ms 2000
local gameday = require("lib.gameday")
local start = gameday.seconds(gameday.fault_at)
local step = gameday.seconds(env.STEP or "4s")
local chaos = {}
for i = 1, tonumber(env.NODES or "3") do
  chaos[i] = { at = (start + (i - 1) * step) .. "s", duration = step .. "s", fault = "terminate",
               target = "node" .. i, label = "restart node" .. i }
end
options = gameday.options(chaos, { http_req_failed = { "rate<0.05" } })
gameday.install(_ENV)
