-- A game day on your own system (a template): `stampede drill own_system_drill.lua --target
-- http://127.0.0.1:8080 --topology topology.json -e ADMIN_TOKEN=...`. The topology (docs/examples/topology.json)
-- names the links the drill proxies (app1_db, app2_db, payments; your apps are configured to reach their
-- database and the payment sandbox through the `listen` addresses) and the nodes faults act on.
-- Hypothesis: a slow database link, a paused database and a killed app node cost a short blip; no
-- acknowledged order is lost or duplicated; the order queue drains afterwards.
-- Adapt: the endpoints (/api/orders, /admin/queue, /admin/orders) and the invariant to your system.
local checkers = require("lib.checkers")

options = {
  scenarios = {
    orders = { executor = "constant-arrival-rate", rate = 20, duration = env.DURATION or "60s",
               preAllocatedVUs = 20, maxVUs = 200 },
  },
  chaos = {
    { at = "10s", duration = "10s", fault = "latency", target = "app1_db", latency = 200, label = "slow db link" },
    { at = "25s", duration = "5s", fault = "pause", target = "postgres", label = "database paused" },
    { at = "40s", fault = "restart", target = "app2", label = "app2 killed and restarted" },
  },
  thresholds = { http_req_failed = { "rate<0.05" } },
}

function default()
  local key = "gd-" .. vu.id .. "-" .. vu.iteration
  http.post("/api/orders", {
    json = { sku = "A-" .. math.random(1, 50), qty = 1 },
    headers = { ["Idempotency-Key"] = key },
    history = "order", historyValue = { key = key },
  })
end

-- After the heal and each node's health command: wait until the order queue is empty (bounded by --quiet-timeout).
function quiesce()
  while true do
    local res = http.get("/admin/queue", { headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) } })
    if res.status == 200 and res:json().pending == 0 then return true end
    sleep(0.5)
  end
end

-- Every acknowledged order exists exactly once (by its idempotency key); nothing exists that no request made.
function verify(history)
  local res = http.get("/admin/orders", { headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
                                          timeout = "30s" })
  if res.status ~= 200 then
    return { checkers.invariant("orders readable", false, { status = res.status }, "GET /admin/orders: " .. res.status) }
  end
  return {
    checkers.set {
      name = "acknowledged orders exist exactly once",
      operations = checkers.operations(history, { "order" }),
      added = function(op) return op.value and op.value.order_id end,
      op_key = function(op) return op.invoke.key end,
      final = res:json().orders,
      id = function(e) return e.order_id end,
      key = function(e) return e.idempotency_key end,
    },
  }
end
