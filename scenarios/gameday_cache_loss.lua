-- Game day: the cache tier lost in the middle of a flash-sale spike (`stampede shop --cache redis`).
-- Every node reads the catalogue through one Redis. At FAULT_AT, as BUYERS buyers crowd the sale's product
-- page, Redis is killed (SIGKILL: its data is gone); the shop's supervisor starts it again, empty, 5 s
-- later (--redis-respawn-ms 5000).
-- Hypothesis: the nodes notice within a command timeout (100 ms) and stop asking Redis (a circuit with
-- backoff); pages a node saw are served from its local copy, misses go to the database, at most
-- --cache-db-loads (4) at once per node, and only requests beyond that bound get a fast 503 with
-- Retry-After; a key is loaded by at most one request per node at a time (local single-flight; one more
-- only if a checkout invalidated it mid-load), so the database's load during the loss follows the number
-- of distinct pages, not the number of buyers. When Redis returns, every node reconnects within its
-- backoff (at most 2 s), each key is rebuilt once over the whole shop (the Redis lock), and orders are
-- untouched: every shop invariant holds.
-- Pass: every invariant holds (`stampede drill` exits 0, never 98), failed requests < 5%.
-- verify() adds four invariants to the shop's five; their evidence is the database's load (cache loads per
-- second before, during and after the loss), the most loads at once on a node, the most concurrent rebuilds
-- of one key (per node, and over the shop as counted in Redis), the 503s shed, and Redis errors by kind.
-- The drill's recovery figures (results.chaos[1].recovery) give p99 before, during and after the loss.
-- Knobs (-e): DURATION=25s, FAULT_AT=8s, BUYERS=150, BROWSERS=8, ORDER_RATE=5, PAGE_VIEWS=4, REDIS_BACK=5s
-- (must match --redis-respawn-ms). Short form (CI, drill_end_to_end_test): -e DURATION=16s -e FAULT_AT=4s
-- -e BUYERS=60.
--@shop --cache redis --redis-respawn-ms 5000 --threads 8 --cache-db-loads 4 --lease-ms 2000
local checkers = require("lib.checkers")
local gameday = require("lib.gameday")
local shop = require("lib.shop")

local duration = env.DURATION or "25s"
local fault_at = gameday.seconds(env.FAULT_AT or "8s")
local redis_back = gameday.seconds(env.REDIS_BACK or "5s")
local buyers = tonumber(env.BUYERS or "150")
local db_loads_bound = 4  -- --cache-db-loads above
local sale_product = 1

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "8"), duration = duration, exec = "browse" },
    orders = { executor = "constant-arrival-rate", rate = tonumber(env.ORDER_RATE or "5"), duration = duration,
               preAllocatedVUs = 5, maxVUs = 100, exec = "order", gracefulStop = "15s" },
    spike = { executor = "per-vu-iterations", vus = buyers, iterations = 1, startTime = fault_at .. "s",
              maxDuration = duration, exec = "buy", gracefulStop = "10s" },
    monitor = { executor = "constant-vus", vus = 1, duration = duration, exec = "monitor" },
  },
  chaos = {
    { at = fault_at .. "s", duration = redis_back .. "s", fault = "kill", target = "redis", label = "redis killed" },
  },
  timeout = "15s",
  thresholds = {
    http_reqs = { "count>10" },
    http_req_failed = { "rate<0.05" },
  },
}

