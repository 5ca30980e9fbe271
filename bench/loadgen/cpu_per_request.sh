#!/usr/bin/env bash
# Generator CPU per request, Stampede vs wrk, side by side in one run (#17): the user + system CPU time of
# the generator process (getrusage of the child, so every thread of it counts) divided by the requests it
# completed. One worker thread, 64 connections, nginx (one worker, 615-byte body) on 127.0.0.1,
# alternating ROUNDS times:
#   plain:   Stampede `http.get("/")` per iteration (wrk's request bytes: `userAgent = ""`) vs
#            `wrk -t1 -c64` without a script;
#   journey: GET /, GET /, POST /api/cart with a JSON body and a check on the answer, vs wrk with an
#            equivalent Lua request()/response() script (the three requests in turn, each built with
#            wrk.format, every response checked for status 200, the POST's answer for `"ok":true`).
# CPU time per request does not depend on how busy the machine is the way a rate does; still, run it
# on a quiet machine (the load average is printed).
# With OTHER_BUILD_DIR, a second Stampede (another build, e.g. the io_uring one or a baseline) runs in
# every round too, and its ratio to the first is printed.
# With BUILD_DIR/bench/loadgen/floor_client built (where liburing-dev is installed), each plain round also runs
# the least a generator can do per request (no script, no metrics; epoll and io_uring forms) next to wrk: the
# floor under any generator design on this machine.
# With PIN=1, nginx's worker runs on CPU 0 and every generator on CPU 1 (taskset): how many responses one
# wake-up of the generator finds (and so its CPU per request) then depends less on where the scheduler put
# the two processes in each round; the same for every generator.
#   bench/loadgen/cpu_per_request.sh [BUILD_DIR [OTHER_BUILD_DIR]]
#   env: ROUNDS (3), DURATION (5s), WHICH (plain journey), PIN (0)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
other="${2:-}"
rounds="${ROUNDS:-3}"
duration="${DURATION:-5s}"
which_runs="${WHICH:-plain journey}"
source "$root/bench/lib/peers.sh"
bench_init
start_nginx 615
url="http://127.0.0.1:$NGINX_PORT/"
pin=()
if [[ ${PIN:-0} == 1 ]]; then
  for pid in "$NGINX_PID" $(pgrep -P "$NGINX_PID"); do taskset -a -p -c 0 "$pid" >/dev/null; done
  pin=(taskset -c 1)
fi

cat > "$BENCH_WORK/plain.lua" <<'LUA'
options = { userAgent = "" }  -- the request wrk sends: GET / HTTP/1.1, Host
function default() http.get("/") end
LUA
cat > "$BENCH_WORK/journey.lua" <<'LUA'
options = { userAgent = "" }
local cart = '{"sku":"A-1","qty":2}'
local json_header = { headers = { ["Content-Type"] = "application/json" } }
function default()
  http.get("/")
  http.get("/")
  local res = http.post("/api/cart", cart, json_header)
  check(res, { ["added"] = function(r) return r.status == 200 and r.body:find('"ok":true', 1, true) ~= nil end })
end
LUA
cat > "$BENCH_WORK/journey_wrk.lua" <<'LUA'
local step = 0
local cart = '{"sku":"A-1","qty":2}'
local json_header = { ["Content-Type"] = "application/json" }
failed = 0
function request()
  step = step % 3 + 1
  if step == 3 then return wrk.format("POST", "/api/cart", json_header, cart) end
  return wrk.format("GET", "/")
