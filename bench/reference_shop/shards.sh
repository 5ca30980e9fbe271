#!/usr/bin/env bash
# Cross-shard checkout (#14): the shop on one PostgreSQL (K = 1) and partitioned over K = 2 and 3 servers with
# two-phase commit and with sagas, side by side in one run; each configuration a fresh shop (3 nodes x 4
# threads, scale 2, --kdf minimal), loaded by `stampede run` with shards_checkout.lua: 64 VUs, a 3 s warm-up,
# then PHASE of single-shard carts (3 SKUs on the buyer's home shard: one local commit) and PHASE of cross-shard
# carts (3 SKUs over min(K, 3) shards: PREPARE on each, the decision, COMMIT PREPARED; or the saga's steps),
# the two in alternating order from one round to the next. After each: the scenario's verify() (every
# acknowledged order exists exactly once, stock bounds, money, queue, atomicity: complete on every shard or
# nowhere, nothing prepared, no saga open) must pass, else the script stops.
# Also the price of the prepare round alone, pgbench-style on the first K = 2 shop's shard 0 before its load (the
# K = 1 server has max_prepared_transactions = 0): BEGIN; UPDATE; COMMIT vs BEGIN; UPDATE; PREPARE
# TRANSACTION; COMMIT PREPARED, 8 clients, alternating, PGROUNDS x 3 s each.
# usage: bench/reference_shop/shards.sh [STAMPEDE_BINARY] [ROUNDS=1]
#   env CONFIGS (default "k1 k2-2pc k2-saga k3-2pc k3-saga"), PHASE (6s), VUS (64), PGROUNDS (3)
# ~3.5 min a round on 2 cores (ROUNDS=2: ~7 min).
set -euo pipefail
bin=$(realpath "${1:-build/release/stampede}")
rounds=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
phase=${PHASE:-6s}
vus=${VUS:-64}
work=$(mktemp -d /tmp/stampede-shards.XXXXXX)
chmod o+x "$work"  # PostgreSQL runs as the postgres user when we are root
source "$here/../lib/peers.sh"
cleanup() {
  shop_stop
  rm -rf "$work"
}
trap cleanup EXIT
start_shop() {  # $1 = k1|kK-2pc|kK-saga, $2 = data directory
  local flags
  case "$1" in
    k1) flags=(--db postgres) ;;
    k[2-8]-2pc) flags=(--db postgres --shards "${1:1:1}" --txn 2pc) ;;
    k[2-8]-saga) flags=(--db postgres --shards "${1:1:1}" --txn saga) ;;
    *) echo "unknown configuration '$1' (k1, kK-2pc, kK-saga)" >&2; exit 2 ;;
  esac
  shop_start "$bin" "$2" 90 "${flags[@]}" --nodes 3 --threads 4 --port 0 --kdf minimal --scale 2 \
    --login-rate-source off || exit 1
}
step() {  # $1 = results, $2 = step name -> "count orders/s p50 p99 errors"
  jq -r --arg n "$2" --argjson s "${phase%s}" '.steps[] | select(.name == $n)
    | "\(.requests) \(.requests / $s | floor) \(.latency_ms.p50) \(.latency_ms.p99) \(.errors)"' "$1"
}

echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/'), $(date -u +%FT%TZ), $("$bin" --version 2>/dev/null | head -1)"
summary="$work/summary.txt"
for round in $(seq "$rounds"); do
  order=single,cross
  (( round % 2 == 0 )) && order=cross,single
  for config in ${CONFIGS:-k1 k2-2pc k2-saga k3-2pc k3-saga}; do
    dir="$work/$config-$round"
    t0=$(date +%s.%N)
    start_shop "$config" "$dir"
    started=$(date +%s.%N)
    shards=1
    [[ $config == k1 ]] || shards=${config:1:1}
    if [[ $config == k2-* && ! -s $work/pgbench.txt ]]; then  # the prepare round alone, on shard 0
      url=$(jq -r '.database.shards[0].url' "$dir/topology.json")
      psql -q "$url" -c "CREATE TABLE bench_rows (id int PRIMARY KEY, v bigint NOT NULL DEFAULT 0);
                         INSERT INTO bench_rows SELECT g FROM generate_series(1, 1000) g;" > /dev/null
      printf '\\set id random(1, 1000)\nBEGIN;\nUPDATE bench_rows SET v = v + 1 WHERE id = :id;\nCOMMIT;\n' \
        > "$work/commit.sql"
      printf '\\set id random(1, 1000)\nBEGIN;\nUPDATE bench_rows SET v = v + 1 WHERE id = :id;\n%s\n%s\n' \
        "PREPARE TRANSACTION 'bench-:client_id';" "COMMIT PREPARED 'bench-:client_id';" > "$work/prepare.sql"
      for r in $(seq "${PGROUNDS:-3}"); do
        for kind in commit prepare; do
          out=$(pgbench -n -f "$work/$kind.sql" -c 8 -j 2 -T 3 "$url" 2>&1) || { echo "$out" >&2; exit 1; }
          tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<< "$out")
          lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' <<< "$out")
          failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<< "$out")
          printf '  pgbench %-7s round %d: %7.0f tps, latency average %.2f ms, failed %s\n' "$kind" "$r" "$tps" "$lat" \
            "${failed:-?}"
          echo "$kind $r $tps $lat" >> "$work/pgbench.txt"
        done
      done
      echo "  prepared transactions left: $(psql -tAq "$url" -c "SELECT count(*) FROM pg_prepared_xacts")"
    fi
    set +e
    LUA_PATH="$repo/scenarios/?.lua" "$bin" run "$here/shards_checkout.lua" --target "$SHOP_ENTRY" \
      -e SHARDS="$shards" -e VUS="$vus" -e PHASE="$phase" -e ORDER="$order" \
      -e ADMIN_TOKEN="$(jq -r .admin_token "$dir/topology.json")" \
      -e PAYMENT_URL="$(jq -r .payment_emulator.url "$dir/topology.json")" \
      --out "$dir.json" > "$dir.run.log" 2>&1
    rc=$?
    set -e
    invariants=$(jq -r '[.verify.invariants[] | select(.ok | not) | .name] | if length == 0 then "all hold"
                         else "FAILED: " + join("; ") end' "$dir.json")
    printf '%-8s round %d (%s): shop up in %.0f s; load avg %s; invariants: %s (%s); quiesce %.1f s\n' \
      "$config" "$round" "$order" "$(echo "$started - $t0" | bc)" "$(cut -d' ' -f1 /proc/loadavg)" \
      "$invariants" "$(jq -r '[.verify.invariants[] | select(.name | test("exist exactly once|atomic"))
        | .detail // empty] | join(" / ")' "$dir.json" | cut -c1-240)" "$(jq -r '.quiesce.waited_s // 0' "$dir.json")"
    for cart in single cross; do
      read -r count rate p50 p99 errors <<< "$(step "$dir.json" "POST /api/orders $cart")"
      printf '  %-6s carts: %6d orders, %5d orders/s, p50 %7.1f ms, p99 %7.1f ms, errors %d\n' \
        "$cart" "$count" "$rate" "$p50" "$p99" "$errors"
      echo "$config $cart $round $rate $p50 $p99 $errors" >> "$summary"
    done
    if [[ $rc -ne 0 || $invariants != "all hold" ]]; then
      echo "stampede run exited $rc; its output: $dir.run.log" >&2
      tail -30 "$dir.run.log" >&2
      exit 1
    fi
    shop_stop
  done
done

echo
echo "== orders/s (mean of rounds, min-max) and p99 ms (mean); cross/single in the same shop"
awk '{ k = $1 " " $2; n[k]++; r[k] += $4; p[k] += $6; e[k] += $7
       if (!(k in lo) || $4 < lo[k]) lo[k] = $4; if ($4 > hi[k]) hi[k] = $4
       if (!($1 in seen)) { seen[$1] = 1; order[++m] = $1 } }
     END { for (i = 1; i <= m; i++) { c = order[i]; s = c " single"; x = c " cross"
             printf "  %-8s single %5.0f/s (%d-%d) p99 %6.1f | cross %5.0f/s (%d-%d) p99 %6.1f | cross/single %.2fx | errors %d\n",
               c, r[s] / n[s], lo[s], hi[s], p[s] / n[s], r[x] / n[x], lo[x], hi[x], p[x] / n[x],
               (r[x] / n[x]) / (r[s] / n[s]), e[s] + e[x] } }' "$summary"
if [[ -s $work/pgbench.txt ]]; then
  awk '{ n[$1]++; t[$1] += $3; l[$1] += $4 }
       END { printf "  prepare round alone (pgbench, 8 clients, shard 0 of a K = 2 shop before its load): COMMIT %.0f tps %.2f ms, PREPARE+COMMIT PREPARED %.0f tps %.2f ms: %.2fx the throughput, +%.2f ms\n",
               t["commit"] / n["commit"], l["commit"] / n["commit"], t["prepare"] / n["prepare"], l["prepare"] / n["prepare"],
               (t["prepare"] / n["prepare"]) / (t["commit"] / n["commit"]), l["prepare"] / n["prepare"] - l["commit"] / n["commit"] }' \
    "$work/pgbench.txt"
fi
echo "machine after: $(uptime | sed 's/.*load/load/')"
