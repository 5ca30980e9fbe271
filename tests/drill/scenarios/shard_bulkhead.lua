-- The shard bulkheads' known answers (drill_shard_bulkhead_test.cpp) on `stampede shop --db postgres --shards 2`,
-- through HAProxy: shard 1's database links (db:shard1:*) black-holed for [CUT_AT, CUT_AT + CUT_FOR) s while
-- browsers read product pages of both shards (the load that used to hold every server thread of every node
-- until HAProxy took them all out):
--   before the cut  every checkout that ended before it 201 (nothing spurious: no 503; one still running at
--                   the cut is caught by it and judged by neither window)
--   during the cut  after SETTLE_S s (the first calls on the cut shard pay their deadline, then its circuit
--                   is open): carts wholly on shard 0 (the customer's home, session and item) 201; carts with
--                   an item on shard 1 fail fast (an answer, not 201, within FAST_S s); product pages of
--                   shard 1 200 within FAST_S s, those not cached before the cut with their stock unknown (null)
--   after the heal  after HEAL_S s, every checkout 201 again and shard 1's pages show their stock
-- Every checkout is an "order" operation of the history (lib/shop.lua's conventions), so the shop's
-- checkers (atomicity included) judge them too. HAProxy's view (every node UP throughout) is the test's
-- assertion on results.drill.system.
--@shop --db postgres --shards 2 --txn-lease-ms 3000
local checkers = require("lib.checkers")
local shard_gameday = require("lib.shard_gameday")

local cut_at, cut_for = tonumber(env.CUT_AT or "6"), tonumber(env.CUT_FOR or "10")
local settle_s, heal_s = tonumber(env.SETTLE_S or "2"), tonumber(env.HEAL_S or "3")
local fast_s = tonumber(env.FAST_S or "1")
local duration = cut_at + cut_for + heal_s + 4

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "6"), duration = duration .. "s",
               exec = "browse" },
    carts = { executor = "constant-vus", vus = 2, duration = duration .. "s", exec = "carts", gracefulStop = "15s" },
  },
  chaos = {
    { at = cut_at .. "s", duration = cut_for .. "s", fault = "timeout", target = "db:shard1:*", stream = "both",
      timeout = 0, label = "shard1 cut off" },
  },
  timeout = "20s",
}

-- Pages of both shards: odd ids live on shard 1 (product P on shard P mod 2).
function browse()
  http.get("/api/products/" .. math.random(1, 1000), { name = "GET /api/products/{id}" })
  if math.random() < 0.3 then http.get("/api/products?q=book&size=10", { name = "GET /api/products?q" }) end
  sleep(0.05)
end

-- A customer wholly on shard 0: an even id (home shard 0) and a session whose token hashes to shard 0.
local function login_on_shard0()
  for attempt = 1, 40 do
    local customer = 2 * (10 + vu.id * 40 + attempt)
    local res = http.post("/api/sessions", {
      json = { email = "customer" .. customer .. "@shop.test", password = "stampede" }, name = "POST /api/sessions" })
    if res.status == 200 then
      local body = res:json()
      if body.user_id % 2 == 0 and shard_gameday.session_shard(body.token, 2) == 0 then return body end
    end
  end
  error("no customer with home and session on shard 0 in 40 logins")
end

local function checkout(me, product_id)
  local items = { { product_id = product_id, qty = 1 } }
  return http.post("/api/orders", {
    json = { items = items },
    headers = { ["Idempotency-Key"] = "bh-" .. vu.id .. "-" .. vu.iteration .. "-" .. product_id,
                Authorization = "Bearer " .. me.token },
    name = "POST /api/orders", expectedStatuses = { 201, 503 },
    history = "order", historyValue = { user_id = me.user_id, key = "bh-" .. vu.id .. "-" .. vu.iteration
      .. "-" .. product_id, items = items },
  })
end

-- Each iteration: a cart on shard 0, a cart with an item on shard 1, a page of a shard-1 product.
function carts()
  if not me then me = login_on_shard0() end
  checkout(me, 2 * math.random(1, 150))
  checkout(me, 2 * math.random(1, 150) - 1)
  local id = 2 * math.random(1, 150) - 1
  local op = history.invoke("page1", { product_id = id })
  local res = http.get("/api/products/" .. id, { name = "GET /api/products/{id} (shard 1)" })
  local ok, body = pcall(res.json, res)
  if res.status == 200 and ok then
    history.ok(op, { status = 200, stock_known = type(body.stock) == "number" })
  else
    history.fail(op, { status = res.status })
  end
  sleep(0.2)
end

quiesce = shard_gameday.quiesce

