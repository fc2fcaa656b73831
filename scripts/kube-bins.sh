#!/usr/bin/env bash
# Builds the Kubernetes control plane the kubernetes infra's tests run (kube-apiserver, kube-scheduler,
# etcd, kwok) from the Go module proxy, once, into a cache outside the repository:
#   ${SKYRUN_TOOLS_DIR:-~/.cache/skyrun/bin}/k8s-<version>/
# beside it goes kwok-stages.yaml, kwok's own stage definitions (node ready, pod ready/complete/delete)
# taken from the kwok module the build downloaded, and kwok's Exec and PortForward CRDs
# (kwok-crd-exec.yaml, kwok-crd-portforward.yaml: per-pod exec and port-forward targets, which the
# test harness applies and enables with kwok --enable-crds). A second run finds it all and does nothing.
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces every staging module with a path
# that is not in the module zip), so a generated wrapper module pins those modules instead; etcd's
# server module has the same shape. Cold, on 2 cores: about 10 minutes and 5 GiB of Go caches.
set -euo pipefail
KV=v1.36.3
EV=v3.6.16
KWOK=v0.8.0
TOOLS=${SKYRUN_TOOLS_DIR:-$HOME/.cache/skyrun/bin}
OUT=$TOOLS/k8s-$KV
BUILD=$TOOLS/../k8s-build
NEED=(kube-apiserver kube-scheduler etcd kwok kwok-stages.yaml kwok-crd-exec.yaml kwok-crd-portforward.yaml)

have_all() { for f in "${NEED[@]}"; do [ -s "$OUT/$f" ] || return 1; done; }
if have_all; then exit 0; fi
# The three modules declare go 1.26.0 and the build runs with GOTOOLCHAIN=local: an older Go cannot.
GOV=$(go env GOVERSION 2>/dev/null || true)
GOMINOR=$(printf '%s' "$GOV" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
if [ -z "$GOMINOR" ] || [ "$GOMINOR" -lt 26 ]; then
  echo "kube-bins: Go 1.26 or newer is needed to build the Kubernetes test binaries (found: ${GOV:-no go on PATH}; https://go.dev/dl)" >&2
  exit 1
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
mkdir -p "$OUT" "$BUILD/k8s" "$BUILD/etcd"
started=$(date +%s)

if [ ! -x "$OUT/kube-apiserver" ] || [ ! -x "$OUT/kube-scheduler" ]; then
  echo "kube-bins: building kube-apiserver and kube-scheduler $KV (first run only; several minutes)..." >&2
  cd "$BUILD/k8s"
  SV=v0.${KV#v1.}
  MOD=$(go mod download -json "k8s.io/kubernetes@$KV" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  {
    printf 'module example.com/k8sbuild\n\ngo 1.26.0\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KV"
    sed -n '/^replace (/,/^)/s#^\t\(k8s\.io/[a-z-]*\) => \./staging/.*#\t\1 => \1 '"$SV"'#p' "$MOD" | grep -v sample-cli-plugin
    echo ')'
  } >go.mod
  MINOR=${KV#v1.}
  MINOR=${MINOR%%.*}
  LD="-s -w -X k8s.io/component-base/version.gitVersion=$KV -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MINOR"
  go build -ldflags "$LD" -o "$OUT/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler
fi

if [ ! -x "$OUT/etcd" ]; then
  echo "kube-bins: building etcd $EV..." >&2
  cd "$BUILD/etcd"
  {
    printf 'module example.com/etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n\nreplace (\n' "$EV"
    for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do printf '\tgo.etcd.io/etcd/%s => go.etcd.io/etcd/%s %s\n' "$m" "$m" "$EV"; done
    echo ')'
  } >go.mod
  go build -ldflags "-s -w" -o "$OUT/etcd" go.etcd.io/etcd/server/v3
fi

if [ ! -x "$OUT/kwok" ]; then
  echo "kube-bins: building kwok $KWOK..." >&2
  GOBIN="$OUT" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
fi

if [ ! -s "$OUT/kwok-stages.yaml" ]; then
  go mod download "sigs.k8s.io/kwok@$KWOK" >/dev/null
  STAGES="$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/stage"
  tmp="$OUT/kwok-stages.yaml.tmp"
  : >"$tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    printf -- '---\n' >>"$tmp"
    cat "$STAGES/$f" >>"$tmp"
  done
  mv "$tmp" "$OUT/kwok-stages.yaml"
fi

for crd in exec portforward; do
  if [ ! -s "$OUT/kwok-crd-$crd.yaml" ]; then
    go mod download "sigs.k8s.io/kwok@$KWOK" >/dev/null
    cp "$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK/kustomize/crd/bases/kwok.x-k8s.io_${crd}s.yaml" "$OUT/kwok-crd-$crd.yaml.tmp"
    mv "$OUT/kwok-crd-$crd.yaml.tmp" "$OUT/kwok-crd-$crd.yaml"
  fi
done

have_all
echo "kube-bins: Kubernetes test binaries ready in $OUT ($(($(date +%s) - started)) s)" >&2
