-- Game day: payment provider down (every connection to the gateway reset).
-- Hypothesis: customers still get their orders acknowledged (201); captures fail, are retried with
-- backoff and, after --max-attempts, dead-lettered: those orders end failed, their stock released, and
-- nothing is charged; after the fault new orders are paid again.
-- Pass: every invariant holds (queue: published = done + dead-lettered + pending), dead letters appear.
--@shop --max-attempts 3 --lease-ms 2000
local gameday = require("lib.gameday")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "reset_peer", target = "payment",
    stream = "upstream", timeout = 0, label = "payment provider down" },
}, {
  http_req_failed = { "rate<0.05" },
})
gameday.install(_ENV)
