#!/usr/bin/env bash
# A second, separate Kubernetes control plane on other loopback ports (its own
# etcd, PKI, kube-apiserver, controllers and kwok nodes; the same cached
# binaries): the bed's "vim2", for the tests of several clusters as VIMs.
# State lives in $TKW_CACHE/testbed-vim2.
#   cluster2.sh up | down | status | token
#   token: a ServiceAccount (tkw-vim/tkw-vim, cluster-admin here) and its
#          long-lived token in $STATE/vim-token (mode 600), as an operator
#          would hand one to Tacker when registering the cluster as a VIM.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TKW_CACHE=${TKW_CACHE:-$HOME/.cache/tacker-k8s-worker}
export TKW_CACHE
export TKW_STATE=${TKW_VIM2_STATE:-$TKW_CACHE/testbed-vim2}
export TKW_APISERVER_PORT=${TKW_VIM2_APISERVER_PORT:-16444}
export TKW_ETCD_PORT=${TKW_VIM2_ETCD_PORT:-12381}
export TKW_ETCD_PEER_PORT=${TKW_VIM2_ETCD_PEER_PORT:-12382}
export TKW_KWOK_PORT=${TKW_VIM2_KWOK_PORT:-10248}
export TKW_KCM_PORT=${TKW_VIM2_KCM_PORT:-10277}
export TKW_SCHED_PORT=${TKW_VIM2_SCHED_PORT:-10279}
export TKW_KWOK_NODES=${TKW_VIM2_KWOK_NODES:-2}
# No metrics API on vim2: the CPU policies of its VNFs see none (and say so).
export TKW_METRICS_PORT=0
. "$HERE/common.sh"

token() {
  local pki=$TKW_STATE/pki api=https://127.0.0.1:$TKW_APISERVER_PORT out=$TKW_STATE/vim-token
  k() { curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
          -H 'Content-Type: application/json' "$@"; }
  k -X POST "$api/api/v1/namespaces" \
    -d '{"metadata": {"name": "tkw-vim"}}' >/dev/null 2>&1 || true
  k -X POST "$api/api/v1/namespaces/tkw-vim/serviceaccounts" \
    -d '{"metadata": {"name": "tkw-vim"}}' >/dev/null 2>&1 || true
  k -X POST "$api/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" -d '{
      "metadata": {"name": "tkw-vim"},
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
      "subjects": [{"kind": "ServiceAccount", "name": "tkw-vim", "namespace": "tkw-vim"}]}' \
    >/dev/null 2>&1 || true
  k -X POST "$api/api/v1/namespaces/tkw-vim/secrets" -d '{
      "metadata": {"name": "tkw-vim-token", "annotations": {"kubernetes.io/service-account.name": "tkw-vim"}},
      "type": "kubernetes.io/service-account-token"}' >/dev/null 2>&1 || true
  local i tok=""
  for i in $(seq 1 100); do  # the token controller fills the Secret in
    tok=$(k "$api/api/v1/namespaces/tkw-vim/secrets/tkw-vim-token" \
      | python3 -c 'import base64, json, sys; print(base64.b64decode(json.load(sys.stdin).get("data", {}).get("token", "")).decode())' 2>/dev/null || true)
    [ -n "$tok" ] && break
    sleep 0.2
  done
  [ -n "$tok" ] || die "no token for ServiceAccount tkw-vim/tkw-vim on vim2"
  (umask 077; printf '%s' "$tok" >"$out.tmp" && mv "$out.tmp" "$out")
  say "vim2: ServiceAccount token in $out"
}

case ${1:-up} in
  token) token ;;
  up) bash "$HERE/kube.sh" up; token ;;
  *) exec bash "$HERE/kube.sh" "$@" ;;
esac
