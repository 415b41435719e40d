#!/usr/bin/env bash
# Build the Kubernetes control-plane binaries of the test bed from the Go module
# proxy at pinned versions, once: they are cached outside the checkout, keyed by
# version, and rebuilt only when missing.  A cold build takes tens of minutes on
# two cores (about 30 min for all of them, kubernetes most of it), printing a
# line every 30 s; a warm one returns at once.
#
# Environment:
#   TKW_CACHE        cache root (default ~/.cache/tacker-k8s-worker)
#   TKW_BIN_DIR      use binaries from this directory instead of building
#                    (official release binaries work: kube-apiserver,
#                    kube-controller-manager, kube-scheduler, etcd, kwok, kwokctl)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KWOK_VERSION=${KWOK_VERSION:-v0.8.0}
HELM_VERSION=${HELM_VERSION:-v3.22.0}
ALERTMANAGER_VERSION=${ALERTMANAGER_VERSION:-v0.35.0}
METRICS_SERVER_VERSION=${METRICS_SERVER_VERSION:-v0.8.0}
CACHE=${TKW_CACHE:-$HOME/.cache/tacker-k8s-worker}
export CGO_ENABLED=0
export GOFLAGS=${GOFLAGS:--buildvcs=false}

say() { printf '[testbed] %s\n' "$*" >&2; }

# A line every 30 s while a cold build runs, so a log shows it is alive.
ticker_pid=
tick_start() {
  local what=$1 t0
  t0=$(date +%s)
  ( while sleep 30; do say "  ... still building $what ($(( $(date +%s) - t0 ))s)"; done ) &
  ticker_pid=$!
}
tick_stop() {
  if [ -n "$ticker_pid" ]; then kill "$ticker_pid" 2>/dev/null || true; wait "$ticker_pid" 2>/dev/null || true; fi
  ticker_pid=
}
trap tick_stop EXIT

k8s_dir=$CACHE/kubernetes-$K8S_VERSION
etcd_dir=$CACHE/etcd-$ETCD_VERSION
kwok_dir=$CACHE/kwok-$KWOK_VERSION
helm_dir=$CACHE/helm-$HELM_VERSION
alertmanager_dir=$CACHE/alertmanager-$ALERTMANAGER_VERSION
metrics_server_dir=$CACHE/metrics-server-$METRICS_SERVER_VERSION

have_all() {
  local d=$1; shift
  for b in "$@"; do [ -x "$d/$b" ] || return 1; done
}

