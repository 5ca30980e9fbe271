-- Game day: a node killed under load (SIGKILL, no restart).
-- Hypothesis: HAProxy takes node2 out within ~1 s (health checks every 250 ms, down after 2); requests
-- in flight on node2 fail or end unknown; the node's order messages are finished by the others after
-- their leases expire; no acknowledged order is lost; throughput and latency recover within 5 s.
-- Pass: every invariant holds (stampede drill exits 0 or 99, never 98).
--@shop --lease-ms 2000
local gameday = require("lib.gameday")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "kill", target = env.NODE or "node2",
    label = "node2 killed" },
})
gameday.install(_ENV)