-- The operations started within [from, to) (and, given `ended_by`, ended before it): count, not ok, slowest (s),
-- and the ones `pred` rejects.
local function judge(ops, from, to, pred, ended_by)
  local s = { count = 0, not_ok = 0, slowest_s = 0, rejected = 0 }
  for _, o in ipairs(ops) do
    if o.t >= from and o.t < to and (ended_by == nil or (o.t_end or math.huge) < ended_by) then
      s.count = s.count + 1
      if o.outcome ~= "ok" then s.not_ok = s.not_ok + 1 end
      s.slowest_s = math.max(s.slowest_s, (o.t_end or math.huge) - o.t)
      if not pred(o) then s.rejected = s.rejected + 1 end
    end
  end
  return s
end

function verify(history)
  local out = checkers.shop(history)
  local orders = checkers.operations(history, { "order" })
  local shard0, shard1 = {}, {}
  for _, o in ipairs(orders) do
    local item = o.invoke and o.invoke.items and o.invoke.items[1]
    if item then
      local into = item.product_id % 2 == 0 and shard0 or shard1
      into[#into + 1] = o
    end
  end
  local pages = checkers.operations(history, { "page1" })
  local is_ok = function(o) return o.outcome == "ok" end
  local heal = cut_at + cut_for

  -- Before the cut: checkouts that ended before it (one still running when the cut began is caught by it:
  -- it ends at its deadline, as the game day says, and is neither before nor during).
  local before = { shard0 = judge(shard0, 0, cut_at, is_ok, cut_at), shard1 = judge(shard1, 0, cut_at, is_ok, cut_at) }
  out[#out + 1] = checkers.invariant("before the cut every checkout succeeds",
    before.shard0.count > 0 and before.shard1.count > 0 and before.shard0.rejected == 0 and before.shard1.rejected == 0,
    before, string.format("shard 0 carts %d (%d not ok), shard 1 carts %d (%d not ok)", before.shard0.count,
      before.shard0.rejected, before.shard1.count, before.shard1.rejected))

  local from, to = cut_at + settle_s, heal
  local cut = {
    shard0 = judge(shard0, from, to, is_ok),
    shard1 = judge(shard1, from, to, function(o) return o.outcome ~= "ok" and (o.t_end or math.huge) - o.t <= fast_s end),
    pages = judge(pages, from, to, function(o) return o.outcome == "ok" and (o.t_end or math.huge) - o.t <= fast_s end),
    pages_degraded = judge(pages, from, to, function(o) return o.value and o.value.stock_known == false end),
    fast_s = fast_s, from_s = from, to_s = to,
  }
  out[#out + 1] = checkers.invariant("during the cut carts on shard 0 check out",
    cut.shard0.count > 0 and cut.shard0.rejected == 0, cut.shard0,
    string.format("%d carts wholly on shard 0 during the cut, %d not 201", cut.shard0.count, cut.shard0.rejected))
  out[#out + 1] = checkers.invariant("during the cut carts touching shard 1 fail fast",
    cut.shard1.count > 0 and cut.shard1.rejected == 0, cut.shard1,
    string.format("%d carts with an item on shard 1, %d not refused within %g s (slowest %.2f s)", cut.shard1.count,
      cut.shard1.rejected, fast_s, cut.shard1.slowest_s))
  -- A page cached before the cut is served as cached (its stock as it was); the others degrade.
  local degraded = cut.pages_degraded.count - cut.pages_degraded.rejected
  out[#out + 1] = checkers.invariant("during the cut shard 1's pages are answered, degraded (stock unknown)",
    cut.pages.count > 0 and cut.pages.rejected == 0 and degraded > 0, cut.pages,
    string.format("%d pages of shard-1 products, %d not 200 within %g s; %d with stock null (the others cached)",
      cut.pages.count, cut.pages.rejected, fast_s, degraded))

  local after_from = heal + heal_s
  local after = {
    shard0 = judge(shard0, after_from, math.huge, is_ok),
    shard1 = judge(shard1, after_from, math.huge, is_ok),
    pages = judge(pages, after_from, math.huge, function(o) return o.outcome == "ok" and o.value.stock_known end),
  }
  out[#out + 1] = checkers.invariant("after the heal everything works",
    after.shard0.count > 0 and after.shard1.count > 0 and after.pages.count > 0 and after.shard0.rejected == 0
      and after.shard1.rejected == 0 and after.pages.rejected == 0, after,
    string.format("from %g s: shard 0 carts %d (%d not ok), shard 1 carts %d (%d not ok), pages %d (%d without stock)",
      after_from, after.shard0.count, after.shard0.rejected, after.shard1.count, after.shard1.rejected,
      after.pages.count, after.pages.rejected))
  return out
end
