#!/usr/bin/env bash
# Builds the real Temporal server (not the dev server) and its SQL schema tool from the Go module
# proxy, once, into a cache outside the repository:
#   ${SKYRUN_TOOLS_DIR:-~/.cache/skyrun/bin}/temporal-server-<version>/{temporal-server,temporal-sql-tool}
# scripts/temporal-pg.ts runs them on a private PostgreSQL cluster (tests and benches). A second run
# finds them and does nothing. v1.32 needs go >= 1.26.10: GOTOOLCHAIN=auto fetches that toolchain
# through the module proxy when the local Go is older. Cold, on 2 busy cores: 5-15 minutes and
# about 1.6 GB of Go build cache.
set -euo pipefail
V=v1.32.2
TOOLS=${SKYRUN_TOOLS_DIR:-$HOME/.cache/skyrun/bin}
OUT=$TOOLS/temporal-server-$V
if [ -x "$OUT/temporal-server" ] && [ -x "$OUT/temporal-sql-tool" ]; then exit 0; fi
if ! command -v go >/dev/null; then
  echo "temporal-server-bins: Go is needed to build the Temporal server $V (https://go.dev/dl)" >&2
  exit 1
fi
mkdir -p "$TOOLS"
started=$(date +%s)
echo "temporal-server-bins: building the Temporal server $V and its SQL tool (first run only; several minutes)..." >&2
tmp=$(mktemp -d "$TOOLS/.temporal-server-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOTOOLCHAIN=auto GOFLAGS=-mod=mod GOBIN="$tmp" nice -n 10 go install -ldflags "-s -w" \
  "go.temporal.io/server/cmd/server@$V" "go.temporal.io/server/cmd/tools/sql@$V"
# go install names them after their directories
mv "$tmp/server" "$tmp/temporal-server"
mv "$tmp/sql" "$tmp/temporal-sql-tool"
rm -rf "$OUT"
mv "$tmp" "$OUT"
chmod 755 "$OUT"
trap - EXIT
echo "temporal-server-bins: Temporal server $V ready in $OUT ($(($(date +%s) - started)) s)" >&2
