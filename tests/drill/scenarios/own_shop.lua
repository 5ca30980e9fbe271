-- A game day on a system that is not the reference shop (tests/drill/own_system/own_shop.py: a front and a
-- ledger behind the drill's link proxy "front_ledger"), run by drill_own_system_test with
-- `stampede drill own_shop.lua --target URL --topology FILE`.
-- Faults: the ledger paused by the topology's pause command, latency on the link, the front killed by pid
-- and restarted by the topology's command. quiesce() waits until the front holds no unwritten order;
-- verify() states that every acknowledged order is in the ledger exactly once.
-- Knobs (-e): DURATION (7s), RATE (25), PAUSE_FOR (1s), SETUP_BLOCKS=1 (setup() waits forever: Ctrl-C tests).
local checkers = require("lib.checkers")

options = {
  scenarios = {
    orders = { executor = "constant-arrival-rate", rate = tonumber(env.RATE or "25"), duration = env.DURATION or "7s",
               preAllocatedVUs = 10, maxVUs = 60 },
  },
  -- The restart comes last: its command (start a process, wait until it answers) holds the timeline while
  -- it runs, which on a loaded machine can take seconds.
  chaos = {
    { at = "1500ms", duration = env.PAUSE_FOR or "1s", fault = "pause", target = "ledger", label = "ledger paused" },
    { at = "3s", duration = "1s", fault = "latency", target = "front_ledger", latency = 100, label = "slow ledger link" },
    { at = "4500ms", fault = "restart", target = "front", label = "front killed and restarted" },
  },
  timeout = "8s",
  thresholds = { http_reqs = { "count>50" } },
}

function setup()
  if env.SETUP_BLOCKS then
    print("setup: waiting")
    sleep(600)
  end
end

function default()
  local key = "k" .. vu.id .. "-" .. vu.iteration
  http.post("/api/orders", {
    json = { qty = 1 },
    headers = { ["Idempotency-Key"] = key },
    name = "POST /api/orders",
    history = "order", historyValue = { key = key },
  })
end

-- The front writes buffered orders to the ledger after half a second: wait until it holds none.
function quiesce()
  for _ = 1, 100 do
    local res = http.get("/api/pending", { name = "quiesce: pending" })
    if res.status == 200 and res:json().pending == 0 then return true end
    sleep(0.1)
  end
  return false
end

function verify(history)
  local res = http.get("/api/audit", { name = "verify: audit", timeout = "10s" })
  if res.status ~= 200 then
    return { checkers.invariant("ledger readable", false, { status = res.status }, "GET /api/audit answered " .. res.status) }
  end
  return {
    checkers.set {
      name = "acknowledged orders are in the ledger exactly once",
      operations = checkers.operations(history, { "order" }),
      added = function(op) return op.value and op.value.order_id end,
      op_key = function(op) return op.invoke and op.invoke.key end,
      final = res:json().orders,
      id = function(e) return e.order_id end,
      key = function(e) return e.order_id end,
    },
  }
end
