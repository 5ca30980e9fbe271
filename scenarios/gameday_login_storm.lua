-- Game day: a login storm at the production password cost (argon2id, 64 MiB: `--kdf interactive`).
-- BUYERS (300) customers log in at the same moment, each following Retry-After until it gets in.
-- Hypothesis: the nodes hash what they can on their bounded pools and shed the rest with 429 +
-- Retry-After; every buyer logs in eventually; health checks are answered off the hashing pool, so
-- HAProxy never marks a node DOWN and never has to answer an error itself (503: empty pool or queue timeout,
-- 504: a node kept a request past `timeout server`).
-- Pass: the three invariants below (`stampede drill` exits 0, never 98).
--   "every buyer logged in"          one ok login per buyer (history op "login")
--   "no 5xx from HAProxy"            no buyer ever saw one of HAProxy's own error pages
--   "no node marked DOWN"            HAProxy's stats (env.HAPROXY_STATS_URL, passed by the drill): zero
--                                    UP -> DOWN transitions (chkdown) for every node
-- Short form (CI, drill_shop_hardening_test): -e BUYERS=45 -e DURATION=150s. Knobs: BUYERS, DURATION (180s:
-- the bound on the storm). Buyer i logs in as seeded customer i, so BUYERS <= 1,000 x the shop's --scale.
--@shop --kdf interactive
local checkers = require("lib.checkers")

local buyers = tonumber(env.BUYERS or "300")

options = {
  scenarios = {
    storm = { executor = "per-vu-iterations", vus = buyers, iterations = 1, maxDuration = env.DURATION or "180s",
              exec = "storm", gracefulStop = "5s" },
  },
  timeout = "60s",
  thresholds = { http_reqs = { "count>=" .. buyers } },  -- the storm happened
}

-- Customer `vu.id` logs in, retrying after 429 (and, counted, after anything else) until it gets a session.
function storm()
  local customer = vu.id
  local id = history.invoke("login", { customer = customer })
  local tally = { customer = customer, attempts = 0, shed = 0, haproxy_503 = 0, haproxy_504 = 0, haproxy_5xx = 0,
                  node_5xx = 0, other = 0 }
  while tally.attempts < 500 do
    tally.attempts = tally.attempts + 1
    local res = http.post("/api/sessions", {
      json = { email = "customer" .. customer .. "@shop.test", password = "stampede" },
      name = "POST /api/sessions",
      expectedStatuses = { 200, 429 },
    })
    if res.status == 200 then
      history.ok(id, tally)
      return
    end
    local wait = 1
    if res.status == 429 then
      tally.shed = tally.shed + 1
      wait = tonumber(res.headers["retry-after"] or "1") or 1
    elseif res.status >= 500 then
      -- HAProxy's own errors are its HTML pages (503 "No server is available", 504 "Gateway Time-out");
      -- a node's are JSON.
      if tostring(res.body):find("^%s*{") then
        tally.node_5xx = tally.node_5xx + 1
      else
        tally.haproxy_5xx = tally.haproxy_5xx + 1
        if res.status == 503 then tally.haproxy_503 = tally.haproxy_503 + 1 end
        if res.status == 504 then tally.haproxy_504 = tally.haproxy_504 + 1 end
      end
    else
      tally.other = tally.other + 1
    end
    sleep(wait * (0.5 + math.random()))  -- jitter spreads the retries
  end
  history.fail(id, tally)
end

-- HAProxy's stats as CSV: one table per line, keyed by the header's field names.
local function haproxy_stats(url)
  local res = http.get(url .. ";csv", { name = "verify: haproxy stats", timeout = "10s" })
  if res.status ~= 200 then return nil, "GET " .. url .. ";csv answered " .. tostring(res.status) end
  local names, rows = nil, {}
  for line in tostring(res.body):gmatch("[^\n]+") do
    local fields = {}
    for f in (line .. ","):gmatch("([^,]*),") do fields[#fields + 1] = f end
    if not names then
      fields[1] = fields[1]:gsub("^#%s*", "")
      names = fields
    else
      local row = {}
      for i, n in ipairs(names) do row[n] = fields[i] end
      rows[#rows + 1] = row
    end
  end
  return rows
end

function verify(history)
  local out = {}
  local logins = checkers.operations(history, { "login" })
  local missing = {}
  local totals = { attempts = 0, shed = 0, haproxy_503 = 0, haproxy_504 = 0, haproxy_5xx = 0, node_5xx = 0, other = 0 }
  for _, op in ipairs(logins) do
    if op.outcome ~= "ok" then missing[#missing + 1] = op.invoke and op.invoke.customer end
    for k in pairs(totals) do totals[k] = totals[k] + ((op.value and op.value[k]) or 0) end
  end
  local logged_in = #logins - #missing
  out[#out + 1] = checkers.invariant("every buyer logged in", #logins == buyers and #missing == 0, {
    buyers = buyers, logged_in = logged_in, not_logged_in = missing, attempts = totals.attempts,
    shed_429 = totals.shed,
  }, string.format("%d of %d buyers logged in after %d attempts (%d shed with 429)%s", logged_in, buyers,
                   totals.attempts, totals.shed, #missing > 0 and "; not: customers " .. table.concat(missing, ", ", 1, math.min(#missing, 10)) or ""))

  out[#out + 1] = checkers.invariant("no 5xx from HAProxy", totals.haproxy_5xx == 0, {
    haproxy_5xx = totals.haproxy_5xx, haproxy_503 = totals.haproxy_503, haproxy_504 = totals.haproxy_504,
    node_5xx = totals.node_5xx, other = totals.other,
  }, string.format("HAProxy answered %d errors itself (503: %d, 504: %d); nodes' 5xx: %d; other statuses: %d",
                   totals.haproxy_5xx, totals.haproxy_503, totals.haproxy_504, totals.node_5xx, totals.other))

  local url = env.HAPROXY_STATS_URL
  if not url or url == "" then
    out[#out + 1] = checkers.invariant("no node marked DOWN", false, {},
                                       "cannot tell: HAPROXY_STATS_URL not given (stampede drill passes it)")
  else
    local rows, err = haproxy_stats(url)
    if not rows then
      out[#out + 1] = checkers.invariant("no node marked DOWN", false, { error = err }, err)
    else
      local down, nodes, parts = 0, 0, {}
      for _, r in ipairs(rows) do
        if r.pxname == "nodes" and r.svname ~= "BACKEND" and r.svname ~= "FRONTEND" then
          nodes = nodes + 1
          local n = tonumber(r.chkdown) or 0
          down = down + n
          parts[#parts + 1] = string.format("%s %s (%d down)", r.svname, r.status, n)
        end
      end
      out[#out + 1] = checkers.invariant("no node marked DOWN", nodes > 0 and down == 0,
                                         { nodes = nodes, transitions_to_down = down },
                                         table.concat(parts, ", "))
    end
  end
  return out
end
