#!/usr/bin/env bash
# Runs fuzz targets: every Fuzz function of the given packages (default ./...), found with
# `go test -list`, for FUZZTIME each (first argument; default 30s). New failing inputs land in
# the package's testdata/fuzz, where plain `go test` replays them from then on.
#
#   bash scripts/fuzz.sh 30s                 # make fuzz: every target
#   bash scripts/fuzz.sh 5s ./internal/imapserver ./internal/pop3server   # make test: briefly
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fuzztime=${1:-30s}
shift || true
[ $# -gt 0 ] || set -- ./...
list=$(mktemp)
trap 'rm -f "$list"' EXIT
"$GO" test -list '^Fuzz' "$@" > "$list" || { cat "$list"; exit 1; }
awk '/^Fuzz/ { f[n++] = $1; next } /^ok/ { for (i = 0; i < n; i++) print $2, f[i] } { n = 0 }' "$list" |
while read -r pkg target; do
  echo "fuzz $pkg $target for $fuzztime"
  "$GO" test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg"
done
