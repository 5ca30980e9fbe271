-- Game day: restore the shop's database to a point in time (`stampede shop --db postgres --wal-archive on`).
-- While customers order, an operator takes a base backup (pg_basebackup) and, later, marks a recovery
-- target (pg_create_restore_point); the server archives its WAL continuously (archive_command into
-- DIR/postgres/wal_archive). After the load the drill restores the base backup into a fresh cluster,
-- replays the archive up to the target and promotes it, reads the restored orders, and removes the cluster.
-- Hypothesis: the restored shop holds every order acknowledged before the target was marked and none placed
-- after it (orders in flight at the mark may go either way); the restore takes seconds (RESTORE_MAX 60 s),
-- and the base backup does not stop the shop from taking orders.
-- Report: invariant "point-in-time restore: every order acknowledged before the target, none after it"
-- (lost and extra orders named by idempotency key, customer and order id) and "the restore completes in time"
-- (restore time, its copy and recovery parts, the WAL span, the base backup's size and duration);
-- results.drill.backup (backups, restore points, restores, archived segments).
-- The operator's steps go through the drill's backup API (env.BACKUP_URL, docs/DRILLS.md) and are recorded
-- in the history: "base_backup", "restore_point" (its invoke and ok times bracket pg_create_restore_point).
-- Knobs: DURATION (30s), BACKUP_AT (3s), EARLY_AT (BACKUP_AT + 5 s after the backup: a first restore point,
-- "early"), MARK_AT (2/3 of DURATION: the target, "target"), BUYERS (6 customers ordering in a loop),
-- ORDER_PAUSE (0.2 s), BROWSERS (4), RESTORE_MAX (60), and RESTORE_TO (target): `-e RESTORE_TO=early`
-- restores to the earlier point by mistake, so the orders acknowledged between the two points are missing
-- and the checker names them (exit 98: the broken case, on purpose).
-- Short form for CI: -e DURATION=15s -e BACKUP_AT=2s -e MARK_AT=10s
-- Pass: every invariant holds; failures < 5% and order p(99) < 2 s through the base backup.
--@shop --db postgres --wal-archive on
local checkers = require("lib.checkers")
local gameday = require("lib.gameday")
local point_in_time = require("lib.point_in_time")
local shop = require("lib.shop")

local duration = env.DURATION or "30s"
local backup_at = gameday.seconds(env.BACKUP_AT or "3s")
local mark_at = gameday.seconds(env.MARK_AT or string.format("%gs", gameday.seconds(duration) * 2 / 3))
local restore_to = env.RESTORE_TO or "target"
local restore_max = tonumber(env.RESTORE_MAX or "60")

if restore_to ~= "target" and restore_to ~= "early" then error("RESTORE_TO must be target or early") end

options = {
  scenarios = {
    browse = { executor = "constant-vus", vus = tonumber(env.BROWSERS or "4"), duration = duration,
               exec = "browse" },
    orders = { executor = "constant-vus", vus = tonumber(env.BUYERS or "6"), duration = duration,
               exec = "order" },
    -- One operator: backup, then the two restore points, in order (a mark before the backup's end could
    -- not be restored to from it).
    operator = { executor = "per-vu-iterations", vus = 1, iterations = 1, maxDuration = duration,
                 startTime = string.format("%gs", backup_at), exec = "operate", gracefulStop = "90s" },
  },
  -- verify() runs the restore: the backup API bounds it (30 s archive wait + 60 s restore).
  teardownTimeout = "150s",
  thresholds = {
    ["http_req_duration{name:POST /api/orders}"] = { "p(99)<2000" },
    http_req_failed = { "rate<0.05" },
  },
}

browse = gameday.browse

-- Outside `stampede drill` there is no backup API: say so before any load starts (not at the top level,
-- which tools load without a drill, e.g. to list options).
function setup()
  if not env.BACKUP_URL then
    error("no backup API: run this game day with `stampede drill` on a shop with --db postgres --wal-archive on")
  end
end

function order()
  if not me then
    me = shop.login(800 + vu.id)
    if not me then sleep(0.5) return end
  end
  shop.order(me, { { product_id = math.random(2, 300), qty = 1 } }, "pitr-" .. vu.id .. "-" .. vu.iteration, 1)
  sleep(tonumber(env.ORDER_PAUSE or "0.2"))
end

local function backup_api(path, body, history, value)
  return http.post(env.BACKUP_URL .. path, {
    json = body or {}, headers = { Authorization = "Bearer " .. tostring(env.BACKUP_TOKEN) },
    name = "backup: POST " .. path, timeout = "120s", history = history, historyValue = value,
  })
end

local function mark(name)
  local res = backup_api("/restore-point", { name = name }, "restore_point", { name = name })
  check(res, { ["restore point " .. name] = function(r) return r.status == 201 end })
  return res
end

-- The operator's runbook: a base backup at BACKUP_AT, a restore point "early" halfway between the backup's
-- end and MARK_AT (or at EARLY_AT), and the target at MARK_AT. `now` follows the run's clock from this
-- VU's start (BACKUP_AT) by the calls' own durations.
function operate()
  local now = backup_at
  local res = backup_api("/base-backup", nil, "base_backup", {})
  now = now + res.timings.duration / 1000
  check(res, { ["base backup taken"] = function(r) return r.status == 201 end })
  if res.status ~= 201 then return end
  local early_at = env.EARLY_AT and gameday.seconds(env.EARLY_AT) or (now + mark_at) / 2
  local wait = math.max(0.5, early_at - now)
  sleep(wait)
  res = mark("early")
  now = now + wait + res.timings.duration / 1000
  if res.status ~= 201 then return end
  sleep(math.max(0.5, mark_at - now))
  mark("target")
end

local function secs(v) return type(v) == "number" and string.format("%.1f", v) or "?" end

-- The restore and its report: the restore time (copy of the base backup + WAL replay until the cluster
-- accepts connections, promoted at the target) against RESTORE_MAX, and the backup's figures.
local function restore_report(restored, status)
  local ok_restore = restored ~= nil and restored.restore_s ~= nil
  local evidence = { restore_max_s = restore_max, restored_to = restore_to }
  if ok_restore then
    for _, k in ipairs({ "restore_s", "copy_s", "recovery_s", "archive_wait_s", "wal_span_bytes", "backup",
                         "target_lsn", "recovery_phases", "recovery_stop", "orders_total" }) do
      evidence[k] = restored[k]
    end
  end
  if status and status.base_backups and status.base_backups[1] then
    local b = status.base_backups[1]
    evidence.base_backup_bytes, evidence.base_backup_s = b.size_bytes, b.duration_s
    evidence.archived_segments = status.archived_segments
  end
  local detail
  if not ok_restore then
    detail = "no restore"
  else
    local p = type(restored.recovery_phases) == "table" and restored.recovery_phases or {}
    detail = string.format("restored to '%s' in %.1f s (copy %.1f s, recovery %.1f s: startup %s s, replay %s s, "
      .. "promotion %s s; WAL span %.1f MB) from %s (%.1f MB, taken in %.1f s)", restore_to, restored.restore_s,
      restored.copy_s, restored.recovery_s, secs(p.startup_s), secs(p.replay_s), secs(p.promote_s),
      (tonumber(restored.wal_span_bytes) or 0) / 1e6, tostring(restored.backup),
      (evidence.base_backup_bytes or 0) / 1e6, evidence.base_backup_s or 0)
  end
  return checkers.invariant("the restore completes in time", ok_restore and restored.restore_s <= restore_max,
                            evidence, detail)
end

function verify(history)
  local out = checkers.shop(history)
  local res = backup_api("/restore", { target = restore_to })
  local restored = res.status == 200 and res:json() or nil
  local status_res = http.get(env.BACKUP_URL .. "/status", {
    headers = { Authorization = "Bearer " .. tostring(env.BACKUP_TOKEN) }, name = "backup: GET /status" })
  local status = status_res.status == 200 and status_res:json() or nil
  out[#out + 1] = restore_report(restored, status)
  -- Judged against the target the operator meant, whichever point was restored (RESTORE_TO=early: the
  -- mistake the checker must catch).
  out[#out + 1] = point_in_time(history, {
    target = "target", restored = restored and restored.orders,
    error = restored == nil and (res.status .. " " .. tostring(res.body)) or nil,
    figures = restored and { restore_s = restored.restore_s, restored_to = restored.target } or nil,
  })
  return out
end
