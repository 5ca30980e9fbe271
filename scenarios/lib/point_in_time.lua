-- Point-in-time restore checker: a cluster restored to a recovery target holds every order acknowledged
-- before the target was marked, and none that was placed after. Pure function of a recorded history and
-- the restored orders (no I/O); its own module next to lib.checkers. Load it with
--     local point_in_time = require("lib.point_in_time")
--
-- point_in_time(history, spec) -> invariant { name, ok, evidence, detail } (lib.checkers' shape).
--   spec.target     the restore point's name: the history's "restore_point" operation with invoke
--                   {name = target} is the mark (its invoke time t: just before pg_create_restore_point was
--                   called; its ok time t_end: just after it returned)
--   spec.restored   the orders of the restored cluster: { total = N, keyed = {{id, user_id, key}, ...} }
--                   (what the drill's POST /restore answers under `orders`); nil when the restore failed
--   spec.error      why there is no restore (detail of a failed invariant)
--   spec.figures    copied into the evidence (restore time, base backup, ...)
--   spec.write_op, spec.mark_op  operation names ("order", "restore_point")
--   spec.user(op), spec.key(op)  an order's customer and idempotency key (default op.invoke.user_id, .key)
--   spec.name       the invariant's name
--
-- Orders are judged per (customer, idempotency key), so a retry with the same key is the same order:
--   before    some attempt was acknowledged (ok, t_end) before the mark's call started (mark.t): must be
--             restored, else it is *lost* (listed by key, customer and the order id the shop answered);
--   after     every attempt started (t) after the mark's call returned (mark.t_end): must be absent, else it
--             is *extra* (listed with the restored order's id);
--   in flight the rest that may have committed around the mark (acknowledged during the call, or unknown):
--             either way is right; counted, with how many were restored;
--   failed    every attempt before the mark failed (4xx: it did not happen): not judged, counted.
-- Restored keyed orders no history operation placed are counted (`unmatched_restored`), not judged.
local checkers = require("lib.checkers")

local mark_array = (json and json.array) or function(t) return t end

local function default_user(op) return op.invoke and op.invoke.user_id end
local function default_key(op) return op.invoke and op.invoke.key end

local function capped(list)
  local out = {}
  for i = 1, math.min(#list, checkers.max_listed) do out[i] = list[i] end
  return mark_array(out)
end

local function id_of(user, key) return tostring(user) .. "/" .. tostring(key) end

-- The mark: the ok "restore_point" operation named `target`.
local function find_mark(history, mark_op, target)
  for _, o in ipairs(checkers.operations(history, { mark_op })) do
    if o.invoke and o.invoke.name == target and o.outcome == "ok" then return o end
  end
  return nil
end

-- Every order's attempts, grouped by customer and key, in first-invoke order.
local function orders_by_key(history, spec)
  local user, key = spec.user or default_user, spec.key or default_key
  local groups, list = {}, {}
  for _, o in ipairs(checkers.operations(history, { spec.write_op or "order" })) do
    local u, k = user(o), key(o)
    if u ~= nil and k ~= nil then
      local id = id_of(u, k)
      local g = groups[id]
      if not g then
        g = { id = id, user_id = u, key = k, attempts = {} }
        groups[id] = g
        list[#list + 1] = g
      end
      g.attempts[#g.attempts + 1] = o
    end
  end
  return groups, list
end

local function classify(g, mark)
  local acked_before, all_after, all_failed = nil, true, true
  for _, a in ipairs(g.attempts) do
    if a.outcome == "ok" and a.t_end ~= nil and a.t_end < mark.t then
      acked_before = acked_before or a
    end
    if not (a.t > mark.t_end) then all_after = false end
    if a.outcome ~= "fail" then all_failed = false end
  end
  if acked_before then return "before", acked_before end
  if all_after then return "after" end
  if all_failed then return "failed" end
  return "in_flight"
end

local function line(entries, field)
  local parts = {}
  for i = 1, math.min(#entries, 5) do
    local e = entries[i]
    parts[i] = string.format("%s (customer %s%s)", tostring(e.key), tostring(e.user_id),
                             e[field] and (", order " .. tostring(e[field])) or "")
  end
  local text = table.concat(parts, ", ")
  if #entries > 5 then text = text .. string.format(" (+%d more)", #entries - 5) end
  return text
end

local function point_in_time(history, spec)
  spec = spec or {}
  local name = spec.name or "point-in-time restore: every order acknowledged before the target, none after it"
  local evidence = { target = spec.target }
  for k, v in pairs(spec.figures or {}) do evidence[k] = v end
  local mark = find_mark(history, spec.mark_op or "restore_point", spec.target)
  if not mark then
    return checkers.invariant(name, false, evidence,
      string.format("no restore point '%s' was marked (its operation did not succeed)", tostring(spec.target)))
  end
  evidence.mark = { t = mark.t, t_end = mark.t_end, lsn = mark.value and mark.value.lsn }
  if not spec.restored then
    return checkers.invariant(name, false, evidence, "the restore failed: " .. tostring(spec.error or "no answer"))
  end
  local restored = {}
  for _, r in ipairs(spec.restored.keyed or {}) do restored[id_of(r.user_id, r.key)] = r end
  local groups, list = orders_by_key(history, spec)
  local counts = { before = 0, before_present = 0, after = 0, after_absent = 0, in_flight = 0,
                   in_flight_present = 0, failed = 0 }
  local lost, extra = {}, {}
  for _, g in ipairs(list) do
    local class, ack = classify(g, mark)
    local row = restored[g.id]
    counts[class] = counts[class] + 1
    if class == "before" then
      if row then
        counts.before_present = counts.before_present + 1
      else
        lost[#lost + 1] = { key = g.key, user_id = g.user_id, order_id = ack.value and ack.value.order_id,
                            acknowledged_at_s = ack.t_end, before_mark_s = mark.t - ack.t_end }
      end
    elseif class == "after" then
      if row then
        extra[#extra + 1] = { key = g.key, user_id = g.user_id, restored_order_id = row.id,
                              invoked_at_s = g.attempts[1].t, after_mark_s = g.attempts[1].t - mark.t_end }
      else
        counts.after_absent = counts.after_absent + 1
      end
    elseif class == "in_flight" and row then
      counts.in_flight_present = counts.in_flight_present + 1
    end
  end
  local unmatched = 0
  for id in pairs(restored) do
    if not groups[id] then unmatched = unmatched + 1 end
  end
  evidence.acknowledged_before = counts.before
  evidence.present_before = counts.before_present
  evidence.started_after = counts.after
  evidence.absent_after = counts.after_absent
  evidence.in_flight = counts.in_flight
  evidence.in_flight_restored = counts.in_flight_present
  evidence.failed_not_judged = counts.failed
  evidence.lost = #lost
  evidence.lost_orders = capped(lost)
  evidence.extra = #extra
  evidence.extra_orders = capped(extra)
  evidence.unmatched_restored = unmatched
  evidence.restored_total = spec.restored.total
  local ok = #lost == 0 and #extra == 0
  local detail = string.format("target '%s' marked at %.2f-%.2f s: %d of %d orders acknowledged before it restored, "
    .. "%d of %d started after it absent, %d in flight (%d restored)", tostring(spec.target), mark.t, mark.t_end,
    counts.before_present, counts.before, counts.after_absent, counts.after, counts.in_flight,
    counts.in_flight_present)
  if #lost > 0 then detail = detail .. string.format("; LOST %d: %s", #lost, line(lost, "order_id")) end
  if #extra > 0 then detail = detail .. string.format("; EXTRA %d: %s", #extra, line(extra, "restored_order_id")) end
  return checkers.invariant(name, ok, evidence, detail)
end

return point_in_time
