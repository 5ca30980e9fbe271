-- Game day: one node cut off from HAProxy (its link black-holes every byte, both ways).
-- Hypothesis: HAProxy's health checks time out and take node2 out within ~2.5 s; requests already sent
-- to it hang until the link heals and then fail (unknown outcome: they may have been executed); the node
-- itself keeps paying its orders (its link to the gateway is fine); no acknowledged order is lost.
-- Pass: every invariant holds.
--@shop --lease-ms 2000
local gameday = require("lib.gameday")
options = gameday.options({
  { at = gameday.fault_at, duration = gameday.fault_for, fault = "timeout", target = env.LINK or "haproxy_node2",
    stream = "both", timeout = 0, label = "node2 cut off from haproxy" },
})
gameday.install(_ENV)
