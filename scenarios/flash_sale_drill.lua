-- Flash-sale drill (the README's main job): `stampede drill scenarios/flash_sale_drill.lua`.
-- A browsing crowd, a steady trickle of checkouts, and a rendezvous spike of buyers released at once on a
-- flash sale that setup() creates with fewer units than buyers (one per user), while node2 is killed in
-- the middle of it (one fault by default). Every buyer clicks twice: the second click must be refused
-- (409 already bought, or 410 sold out), so both boundaries are pressed: the stock and the per-user limit.
-- Hypothesis: customers see a short blip (HAProxy takes node2 out within a second), the sale sells out
-- exactly (sold = stock, never more), nobody buys twice, every acknowledged order exists exactly once,
-- every paid order is captured exactly once, and the order queue drains (the dead node's leases expire,
-- others finish).
-- Pass: every invariant holds, product pages p(99) < 1 s, < 5% failed requests, checks > 95%.
-- Knobs (-e): DURATION=20s, BROWSERS=10, BUYERS=200, STOCK (3/4 of BUYERS), ORDER_RATE=5, SPIKE_AT=7s,
--             FAULT=kill, FAULT_TARGET=node2, FAULT_AT=6s, FAULT_FOR=4s, NO_FAULT=1 (no fault: a baseline),
--             PAGE_P99_MS=1000 (the product pages' p99 bound).
--@shop --lease-ms 2000 --max-attempts 4
local checkers = require("lib.checkers")
local shop = require("lib.shop")

local duration = env.DURATION or "20s"
local buyers = tonumber(env.BUYERS or "200")
local stock = tonumber(env.STOCK or tostring(buyers * 3 // 4))

local chaos = {}
if not env.NO_FAULT then
  chaos[1] = { at = env.FAULT_AT or "6s", duration = env.FAULT_FOR or "4s", fault = env.FAULT or "kill",
               target = env.FAULT_TARGET or "node2", label = (env.FAULT_TARGET or "node2") .. " " .. (env.FAULT or "kill") }
end

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "10"), duration = duration, exec = "browse" },
    orders = { executor = "constant-arrival-rate", rate = tonumber(env.ORDER_RATE or "5"), duration = duration,
               preAllocatedVUs = 5, maxVUs = 50, exec = "order" },
    spike = { executor = "per-vu-iterations", vus = buyers, iterations = 1,
              startTime = env.SPIKE_AT or "7s", maxDuration = duration, exec = "buy", gracefulStop = "10s" },
  },
  chaos = chaos,
  thresholds = {
    ["http_req_duration{name:GET /api/products/{id}}"] = { "p(99)<" .. (env.PAGE_P99_MS or "1000") },
    http_req_failed = { "rate<0.05" },
    checks = { "rate>0.95" },
  },
}

-- The sale of this drill: product 1 at 9.99, `stock` units, one per user, already started.
function setup()
  local res = http.post("/api/admin/flash-sales", {
    json = { product_id = 1, stock = stock, price = 999, per_user_limit = 1, starts_at = 0 },
    headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
    name = "setup: create flash sale",
  })
  if res.status ~= 201 then error("creating the flash sale answered " .. res.status .. " " .. tostring(res.body)) end
  return { sale = res:json().id, stock = stock }
end

function browse()
  shop.browse()
  sleep(0.2 + math.random() * 0.3)
end

-- Customers 901..1000 place orders (the spike's buyers are the customers numbered by their VU ids).
function order()
  if not me then me = shop.login(1000 - vu.id % 100) end
  if not me then return end
  local items = { { product_id = math.random(2, 200), qty = math.random(1, 2) } }
  shop.order(me, items, "drill-" .. vu.id .. "-" .. vu.iteration, 1)
end

-- One buyer: a purchase until it has a definite answer (a 5xx or no answer may or may not have bought:
-- the retry then meets the per-user limit), then the impatient second click, which the limit must refuse.
function buy(data)
  local user
  for _ = 1, 3 do
    user = shop.login(vu.id)
    if user then break end
    sleep(0.2)
  end
  if not user then return end
  local sale = tostring(env.SALE or data.sale)
  for _ = 1, 4 do
    local res = shop.flash_purchase(user, sale)
    if res.status ~= 0 and res.status < 500 then break end
    sleep(0.2)
  end
  shop.flash_purchase(user, sale)
end

function verify(history)
  return checkers.shop(history)
end
