-- The node -> database and node -> Redis links of `stampede drill` (db:nodeK, redis:nodeK), each fault on
-- node1's link only, in phases of one run; node2 is the control (drill_data_links_test.cpp runs it with
-- --nodes 2). Requests go to each node directly (env.NODE_URLS: no HAProxy, no edge proxy), so what a
-- node answers is what its own links did:
--   [1, 4) s   nothing: both nodes alike (the links change nothing)
--   [4, 7) s   +LAT_MS latency on db:node1: node1's database-bound requests slow down, node2's do not
--   [8, 18) s  db:node1 cut (blackhole both ways): node1 answers 503 within its deadlines (a request sent
--              during the cut fails, or is answered after the heal; none hangs), node2 serves. Longer than
--              the deadlines (6 s + 3 s), so the failures show before the heal
--   [19, 23) s redis:node1 cut: node1 falls back to the database (shop_cache_fallbacks_total grows),
--              node2 keeps reading Redis (its hits grow, no fallback)
-- Database-bound: GET /api/flash-sales/1 (read from the database at every request); cache-bound:
-- GET /api/products/{id} (Redis). verify() states one invariant per phase with the figures as evidence.
--@shop --db postgres --cache redis --threads 4
local checkers = require("lib.checkers")

local lat_ms = tonumber(env.LAT_MS or "300")
local phases = {
  none = { from = 1, to = 4 },
  latency = { from = 4, to = 7 },
  db_cut = { from = 8, to = 18 },
  redis_cut = { from = 19, to = 23 },
}
-- The node's deadlines on a cut database link: statement_timeout 5 s + the client's 1 s margin, then a new
-- session's connect_timeout 3 s, a pool wait of 1 s; plus slack for a loaded machine.
local db_cut_bound_s = tonumber(env.DB_CUT_BOUND_S or "13")

