# Shared helpers for the end-to-end benchmark scripts (source it). Starts peers as foreground
# processes with everything under a temp folder, never as root, and cleans up on exit.
#   source bench/lib/peers.sh; bench_init; start_nginx 615; echo "$NGINX_PORT"
# shellcheck shell=bash

bench_init() {
  BENCH_WORK="$(mktemp -d /tmp/stampede-bench.XXXXXX)"
  chmod 755 "$BENCH_WORK"
  BENCH_PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  for pid in "${BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$BENCH_WORK"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for_port() {  # port
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start_nginx BODY_BYTES: one nginx worker serving a static JSON body of that size at every path
# but /api/cart, which answers any method (POST included) with {"ok":true,"cart":42}.
# Sets NGINX_PORT and NGINX_PID.
start_nginx() {
  local bytes="${1:-615}" dir="$BENCH_WORK/nginx"
  local nginx_bin
  nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
  mkdir -p "$dir/html" "$dir/logs" "$dir/tmp"
  printf '{"data":"%s"}' "$(head -c $((bytes - 11)) /dev/zero | tr '\0' x)" > "$dir/html/index.json"
  NGINX_PORT="$(free_port)"
  cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 20000; }
worker_rlimit_nofile 40000;
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  open_file_cache max=16;
  default_type application/json;
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    root $dir/html;
    location / { try_files /index.json =404; }
    # A JSON answer to any method (the journey benchmarks POST here); nginx reads and drops the body.
    location = /api/cart { return 200 '{"ok":true,"cart":42}'; }
  }
}
CONF
  local as_user=()
  if [[ "$(id -u)" == 0 ]]; then
    chown -R nobody "$dir"
    as_user=(setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups)
  fi
  "${as_user[@]}" "$nginx_bin" -p "$dir" -c "$dir/nginx.conf" 2>"$dir/stderr" &
  NGINX_PID=$!
  BENCH_PIDS+=("$NGINX_PID")
  wait_for_port "$NGINX_PORT" || { cat "$dir/stderr" >&2; return 1; }
}

# start_stampede_proxy BINARY LABEL: `BINARY proxy` with one proxy in front of nginx (start_nginx first), its
# log in $BENCH_WORK/LABEL.log; sets PROXY_PORT and PROXY_PID once the proxy listens.
start_stampede_proxy() {
  local binary="$1" label="$2" api_port
  PROXY_PORT=$(free_port); api_port=$(free_port)
  echo "[{\"name\":\"nginx\",\"listen\":\"127.0.0.1:$PROXY_PORT\",\"upstream\":\"127.0.0.1:$NGINX_PORT\"}]" \
    > "$BENCH_WORK/$label.json"
  "$binary" proxy --listen "127.0.0.1:$api_port" --config "$BENCH_WORK/$label.json" > "$BENCH_WORK/$label.log" 2>&1 &
  PROXY_PID=$!; BENCH_PIDS+=("$PROXY_PID")
  wait_for_port "$PROXY_PORT"
}

# ratio A B -> "A/B" with 2 decimals
# start_haproxy_tcp PORT: HAProxy in TCP mode, one thread, on 127.0.0.1:PORT in front of nginx (start_nginx
# first); sets HAPROXY_PID once it listens. The proxy benchmarks' peer.
start_haproxy_tcp() {
  local port="$1"
  cat > "$BENCH_WORK/haproxy.cfg" <<CFG
global
  nbthread 1
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen nginx
  bind 127.0.0.1:$port
  server nginx 127.0.0.1:$NGINX_PORT
CFG
  haproxy -f "$BENCH_WORK/haproxy.cfg" -db > "$BENCH_WORK/haproxy.log" 2>&1 &
  HAPROXY_PID=$!; BENCH_PIDS+=("$HAPROXY_PID")
  wait_for_port "$port"
}

ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b else 'n/a')" "$1" "$2"; }

# peak_rss_kb PID: samples VmHWM (peak resident set) of a running process
peak_rss_kb() { awk '/VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# shop_start BIN DIR WAIT_S SHOP_FLAGS...: `BIN shop SHOP_FLAGS... --data DIR` in the background, its entry URL
# (stdout) into DIR.entry, its log (stderr) into DIR.log, and waits up to WAIT_S seconds for the entry URL
# (Patroni: etcd, a leader and streaming replicas first, ~20-40 s). Sets SHOP_PID and SHOP_ENTRY; returns 1
# with the log's tail when the shop exits or the wait runs out. shop_stop stops it.
shop_start() {
  local bin=$1 dir=$2 wait_s=$3 i
  shift 3
  "$bin" shop "$@" --data "$dir" > "$dir.entry" 2> "$dir.log" &
  SHOP_PID=$!
  for ((i = 0; i < wait_s * 10; i++)); do
    if [[ -s "$dir.entry" ]]; then
      # shellcheck disable=SC2034 # read by the scripts that source this file
      SHOP_ENTRY=$(< "$dir.entry")
      return 0
    fi
    kill -0 "$SHOP_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the shop ($*) exited or printed no entry URL within ${wait_s} s:" >&2
  tail -5 "$dir.log" >&2
  return 1
}

# shop_stop: SIGTERM to the shop shop_start started (it stops its own children: nodes, HAProxy, databases)
# and waits for it to exit; nothing when none runs.
shop_stop() {
  if [[ -n "${SHOP_PID:-}" ]]; then
    kill -TERM "$SHOP_PID" 2>/dev/null || true
    wait "$SHOP_PID" 2>/dev/null || true
    SHOP_PID=""
  fi
}
