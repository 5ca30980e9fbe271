#!/usr/bin/env bash
# Large responses (10 MB from nginx, wrk -t1 -c4) through `stampede proxy` (AFTER) vs another build
# of it (BEFORE, e.g. main or STAMPEDE_PROXY_SPLICE=OFF) vs HAProxy (TCP mode, one thread),
# alternating 3 rounds: MB/s and the proxy process's CPU (user + system, /proc) per MB.
# usage: bench/chaos/proxy_bulk_bench.sh AFTER BEFORE
set -euo pipefail
for tool in nginx wrk haproxy; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
[[ $# -eq 2 ]] || { echo "usage: $0 AFTER BEFORE (two stampede binaries)" >&2; exit 2; }
root="$(cd "$(dirname "$0")/../.." && pwd)"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 10000000
declare -A port pid
for which in after before; do
  bin=$1; [[ $which == before ]] && bin=$2
  start_stampede_proxy "$bin" "$which"; port[$which]=$PROXY_PORT; pid[$which]=$PROXY_PID
done
hp=$(free_port)
start_haproxy_tcp "$hp"; pid[haproxy]=$HAPROXY_PID; port[haproxy]=$hp
for r in 1 2 3; do
  line="round $r:"
  for which in after before haproxy; do
    t0=$(awk '{print $14+$15}' /proc/${pid[$which]}/stat)
    out=$(wrk -t1 -c4 -d3s "http://127.0.0.1:${port[$which]}/")
    t1=$(awk '{print $14+$15}' /proc/${pid[$which]}/stat)
    req=$(awk '/requests in/ {print $1}' <<<"$out")
    line+=" $which $(python3 -c "import sys; t,r=int(sys.argv[1]),int(sys.argv[2]); print(f'{r*10/3:.0f} MB/s, {t*10/(r*10):.2f} ms CPU per MB')" $((t1-t0)) $req);"
  done
  echo "$line"
done
