-- Game day: the PostgreSQL replicas fall behind (`stampede shop --db postgres --ha patroni` with order reads
-- on the replicas): a latency toxic on the primary's replication link (the fault proxy `replication:pg1`
-- that `stampede drill` puts in front of pg1 as its Patroni connect_address, which its replicas stream WAL
-- from) holds back the WAL they receive, while customers place orders and look at their order history
-- right after, and other customers, who ordered nothing lately, read theirs.
-- Hypothesis: with `--replica-reads read-your-writes` (this scenario's default) a customer's reads go to the
-- primary for 5 s after their last checkout (the `last_write` cookie), so every customer sees every order
-- they were told was placed: 0 read-your-writes violations, while reads older than that still reach the
-- replicas (shop_order_reads_total). With `--shop-arg --replica-reads --shop-arg on` reads go to the
-- replicas whatever the customer just did: orders acknowledged moments ago are missing from the history the
-- lagging replica serves, and the checker counts each (read, order) and names the orders (exit 98: the
-- invariant is the shop's promise to its customers; breaking it on purpose shows the checker catching it).
-- With `--shop-arg --replica-reads --shop-arg read-your-writes-lsn` a customer's read first waits (200 ms at
-- most) for the replica to replay their last write's WAL position (the `last_write_lsn` cookie), else reads
-- the primary: 0 violations too, and more reads stay on the replica (no pin window).
-- Even before the fault a read sent microseconds after the 201 can miss the order (asynchronous
-- replication needs a few ms); the toxic makes the replica ~LAG_MS behind, so most such reads do.
-- Report: invariant "customers read their own orders (read-your-writes)" (violations, order ids, stale
-- reads, how long after the ack), the order reads per database from every node's /metrics, the five shop
-- invariants, and results.chaos[1] (the toxic's injections and recovery figures).
-- Knobs: DURATION (30s), FAULT_AT (5s), FAULT_FOR (15s), LAG_MS (1500, the toxic's latency on the WAL
-- stream), TARGET (replication:pg1), BUYERS (6 customers ordering and reading), ORDER_PAUSE (0.3 s),
-- READERS (3 customers only reading, every 0.5 s), BROWSERS (2). Short form for CI (primary + 1 replica):
--   --shop-arg --replicas --shop-arg 1 -e DURATION=15s -e FAULT_AT=5s -e FAULT_FOR=8s
-- Pass: every invariant holds (read-your-writes mode).
--@shop --db postgres --ha patroni --replica-reads read-your-writes --lease-ms 2000
local checkers = require("lib.checkers")
local gameday = require("lib.gameday")
local read_your_writes = require("lib.read_your_writes")
local shop = require("lib.shop")

local duration = env.DURATION or "30s"
local list_limit = 50  -- GET /api/orders lists a customer's newest 50

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "2"), duration = duration,
               exec = "browse" },
    customers = { executor = "constant-vus", vus = tonumber(env.BUYERS or "6"), duration = duration,
                  exec = "customer", gracefulStop = "15s" },
    readers = { executor = "constant-vus", vus = tonumber(env.READERS or "3"), duration = duration,
                exec = "reader" },
  },
  chaos = {
    -- WAL flows primary -> replica: the downstream direction of the replica's connection to the proxy.
    { at = env.FAULT_AT or "5s", duration = env.FAULT_FOR or "15s", fault = "latency",
      target = env.TARGET or "replication:pg1", stream = "downstream", latency = tonumber(env.LAG_MS or "1500"),
      label = "replica's replication link slowed" },
  },
  timeout = env.TIMEOUT or "10s",
  thresholds = { http_reqs = { "count>10" }, http_req_failed = { "rate<0.1" } },
}

browse = gameday.browse

-- One customer's order history, recorded as an operation: ok value {order_ids, complete}.
local function read_orders()
  local id = history.invoke("read_orders", { user_id = me })
  local res = http.get("/api/orders", { name = "GET /api/orders" })
  if res.status == 200 then
    local ok, body = pcall(res.json, res)
    if ok and type(body) == "table" and type(body.orders) == "table" then
      local ids = {}
      for _, o in ipairs(body.orders) do ids[#ids + 1] = o.order_id end
      history.ok(id, { order_ids = ids, complete = #ids < list_limit })
      return
    end
    history.unknown(id, { status = res.status, error = "unreadable body" })
  elseif res.status >= 400 and res.status < 500 then
    history.fail(id, { status = res.status })
  else
    history.unknown(id, { status = res.status, error = res.error })
  end
end

-- Place an order, then look at the order history at once (as a customer does after "thank you").
function customer()
  if not me then
    me = shop.login(800 - vu.id % 100)
    if not me then sleep(0.5) return end
  end
  local items = { { product_id = math.random(2, 300), qty = 1 } }
  shop.order(me, items, "lag-" .. vu.id .. "-" .. vu.iteration, 1)
  read_orders()
  sleep(tonumber(env.ORDER_PAUSE or "0.3"))
end

-- A customer who ordered nothing in this run reads their history: a replica may answer it in either mode.
function reader()
  if not me then
    me = shop.login(700 - vu.id % 100)
    if not me then sleep(0.5) return end
  end
  read_orders()
  sleep(0.5)
end

-- Where each node's order reads went (`shop_order_reads_total{database}`), for the evidence.
local function order_reads_by_database()
  local totals = { primary = 0, replica = 0 }
  for url in string.gmatch(env.NODE_URLS or "", "[^,]+") do
    local res = http.get(url .. "/metrics", { name = "verify: node metrics", timeout = "5s" })
    if res.status == 200 then
      for db, n in string.gmatch(res.body, 'shop_order_reads_total{database="(%a+)"} (%d+)') do
        totals[db] = (totals[db] or 0) + tonumber(n)
      end
    end
  end
  return totals
end

function verify(history)
  local out = checkers.shop(history)
  local ryw = read_your_writes(history)
  ryw.evidence.order_reads = order_reads_by_database()
  ryw.detail = ryw.detail .. string.format(" [order reads: %d primary, %d replica]",
                                           ryw.evidence.order_reads.primary, ryw.evidence.order_reads.replica)
  out[#out + 1] = ryw
  return out
end
