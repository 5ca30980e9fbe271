-- Game day: a flash sale, ten times the buyers within seconds, on fixed capacity or an autoscaled shop.
-- Buyers arrive at BASE_RATE a second (ramping-arrival-rate); at STEP_AT the rate climbs to
-- BASE_RATE x FACTOR over RAMP, holds for HOLD, falls back over RAMP and stays at BASE_RATE for TAIL. Each
-- buyer logs in, opens a catalogue page and a product and orders (lib/shop.lua, recorded in the history);
-- a small browsing crowd stays throughout. Run it three times, the shop's capacity the only difference:
--   stampede drill scenarios/gameday_autoscale_flash_sale.lua                                  (fixed)
--   ... --shop-arg --autoscale --shop-arg rule        --shop-arg --max-nodes --shop-arg 6       (rule)
--   ... --shop-arg --autoscale --shop-arg predictive  --shop-arg --max-nodes --shop-arg 6       (predictive)
-- scripts/gameday-autoscale.sh does so and renders the three side by side (`stampede report --autoscale`).
-- Hypothesis: fixed capacity breaks the checkout SLO for most of the surge; the rule autoscaler adds nodes
-- after its metrics cross their targets (time to scale: decision + node start + HAProxy's checks, several
-- seconds) and cuts the SLO-violation seconds at a higher cost in node-seconds; the predictive one sees the
-- rate's trend and scales sooner (shorter time to scale, fewer violation seconds) for a similar cost; both
-- scale back in after the sale. Nodes come and go (drained before removal) without losing an acknowledged
-- order. The SLO (the `--@autoscale` line), per second: the buyers' checkout (the group ::checkout: login,
-- pages, order, from the planned arrival) p99 <= 2000 ms, the error ratio of the second's requests <= 1%,
-- and no arrival dropped (a buyer turned away: every VU still busy in the shop). The drill's
-- results.drill.autoscale has time to scale (the step -> the first request HAProxy sent to a node added at
-- or after it), SLO-violation seconds, node-seconds, peak nodes, decisions and lost acknowledged orders
-- (docs/DRILLS.md, "Autoscaling").
-- Pass: the shop's 5 invariants (`stampede drill` exits 0 or 99, never 98); the elasticity figures are a
-- report, compared across the three runs, not a verdict.
-- Knobs (-e): BASE_RATE=1, FACTOR=10, STEP_AT=20s, RAMP=3s, HOLD=40s, TAIL=30s, BROWSERS=4, MAX_VUS=300,
--             GRACE=5s (how long buyers still in the shop at the end may finish).
-- Short form (CI, drill_autoscale_gameday_test): -e BASE_RATE=2 -e FACTOR=30 -e STEP_AT=4s -e RAMP=2s -e HOLD=5s -e TAIL=2s
--             -e GRACE=3s.
--@shop --lease-ms 2000 --kdf interactive
--@autoscale scenario=flash step=::checkout p99_ms=2000 error_ratio=0.01
local gameday = require("lib.gameday")
local checkers = require("lib.checkers")
local shop = require("lib.shop")

local base = tonumber(env.BASE_RATE or "1")
local peak = base * tonumber(env.FACTOR or "10")
local step_at, ramp, hold, tail = env.STEP_AT or "20s", env.RAMP or "3s", env.HOLD or "40s", env.TAIL or "30s"
local total_s = gameday.seconds(step_at) + 2 * gameday.seconds(ramp) + gameday.seconds(hold) + gameday.seconds(tail)

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "4"), duration = total_s .. "s",
               exec = "browse" },
    -- The step the analysis measures from: the first doubling of this planned rate (STEP_AT).
    flash = { executor = "ramping-arrival-rate", startRate = base, timeUnit = "1s",
              preAllocatedVUs = math.max(10, base * 2), maxVUs = tonumber(env.MAX_VUS or "300"),
              stages = {
                { duration = step_at, target = base },
                { duration = ramp, target = peak },
                { duration = hold, target = peak },
                { duration = ramp, target = base },
                { duration = tail, target = base },
              },
              exec = "buy", gracefulStop = env.GRACE or "5s" },
  },
  timeout = env.TIMEOUT or "15s",
  -- The invariants are the verdict; these only guard against a run that did not happen.
  thresholds = { http_reqs = { "count>10" }, http_req_failed = { "rate<0.5" } },
}

browse = gameday.browse

-- A buyer: a product page, then a checkout with an idempotency key (retried once with the same key when
-- the answer is unknown, as a careful client does).
function buy()
  -- The buyer's whole checkout is the group "checkout" (the step ::checkout the SLO judges): its duration
  -- runs from the buyer's planned arrival, so waiting in the shop (and for a free VU) counts.
  group("checkout", function()
    -- Each arrival is a buyer who comes in for the sale: a login (argon2id at the interactive cost: the CPU
    -- work that grows with the crowd; a 429 is retried after its Retry-After), a session of its own.
    http.clear_cookies()
    local me = shop.login(1 + (vu.id * 7919 + vu.iteration) % 1000)
    if not me then return end
    -- A page of the catalogue (the work that more nodes share), then the product.
    http.get("/api/products?page=" .. math.random(1, 20) .. "&size=50", { name = "GET /api/products?page" })
    local product = math.random(2, 300)
    http.get("/api/products/" .. product, { name = "GET /api/products/{id}" })
    shop.order(me, { { product_id = product, qty = 1 } }, "as-" .. vu.id .. "-" .. vu.iteration, 1)
  end)
end

-- Buyers still in the shop at the end are interrupted (gracefulStop), but their last request may still be
-- running at a node: an order it commits after verify() read the audit, and the payment captured for it,
-- would look like a capture without an order. Wait until the orders stop changing and the queue is empty
-- (5 reads 0.5 s apart alike), bounded by the drill's --quiet-timeout.
function quiesce()
  local last, alike = nil, 0
  for _ = 1, 240 do
    local res = http.get("/api/admin/audit", { headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
                                               name = "quiesce: audit", timeout = "10s" })
    if res.status == 200 then
      local audit = res:json()
      local outbox = audit.outbox or {}
      local orders = #(audit.orders or {})
      if orders == last and (outbox.pending or 0) + (outbox.in_flight or 0) == 0 then
        alike = alike + 1
        if alike >= 5 then return true end
      else
        last, alike = orders, 0
      end
    end
    sleep(0.5)
  end
  return false
end

function verify(history)
  return checkers.shop(history)
end
