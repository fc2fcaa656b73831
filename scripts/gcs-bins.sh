#!/usr/bin/env bash
# Builds fake-gcs-server (the GCS emulator the storage tests run on loopback) from the Go module
# proxy, once, into a cache outside the repository:
#   ${SKYRUN_TOOLS_DIR:-~/.cache/skyrun/bin}/fake-gcs-server-<version>
# A second run finds it and does nothing. Cold, on 2 cores: a few minutes (see the README).
set -euo pipefail
V=v1.56.1
TOOLS=${SKYRUN_TOOLS_DIR:-$HOME/.cache/skyrun/bin}
OUT=$TOOLS/fake-gcs-server-$V
if [ -x "$OUT" ]; then exit 0; fi
if ! command -v go >/dev/null; then
  echo "gcs-bins: Go is needed to build fake-gcs-server $V (https://go.dev/dl)" >&2
  exit 1
fi
mkdir -p "$TOOLS"
started=$(date +%s)
echo "gcs-bins: building fake-gcs-server $V (first run only)..." >&2
tmp=$(mktemp -d "$TOOLS/.fake-gcs-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOTOOLCHAIN=local GOFLAGS=-mod=mod GOBIN="$tmp" go install -ldflags "-s -w" "github.com/fsouza/fake-gcs-server@$V"
mv "$tmp/fake-gcs-server" "$OUT"
echo "gcs-bins: fake-gcs-server ready at $OUT ($(($(date +%s) - started)) s)" >&2