build_kubernetes() {
  local bins=(kube-apiserver kube-controller-manager kube-scheduler)
  if have_all "$k8s_dir/bin" "${bins[@]}"; then
    say "kubernetes $K8S_VERSION: cached in $k8s_dir/bin"; return
  fi
  say "kubernetes $K8S_VERSION: building ${bins[*]} (cold build, tens of minutes on 2 cores)"
  local src=$k8s_dir/src
  mkdir -p "$src" "$k8s_dir/bin"
  local modfile
  modfile=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
  # with ./staging paths; a wrapper module replaces each with its published
  # v0.X.Y tag instead.
  local staging_version=v0.${K8S_VERSION#v1.}
  {
    echo "module tkw.local/k8sbuild"
    echo
    grep -E '^go [0-9]' "$modfile" | head -1
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$modfile" \
      | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$src/go.mod"
  cat >"$src/tools.go" <<'GO'
//go:build tools

package k8sbuild

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
  (cd "$src" && go mod tidy -e >/dev/null 2>&1 || true)
  (cd "$src" && go get "k8s.io/kubernetes@$K8S_VERSION" >/dev/null)
  for b in "${bins[@]}"; do
    go_build_kube "$b"
  done
}

go_build_kube() {
  local b=$1 src=$k8s_dir/src
  say "  go build $b"
  tick_start "$b"
  (cd "$src" && go build -tags tools -trimpath -ldflags "-s -w \
      -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 \
      -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.} \
      -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION" \
      -o "$k8s_dir/bin/$b.tmp" "k8s.io/kubernetes/cmd/$b")
  tick_stop
  mv "$k8s_dir/bin/$b.tmp" "$k8s_dir/bin/$b"
}

# kubectl of the same version, which the tests and the README use (not one the
# machine happens to have): from the module kube-apiserver was built from.
build_kubectl() {
  if have_all "$k8s_dir/bin" kubectl; then say "kubectl $K8S_VERSION: cached"; return; fi
  say "kubectl $K8S_VERSION: building"
  local src=$k8s_dir/src
  cat >"$src/tools_kubectl.go" <<'GO'
//go:build tools

package k8sbuild

import _ "k8s.io/kubernetes/cmd/kubectl"
GO
  (cd "$src" && go mod tidy -e >/dev/null 2>&1 || true)
  go_build_kube kubectl
}

build_etcd() {
  if have_all "$etcd_dir/bin" etcd; then say "etcd $ETCD_VERSION: cached"; return; fi
  say "etcd $ETCD_VERSION: building"
  local src=$etcd_dir/src
  mkdir -p "$src" "$etcd_dir/bin"
  cat >"$src/go.mod" <<GOMOD
module tkw.local/etcdbuild

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  cat >"$src/main.go" <<'GO'
package main

import "go.etcd.io/etcd/server/v3/etcdmain"

import "os"

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$src" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$etcd_dir/bin/etcd.tmp" .)
  mv "$etcd_dir/bin/etcd.tmp" "$etcd_dir/bin/etcd"
}

build_kwok() {
  if have_all "$kwok_dir/bin" kwok kwokctl; then say "kwok $KWOK_VERSION: cached"; return; fi
  say "kwok $KWOK_VERSION: building kwok and kwokctl"
  mkdir -p "$kwok_dir/bin"
  tick_start kwok
  GOBIN=$kwok_dir/bin go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  tick_stop
}

# Helm 3 for the worker's ETSINFV.HELM.V_3 VNFs ([helm] binary).
build_helm() {
  if have_all "$helm_dir/bin" helm; then say "helm $HELM_VERSION: cached"; return; fi
  say "helm $HELM_VERSION: building"
  mkdir -p "$helm_dir/bin"
  tick_start helm
  GOBIN=$helm_dir/bin go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  tick_stop
}

# Prometheus Alertmanager, whose webhook receiver posts to the worker's
# /v1/alerts (the tests of scaling from alerts).
build_alertmanager() {
  if have_all "$alertmanager_dir/bin" alertmanager; then
    say "alertmanager $ALERTMANAGER_VERSION: cached"; return
  fi
  say "alertmanager $ALERTMANAGER_VERSION: building (without its web UI)"
  mkdir -p "$alertmanager_dir/bin"
  # The module ships the UI's sources, not its built assets (npm makes them),
  # and embeds app/dist: a copy of the source gets an empty UI instead.
  local mod src=$alertmanager_dir/src
  mod=$(go mod download -json "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$src"
  cp -r "$mod" "$src"
  chmod -R u+w "$src"
  mkdir -p "$src/ui/app/dist/elm" "$src/ui/app/dist/mantine"
  echo '<html><body>no UI in this build</body></html>' >"$src/ui/app/dist/elm/index.html"
  cp "$src/ui/app/dist/elm/index.html" "$src/ui/app/dist/mantine/index.html"
  tick_start alertmanager
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$alertmanager_dir/bin/alertmanager.tmp" ./cmd/alertmanager)
  tick_stop
  mv "$alertmanager_dir/bin/alertmanager.tmp" "$alertmanager_dir/bin/alertmanager"
  rm -rf "$src"
}

# metrics-server, the metrics.k8s.io API the worker's CPU policies read
# (registered on the bed's apiserver, scraping kwok's simulated usage).
build_metrics_server() {
  if have_all "$metrics_server_dir/bin" metrics-server; then
    say "metrics-server $METRICS_SERVER_VERSION: cached"; return
  fi
  say "metrics-server $METRICS_SERVER_VERSION: building"
  mkdir -p "$metrics_server_dir/bin"
  tick_start metrics-server
  GOBIN=$metrics_server_dir/bin go install -trimpath -ldflags "-s -w" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  tick_stop
}

if [ -n "${TKW_BIN_DIR:-}" ]; then
  say "using binaries from TKW_BIN_DIR=$TKW_BIN_DIR"
  exit 0
fi
start=$(date +%s)
build_etcd
build_kwok
build_kubernetes
build_kubectl
build_helm
build_alertmanager
build_metrics_server
say "binaries ready in $(( $(date +%s) - start ))s"
