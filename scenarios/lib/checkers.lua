-- Stampede checkers: invariants over an operation history and the final state of a system, in the
-- style of Jepsen's set/counter/bank checkers. Pure functions of plain tables (no I/O), plus
-- `checkers.shop`, which reads the reference shop's audit (and the payment gateway's captures) and
-- states every shop invariant. Load it from a scenario with
--     local checkers = require("lib.checkers")
-- (scenarios/ is on the module path of scenarios inside it; `stampede drill` adds it for any scenario).
--
-- Every checker returns one invariant `{ name = ..., ok = true|false, evidence = {...}, detail = "..." }`:
-- `evidence` holds the ids, SKUs and amounts that prove the verdict (lists capped at `checkers.max_listed`
-- with a `*_count` beside them), `detail` says the same in one line for reports. A `verify(history)`
-- function returns a list of them.
--
-- History semantics: an operation is an invoke followed by ok (it happened), fail (it definitely did not)
-- or unknown (no answer, a timeout, a reset or a 5xx: it may or may not have happened). An invoke that
-- never completed (the run ended first) counts as unknown.

local checkers = { max_listed = 100 }

local mark_array = (json and json.array) or function(t) return t end

local function sorted_ids(set_or_list, is_set)
  local out = {}
  if is_set then
    for k in pairs(set_or_list) do out[#out + 1] = k end
  else
    for _, v in ipairs(set_or_list) do out[#out + 1] = v end
  end
  table.sort(out, function(a, b)
    if type(a) == type(b) then return a < b end
    return tostring(a) < tostring(b)
  end)
  return out
end

-- A capped list for evidence (the count says how many there were).
local function capped(list)
  local out = {}
  for i = 1, math.min(#list, checkers.max_listed) do out[i] = list[i] end
  return mark_array(out)
end

local function list_text(list, limit)
  limit = limit or 10
  local parts = {}
  for i = 1, math.min(#list, limit) do parts[i] = tostring(list[i]) end
  local text = table.concat(parts, ", ")
  if #list > limit then text = text .. string.format(" (+%d more)", #list - limit) end
  return text
end

local function invariant(name, ok, evidence, detail)
  return { name = name, ok = ok, evidence = evidence, detail = detail }
end

checkers.invariant = invariant

-- Pairs invokes with their completions. `ops` (optional): a list or set of operation names to keep.
-- Returns a list of { id, op, process, invoke = value, outcome = "ok"|"fail"|"unknown", value, t, t_end },
-- in invoke order. An invoke without a completion is "unknown" (with `pending = true`).
function checkers.operations(history, ops)
  local wanted = nil
  if ops then
    wanted = {}
    for k, v in pairs(ops) do
      if type(k) == "number" then wanted[v] = true else wanted[k] = v end
    end
  end
  local by_id, out = {}, {}
  for _, h in ipairs(history or {}) do
    if h.type == "invoke" then
      if not wanted or wanted[h.op] then
        local o = { id = h.id, op = h.op, process = h.process, invoke = h.value, outcome = "unknown",
                    pending = true, t = h.t }
        by_id[h.id] = o
        out[#out + 1] = o
      end
    else
      local o = by_id[h.id]
      if o then
        o.outcome = h.type == "ok" and "ok" or h.type == "fail" and "fail" or "unknown"
        o.pending = nil
        o.value = h.value
        o.t_end = h.t
      end
    end
  end
  return out
end

-- Counts of outcomes in a list of operations.
function checkers.outcomes(operations)
  local c = { ok = 0, fail = 0, unknown = 0 }
  for _, o in ipairs(operations) do c[o.outcome] = c[o.outcome] + 1 end
  return c
end

-- Set checker: every element an acknowledged operation added is present exactly once, and nothing is
-- present that no operation could have added.
--   spec.name        invariant name
--   spec.operations  from checkers.operations
--   spec.added(op)   the element id an ok operation added (from op.value), or nil
--   spec.final       list of elements present at the end
--   spec.id(e)       an element's id
--   spec.op_key(op), spec.key(e)  optional: the operation an element came from (e.g. an idempotency key);
--                    with them, an element whose key matches no ok or unknown operation is a phantom, and
--                    two elements with the same key are duplicates. Without them, elements that no ok
--                    operation acknowledged are phantoms beyond the number of unknown operations.
function checkers.set(spec)
  local acked, acked_list = {}, {}
  local acked_keys = {}  -- { id, key } of every ok operation with a key (spec.op_key)
  local possible_keys, unknown = {}, 0
  for _, op in ipairs(spec.operations) do
    if op.outcome == "ok" then
      local id = spec.added(op)
      if id ~= nil and not acked[id] then
        acked[id] = true
        acked_list[#acked_list + 1] = id
      end
      local k = id ~= nil and spec.op_key and spec.op_key(op) or nil
      if k ~= nil then acked_keys[#acked_keys + 1] = { id = id, key = k } end
    elseif op.outcome == "unknown" then
      unknown = unknown + 1
    end
    if spec.op_key and op.outcome ~= "fail" then
      local k = spec.op_key(op)
      if k ~= nil then possible_keys[k] = true end
    end
  end
  local seen, by_key, key_of = {}, {}, {}
  local duplicated, phantom, unacked = {}, {}, {}
  for _, e in ipairs(spec.final or {}) do
    local id = spec.id(e)
    seen[id] = (seen[id] or 0) + 1
    if seen[id] == 2 then duplicated[#duplicated + 1] = id end
    if spec.key then
      local k = spec.key(e)
      if k ~= nil then
        if by_key[k] ~= nil and by_key[k] ~= id then duplicated[#duplicated + 1] = id end
        by_key[k] = by_key[k] or id
        key_of[id] = key_of[id] or k
      end
      if not acked[id] and (k == nil or not possible_keys[k]) then phantom[#phantom + 1] = id end
    elseif not acked[id] and seen[id] == 1 then
      unacked[#unacked + 1] = id
    end
  end
  if not spec.key and #unacked > unknown then
    -- Only `unknown` of them can be explained by operations whose outcome we do not know.
    phantom = sorted_ids(unacked)
  end
  -- Lost: an acknowledged id that is absent, or present as another operation's element (its key differs:
  -- the id was given again after the acknowledged element vanished, e.g. a sequence after a failover
  -- that lost the WAL of its last values). Named by id and, with keys, by the operation's key.
  local lost, lost_keys, lost_seen = {}, {}, {}
  for _, a in ipairs(acked_keys) do
    if not seen[a.id] or (key_of[a.id] ~= nil and key_of[a.id] ~= a.key) then
      if not lost_seen[a.id] then lost[#lost + 1] = a.id end
      lost_seen[a.id] = true
      lost_keys[a.id] = lost_keys[a.id] or a.key
    end
  end
  for _, id in ipairs(acked_list) do
    if not seen[id] and not lost_seen[id] then
      lost[#lost + 1] = id
      lost_seen[id] = true
    end
  end
  lost, duplicated, phantom = sorted_ids(lost), sorted_ids(duplicated), sorted_ids(phantom)
  local lost_orders, lost_named = {}, {}
  for i, id in ipairs(lost) do
    if i <= checkers.max_listed then lost_orders[#lost_orders + 1] = { id = id, key = lost_keys[id] } end
    lost_named[i] = lost_keys[id] and string.format("%s (%s)", tostring(id), lost_keys[id]) or id
  end
  local recovered = 0  -- elements present from operations with an unknown outcome
  for id in pairs(seen) do
    if not acked[id] then recovered = recovered + 1 end
  end
  recovered = math.max(0, recovered - #phantom)
  local ok = #lost == 0 and #duplicated == 0 and #phantom == 0
  local evidence = {
    acknowledged = #acked_list, present = #(spec.final or {}), unknown_operations = unknown,
    present_from_unknown = recovered,
    lost = capped(lost), lost_count = #lost, lost_orders = mark_array(lost_orders),
    duplicated = capped(duplicated), duplicated_count = #duplicated,
    phantom = capped(phantom), phantom_count = #phantom,
  }
  local detail
  if ok then
    detail = string.format("%d acknowledged, all present once; %d unknown operations, %d of them took effect",
                           #acked_list, unknown, recovered)
  else
    local parts = {}
    if #lost > 0 then parts[#parts + 1] = string.format("%d lost: %s", #lost, list_text(lost_named)) end
    if #duplicated > 0 then parts[#parts + 1] = string.format("%d duplicated: %s", #duplicated, list_text(duplicated)) end
    if #phantom > 0 then parts[#parts + 1] = string.format("%d phantom: %s", #phantom, list_text(phantom)) end
    detail = table.concat(parts, "; ") .. string.format(" (of %d acknowledged)", #acked_list)
  end
  return invariant(spec.name, ok, evidence, detail)
end

-- Counter checker over several counters (e.g. stock per SKU): each final value is >= `floor` (default
-- 0) and within [initial - max_taken, initial - min_taken], and, when `ledger` is given, initial - final
-- equals it (the system's own account of what was taken).
--   spec.items: list of { id, initial, final, min_taken, max_taken, ledger }
function checkers.counters(spec)
  local floor = spec.floor or 0
  local negative, out_of_bounds, ledger_mismatch = {}, {}, {}
  local details = {}
  for _, c in ipairs(spec.items) do
    local taken = c.initial - c.final
    if c.final < floor then
      negative[#negative + 1] = c.id
      details[#details + 1] = string.format("%s at %d", tostring(c.id), c.final)
    end
    if taken < (c.min_taken or 0) or (c.max_taken and taken > c.max_taken) then
      out_of_bounds[#out_of_bounds + 1] = {
        id = c.id, initial = c.initial, final = c.final, taken = taken,
        min_taken = c.min_taken or 0, max_taken = c.max_taken,
      }
      details[#details + 1] = string.format("%s took %d, expected %d..%s", tostring(c.id), taken, c.min_taken or 0,
                                            c.max_taken and tostring(c.max_taken) or "any")
    end
    if c.ledger and c.ledger ~= taken then
      ledger_mismatch[#ledger_mismatch + 1] = { id = c.id, taken = taken, ledger = c.ledger }
      details[#details + 1] = string.format("%s took %d but its ledger says %d", tostring(c.id), taken, c.ledger)
    end
  end
  local ok = #negative == 0 and #out_of_bounds == 0 and #ledger_mismatch == 0
  local evidence = {
    counters = #spec.items,
    negative = capped(sorted_ids(negative)), negative_count = #negative,
    out_of_bounds = capped(out_of_bounds), out_of_bounds_count = #out_of_bounds,
    ledger_mismatch = capped(ledger_mismatch), ledger_mismatch_count = #ledger_mismatch,
  }
  local detail = ok and string.format("%d counters within bounds", #spec.items)
      or (spec.subject or "counter") .. " " .. list_text(details, 8)
  return invariant(spec.name, ok, evidence, detail)
end

-- The distinct charges in a gateway's capture list. The list may hold one entry per capture request (the
-- reference emulator's `GET /v1/captures`: a retry with the same Idempotency-Key is listed again, as a
-- replay of the same charge) or one entry per charge. Entries are the same charge when they share a
-- `capture_id`, else an `idempotency_key` (for one order); an entry with neither is a charge of its own.
-- Returns a list of { order_id, amount, refunded, requests }.
function checkers.charges(captures)
  local by_identity, out = {}, {}
  for i, c in ipairs(captures or {}) do
    local identity = (c.capture_id and "capture:" .. tostring(c.capture_id))
        or (c.idempotency_key and "key:" .. tostring(c.order_id) .. "/" .. tostring(c.idempotency_key))
        or "entry:" .. i
    local charge = by_identity[identity]
    if charge then
      charge.requests = charge.requests + 1
      charge.refunded = charge.refunded or c.refunded == true
    else
      charge = { order_id = c.order_id, amount = c.amount, refunded = c.refunded == true, requests = 1 }
      by_identity[identity] = charge
      out[#out + 1] = charge
    end
  end
  return out
end

-- Money checker (a bank-style reconciliation of orders against payments).
--   spec.orders:   list of { order_id, status, total, captured, refunded } from the shop
--   spec.captures: optional list of { order_id, amount, refunded, capture_id?, idempotency_key? } from the
--                  payment gateway (see checkers.charges); nil when the gateway cannot be read
-- Invariants: every paid order has exactly one charge of its total; no order that is not paid holds an
-- unrefunded charge (orphan); no order is charged twice; captures minus refunds equal paid totals.
-- A charge of an order the shop still shows `pending` is unsettled (its payment is in flight: charged, the
-- answer not yet recorded) and is not judged, except that two charges are a double charge whatever the
-- state. Read the audit before the gateway (checkers.shop does): the gateway is only asked to charge or
-- refund pending orders, so whatever it did after the audit concerns orders the audit shows pending.
function checkers.money(spec)
  local missing, wrong_amount, orphan, double, unsettled = {}, {}, {}, {}, {}
  local paid_total, net_shop = 0, 0
  local status_of = {}
  for _, o in ipairs(spec.orders) do
    status_of[o.order_id] = o
    local captured, refunded = o.captured or 0, o.refunded or 0
    -- A refund without a capture row is legitimate: the charge's response was lost, then refunded by id.
    net_shop = net_shop + (o.status == "paid" and captured - refunded or math.max(0, captured - refunded))
    if o.status == "paid" then
      paid_total = paid_total + o.total
      if captured == 0 then
        missing[#missing + 1] = o.order_id
      elseif captured ~= o.total or refunded ~= 0 then
        wrong_amount[#wrong_amount + 1] = { order_id = o.order_id, total = o.total, captured = captured, refunded = refunded }
      end
    elseif captured > refunded then
      orphan[#orphan + 1] = o.order_id
    end
  end
  local net_gateway, charge_list = nil, nil
  if spec.captures then
    net_gateway = 0
    charge_list = checkers.charges(spec.captures)
    local charges = {}
    for _, c in ipairs(charge_list) do charges[c.order_id] = (charges[c.order_id] or 0) + 1 end
    for id, n in pairs(charges) do
      if n > 1 then double[#double + 1] = id end
    end
    for _, c in ipairs(charge_list) do
      local o = status_of[c.order_id]
      if o and o.status == "pending" then
        unsettled[#unsettled + 1] = c.order_id
      else
        if not c.refunded then net_gateway = net_gateway + c.amount end
        if not c.refunded and charges[c.order_id] == 1 then
          if not o or o.status ~= "paid" then
            orphan[#orphan + 1] = c.order_id
          elseif c.amount ~= o.total then
            wrong_amount[#wrong_amount + 1] = { order_id = c.order_id, total = o.total, gateway_amount = c.amount }
          end
        end
      end
    end
    for _, o in ipairs(spec.orders) do
      if o.status == "paid" and not charges[o.order_id] then missing[#missing + 1] = o.order_id end
    end
  end
  local function unique(list)
    local set = {}
    for _, id in ipairs(list) do set[id] = true end
    return sorted_ids(set, true)
  end
  missing, orphan, double, unsettled = unique(missing), unique(orphan), sorted_ids(double), unique(unsettled)
  local balanced = net_shop == paid_total and (net_gateway == nil or net_gateway == paid_total)
  local ok = #missing == 0 and #wrong_amount == 0 and #orphan == 0 and #double == 0 and balanced
  local evidence = {
    paid_total = paid_total, net_captured_shop = net_shop, net_captured_gateway = net_gateway,
    gateway_charges = charge_list and #charge_list or nil,
    missing_capture = capped(missing), missing_capture_count = #missing,
    wrong_amount = capped(wrong_amount), wrong_amount_count = #wrong_amount,
    orphan_capture = capped(orphan), orphan_capture_count = #orphan,
    double_capture = capped(double), double_capture_count = #double,
    unsettled = capped(unsettled), unsettled_count = #unsettled,
  }
  local detail
  if ok then
    detail = string.format("paid totals %d = captures - refunds%s", paid_total,
                           net_gateway and " (shop and gateway)" or " (shop; gateway not read)")
    if #unsettled > 0 then
      detail = detail .. string.format("; %d charge(s) of pending orders not judged yet", #unsettled)
    end
  else
    local parts = {}
    if #double > 0 then parts[#parts + 1] = "charged twice: orders " .. list_text(double) end
    if #orphan > 0 then parts[#parts + 1] = "orphan captures: orders " .. list_text(orphan) end
    if #missing > 0 then parts[#parts + 1] = "paid without capture: orders " .. list_text(missing) end
    if #wrong_amount > 0 then
      local ids = {}
      for _, w in ipairs(wrong_amount) do ids[#ids + 1] = w.order_id end
      parts[#parts + 1] = "capture amount differs: orders " .. list_text(ids)
    end
    if not balanced then
      parts[#parts + 1] = string.format("paid totals %d, net captured %d (shop)%s", paid_total, net_shop,
                                        net_gateway and string.format(", %d (gateway)", net_gateway) or "")
    end
    detail = table.concat(parts, "; ")
  end
  return invariant(spec.name, ok, evidence, detail)
end

-- Queue accounting: published = done + dead + pending (+ in_flight).
--   spec: { name, published, done, dead, pending, in_flight, extra = { {label, ok, detail}, ... } }
function checkers.queue(spec)
  local accounted = (spec.done or 0) + (spec.dead or 0) + (spec.pending or 0) + (spec.in_flight or 0)
  local ok = accounted == spec.published
  local parts = { string.format("published %d, done %d + dead-lettered %d + pending %d + in flight %d = %d",
                                spec.published, spec.done or 0, spec.dead or 0, spec.pending or 0,
                                spec.in_flight or 0, accounted) }
  for _, x in ipairs(spec.extra or {}) do
    if not x.ok then
      ok = false
      parts[#parts + 1] = x.detail
    end
  end
  return invariant(spec.name, ok, {
    published = spec.published, done = spec.done or 0, dead = spec.dead or 0, pending = spec.pending or 0,
    in_flight = spec.in_flight or 0,
  }, table.concat(parts, "; "))
end

-- Atomicity of a sharded shop's orders (`stampede shop --shards K`, docs/SHOP.md "Sharding"), from its audit:
--   * every live order (pending or paid) has its part placed on every shard its lines touch, a failed one
--     has every part released (its stock returned), and no part exists without its order (a partial order:
--     one shard committed while another aborted);
--   * no prepared transaction is left (pg_prepared_xacts empty after quiesce: nothing in doubt, no stock held),
--     and no saga is left running or compensating (--txn saga).
-- An unsharded audit (no `shards`) passes with nothing to check.
function checkers.atomicity(audit)
  local name = "cross-shard orders atomic: complete on every shard or nowhere, nothing left prepared"
  if not audit.shards then
    return invariant(name, true, { sharded = false }, "one database: nothing to check")
  end
  local incomplete, unreleased, orphans, parts = {}, {}, {}, {}
  local checked = 0
  for _, o in ipairs(audit.orders or {}) do
    if o.shards then
      checked = checked + 1
      local status_on = {}
      for _, p in ipairs(o.parts or {}) do status_on[p.shard] = p.status end
      for _, shard in ipairs(o.shards) do
        local got = status_on[shard]
        if o.status == "failed" then
          if got ~= "released" then
            unreleased[#unreleased + 1] = { order_id = o.order_id, shard = shard, part = got or "missing" }
          end
        elseif got ~= "placed" then
          incomplete[#incomplete + 1] = { order_id = o.order_id, status = o.status, shard = shard,
                                          part = got or "missing" }
        end
      end
    end
  end
  for _, p in ipairs(audit.orphan_parts or {}) do
    -- A released part without its order is a compensated saga's remains (its stock is back); a placed one
    -- holds stock for an order that does not exist: a partial order.
    if p.status == "placed" then
      orphans[#orphans + 1] = { order_id = p.order_id, shard = p.shard, status = p.status }
    end
  end
  local prepared = audit.prepared_transactions or 0
  local sagas_open = audit.sagas_open or 0
  local ok = #incomplete == 0 and #unreleased == 0 and #orphans == 0 and prepared == 0 and sagas_open == 0
  if ok then
    return invariant(name, true,
                     { orders = checked, shards = #audit.shards, prepared_transactions = 0, sagas_open = 0 },
                     string.format("%d cross-shard-capable orders whole on %d shards; nothing prepared, no saga open",
                                   checked, #audit.shards))
  end
  local function ids(list)
    local out = {}
    for _, x in ipairs(list) do out[#out + 1] = string.format("%s@shard%s", tostring(x.order_id), tostring(x.shard)) end
    return out
  end
  if #incomplete > 0 then parts[#parts + 1] = "live (pending or paid) orders missing a part: " .. list_text(ids(incomplete)) end
  if #orphans > 0 then parts[#parts + 1] = "parts without their order (partial orders): " .. list_text(ids(orphans)) end
  if #unreleased > 0 then parts[#parts + 1] = "failed orders whose stock was not returned: " .. list_text(ids(unreleased)) end
  if prepared > 0 then parts[#parts + 1] = string.format("%d prepared transaction(s) left in doubt", prepared) end
  if sagas_open > 0 then parts[#parts + 1] = string.format("%d saga(s) still running or compensating", sagas_open) end
  return invariant(name, false, {
    orders = checked, incomplete = capped(incomplete), incomplete_count = #incomplete, orphan_parts = capped(orphans),
    orphan_parts_count = #orphans, unreleased = capped(unreleased), unreleased_count = #unreleased,
    prepared_transactions = prepared, sagas_open = sagas_open,
  }, table.concat(parts, "; "))
end

-- Money of a sharded shop (`stampede shop --shards K`): captures match the totals of complete orders only.
-- An order is complete when it has its part placed on every shard its lines touch and those parts' subtotals
-- add up to its total (parts without `subtotal` are not summed). From the audit's orders (`shards`, `parts`)
-- and the gateway's captures (`captures`, see checkers.charges; nil: the audit's own `captured`/`refunded`,
-- which cannot show a second charge):
--   * no charge (unrefunded) of an order that is not complete: a part missing or released (aborted or
--     compensated), or no order at all (its header rolled back or removed);
--   * a complete paid order has its charge (none missing);
--   * no order charged twice;
--   * a complete order's charge is its total.
-- Orders without `shards` (flash sales, one database) are checkers.money's; an unsharded audit passes.
function checkers.sharded_money(audit, captures)
  local name = "money: captures match the totals of complete orders only"
  if not audit.shards then
    return invariant(name, true, { sharded = false }, "one database: nothing to check")
  end
  local charged, charges_of = {}, {}  -- order -> unrefunded amount, distinct charges
  local known = {}
  for _, o in ipairs(audit.orders or {}) do known[o.order_id] = o end
  if captures then
    for _, c in ipairs(checkers.charges(captures)) do
      charges_of[c.order_id] = (charges_of[c.order_id] or 0) + 1
      if not c.refunded then charged[c.order_id] = (charged[c.order_id] or 0) + (c.amount or 0) end
    end
  else
    for _, o in ipairs(audit.orders or {}) do
      local net = (o.captured or 0) - (o.refunded or 0)
      if net > 0 then charged[o.order_id] = net end
      if (o.captured or 0) > 0 then charges_of[o.order_id] = 1 end
    end
  end
  local not_complete, missing, double, amount = {}, {}, {}, {}
  local complete_orders, complete_total, captured_total = 0, 0, 0
  for _, o in ipairs(audit.orders or {}) do
    if o.shards then
      local placed, sum, summed = {}, 0, true
      for _, p in ipairs(o.parts or {}) do
        if p.status == "placed" then
          placed[p.shard] = true
          if p.subtotal then sum = sum + p.subtotal else summed = false end
        end
      end
      local lacking = {}
      for _, shard in ipairs(o.shards) do
        if not placed[shard] then lacking[#lacking + 1] = shard end
      end
      local complete = #lacking == 0 and (not summed or sum == o.total)
      local got = charged[o.order_id] or 0
      captured_total = captured_total + got
      if complete then
        complete_orders = complete_orders + 1
        complete_total = complete_total + o.total
        if o.status == "paid" and not charges_of[o.order_id] then missing[#missing + 1] = o.order_id end
        if got > 0 and got ~= o.total then
          amount[#amount + 1] = { order_id = o.order_id, total = o.total, captured = got }
        end
      elseif got > 0 then
        local reason = #lacking > 0 and ("no placed part on shard " .. table.concat(lacking, ","))
            or string.format("its parts add up to %d, not %d", sum, o.total)
        not_complete[#not_complete + 1] = { order_id = o.order_id, status = o.status, total = o.total,
                                            captured = got, reason = reason }
      end
    end
  end
  for id, got in pairs(charged) do
    if not known[id] and got > 0 then  -- a charge of an order that exists nowhere (aborted, compensated)
      captured_total = captured_total + got
      not_complete[#not_complete + 1] = { order_id = id, status = "none", captured = got, reason = "no order" }
    end
  end
  for id, n in pairs(charges_of) do
    if n > 1 then double[#double + 1] = id end
  end
  table.sort(not_complete, function(a, b) return a.order_id < b.order_id end)
  table.sort(amount, function(a, b) return a.order_id < b.order_id end)
  missing, double = sorted_ids(missing), sorted_ids(double)
  local ok = #not_complete == 0 and #missing == 0 and #double == 0 and #amount == 0
  local evidence = {
    complete_orders = complete_orders, complete_total = complete_total, captured_total = captured_total,
    gateway = captures ~= nil,
    charged_not_complete = capped(not_complete), charged_not_complete_count = #not_complete,
    missing_capture = capped(missing), missing_capture_count = #missing,
    double_capture = capped(double), double_capture_count = #double,
    wrong_amount = capped(amount), wrong_amount_count = #amount,
  }
  if ok then
    return invariant(name, true, evidence, string.format(
      "%d complete cross-shard orders (%d); every charge is of a complete order's total%s", complete_orders,
      complete_total, captures and "" or " (shop's records; gateway not read)"))
  end
  local parts = {}
  if #not_complete > 0 then
    local named = {}
    for _, x in ipairs(not_complete) do named[#named + 1] = string.format("%s (%s)", tostring(x.order_id), x.reason) end
    parts[#parts + 1] = "charged but not complete: orders " .. list_text(named)
  end
  if #missing > 0 then parts[#parts + 1] = "complete and paid without a charge: orders " .. list_text(missing) end
  if #double > 0 then parts[#parts + 1] = "charged twice: orders " .. list_text(double) end
  if #amount > 0 then
    local named = {}
    for _, x in ipairs(amount) do
      named[#named + 1] = string.format("%s (%d of %d)", tostring(x.order_id), x.captured, x.total)
    end
    parts[#parts + 1] = "charge differs from the complete order's total: orders " .. list_text(named)
  end
  return invariant(name, false, evidence, table.concat(parts, "; "))
end

-- ---- the reference shop ----
-- Operation conventions (what the shipped scenarios record):
--   "order":          invoke { user_id, key = Idempotency-Key, items = { {product_id, qty}, ... } };
--                     ok value = POST /api/orders' 201 body { order_id, status, total, lines }
--   "flash_purchase": invoke { user_id, sale_id }; ok value = { order_id }; 409/410/429 are fail

local function items_of(op)
  local items = {}
  local src = (op.outcome == "ok" and op.value and op.value.lines) or (op.invoke and op.invoke.items) or {}
  for _, l in ipairs(src) do items[#items + 1] = { product_id = l.product_id, qty = l.qty or 1 } end
  return items
end

-- All shop invariants from an audit (GET /api/admin/audit) and, optionally, the gateway's captures
-- (GET /v1/captures of the payment emulator). Pure: the tables are given.
function checkers.shop_invariants(history, audit, gateway)
  local out = {}
  local orders_ops = checkers.operations(history, { "order", "flash_purchase" })
  -- An acknowledged order holds its stock unless it failed (a declined or dead-lettered payment
  -- releases it); a missing order still counts, so losing it shows in the stock bounds too.
  local released = {}      -- order_id -> true for failed orders
  local all_orders = audit.orders or {}
  for _, o in ipairs(all_orders) do
    if o.status == "failed" then released[o.order_id] = true end
  end

  -- 1. Every acknowledged order exists exactly once; nothing exists that no operation created.
  if #orders_ops == 0 then
    out[#out + 1] = invariant("acknowledged orders exist exactly once", true, { acknowledged = 0 },
                              "no order operations in the history: nothing to check")
  else
    out[#out + 1] = checkers.set {
      name = "acknowledged orders exist exactly once",
      operations = orders_ops,
      added = function(op) return op.value and op.value.order_id end,
      op_key = function(op)
        local v = op.invoke or {}
        if op.op == "flash_purchase" then return "flash/" .. tostring(v.sale_id) .. "/" .. tostring(v.user_id) end
        return "order/" .. tostring(v.user_id) .. "/" .. tostring(v.key)
      end,
      final = all_orders,
      id = function(e) return e.order_id end,
      key = function(e)
        if e.flash_sale_id then return "flash/" .. tostring(e.flash_sale_id) .. "/" .. tostring(e.user_id) end
        if e.idempotency_key then return "order/" .. tostring(e.user_id) .. "/" .. tostring(e.idempotency_key) end
        return nil
      end,
    }
  end

  -- 2. Per SKU: never negative, remaining within what acknowledged and unknown purchases allow.
  local min_taken, unknown_taken = {}, {}
  for _, op in ipairs(orders_ops) do
    if op.op == "order" then
      if op.outcome == "ok" then
        local id = op.value and op.value.order_id
        if id and not released[id] then
          for _, l in ipairs(items_of(op)) do min_taken[l.product_id] = (min_taken[l.product_id] or 0) + l.qty end
        end
      elseif op.outcome == "unknown" then
        for _, l in ipairs(items_of(op)) do unknown_taken[l.product_id] = (unknown_taken[l.product_id] or 0) + l.qty end
      end
    end
  end
  local items, listed = {}, {}
  for _, s in ipairs(audit.skus or {}) do
    listed[s.product_id] = true
    local minimum = min_taken[s.product_id] or 0
    items[#items + 1] = { id = "SKU " .. tostring(s.product_id), initial = s.initial_stock, final = s.remaining,
                          min_taken = minimum, max_taken = minimum + (unknown_taken[s.product_id] or 0),
                          ledger = s.sold }
  end
  for sku, n in pairs(min_taken) do  -- an acknowledged purchase of a SKU whose stock never moved
    if not listed[sku] then
      items[#items + 1] = { id = "SKU " .. tostring(sku), initial = 0, final = 0, min_taken = n,
                            max_taken = n + (unknown_taken[sku] or 0) }
    end
  end
  out[#out + 1] = checkers.counters { name = "stock per SKU never negative and within purchase bounds",
                                      subject = "stock:", items = items }

  -- 3. Flash sales: never oversold, nobody over the per-user limit, sold within the history's bounds.
  local flash_min, flash_unknown = {}, {}
  for _, op in ipairs(orders_ops) do
    if op.op == "flash_purchase" then
      local sale = op.invoke and op.invoke.sale_id
      if op.outcome == "ok" then
        local id = op.value and op.value.order_id
        if id and not released[id] then flash_min[sale] = (flash_min[sale] or 0) + 1 end
      elseif op.outcome == "unknown" then
        flash_unknown[sale] = (flash_unknown[sale] or 0) + 1
      end
    end
  end
  local oversold, over_limit, bounds, per_sale = {}, {}, {}, {}
  local parts, summary = {}, {}
  for _, s in ipairs(audit.flash_sales or {}) do
    local id = s.sale_id or s.id
    if s.remaining < 0 or s.sold > s.stock or s.stock - s.remaining ~= s.sold then
      oversold[#oversold + 1] = { sale_id = id, stock = s.stock, remaining = s.remaining, sold = s.sold }
      parts[#parts + 1] = string.format("sale %s: stock %d, sold %d, remaining %d", tostring(id), s.stock, s.sold,
                                        s.remaining)
    end
    local max_per_user = 0
    for _, p in ipairs(s.purchases or {}) do
      max_per_user = math.max(max_per_user, p.count or 1)
      if (p.count or 1) > (s.per_user_limit or 1) then
        over_limit[#over_limit + 1] = { sale_id = id, user_id = p.user_id, count = p.count, limit = s.per_user_limit }
      end
    end
    local lo = flash_min[id] or 0
    local hi = lo + (flash_unknown[id] or 0)
    if s.sold < lo or s.sold > hi then
      bounds[#bounds + 1] = { sale_id = id, sold = s.sold, min = lo, max = hi }
      parts[#parts + 1] = string.format("sale %s sold %d, history allows %d..%d", tostring(id), s.sold, lo, hi)
    end
    -- What the sale went through, so a reader sees whether the boundaries were reached at all.
    per_sale[#per_sale + 1] = {
      sale_id = id, stock = s.stock, sold = s.sold, remaining = s.remaining, sold_out = s.remaining == 0,
      per_user_limit = s.per_user_limit or 1, buyers = #(s.purchases or {}), max_per_user = max_per_user,
      history_min = lo, history_max = hi,
    }
    summary[#summary + 1] = string.format("sale %s sold %d of %d%s", tostring(id), s.sold, s.stock,
                                          s.remaining == 0 and " (sold out)" or string.format(" (%d left)", s.remaining))
  end
  if #over_limit > 0 then
    local users = {}
    for _, u in ipairs(over_limit) do users[#users + 1] = string.format("user %s (%d)", tostring(u.user_id), u.count) end
    parts[#parts + 1] = "over the per-user limit: " .. list_text(users)
  end
  local flash_ok = #oversold == 0 and #over_limit == 0 and #bounds == 0
  local n_sales = #(audit.flash_sales or {})
  out[#out + 1] = invariant("flash sale never oversold, nobody over the per-user limit", flash_ok, {
    sales = n_sales, per_sale = capped(per_sale), oversold = capped(oversold), over_limit = capped(over_limit),
    over_limit_count = #over_limit, outside_history_bounds = capped(bounds),
  }, flash_ok and string.format("%d sale(s) within stock and limits%s%s", n_sales, n_sales > 0 and ": " or "",
                                list_text(summary, 5))
                   or table.concat(parts, "; "))

  -- 4. Money.
  out[#out + 1] = checkers.money { name = "one capture per paid order, captures - refunds = paid totals",
                                   orders = all_orders, captures = gateway and gateway.captures }

  -- 5. Queue accounting: one message per live or finished order.
  local ob = audit.outbox or {}
  local states = audit.orders_by_state or {}
  local published = #all_orders
  local dead_not_failed = {}
  for _, d in ipairs(audit.dead_letters or {}) do
    local o = nil
    for _, x in ipairs(all_orders) do
      if x.order_id == d.order_id then o = x break end
    end
    if not o or o.status ~= "failed" then dead_not_failed[#dead_not_failed + 1] = d.order_id end
  end
  local finished_orders = (states.paid or 0) + (states.failed or 0)
  local finished_messages = (ob.done or 0) + (ob.dead or 0)
  out[#out + 1] = checkers.queue {
    name = "queue accounting: published = done + dead-lettered + pending",
    published = published, done = ob.done, dead = ob.dead, pending = ob.pending, in_flight = ob.in_flight,
    extra = {
      { ok = finished_orders == finished_messages,
        detail = string.format("paid + failed orders %d but done + dead messages %d", finished_orders, finished_messages) },
      { ok = #dead_not_failed == 0, detail = "dead letters of orders not failed: " .. list_text(dead_not_failed) },
    },
  }

  -- 6. A sharded shop: every order whole on every shard it touches, nothing left prepared; and money only for
  -- complete orders.
  if audit.shards then
    out[#out + 1] = checkers.atomicity(audit)
    out[#out + 1] = checkers.sharded_money(audit, gateway and gateway.captures)
  end
  return out
end

-- Reads the shop's audit (and the gateway's captures when `opts.payment_url` is given) over HTTP and
-- returns shop_invariants(). For verify(history) in a scenario:
--   opts.audit_url   (default "/api/admin/audit", relative to the target)
--   opts.admin_token (default env.ADMIN_TOKEN)
--   opts.payment_url (default env.PAYMENT_URL; nil: the gateway is not read)
function checkers.shop(history, opts)
  opts = opts or {}
  local token = opts.admin_token or (env and env.ADMIN_TOKEN)
  local res = http.get(opts.audit_url or (env and env.SHOP_AUDIT_URL) or "/api/admin/audit",
                       { headers = { Authorization = "Bearer " .. tostring(token) }, name = "verify: audit",
                         timeout = "30s" })
  if res.status ~= 200 then
    return { invariant("shop audit readable", false, { status = res.status, error = res.error },
                       "GET /api/admin/audit answered " .. tostring(res.status) .. " " .. tostring(res.error or "")) }
  end
  local audit = res:json()
  -- The gateway is read after the audit, never before: a capture or refund that lands between the two reads
  -- can only concern an order the audit shows pending (the shop asks the gateway about pending orders only),
  -- which checkers.money counts as unsettled. Read the other way round, a capture recorded in between would
  -- look like a paid order without a charge. After the drill's quiet wait nothing is pending at all.
  local gateway = nil
  local payment_url = opts.payment_url or (env and env.PAYMENT_URL)
  if payment_url and payment_url ~= "" then
    local g = http.get(payment_url .. "/v1/captures", { name = "verify: gateway captures", timeout = "30s" })
    if g.status == 200 then gateway = g:json() end
  end
  local out = checkers.shop_invariants(history, audit, gateway)
  if payment_url and payment_url ~= "" and not gateway then
    out[#out + 1] = invariant("payment gateway readable", false, { url = payment_url }, "GET /v1/captures failed")
  end
  return out
end

return checkers
