#!/usr/bin/env bash
# Cached GET /api/products/{id} on one shop node with one thread, addressed directly, against nginx serving
# a static body of the same size, driven by `wrk -t1 -c64`, in alternating runs.
# usage: bench/reference_shop/cached_get_vs_nginx.sh [STAMPEDE_BINARY] [SECONDS] [ROUNDS]
set -euo pipefail
bin=${1:-build/release/stampede}
seconds=${2:-10}
rounds=${3:-3}
work=$(mktemp -d /tmp/stampede-shop-bench.XXXXXX)
shop_pid=""; nginx_pid=""
cleanup() {
  [[ -n "$shop_pid" ]] && kill -TERM "$shop_pid" 2>/dev/null && wait "$shop_pid" 2>/dev/null || true
  [[ -n "$nginx_pid" ]] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" shop --nodes 1 --threads 1 --port 0 --kdf minimal --data "$work/shop" > "$work/entry" 2> "$work/shop.log" &
shop_pid=$!
for _ in $(seq 100); do [[ -s "$work/entry" ]] && break; sleep 0.1; done
node_url=$(python3 -c "import json;print(json.load(open('$work/shop/topology.json'))['nodes'][0]['url'])")
curl -sf "$node_url/api/products/1" > "$work/body.json"   # warms the cache
size=$(stat -c %s "$work/body.json")

nginx_port=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
mkdir -p "$work/nginx/html/api/products" "$work/nginx/logs"
cp "$work/body.json" "$work/nginx/html/api/products/1"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/json;
  server { listen 127.0.0.1:$nginx_port; root $work/nginx/html; }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" 2> "$work/nginx/logs/start.log" &
nginx_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$nginx_port/api/products/1" > /dev/null && break; sleep 0.1; done

rps() { wrk -t1 -c64 -d"${seconds}s" "$1" | awk '/Requests\/sec/ {print $2}'; }
echo "body: $size bytes; wrk -t1 -c64 -d${seconds}s; node $node_url, nginx 127.0.0.1:$nginx_port"
printf "%-6s %12s %12s %7s\n" round shop_rps nginx_rps ratio
for r in $(seq "$rounds"); do
  s=$(rps "$node_url/api/products/1")
  n=$(rps "http://127.0.0.1:$nginx_port/api/products/1")
  printf "%-6s %12s %12s %7.3f\n" "$r" "$s" "$n" "$(echo "$s / $n" | bc -l)"
done
