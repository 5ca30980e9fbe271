#!/usr/bin/env bash
# Flash sale at full speed (#17), driven by `stampede run` (flash_sale_bench.lua): 3 nodes x 4 threads behind
# HAProxy, --kdf minimal, a sale of STOCK units one per user, USERS logged in before the sale (setup, not
# measured), BUYERS VUs released together. Per database (DBS, alternating for ROUNDS rounds), a fresh shop;
# prints purchase attempts/s and orders/s (attempts / the longest buyer's time), latencies, the answers, the
# scenario's invariants (every acknowledged purchase exists once, exactly STOCK sold, nobody twice), and what
# bounds it: each process's CPU during the sale (utime + stime from /proc/PID/stat, sampled every 0.25 s; the
# window is from the last sample with the sale untouched to the first with it sold out: HAProxy, each node,
# the database server with its backends, the payment emulator, the generator), the requests waiting for a
# node's database pool (`shop_database_requests{state="waiting"}`, summed) and, on PostgreSQL, the sessions
# waiting on a lock (pg_stat_activity), as means over the window's samples; and the mean group-commit batch
# (shop_flash_batched_purchases_total / shop_flash_batches_total over the nodes).
# usage: bench/reference_shop/flash_sale_bench.sh [STAMPEDE_BINARY] [ROUNDS=1]
#   env DBS ("sqlite postgres"), BUYERS (256), USERS (20000), STOCK (10000), THREADS (4: the shop's per node),
#   GEN_THREADS (2: the generator's), KEEP (set: keep the shops' directories and results)
set -euo pipefail
bin=$(realpath "${1:-build/release/stampede}")
rounds=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
users=${USERS:-20000}
stock=${STOCK:-10000}
buyers=${BUYERS:-256}
scale=$(( (users + 999) / 1000 ))
source "$here/../lib/peers.sh"  # shop_start
work=$(mktemp -d /tmp/stampede-flash-bench.XXXXXX)
chmod o+x "$work"  # PostgreSQL runs as the postgres user when we are root
shop_pid="" sampler_pid=""
stop_shop() {
  [[ -n "$sampler_pid" ]] && { kill "$sampler_pid" 2>/dev/null || true; wait "$sampler_pid" 2>/dev/null || true; }
  sampler_pid=""
  if [[ -n "$shop_pid" ]]; then
    kill -TERM "$shop_pid" 2>/dev/null || true
    wait "$shop_pid" 2>/dev/null || true
    shop_pid=""
  fi
}
cleanup() {
  stop_shop
  [[ -n ${KEEP:-} ]] && echo "kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT

ticks() {  # utime + stime of the processes given, summed (clock ticks)
  local t=0 f
  for f in "$@"; do
    [[ -r /proc/$f/stat ]] || continue
    read -r -a s < "/proc/$f/stat" 2>/dev/null || continue
    t=$((t + s[13] + s[14]))
  done
  echo "$t"
}
sampler() {  # $1 = topology, $2 = sale id, $3 = generator pid file -> one line per 0.25 s
  local topo=$1 sale=$2 node1 haproxy payment postmaster nodes pg gen waiting locks remaining
  node1=$(jq -r '.nodes[0].url' "$topo")
  haproxy=$(jq -r '.haproxy.pid' "$topo")
  payment=$(jq -r '.payment_emulator.pid' "$topo")
  postmaster=$(jq -r '.database.pid // empty' "$topo")
  mapfile -t nodes < <(jq -r '.nodes[].pid' "$topo")
  local dburl
  dburl=$(jq -r '.database.url // empty' "$topo")
  local urls=() u
  for u in $(jq -r '.nodes[].url' "$topo"); do urls+=("$u/metrics"); done
  while true; do
    gen=$(cat "$3" 2>/dev/null || true)
    remaining=$(curl -s -m 1 "$node1/api/flash-sales/$sale" | sed -n 's/.*"remaining":\([0-9]*\).*/\1/p')
    waiting=$(curl -s -m 1 "${urls[@]}" | awk '/^shop_database_requests\{state="waiting"\}/ { w += $2 } END { print w + 0 }')
    pg=0 locks=0
    if [[ -n $postmaster ]]; then
      pg=$(ticks "$postmaster" $(cat "/proc/$postmaster/task/$postmaster/children" 2>/dev/null))
      locks=$(psql -tAq "$dburl" -c "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'" \
        2>/dev/null || echo 0)
    fi
    read -r _ cu cn cs _ _ ci cq cst _ < /proc/stat  # the whole machine's busy time, whoever uses it
    echo "$(date +%s%3N) ${remaining:--1} haproxy=$(ticks "$haproxy") node1=$(ticks "${nodes[0]}")" \
      "node2=$(ticks "${nodes[1]}") node3=$(ticks "${nodes[2]}") database=$pg payment=$(ticks "$payment")" \
      "generator=$(ticks $gen) machine=$((cu + cn + cs + ci + cq + cst)) waiting=$waiting locks=$locks"
    sleep 0.25
  done
}

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/'), $(date -u +%FT%TZ); $users users, $stock units," \
  "$buyers buyers, shop 3 nodes x ${THREADS:-4} threads"
for round in $(seq "$rounds"); do
  for db in ${DBS:-sqlite postgres}; do
    dir="$work/$db-$round"
    shop_start "$bin" "$dir" 120 --db "$db" --nodes 3 --threads "${THREADS:-4}" --port 0 --kdf minimal \
      --scale "$scale" --login-rate-source off || exit 1
    shop_pid=$SHOP_PID
    entry=$SHOP_ENTRY
    token=$(jq -r .admin_token "$dir/topology.json")
    sale=$(curl -sf -H "Authorization: Bearer $token" -d "{\"product_id\":7,\"stock\":$stock,\"price\":100}" \
      "$entry/api/admin/flash-sales" | jq -r .id)
    sampler "$dir/topology.json" "$sale" "$dir.genpid" > "$dir.samples" 2>/dev/null &
    sampler_pid=$!
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    set +e
    LUA_PATH="$repo/scenarios/?.lua" "$bin" run "$here/flash_sale_bench.lua" --target "$entry" \
      --threads "${GEN_THREADS:-2}" -e ADMIN_TOKEN="$token" -e SALE="$sale" -e USERS="$users" -e STOCK="$stock" \
      -e BUYERS="$buyers" --out "$dir.json" > "$dir.run.log" 2>&1 &
    echo $! > "$dir.genpid"
    wait $!
    rc=$?
    set -e
    kill "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=""
    r=$dir.json
    step='POST /api/flash-sales/{id}/purchase'
    attempts=$(jq -r --arg s "$step" '.steps[] | select(.name == $s) | .requests' "$r")
    orders=$(jq -r --arg s "$step" '.steps[] | select(.name == $s) | .status_classes["2xx"] // 0' "$r")
    elapsed_ms=$(jq -r '.metrics[] | select(.name == "buyer_elapsed") | .stats.max' "$r")
    invariants=$(jq -r '[.verify.invariants[] | select(.ok | not) | .name] | if length == 0 then "all hold"
                         else "FAILED: " + join("; ") end' "$r")
    printf '%-8s round %d: %d attempts in %.2f s = %.0f attempts/s, %d orders = %.0f orders/s; p50 %.1f ms, p99 %.1f ms;' \
      "$db" "$round" "$attempts" "$(echo "$elapsed_ms / 1000" | bc -l)" "$(echo "$attempts * 1000 / $elapsed_ms" | bc -l)" \
      "$orders" "$(echo "$orders * 1000 / $elapsed_ms" | bc -l)" \
      "$(jq -r --arg s "$step" '.steps[] | select(.name == $s) | .latency_ms.p50' "$r")" \
      "$(jq -r --arg s "$step" '.steps[] | select(.name == $s) | .latency_ms.p99' "$r")"
    printf ' answers %s; invariants: %s; load avg %s -> %s\n' \
      "$(jq -c --arg s "$step" '.steps[] | select(.name == $s) | .status_classes' "$r")" "$invariants" "$load_before" \
      "$(cut -d' ' -f1 /proc/loadavg)"
    # CPU over the sale: from the last sample with the sale untouched to the first with it sold out.
    awk -v stock="$stock" -v hz="$(getconf CLK_TCK)" '
      { t[NR] = $1; rem[NR] = $2; for (i = 3; i <= NF; i++) { split($i, kv, "="); v[NR, kv[1]] = kv[2]; names[kv[1]] = i } }
      END {
        for (i = 1; i <= NR; i++) { if (rem[i] == stock) a = i; if (rem[i] == 0 && !b) b = i }
        if (!a || !b || b <= a) { print "  (no CPU window: the sale was not seen from untouched to sold out)"; exit }
        dt = (t[b] - t[a]) / 1000
        line = sprintf("  CPU during the sale (%.2f s, %d samples), %% of one core:", dt, b - a)
        total = 0
        split("haproxy node1 node2 node3 database payment generator", order, " ")
        for (k = 1; k <= 7; k++) { n = order[k]; c = (v[b, n] - v[a, n]) / hz / dt * 100; total += c
                                   line = line sprintf(" %s %.0f", n, c) }
        line = line sprintf("; sum %.0f; the whole machine %.0f of 200", total, (v[b, "machine"] - v[a, "machine"]) / hz / dt * 100)
        w = 0; l = 0; for (i = a; i <= b; i++) { w += v[i, "waiting"]; l += v[i, "locks"] }
        line = line sprintf("; waiting for a database slot %.1f (mean, 3 nodes), lock waiters %.1f", w / (b - a + 1), l / (b - a + 1))
        print line
      }' "$dir.samples"
    # Group commit (--flash-batch): purchases per committed batch, over the three nodes.
    batch_urls=()
    for u in $(jq -r '.nodes[].url' "$dir/topology.json"); do batch_urls+=("$u/metrics"); done
    curl -s -m 5 "${batch_urls[@]}" | awk '/^shop_flash_batches_total / { b += $2 }
      /^shop_flash_batched_purchases_total / { p += $2 }
      END { if (b > 0) printf "  group commit: %d purchases in %d batches, %.1f per batch\n", p, b, p / b
            else print "  group commit: off (no batches)" }'
    if [[ $rc -ne 0 || $invariants != "all hold" ]]; then
      echo "stampede run exited $rc; its output: $dir.run.log" >&2
      tail -30 "$dir.run.log" >&2
      exit 1
    fi
    stop_shop
  done
done
echo "machine after: $(uptime | sed 's/.*load/load/')"
