-- Benchmark (#14): checkout on a partitioned shop (`stampede shop --db postgres --shards K --txn 2pc|saga`),
-- single-shard carts then cross-shard carts, one after the other in one run (bench/reference_shop/shards.sh).
--   single: 3 SKUs on the buyer's home shard (user_id mod K): the one-phase fast path, one local commit.
--   cross:  3 SKUs on min(K, 3) shards starting at the home shard: PREPARE on each shard, the decision on the
--           home shard, COMMIT PREPARED (2pc), or the saga's local steps.
-- On one database (K = 1) both phases are one local commit of the same kind of cart: their difference is the
-- run's noise. Steps "POST /api/orders single" and "POST /api/orders cross" hold each phase's figures.
-- verify() checks the audit: every acknowledged order exists exactly once, stock within the acknowledged
-- bounds, and on a sharded shop atomicity (complete on every shard or nowhere, nothing prepared, no saga open).
-- A 3 s warm-up of both kinds of cart comes first (a fresh shop's first seconds run at half speed: cold caches
-- and sessions); ORDER=cross,single measures the cross-shard carts first.
-- Knobs (-e): SHARDS (1), VUS (64), PHASE (6s), ORDER (single,cross), PRODUCTS (2000 = --scale 2),
-- ADMIN_TOKEN and PAYMENT_URL (from the topology).
-- Run by shards.sh, which sets LUA_PATH=REPO/scenarios/?.lua so that lib.checkers is found.
local checkers = require("lib.checkers")

local shards = tonumber(env.SHARDS or "1")
local vus = tonumber(env.VUS or "64")
local phase = env.PHASE or "6s"
local products = tonumber(env.PRODUCTS or "2000")
local phase_s = tonumber(phase:match("^(%d+)s$") or error("PHASE must be whole seconds, like 6s (got " .. phase .. ")"))

local order = env.ORDER or "single,cross"
local first, second = order:match("^(%a+),(%a+)$")
if not ((first == "single" and second == "cross") or (first == "cross" and second == "single")) then
  error("ORDER must be single,cross or cross,single (got " .. order .. ")")
end
local warmup_s = 3

options = {
  setupTimeout = "60s",
  teardownTimeout = "60s",
  scenarios = {
    warmup = { executor = "constant-vus", vus = vus, duration = warmup_s .. "s", exec = "warmup", gracefulStop = "5s" },
    [first] = { executor = "constant-vus", vus = vus, duration = phase, exec = first, gracefulStop = "5s",
                startTime = (warmup_s + 1) .. "s" },
    [second] = { executor = "constant-vus", vus = vus, duration = phase, exec = second, gracefulStop = "5s",
                 startTime = (warmup_s + phase_s + 2) .. "s" },
  },
  thresholds = { checks = { "rate>0.99" } },
}

-- Logs in one seeded customer per VU (customer i), out of the measured phases; the tokens go to every VU.
function setup()
  local users = {}
  for i = 1, vus do
    local res
    for _ = 1, 20 do
      res = http.post("/api/sessions", { json = { email = "customer" .. i .. "@shop.test", password = "stampede" },
                                         name = "setup: login", expectedStatuses = { 200, 429 } })
      if res.status ~= 429 then break end
      sleep(tonumber(res.headers["retry-after"] or "1"))
    end
    if res.status ~= 200 then error("login of customer" .. i .. " answered " .. res.status) end
    local body = res:json()
    users[i] = { id = body.user_id, token = body.token }
  end
  -- Idempotency keys unique to this run, so a second run on the same shop places new orders.
  return { users = users, run = tostring(os.time()) }
end

-- A SKU on `shard` (id mod K), spread over the catalogue.
local function product_on(shard)
  return shards * math.random(1, products // shards - 1) + shard
end

local function place(data, cart, name)
  local user = data.users[(vu.id - 1) % vus + 1]
  local home = user.id % shards
  local ids, seen = {}, {}
  while #ids < 3 do
    local shard = cart == "single" and home or (home + #ids) % shards
    local p = product_on(shard)
    if not seen[p] then
      seen[p] = true
      ids[#ids + 1] = p
    end
  end
  local items = {}
  for i, p in ipairs(ids) do items[i] = { product_id = p, qty = 1 } end
  local key = data.run .. "-" .. (name or cart) .. "-" .. vu.id .. "-" .. vu.iteration
  local res = http.post("/api/orders", {
    json = { items = items },
    headers = { ["Idempotency-Key"] = key, Authorization = "Bearer " .. user.token },
    name = "POST /api/orders " .. (name or cart),
    expectedStatuses = { 201 },
    history = "order", historyValue = { user_id = user.id, key = key, items = items },
  })
  check(res, { ["order 201"] = function(r) return r.status == 201 end })
end

function warmup(data) place(data, vu.iteration % 2 == 0 and "single" or "cross", "warmup") end
function single(data) place(data, "single") end
function cross(data) place(data, "cross") end

local function audit()
  local res = http.get("/api/admin/audit", { headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
                                             name = "quiesce: audit", timeout = "20s" })
  return res.status == 200 and res:json() or nil
end

-- Quiet once nothing is in doubt (no prepared transaction, no saga open). Payments still settling are not
-- waited for (draining ~15,000 orders' outbox takes ~45 s here): the checkers count pending orders as
-- unsettled and pending messages in the queue's accounting.
function quiesce()
  for _ = 1, 90 do
    local a = audit()
    if a and (a.prepared_transactions or 0) == 0 and (a.sagas_open or 0) == 0 then
      return true
    end
    sleep(0.5)
  end
  return false
end

function verify(history)
  return checkers.shop(history)
end
