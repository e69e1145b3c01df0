#!/usr/bin/env bash
# Installs what `make test` needs when it is missing, so a fresh machine passes:
# Debian packages (swaks, python3, fetchmail, isync, chromium), the npm test clients (exact versions from the
# committed lockfiles).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v fetchmail >/dev/null 2>&1 || need+=(fetchmail)
command -v mbsync >/dev/null 2>&1 || need+=(isync)
command -v clamd >/dev/null 2>&1 || [ -x /usr/sbin/clamd ] || need+=(clamav-daemon)
command -v rspamd >/dev/null 2>&1 || need+=(rspamd)
command -v sieve-connect >/dev/null 2>&1 || need+=(sieve-connect)
# The cluster tests use the local PostgreSQL; the outage and failover tests run private
# instances with its server binaries (initdb, pg_ctl, pg_basebackup).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# The browser tests (test/browser) drive Debian's chromium with playwright-core; a browser
# is never downloaded by a tool.
[ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "test-deps: installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

for lock in test/*/package-lock.json web/package-lock.json; do
  [ -f "$lock" ] || continue
  d=$(dirname "$lock")
  if [ ! -d "$d/node_modules" ]; then
    echo "test-deps: npm ci in $d"
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# PostgreSQL for the cluster drivers' tests: this machine kind runs one at 127.0.0.1:5432;
# start it if it is down (never stop or reconfigure it: tests create their own databases).
if command -v pg_lsclusters >/dev/null 2>&1; then
  pg_lsclusters --no-header | while read -r ver name port status _; do
    if [ "$status" != "online" ]; then
      echo "test-deps: starting PostgreSQL $ver/$name"
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start || true
    fi
  done
fi
