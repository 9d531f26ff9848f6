#!/usr/bin/env bash
# Starts the local services the test suites use when they are not already running:
# Redis 127.0.0.1:6379, NATS with JetStream 127.0.0.1:4222, PostgreSQL 127.0.0.1:5432.
# (Kafka has its own script: infra/kafka/kafka.sh.) `promtool` prints the path of a promtool
# (Prometheus' rule checker), taken from Debian's prometheus package when none is on PATH.
# `chromium` installs Debian's chromium (the dashboard's browser test drives it headless) when no
# Chromium is on the machine.
# Usage: infra/services.sh [ensure|status|promtool|chromium]
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 80); do port_open "$1" && return 0; sleep 0.25; done
  log "$2 did not come up on port $1"; return 1
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || { log "redis-server is not installed"; return 1; }
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 Redis
}

ensure_nats() {
  port_open 4222 && return 0
  [ -x /usr/sbin/nats-server ] || { log "nats-server is not installed"; return 1; }
  log "starting NATS (JetStream)"
  mkdir -p /var/lib/nats-server 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  wait_port 4222 NATS
}

ensure_postgres() {
  port_open 5432 && return 0
  command -v pg_ctlcluster >/dev/null || { log "PostgreSQL is not installed"; return 1; }
  log "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  wait_port 5432 PostgreSQL
}

# promtool alone, unpacked from Debian's prometheus package into a cache directory: installing the
# package would also set up (and on some systems start) a Prometheus server, which CI does not want.
ensure_promtool() {
  if command -v promtool >/dev/null; then command -v promtool; return 0; fi
  local dir="${KEYFLOW_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keyflow-tools}/prometheus"
  if [ ! -x "$dir/usr/bin/promtool" ]; then
    log "fetching promtool from Debian's prometheus package"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; }) \
      || { log "apt-get download prometheus failed"; rm -rf "$tmp"; return 1; }
    mkdir -p "$dir"
    dpkg-deb -x "$tmp"/prometheus_*.deb "$dir"
    rm -rf "$tmp"
  fi
  echo "$dir/usr/bin/promtool"
}

# Debian's chromium for the dashboard's browser test (test/e2e/dashboard.test.ts, playwright-core).
ensure_chromium() {
  for c in "${CHROMIUM_PATH:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  log "installing Debian's chromium"
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; } \
    || { log "apt-get install chromium failed"; return 1; }
  echo /usr/bin/chromium
}

case "${1:-ensure}" in
  promtool) ensure_promtool ;;
  chromium) ensure_chromium ;;
  ensure) ensure_redis; ensure_nats; ensure_postgres ;;
  status)
    for p in 6379:redis 4222:nats 5432:postgres; do
      if port_open "${p%%:*}"; then echo "${p#*:} up"; else echo "${p#*:} down"; fi
    done ;;
  *) echo "usage: $0 [ensure|status|promtool|chromium]" >&2; exit 2 ;;
esac
