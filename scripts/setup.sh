#!/usr/bin/env bash
# Installs what Stampede needs from Debian 12's packages (idempotent: does nothing when all are
# present) and builds the release configuration into build/release.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost1.81-all-dev libboost-json1.81-dev libboost-url1.81-dev
  liblua5.4-dev lua5.4 libgtest-dev libgmock-dev libbenchmark-dev
  libssl-dev zlib1g-dev libsqlite3-dev sqlite3 libsodium-dev libhttp-parser-dev
  postgresql-15 postgresql-client-15 libpq-dev
  patroni etcd-server python3-etcd python3-psycopg2
  nginx-light wrk hey haproxy prometheus prometheus-alertmanager
  prometheus-postgres-exporter prometheus-redis-exporter procps iproute2 curl bc python3 util-linux
  clang libclang-rt-14-dev chromium
  redis-server libhiredis-dev
)
# Node and npm may come from elsewhere (the machine's own Node); Debian's are used only when absent.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged nginx starts a system service; the project runs its own nginx instances instead.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
# The same for the packaged Redis: `stampede shop --cache redis` runs its own redis-server.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  systemctl stop redis-server || true
fi

# And for Prometheus, Alertmanager and the exporters: `stampede shop --observe` runs its own, on free ports.
for service in prometheus prometheus-alertmanager prometheus-postgres-exporter prometheus-redis-exporter; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" || true
  fi
done

# An independent HdrHistogram decoder for interop tests (npm registry).
if [[ -f tests/interop/package-lock.json && ! -d tests/interop/node_modules ]]; then
  (cd tests/interop && npm ci --silent --no-audit --no-fund) || echo "setup: npm ci failed; interop tests will skip"
fi

[[ "${1:-}" == "--no-build" ]] && exit 0

# ccache hits across checkouts in different folders (CI clones afresh).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
echo "setup: built build/release/stampede"