local function chaos_for(target, phase, fault, extra)
  local out = {}
  for _, stream in ipairs({ "upstream", "downstream" }) do
    local f = { at = phase.from .. "s", duration = (phase.to - phase.from) .. "s", fault = fault, target = target,
                stream = stream, label = fault .. " " .. target .. " " .. stream }
    for k, v in pairs(extra) do f[k] = v end
    out[#out + 1] = f
    if fault == "latency" then break end  -- the answers late: one direction is enough
  end
  return out
end

local chaos = {}
for _, list in ipairs({ chaos_for("db:node1", phases.latency, "latency", { latency = lat_ms }),
                        chaos_for("db:node1", phases.db_cut, "timeout", { timeout = 0 }),
                        chaos_for("redis:node1", phases.redis_cut, "timeout", { timeout = 0 }) }) do
  for _, f in ipairs(list) do chaos[#chaos + 1] = f end
end

options = {
  scenarios = {
    database = { executor = "constant-vus", vus = 4, duration = "25s", exec = "database", gracefulStop = "15s" },
    pages = { executor = "constant-vus", vus = 4, duration = "25s", exec = "pages", gracefulStop = "5s" },
    monitor = { executor = "constant-vus", vus = 1, duration = "25s", exec = "monitor" },
  },
  chaos = chaos,
  timeout = "20s",
}

local function node_urls()
  local urls = {}
  for u in tostring(env.NODE_URLS or ""):gmatch("[^,]+") do urls[#urls + 1] = u end
  if #urls < 2 then error("needs two nodes (--nodes 2) and env.NODE_URLS") end
  return urls
end

-- VUs 1, 3 ask node1; 2, 4 node2. Each request is a history operation: invoke at send, ok/fail at answer.
local function probe(op, path)
  local urls = node_urls()
  local node = (vu.id % 2 == 1) and 1 or 2
  local id = history.invoke(op, { node = node })
  local res = http.get(urls[node] .. path, { name = op .. " node" .. node, timeout = "20s" })
  if res.status == 200 then
    history.ok(id, { node = node, status = res.status })
  else
    history.fail(id, { node = node, status = res.status })
  end
end

function database()
  probe("db_read", "/api/flash-sales/1")
  sleep(0.05)
end

function pages()
  probe("page", "/api/products/" .. math.random(1, 50))
  sleep(0.05)
end

local function parse_metrics(text)
  local m = {}
  for line in tostring(text):gmatch("[^\n]+") do
    local key, value = line:match("^(shop_cache_[^%s]+)%s+(%S+)$")
    if key then m[key] = tonumber(value) end
  end
  return m
end

function monitor()
  for i, url in ipairs(node_urls()) do
    local res = http.get(url .. "/metrics", { name = "monitor: node metrics", timeout = "2s" })
    if res.status == 200 then
      local m = parse_metrics(res.body)
      local id = history.invoke("cache_sample", { node = i })
      history.ok(id, {
        node = i,
        hits = m['shop_cache_requests_total{result="hit"}'] or 0,
        fallbacks = (m['shop_cache_fallbacks_total{reason="redis_down"}'] or 0)
                    + (m['shop_cache_fallbacks_total{reason="redis_error"}'] or 0),
      })
    end
  end
  sleep(0.25)
end

-- Requests sent within a phase (after its first `settle` seconds, so a fault has taken hold), per node:
-- count, failures, successes answered before the phase ended, median and max duration (s). A request
-- never answered counts with the run's end as its end.
local function stats(ops, phase, node, settle)
  local durations, failures, ok_within = {}, 0, 0
  for _, op in ipairs(ops) do
    if op.value and op.value.node == node and op.t >= phase.from + (settle or 0.5) and op.t < phase.to then
      local t_end = op.t_end or math.huge
      durations[#durations + 1] = t_end - op.t
      if op.outcome ~= "ok" then failures = failures + 1 elseif t_end < phase.to then ok_within = ok_within + 1 end
    end
  end
  table.sort(durations)
  local n = #durations
  return { count = n, failures = failures, ok_before_end = ok_within,
           p50_ms = n > 0 and durations[(n + 1) // 2] * 1000 or nil,
           max_ms = n > 0 and durations[n] * 1000 or nil }
end

-- A node's counter growth between the phase's start and end (its last samples before each).
local function growth(samples, phase, node, field)
  local at_start, at_end
  for _, s in ipairs(samples) do
    if s.value.node == node then
      if s.t <= phase.from + 0.5 then at_start = s.value[field] end
      if s.t <= phase.to then at_end = s.value[field] end
    end
  end
  if not at_start or not at_end then return nil end
  return at_end - at_start
end

function verify(history)
  local ops = {}
  for _, op in ipairs(checkers.operations(history, { "db_read" })) do
    op.value = op.value or {}
    ops[#ops + 1] = op
  end
  -- The invoke's value names the node; the completion's too.
  for _, op in ipairs(ops) do
    if op.invoke and op.invoke.node then op.value.node = op.invoke.node end
  end
  local samples = {}
  for _, op in ipairs(checkers.operations(history, { "cache_sample" })) do
    if op.outcome == "ok" then samples[#samples + 1] = { t = op.t, value = op.value } end
  end
  local out = {}
  local function phase_stats(name, settle)
    return { node1 = stats(ops, phases[name], 1, settle), node2 = stats(ops, phases[name], 2, settle) }
  end

  local none = phase_stats("none")
  local n1, n2 = none.node1, none.node2
  out[#out + 1] = checkers.invariant("no fault: node1 and node2 alike", n1.count > 0 and n2.count > 0
      and n1.failures == 0 and n2.failures == 0 and n1.p50_ms < 100 and n2.p50_ms < 100
      and math.abs(n1.count - n2.count) <= 0.25 * math.max(n1.count, n2.count), none,
    string.format("node1 %d requests (p50 %.1f ms), node2 %d (p50 %.1f ms), no failure", n1.count,
                  n1.p50_ms or -1, n2.count, n2.p50_ms or -1))

  local lat = phase_stats("latency")
  out[#out + 1] = checkers.invariant("latency on db:node1 slows node1 only",
    lat.node1.count > 0 and lat.node2.count > 0 and lat.node1.p50_ms >= 0.8 * lat_ms and lat.node2.p50_ms < 100
      and lat.node1.failures == 0 and lat.node2.failures == 0, lat,
    string.format("+%d ms on db:node1: node1 p50 %.1f ms, node2 p50 %.1f ms", lat_ms, lat.node1.p50_ms or -1,
                  lat.node2.p50_ms or -1))

  local cut = phase_stats("db_cut", 0)
  out[#out + 1] = checkers.invariant("db:node1 cut: node1 fails within its deadlines, node2 serves",
    cut.node1.count > 0 and cut.node1.failures > 0 and cut.node1.ok_before_end == 0
      and cut.node1.max_ms <= db_cut_bound_s * 1000
      and cut.node2.count > 0 and cut.node2.failures == 0 and cut.node2.p50_ms < 100,
    { node1 = cut.node1, node2 = cut.node2, bound_ms = db_cut_bound_s * 1000 },
    string.format("node1 %d of %d failed (none answered 200 before the heal), slowest %.0f ms (bound %d s); "
                  .. "node2 %d of %d ok, p50 %.1f ms",
                  cut.node1.failures, cut.node1.count, cut.node1.max_ms or -1, db_cut_bound_s,
                  cut.node2.count - cut.node2.failures, cut.node2.count, cut.node2.p50_ms or -1))

  local redis = {
    node1_fallbacks = growth(samples, phases.redis_cut, 1, "fallbacks"),
    node2_fallbacks = growth(samples, phases.redis_cut, 2, "fallbacks"),
    node1_hits = growth(samples, phases.redis_cut, 1, "hits"),
    node2_hits = growth(samples, phases.redis_cut, 2, "hits"),
    before_node1_fallbacks = growth(samples, { from = 0, to = phases.redis_cut.from }, 1, "fallbacks"),
    pages_node1 = stats(checkers.operations(history, { "page" }), phases.redis_cut, 1),
  }
  out[#out + 1] = checkers.invariant("redis:node1 cut: node1 falls back to the database, node2 reads Redis",
    (redis.node1_fallbacks or 0) > 0 and redis.node2_fallbacks == 0 and (redis.node2_hits or 0) > 0, redis,
    string.format("during the cut node1 fell back %s times, node2 %s times with %s Redis hits",
                  tostring(redis.node1_fallbacks), tostring(redis.node2_fallbacks), tostring(redis.node2_hits)))
  return out
end
