#!/usr/bin/env bash
# nginx direct vs through `stampede proxy` (no toxic): wrk -t1 -c64 -d5s, 3 alternating rounds, then the
# median added latency of sequential requests (wrk -t1 -c1 --latency, p50 proxied - p50 direct).
# Targets: throughput ratio >= 0.7x, added median latency < 50 us.
# usage: bench/chaos/proxy_bench.sh [path/to/stampede]   (default: build/chaos/stampede)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
stampede=${1:-$root/build/chaos/stampede}
duration=${DURATION:-5s}
rounds=${ROUNDS:-3}
for tool in nginx wrk curl; do command -v $tool >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
[[ -x $stampede ]] || { echo "missing $stampede (cmake --build build/chaos --target stampede)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nginx_port=$(free_port); proxy_port=$(free_port); api_port=$(free_port)

mkdir -p "$tmp/logs" "$tmp/html"
chmod 755 "$tmp" "$tmp/html"  # nginx workers may run as another user when started by root
echo -n "hello from nginx" > "$tmp/html/index.html"
cat > "$tmp/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $tmp/logs/error.log warn;
pid $tmp/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi;
  uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
  server { listen 127.0.0.1:$nginx_port; root $tmp/html; }
}
CONF
nginx -p "$tmp" -c "$tmp/nginx.conf" & pids+=($!)
echo "[{\"name\":\"nginx\",\"listen\":\"127.0.0.1:$proxy_port\",\"upstream\":\"127.0.0.1:$nginx_port\"}]" > "$tmp/proxies.json"
"$stampede" proxy --listen 127.0.0.1:$api_port --config "$tmp/proxies.json" > "$tmp/proxy.log" 2>&1 & pids+=($!)

for port in $nginx_port $proxy_port; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/" >/dev/null || { echo "port $port not serving" >&2; cat "$tmp/proxy.log" "$tmp/logs/error.log" >&2; exit 1; }
done

rate() { wrk -t1 -c64 -d"$duration" "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }
p50_us() {  # wrk prints e.g. "50%   45.00us" or "50%    1.02ms"
  wrk -t1 -c1 -d3s --latency "http://127.0.0.1:$1/" | awk '$1=="50%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); print v}
    else if (v ~ /ms$/) {sub(/ms/,"",v); print v*1000} else {sub(/s/,"",v); print v*1000000}}'
}

direct_sum=0; proxied_sum=0
for r in $(seq "$rounds"); do
  d=$(rate $nginx_port); p=$(rate $proxy_port)
  echo "round $r: direct ${d} req/s, proxied ${p} req/s"
  direct_sum=$(echo "$direct_sum + $d" | bc -l); proxied_sum=$(echo "$proxied_sum + $p" | bc -l)
done
ratio=$(echo "$proxied_sum / $direct_sum" | bc -l)
d50=$(p50_us $nginx_port); p50=$(p50_us $proxy_port)
added=$(echo "$p50 - $d50" | bc -l)
printf "mean direct %.0f req/s, proxied %.0f req/s, ratio %.2fx (target >= 0.7x)\n" \
  "$(echo "$direct_sum / $rounds" | bc -l)" "$(echo "$proxied_sum / $rounds" | bc -l)" "$ratio"
printf "median latency (c1): direct %.1f us, proxied %.1f us, added %.1f us (target < 50 us)\n" "$d50" "$p50" "$added"
