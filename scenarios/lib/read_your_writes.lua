-- Read-your-writes checker (a session guarantee, Terry et al. 1994): a customer who was told an order was
-- placed and then reads their orders must see it. Pure function of a recorded history (no I/O); its own
-- module so that checkers.lua stays one screenful per checker. Load it with
--     local read_your_writes = require("lib.read_your_writes")
--
-- read_your_writes(history, spec) -> invariant { name, ok, evidence, detail } (lib.checkers' shape).
-- Conventions of the shipped scenarios (override them in `spec`):
--   writes: op "order", invoke {user_id, ...}, ok value {order_id, ...}       (scenarios/lib/shop.lua)
--   reads:  op "read_orders", invoke {user_id}, ok value {order_ids = {...}, complete = true|false}
--           (`complete` false: the shop listed only its newest orders; an order older than the oldest
--           listed one is then not judged)
--   spec.write_op, spec.read_op   operation names
--   spec.user(op)                 the customer of an operation (default op.invoke.user_id)
--   spec.written(op)              the id an ok write created (default op.value.order_id)
--   spec.seen(op)                 the ids an ok read returned (default op.value.order_ids)
--   spec.name                     the invariant's name
--
-- Judged: every ok read, against every ok write of the same customer acknowledged (t_end) before the read
-- was sent (t). A write whose answer came after the read started is concurrent with it, and a write with an
-- unknown outcome may not have happened: neither is required. A missing order is one violation per
-- (read, order); evidence lists the violations with order id, customer, when it was acknowledged and when
-- the stale read was sent, the distinct order ids, and the largest staleness seen (read sent - ack).
local checkers = require("lib.checkers")

local mark_array = (json and json.array) or function(t) return t end

local function default_user(op) return op.invoke and op.invoke.user_id end
local function default_written(op) return op.value and op.value.order_id end
local function default_seen(op) return op.value and op.value.order_ids end

local function read_your_writes(history, spec)
  spec = spec or {}
  local write_op, read_op = spec.write_op or "order", spec.read_op or "read_orders"
  local user, written, seen = spec.user or default_user, spec.written or default_written,
                              spec.seen or default_seen
  local ops = checkers.operations(history, { write_op, read_op })
  local writes_by_user, reads, writes_checked = {}, {}, 0
  for _, o in ipairs(ops) do
    if o.outcome == "ok" then
      local u = user(o)
      if o.op == write_op and u ~= nil and written(o) ~= nil then
        writes_by_user[u] = writes_by_user[u] or {}
        table.insert(writes_by_user[u], o)
        writes_checked = writes_checked + 1
      elseif o.op == read_op and u ~= nil then
        reads[#reads + 1] = o
      end
    end
  end
  local violations, orders, order_list = {}, {}, {}
  local stale_reads, worst, count = 0, nil, 0
  for _, r in ipairs(reads) do
    local listed, oldest = {}, nil
    for _, id in ipairs(seen(r) or {}) do
      listed[id] = true
      if oldest == nil or id < oldest then oldest = id end
    end
    local complete = not (r.value and r.value.complete == false)
    local stale = false
    for _, w in ipairs(writes_by_user[user(r)] or {}) do
      local id = written(w)
      local judged = w.t_end ~= nil and w.t_end < r.t and (complete or oldest == nil or id >= oldest)
      if judged and not listed[id] then
        stale = true
        count = count + 1
        local behind = r.t - w.t_end
        if worst == nil or behind > worst then worst = behind end
        if #violations < checkers.max_listed then
          violations[#violations + 1] = { order_id = id, user_id = user(r), acknowledged_at_s = w.t_end,
                                          read_at_s = r.t, behind_s = behind }
        end
        if not orders[id] then
          orders[id] = true
          order_list[#order_list + 1] = id
        end
      end
    end
    if stale then stale_reads = stale_reads + 1 end
  end
  table.sort(order_list)
  local listed_orders = {}
  for i = 1, math.min(#order_list, checkers.max_listed) do listed_orders[i] = order_list[i] end
  local evidence = {
    violations = count, violations_listed = mark_array(violations), orders = mark_array(listed_orders),
    orders_count = #order_list, stale_reads = stale_reads, reads_checked = #reads,
    writes_checked = writes_checked, max_behind_s = worst,
  }
  local detail
  if count == 0 then
    detail = string.format("%d reads of %d acknowledged orders: every customer saw their own orders", #reads,
                           writes_checked)
  else
    local parts = {}
    for i = 1, math.min(#order_list, 10) do parts[i] = tostring(order_list[i]) end
    detail = string.format("%d violations in %d of %d reads (%d orders: %s%s), up to %.2f s after the ack",
                           count, stale_reads, #reads, #order_list, table.concat(parts, ", "),
                           #order_list > 10 and string.format(" (+%d more)", #order_list - 10) or "", worst)
  end
  return checkers.invariant(spec.name or "customers read their own orders (read-your-writes)", count == 0,
                            evidence, detail)
end

return read_your_writes
