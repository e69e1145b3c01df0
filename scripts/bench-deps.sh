#!/usr/bin/env bash
# Installs what `make bench` needs when it is missing: Dovecot's IMAP and POP3 servers from
# Debian's packages, the baseline the bench measures beside mailgrid (test/bench/dovecot.go).
# The bench runs its own Dovecot instance from a temporary directory; a system instance
# the package may have started is stopped again.
set -euo pipefail
if [ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] && [ -e /usr/lib/dovecot/pop3 ]; then
  exit 0
fi
echo "bench-deps: installing dovecot-imapd dovecot-pop3d"
if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dovecot-imapd dovecot-pop3d >/dev/null
$SUDO doveadm stop >/dev/null 2>&1 || true
