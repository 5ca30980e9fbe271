-- Game day: a node paused (SIGSTOP, like a long GC pause), then resumed.
-- Hypothesis: requests routed to node2 stall for the pause; HAProxy's checks time out and take it out;
-- after SIGCONT its stalled requests complete (late, not lost) and its leases may have moved to other
-- nodes: every effect stays exactly-once (no double capture, no duplicate order).
-- Pass: every invariant holds.
--@shop --lease-ms 2000
local gameday = require("lib.gameday")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "pause", target = env.NODE or "node2",
    label = "node2 paused" },
})
gameday.install(_ENV)
