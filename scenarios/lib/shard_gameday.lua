-- Shared parts of the shard game days (gameday_shard_partition.lua, gameday_shard_pause.lua) on a sharded
-- shop (`stampede shop --db postgres --shards K`): the wait until nothing is in doubt, and verify() = the
-- shop's invariants (atomicity included) + "checkouts caught by the fault ended within the bound".
local checkers = require("lib.checkers")
local gameday = require("lib.gameday")

local shard_gameday = {}

local function audit()
  local res = http.get("/api/admin/audit", { headers = { Authorization = "Bearer " .. tostring(env.ADMIN_TOKEN) },
                                             name = "quiesce: audit", timeout = "10s" })
  return res.status == 200 and res:json() or nil
end

-- Quiet once nothing is in doubt on any shard (pg_prepared_xacts, the audit's prepared_transactions) and no
-- saga is running or compensating; bounded (QUIESCE_MAX_S, 40 s: the lease + recovery after the heal).
function shard_gameday.quiesce()
  local bound = tonumber(env.QUIESCE_MAX_S or "40")
  local waited = 0
  while waited < bound do
    local a = audit()
    if a and (a.prepared_transactions or 0) == 0 and (a.sagas_open or 0) == 0 then
      return { in_doubt = 0, waited_s = waited }
    end
    sleep(0.5)
    waited = waited + 0.5
  end
  return false
end

-- The orders that started while the fault was on (from 1 s before it to its end), the cross-shard ones
-- apart (a SKU's shard differs from the customer's home shard, product_id and user_id mod K): how long the
-- longest took to end, and how they ended. `bound_s`: the stated bound; `what` names the fault.
function shard_gameday.blocked_checkouts(history, k, fault_t, fault_s, bound_s, what)
  local ops = checkers.operations(history, { "order" })
  local cross, single = { n = 0, ok = 0, fail = 0, unknown = 0, max_s = 0 }, { n = 0, max_s = 0 }
  for _, o in ipairs(ops) do
    if o.t >= fault_t - 1 and o.t <= fault_t + fault_s then
      local home = (o.invoke and o.invoke.user_id or 0) % k
      local spans = false
      for _, item in ipairs(o.invoke and o.invoke.items or {}) do
        if item.product_id % k ~= home then spans = true end
      end
      local took = (o.t_end or o.t) - o.t
      local into = spans and cross or single
      into.n = into.n + 1
      into.max_s = math.max(into.max_s, took)
      if spans then into[o.outcome] = into[o.outcome] + 1 end
    end
  end
  local evidence = { cross_shard = cross, single_shard = single, bound_s = bound_s, fault_at_s = fault_t,
                     fault_for_s = fault_s, shards = k }
  local name = "checkouts caught by " .. what .. " end within " .. bound_s .. " s (no unbounded blocking)"
  if cross.n == 0 then
    return checkers.invariant(name, false, evidence, "no cross-shard checkout started during " .. what ..
                              " (was the load running?)")
  end
  local longest = math.max(cross.max_s, single.max_s)
  local detail = string.format("%d cross-shard checkouts during %s: %d ok, %d failed, %d unknown; the longest "
    .. "took %.1f s (single-shard: %d, longest %.1f s; bound %g s)", cross.n, what, cross.ok, cross.fail,
    cross.unknown, cross.max_s, single.n, single.max_s, bound_s)
  return checkers.invariant(name, longest <= bound_s, evidence, detail)
end

-- shards.cpp's shard_of_session: FNV-1a of the session's token, mod k.
function shard_gameday.session_shard(token, k)
  local h = 2166136261
  for i = 1, #tostring(token) do h = ((h ~ tostring(token):byte(i)) * 16777619) & 0xffffffff end
  return h % k
end

-- The bulkhead's hypothesis: checkouts wholly on a healthy shard (the customer's home, session and every
-- item; the order's invoke carries `session_shard`) keep succeeding while `lost` is away. Judged from
-- `settle_s` after the fault's start (calls already in flight on the lost shard hold database workers up to
-- their deadline) to its end. None in that window: not judged (ok, and the detail says so).
function shard_gameday.healthy_checkouts(history, k, lost, fault_t, fault_s, settle_s, what)
  local s = { n = 0, ok = 0, fail = 0, unknown = 0, max_s = 0, lost_shard = lost, settle_s = settle_s }
  for _, o in ipairs(checkers.operations(history, { "order" })) do
    local inv = o.invoke or {}
    if o.t >= fault_t + settle_s and o.t <= fault_t + fault_s and inv.session_shard ~= nil then
      local healthy = (inv.user_id or 0) % k ~= lost and inv.session_shard ~= lost
      for _, item in ipairs(inv.items or {}) do
        if item.product_id % k == lost then healthy = false end
      end
      if healthy then
        s.n = s.n + 1
        s[o.outcome] = (s[o.outcome] or 0) + 1
        s.max_s = math.max(s.max_s, (o.t_end or o.t) - o.t)
      end
    end
  end
  local name = "checkouts wholly on the healthy shards keep succeeding during " .. what
  if s.n == 0 then  -- not judged (the customers' VUs were busy elsewhere): said, not failed
    return checkers.invariant(name, true, s, "not judged: no checkout wholly on the healthy shards started from "
      .. settle_s .. " s into " .. what)
  end
  return checkers.invariant(name, s.ok == s.n, s, string.format("%d checkouts without shard %d from %g s into %s: "
    .. "%d ok, %d failed, %d unknown; the longest took %.1f s", s.n, lost, settle_s, what, s.ok, s.fail, s.unknown,
    s.max_s))
end

-- verify(): the shop's invariants (checkers.shop adds checkers.atomicity on a sharded audit) and the bound.
function shard_gameday.verify(history, what, bound_s)
  local out = checkers.shop(history)
  local a = audit()
  local k = a and a.shards and #a.shards or 0
  if k < 2 then
    out[#out + 1] = checkers.invariant("the shop is sharded", false, { shards = k },
                                       "the audit lists no shards: run with --@shop --shards K (K >= 2)")
    return out
  end
  out[#out + 1] = shard_gameday.blocked_checkouts(history, k, gameday.seconds(gameday.fault_at),
                                                  gameday.seconds(gameday.fault_for), bound_s, what)
  return out
end

return shard_gameday