end
function response(status, headers, body)
  -- the POST's answer is the short one
  if status ~= 200 or (#body < 100 and not body:find('"ok":true', 1, true)) then failed = failed + 1 end
end
function done(summary, latency, requests) io.write(string.format("failed checks %d\n", failed)) end
LUA

# cpu_of OUTPUT_FILE CMD...: runs CMD, its output into OUTPUT_FILE; prints its user+system CPU seconds.
cpu_of() {
  python3 - "$@" <<'PY'
import os, subprocess, sys
with open(sys.argv[1], "w") as out:
    child = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(child.pid, 0)
if status != 0:
    sys.exit(f"{sys.argv[2]} failed ({status}): see {sys.argv[1]}")
print(f"{usage.ru_utime:.3f} {usage.ru_stime:.3f}")
PY
}

ours() {  # scenario [build] -> "requests user system"
  local cpu
  cpu=$(cpu_of "$BENCH_WORK/ours.out" "${pin[@]}" "${2:-$build}/stampede" run "$1" --target "$url" --vus 64 \
        --duration "$duration" --threads 1 -q --out "$BENCH_WORK/r.json")
  python3 - "$BENCH_WORK/r.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
checks = s.get("checks", {})
if s["errors"]:
    sys.exit(f"stampede: {s['errors']} failed requests")
print(s["requests"], end=" ")
PY
  echo "$cpu"
}

theirs() {  # [wrk script] -> "requests user system"
  local cpu args=()
  [[ $# -gt 0 ]] && args=(-s "$1")
  cpu=$(cpu_of "$BENCH_WORK/wrk.out" "${pin[@]}" wrk -t1 -c64 -d"$duration" "${args[@]}" "$url")
  if grep -q "Non-2xx\|failed checks [1-9]" "$BENCH_WORK/wrk.out"; then
    cat "$BENCH_WORK/wrk.out" >&2; exit 1
  fi
  echo "$(awk '/requests in/{print $1}' "$BENCH_WORK/wrk.out") $cpu"
}

floor="$build/bench/loadgen/floor_client"
floor_run() {  # mode -> "requests user system"
  local cpu
  cpu=$(cpu_of "$BENCH_WORK/floor.out" "${pin[@]}" "$floor" "$1" "$NGINX_PORT" 64 "${duration%s}")
  echo "$(awk '/^requests/{print $2}' "$BENCH_WORK/floor.out") $cpu"
}

# per_request "requests user system" -> "us_per_request user_us system_us req_per_s"
per_request() {
  python3 -c "import sys; n,u,s=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'{(u+s)/n*1e6:.2f} {u/n*1e6:.2f} {s/n*1e6:.2f}')" $1
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ), $rounds rounds of $duration, pinned ${PIN:-0}"
for which in $which_runs; do
  ours_sum=0; wrk_sum=0; other_sum=0
  scenario="$BENCH_WORK/$which.lua"
  for round in $(seq "$rounds"); do
    o=$(ours "$scenario")
    if [[ $which == plain ]]; then w=$(theirs); else w=$(theirs "$BENCH_WORK/journey_wrk.lua"); fi
    read -r o_us o_user o_sys <<<"$(per_request "$o")"
    read -r w_us w_user w_sys <<<"$(per_request "$w")"
    echo "$which round $round: stampede $o_us us/request (user $o_user, sys $o_sys; ${o%% *} requests)," \
         "wrk $w_us us/request (user $w_user, sys $w_sys; ${w%% *} requests), ratio $(ratio "$o_us" "$w_us")" \
         "[load $(cut -d' ' -f1 /proc/loadavg)]"
    if [[ $which == plain && -x $floor ]]; then
      for mode in epoll epoll-deferred uring; do
        f=$(floor_run "$mode")
        read -r f_us f_user f_sys <<<"$(per_request "$f")"
        echo "  floor client ($mode): $f_us us/request (user $f_user, sys $f_sys; ${f%% *} requests)," \
             "ratio to wrk $(ratio "$f_us" "$w_us")"
      done
    fi
    if [[ -n $other ]]; then
      a=$(ours "$scenario" "$other")
      read -r a_us a_user a_sys <<<"$(per_request "$a")"
      echo "  other build: $a_us us/request (user $a_user, sys $a_sys; ${a%% *} requests)," \
           "ratio to wrk $(ratio "$a_us" "$w_us"), to the first build $(ratio "$a_us" "$o_us")"
      other_sum=$(python3 -c "print($other_sum + $a_us)")
    fi
    ours_sum=$(python3 -c "print($ours_sum + $o_us)"); wrk_sum=$(python3 -c "print($wrk_sum + $w_us)")
  done
  echo "$which mean: stampede $(python3 -c "print(f'{$ours_sum / $rounds:.2f}')") us/request," \
       "wrk $(python3 -c "print(f'{$wrk_sum / $rounds:.2f}')") us/request," \
       "ratio $(ratio "$ours_sum" "$wrk_sum") (target <= 0.8x)"
  if [[ -n $other ]]; then
    echo "$which mean, other build: $(python3 -c "print(f'{$other_sum / $rounds:.2f}')") us/request," \
         "ratio to wrk $(ratio "$other_sum" "$wrk_sum"), to the first build $(ratio "$other_sum" "$ours_sum")"
  fi
done