function setup()
  local res = http.post("/api/admin/flash-sales", {
    json = { product_id = sale_product, stock = buyers * 3 // 4, price = 999, per_user_limit = 1, starts_at = 0 },
    headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
    name = "setup: create flash sale",
  })
  if res.status ~= 201 then error("creating the flash sale answered " .. res.status .. " " .. tostring(res.body)) end
  return { sale = res:json().id }
end

-- A product page; a 5xx or no answer is recorded (op "page_error") for the invariant on errors.
local function page(id)
  local res = http.get("/api/products/" .. id, { name = "GET /api/products/{id}" })
  check(res, { ["product 200"] = function(r) return r.status == 200 end })
  if res.status == 0 or res.status >= 500 then
    local op = history.invoke("page_error", { product_id = id })
    history.fail(op, { status = res.status, retry_after = res.headers and res.headers["retry-after"] or nil })
  end
  return res
end

function browse()
  page(math.random(1, 1000))
  if math.random() < 0.3 then http.get("/api/products?q=book&size=10", { name = "GET /api/products?q" }) end
  sleep(0.2 + math.random() * 0.3)
end

-- Recorded checkouts (customers 801..1000, products 2..300: each one invalidates its product's page).
function order()
  if not me then me = shop.login(1000 - vu.id % 200) end
  if not me then return end
  local items = { { product_id = math.random(2, 300), qty = math.random(1, 2) } }
  shop.order(me, items, "cl-" .. vu.id .. "-" .. vu.iteration, 1)
end

-- One buyer: the sale's product page a few times (the hot key), the sale, then a purchase.
function buy(data)
  local user = shop.login(vu.id)
  if not user then return end
  for _ = 1, tonumber(env.PAGE_VIEWS or "4") do
    page(sale_product)
    sleep(0.05 + math.random() * 0.15)
  end
  http.get("/api/flash-sales/" .. data.sale, { name = "GET /api/flash-sales/{id}" })
  for _ = 1, 4 do
    local res = shop.flash_purchase(user, tostring(data.sale))
    if res.status ~= 0 and res.status < 500 then break end
    sleep(0.2)
  end
end

-- Each node's cache metrics (directly, env.NODE_URLS), every half second, into the history.
local function parse_metrics(text)
  local m = {}
  for line in tostring(text):gmatch("[^\n]+") do
    local key, value = line:match("^(shop_cache_[^%s]+)%s+(%S+)$")
    if key then m[key] = tonumber(value) end
  end
  return m
end

function monitor()
  local urls = {}
  for u in tostring(env.NODE_URLS or ""):gmatch("[^,]+") do urls[#urls + 1] = u end
  if #urls == 0 then error("env.NODE_URLS is not set (stampede drill passes it)") end
  for i, url in ipairs(urls) do
    local res = http.get(url .. "/metrics", { name = "monitor: node metrics", timeout = "2s" })
    if res.status == 200 then
      local m = parse_metrics(res.body)
      local errors = {}
      for _, kind in ipairs({ "connect", "timeout", "closed", "io", "protocol", "reply", "auth", "pool_busy" }) do
        errors[kind] = m['shop_cache_redis_errors_total{kind="' .. kind .. '"}'] or 0
      end
      local id = history.invoke("cache_sample", { node = i })
      history.ok(id, {
        node = i,
        hits = m['shop_cache_requests_total{result="hit"}'] or 0,
        loads = m["shop_cache_loads_total"] or 0,
        loads_in_flight_max = m["shop_cache_rebuilds_in_flight_max"] or 0,
        key_max_node = m['shop_cache_key_rebuilds_max{scope="node"}'] or 0,
        key_max_cluster = m['shop_cache_key_rebuilds_max{scope="cluster"}'] or 0,
        redis_up = m["shop_cache_redis_up"] or 0,
        shed = m["shop_cache_shed_total"] or 0,
        local_hits = m["shop_cache_fallback_local_hits_total"] or 0,
        stale = m["shop_cache_stale_served_total"] or 0,
        fallbacks = (m['shop_cache_fallbacks_total{reason="redis_down"}'] or 0)
                    + (m['shop_cache_fallbacks_total{reason="redis_error"}'] or 0)
                    + (m['shop_cache_fallbacks_total{reason="lock_wait"}'] or 0),
        errors = errors,
      })
    end
  end
  sleep(0.5)
end

-- Sums of the nodes' cumulative counters at the last sample of each node before time t.
local function totals_at(samples, t, field)
  local last = {}
  for _, s in ipairs(samples) do
    if s.t <= t then last[s.value.node] = s.value end
  end
  local sum = 0
  for _, v in pairs(last) do sum = sum + v[field] end
  return sum
end

local function cache_invariants(history)
  local out = {}
  local samples = {}
  for _, op in ipairs(checkers.operations(history, { "cache_sample" })) do
    if op.outcome == "ok" then samples[#samples + 1] = { t = op.t, value = op.value } end
  end
  if #samples == 0 then
    return { checkers.invariant("cache metrics sampled", false, {}, "no node's /metrics could be read") }
  end
  local final, nodes = {}, 0
  for _, s in ipairs(samples) do final[s.value.node] = s.value end
  local key_node, key_cluster, in_flight, shed, up = 0, 0, 0, 0, 0
  local errors = {}
  for _, v in pairs(final) do
    nodes = nodes + 1
    key_node = math.max(key_node, v.key_max_node)
    key_cluster = math.max(key_cluster, v.key_max_cluster)
    in_flight = math.max(in_flight, v.loads_in_flight_max)
    shed = shed + v.shed
    up = up + (v.redis_up == 1 and 1 or 0)
    for k, n in pairs(v.errors) do errors[k] = (errors[k] or 0) + n end
  end
  -- The database's load by the cache: loads per second before, during and after the loss.
  local loss_end = fault_at + redis_back
  local run_end = samples[#samples].t
  local function rate(from, to)
    if to <= from then return 0 end
    return (totals_at(samples, to, "loads") - totals_at(samples, from, "loads")) / (to - from)
  end
  local load = {
    before_per_s = rate(1, fault_at), during_per_s = rate(fault_at, loss_end), after_per_s = rate(loss_end, run_end),
    total = totals_at(samples, run_end, "loads"),
    local_copy_hits = totals_at(samples, run_end, "local_hits"), fallbacks = totals_at(samples, run_end, "fallbacks"),
  }

  out[#out + 1] = checkers.invariant("no stampede: concurrent rebuilds of one key stay bounded",
    key_node <= 2 and key_cluster <= 2,
    { key_rebuilds_max_node = key_node, key_rebuilds_max_shop = key_cluster, bound = 2, database_load = load },
    string.format("at most %d load(s) of one key at once on a node, %d over the shop (Redis-counted); bound 2 "
                  .. "(one, plus one when a checkout invalidates the key mid-load); cache loads/s %.1f before, "
                  .. "%.1f during the loss, %.1f after", key_node, key_cluster, load.before_per_s,
                  load.during_per_s, load.after_per_s))

  out[#out + 1] = checkers.invariant("database loads by the cache within the admission bound",
    in_flight <= db_loads_bound,
    { loads_in_flight_max = in_flight, bound = db_loads_bound, nodes = nodes },
    string.format("at most %d cache loads at once on a node (bound %d per node, %d nodes)", in_flight,
                  db_loads_bound, nodes))

  local page_errors = checkers.operations(history, { "page_error" })
  local not_shed = {}
  for _, op in ipairs(page_errors) do
    if not (op.value and op.value.status == 503 and op.value.retry_after) then
      not_shed[#not_shed + 1] = op.value and op.value.status or "?"
    end
  end
  out[#out + 1] = checkers.invariant("product page errors are only the shed 503s",
    #not_shed == 0 and #page_errors <= shed,
    { page_errors = #page_errors, shed_by_nodes = shed, other_statuses = not_shed, redis_errors = errors },
    string.format("%d product pages failed, every one a 503 with Retry-After: %s; the nodes shed %d",
                  #page_errors, #not_shed == 0 and "yes" or "no (" .. table.concat(not_shed, ", ") .. ")", shed))

  -- Back: every node's circuit closed again and it read Redis after it returned.
  local hits_back = totals_at(samples, run_end, "hits") - totals_at(samples, loss_end + 2.5, "hits")
  local back_at = nil
  local up_by_node = {}
  for _, s in ipairs(samples) do
    if s.t > fault_at then
      up_by_node[s.value.node] = s.value.redis_up == 1
      local all = true
      for i = 1, nodes do all = all and up_by_node[i] == true end
      if all and not back_at and s.t > loss_end then back_at = s.t end
    end
  end
  out[#out + 1] = checkers.invariant("the cache tier recovered: every node reads Redis again",
    up == nodes and hits_back > 0,
    { nodes_up = up, nodes = nodes, redis_hits_after_return = hits_back,
      all_up_s_after_fault = back_at and (back_at - fault_at) or nil },
    string.format("%d of %d nodes on Redis at the end, %d Redis hits after it returned%s", up, nodes, hits_back,
                  back_at and string.format(", all nodes back %.1fs after the kill", back_at - fault_at) or ""))
  return out
end

function verify(history)
  local out = checkers.shop(history)
  for _, inv in ipairs(cache_invariants(history)) do out[#out + 1] = inv end
  return out
end
