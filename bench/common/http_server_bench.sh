#!/usr/bin/env bash
# Compares stampede's http::server with nginx on one thread each: a cached/static GET of a 615-byte
# body, `wrk -t1 -c64 -d5s`, alternating the two servers for 3 rounds; prints req/s and the ratio.
#   bench/common/http_server_bench.sh [BUILD_DIR]      (default build/release; needs target http_server_bench)
# Environment: ROUNDS (3), DURATION (5s), CONNECTIONS (64).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build/release}"
bench_bin="$build/bench/common/http_server_bench"
rounds="${ROUNDS:-3}"
duration="${DURATION:-5s}"
connections="${CONNECTIONS:-64}"

[[ -x "$bench_bin" ]] || { echo "missing $bench_bin (cmake --build $build --target http_server_bench)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 2; }
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
[[ -x "$nginx_bin" ]] || { echo "nginx not installed (apt-get install nginx-light)" >&2; exit 2; }

work="$(mktemp -d /tmp/stampede-http-bench.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nginx: one worker, non-root, foreground, everything under $work.
mkdir -p "$work/html" "$work/logs" "$work/tmp"
printf '{"data":"%s"}' "$(head -c 604 /dev/zero | tr '\0' x)" > "$work/html/index.json"
nginx_port="$(free_port)"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/tmp/body;
  proxy_temp_path $work/tmp/proxy;
  fastcgi_temp_path $work/tmp/fastcgi;
  uwsgi_temp_path $work/tmp/uwsgi;
  scgi_temp_path $work/tmp/scgi;
  keepalive_requests 1000000;
  open_file_cache max=16;
  default_type application/json;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/html;
    location / { try_files /index.json =404; }
  }
}
CONF
as_user=()
if [[ "$(id -u)" == 0 ]]; then  # never run the peer as root: drop to nobody
  chown -R nobody "$work"
  as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
fi
"${as_user[@]}" "$nginx_bin" -p "$work" -c "$work/nginx.conf" 2>"$work/nginx.stderr" &
pids+=($!)

"$bench_bin" --threads 1 > "$work/ours.out" &
pids+=($!)

wait_for() {  # port
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2; cat "$work/nginx.stderr" >&2; exit 1
}
for _ in $(seq 100); do grep -qs '^port ' "$work/ours.out" && break; sleep 0.05; done
ours_port="$(awk '/^port /{print $2}' "$work/ours.out")"
wait_for "$nginx_port"
wait_for "$ours_port"

body_size() { curl -s "http://127.0.0.1:$1/" | wc -c; }
show() { curl -s -i "http://127.0.0.1:$1/" | head -c 400; echo; }
if command -v curl >/dev/null; then
  echo "body bytes: nginx $(body_size "$nginx_port"), stampede $(body_size "$ours_port")"
  [[ -n "${VERBOSE:-}" ]] && { show "$nginx_port"; show "$ours_port"; cat "$work/logs/error.log"; }
fi

run_wrk() {  # port -> requests/s
  wrk -t1 -c"$connections" -d"$duration" "http://127.0.0.1:$1/" | awk '/^Requests\/sec:/{print $2}'
}

total_nginx=0
total_ours=0
for round in $(seq "$rounds"); do
  n="$(run_wrk "$nginx_port")"
  o="$(run_wrk "$ours_port")"
  printf 'round %d: nginx %10.0f req/s   stampede %10.0f req/s   ratio %.3f\n' "$round" "$n" "$o" \
    "$(echo "$o / $n" | bc -l)"
  total_nginx="$(echo "$total_nginx + $n" | bc -l)"
  total_ours="$(echo "$total_ours + $o" | bc -l)"
done
printf 'mean:    nginx %10.0f req/s   stampede %10.0f req/s   ratio %.3f (target >= 0.85)\n' \
  "$(echo "$total_nginx / $rounds" | bc -l)" "$(echo "$total_ours / $rounds" | bc -l)" \
  "$(echo "$total_ours / $total_nginx" | bc -l)"
