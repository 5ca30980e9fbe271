#!/usr/bin/env bash
# Memory against an endless chunked response body: VUS VUs each GET a body that never ends (a small
# Python server streams 64 KiB chunks) until the 2 s request timeout; prints the generator's peak RSS,
# what it received and how the requests ended, with and without discardResponseBodies. Give a second
# build directory to compare (e.g. main's build before the responseBodyLimit change).
#   bench/loadgen/endless_body.sh [BUILD_DIR [OTHER_BUILD_DIR]]     env: VUS (1 4)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
builds=("${1:-$root/build/release}")
[[ $# -ge 2 ]] && builds+=("$2")
source "$root/bench/lib/peers.sh"
bench_init
port=$(free_port)
python3 - "$port" <<'PY' &
import socket, sys, threading
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen(64)
chunk = b"%x\r\n" % 65536 + b"b" * 65536 + b"\r\n"
def serve(conn):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            data = conn.recv(4096)
            if not data:
                return
            head += data
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            conn.sendall(chunk)
    except OSError:
        pass
    finally:
        conn.close()
while True:
    conn, _ = server.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
PY
BENCH_PIDS+=($!)
wait_for_port "$port"
for discard in false true; do
  for vus in ${VUS:-1 4}; do
    cat > "$BENCH_WORK/endless.lua" <<LUA
options = { timeout = "2s", discardResponseBodies = $discard,
            scenarios = { s = { executor = "per-vu-iterations", vus = $vus, iterations = 1 } } }
function default() http.get("http://127.0.0.1:$port/endless") end
LUA
    for build in "${builds[@]}"; do
      /usr/bin/time -f "%M" -o "$BENCH_WORK/rss" "$build/stampede" run "$BENCH_WORK/endless.lua" -q --threads 1 \
          --out "$BENCH_WORK/r.json" >/dev/null 2>&1 || true
      outcome=$(python3 -c "
import json; s = json.load(open('$BENCH_WORK/r.json'))['summary']
kinds = ', '.join(f'{k} {v}' for k, v in s['errors_by_kind'].items() if v)
print(f\"{s['data_received_bytes'] / 1e6:.0f} MB received, {kinds}\")")
      echo "discardResponseBodies=$discard, $vus VU(s), $build: peak RSS $(( $(cat "$BENCH_WORK/rss") / 1024 )) MB; $outcome"
    done
  done
done
