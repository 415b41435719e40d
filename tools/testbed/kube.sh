#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 with no container runtime:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok (which
# plays the nodes and the pods' lifecycle).  Each component is started by hand,
# its pid recorded under $TKW_STATE, and only those pids are ever stopped.
#   kube.sh up | down | restart-apiserver | status
#           | stop-metrics-server | start-metrics-server
# With TKW_METRICS_PORT set (not 0), metrics-server serves metrics.k8s.io
# through the apiserver's aggregation layer, from kwok's simulated usage.
set -euo pipefail
. "$(dirname "$0")/common.sh"

HERE=$(cd "$(dirname "$0")" && pwd)
PKI=$TKW_STATE/pki
LOGS=$TKW_STATE/logs
KUBECONFIG_OUT=$TKW_STATE/kubeconfig
API=https://127.0.0.1:$TKW_APISERVER_PORT
# Who wrote what (tools/testbed/audit-policy.yaml): tests judge fencing from it.
AUDIT_LOG=$TKW_STATE/audit/audit.log
mkdir -p "$PKI" "$LOGS" "$(dirname "$AUDIT_LOG")"

# --- PKI: a CA, the apiserver's serving certificate, an admin client
# certificate (group system:masters) and the service-account key pair.
make_pki() {
  [ -s "$PKI/admin.crt" ] && return
  say "pki: generating a CA and certificates in $PKI"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tkw-testbed-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    cat >apiserver.ext <<EXT
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EXT
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout apiserver.key -out apiserver.csr 2>/dev/null
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=tkw-admin" -keyout admin.key -out admin.csr 2>/dev/null
    openssl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out admin.crt 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  )
}

# The aggregation layer's PKI (as kwokctl's binary runtime wires it): a
# front-proxy CA the apiserver's requestheader authentication trusts, and the
# client certificate the apiserver presents to aggregated APIs (metrics-server).
# Made when missing, also in a PKI from before the bed had it.
make_front_proxy_pki() {
  [ -s "$PKI/front-proxy-client.crt" ] && return
  say "pki: generating the front-proxy CA and client certificate"
  (
    cd "$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tkw-front-proxy-ca" \
      -keyout front-proxy-ca.key -out front-proxy-ca.crt 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl req -newkey rsa:2048 -nodes -subj "/CN=front-proxy-client" \
      -keyout front-proxy-client.key -out front-proxy-client.csr 2>/dev/null
    openssl x509 -req -in front-proxy-client.csr -CA front-proxy-ca.crt -CAkey front-proxy-ca.key \
      -CAcreateserial -days 3650 -extfile client.ext -out front-proxy-client.crt 2>/dev/null
    chmod 600 ./*.key
  )
}

# A second admin (group system:masters, user tkw-operator): the tests act as a
# person would with it, e.g. to see the Vnf delete guard refuse a hand-made
# delete (the bed's workers run as tkw-admin, which the guard exempts).
make_operator_pki() {
  [ -s "$PKI/operator.crt" ] && return
  say "pki: generating the operator's client certificate"
  (
    cd "$PKI"
    openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=tkw-operator" \
      -keyout operator.key -out operator.csr 2>/dev/null
    openssl x509 -req -in operator.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile client.ext -out operator.crt 2>/dev/null
    chmod 600 ./*.key
  )
}

write_kubeconfig() {
  write_kubeconfig_for admin "$KUBECONFIG_OUT"
  write_kubeconfig_for operator "$TKW_STATE/kubeconfig-operator"
}

write_kubeconfig_for() {
  local who=$1 out=$2 b64="base64 -w0"
  umask 077
  cat >"$out.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tkw-testbed
  cluster:
    server: $API
    certificate-authority-data: $($b64 <"$PKI/ca.crt")
users:
- name: tkw-$who
  user:
    client-certificate-data: $($b64 <"$PKI/$who.crt")
    client-key-data: $($b64 <"$PKI/$who.key")
contexts:
- name: tkw-testbed
  context: {cluster: tkw-testbed, user: tkw-$who}
current-context: tkw-testbed
KC
  mv "$out.tmp" "$out"
}

# start NAME CMD...: run CMD in the background (own session), log to
# $LOGS/NAME.log, record its pid; a no-op when NAME is already running.
start() {
  local name=$1; shift
  if alive "$name"; then say "$name: running (pid $(cat "$TKW_STATE/$name.pid"))"; return; fi
  say "$name: starting"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$TKW_STATE/$name.pid"
}

api() { curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"; }
api_ready() { [ "$(api "$API/readyz" 2>/dev/null)" = ok ]; }

check_alive() {
  alive "$1" && return
  tail -n 20 "$LOGS/$1.log" >&2 || true
  die "$1 exited; its log is $LOGS/$1.log"
}

start_etcd() {
  start etcd "$(bin etcd)" --name tkw --data-dir "$TKW_STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$TKW_ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$TKW_ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$TKW_ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$TKW_ETCD_PEER_PORT" \
    --initial-cluster "tkw=http://127.0.0.1:$TKW_ETCD_PEER_PORT" \
    --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
  wait_for "etcd on 127.0.0.1:$TKW_ETCD_PORT" 60 curl -sf "http://127.0.0.1:$TKW_ETCD_PORT/health"
  check_alive etcd
}

# stale NAME FLAG: NAME runs, but was started without FLAG (by an older
# version of this script): it must be restarted to get it.
stale() {
  alive "$1" && ! tr '\0' ' ' <"/proc/$(cat "$TKW_STATE/$1.pid")/cmdline" | grep -q -- "$2"
}

start_apiserver() {
  if stale kube-apiserver proxy-client-cert-file; then
    say "kube-apiserver: restarting for the aggregation layer's flags"; stop_pid kube-apiserver
  fi
  start kube-apiserver "$(bin kube-apiserver)" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$TKW_APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$TKW_ETCD_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range=10.96.0.0/16 \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --max-requests-inflight=0 --max-mutating-requests-inflight=0 --enable-priority-and-fairness=false \
    --profiling=false \
    --audit-policy-file="$HERE/audit-policy.yaml" --audit-log-path="$AUDIT_LOG" \
    --audit-log-format=json --audit-log-maxsize=200 --audit-log-maxbackup=1 \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" \
    --proxy-client-key-file="$PKI/front-proxy-client.key"
  wait_for "kube-apiserver /readyz on $API" 180 api_ready
  check_alive kube-apiserver
}

start_controllers() {
  # --node-monitor-grace-period: the tests restart the API server; kwok's node
  # leases must not look stale meanwhile, or the nodes go NotReady and their
  # pods lose Ready for good (kwok's stages only make Pending pods Ready).
  # --use-service-account-credentials: each controller acts as its own
  # ServiceAccount, as kubeadm runs it (the Vnf delete guard exempts the
  # namespace controller by that name).
  if stale kube-controller-manager use-service-account-credentials=true; then
    say "kube-controller-manager: restarting with per-controller credentials"
    stop_pid kube-controller-manager
  fi
  start kube-controller-manager "$(bin kube-controller-manager)" \
    --kubeconfig="$KUBECONFIG_OUT" --authentication-kubeconfig="$KUBECONFIG_OUT" \
    --authorization-kubeconfig="$KUBECONFIG_OUT" \
    --bind-address=127.0.0.1 --secure-port="$TKW_KCM_PORT" --leader-elect=false \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true --profiling=false \
    --kube-api-qps=500 --kube-api-burst=1000 --concurrent-deployment-syncs=20 \
    --concurrent-replicaset-syncs=20 --concurrent-gc-syncs=40 \
    --node-monitor-grace-period=2m
  start kube-scheduler "$(bin kube-scheduler)" \
    --kubeconfig="$KUBECONFIG_OUT" --authentication-kubeconfig="$KUBECONFIG_OUT" \
    --authorization-kubeconfig="$KUBECONFIG_OUT" \
    --bind-address=127.0.0.1 --secure-port="$TKW_SCHED_PORT" --leader-elect=false --profiling=false
  if stale kwok kwok-metrics.yaml; then
    say "kwok: restarting to serve the nodes' resource metrics"; stop_pid kwok
  fi
  start kwok "$(bin kwok)" --kubeconfig="$KUBECONFIG_OUT" --manage-all-nodes=true \
    --server-address="127.0.0.1:$TKW_KWOK_PORT" --cidr=10.0.0.1/16 --node-ip=127.0.0.1 \
    --node-lease-duration-seconds=40 --config="$HERE/kwok-stages.yaml" \
    --config="$HERE/kwok-metrics.yaml"
  sleep 1
  check_alive kube-controller-manager; check_alive kube-scheduler; check_alive kwok
}

make_nodes() {
  local i name
  for i in $(seq 0 $((TKW_KWOK_NODES - 1))); do
    name=kwok-node-$i
    if api "$API/api/v1/nodes/$name" >/dev/null; then
      # A run aborted while the nodes were cordoned must not leave every later pod Pending.
      api -X PATCH -H 'Content-Type: application/merge-patch+json' \
        "$API/api/v1/nodes/$name" -d "{\"spec\": {\"unschedulable\": false},
          \"metadata\": {\"annotations\": {\"metrics.k8s.io/resource-metrics-path\": \"/metrics/nodes/$name/metrics/resource\"}}}" >/dev/null
      continue
    fi
    say "node $name: creating (kwok plays it)"
    api -X POST -H 'Content-Type: application/json' "$API/api/v1/nodes" -d @- >/dev/null <<JSON
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$name", "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0",
                              "metrics.k8s.io/resource-metrics-path": "/metrics/nodes/$name/metrics/resource"},
              "labels": {"type": "kwok", "kubernetes.io/hostname": "$name", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
 "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "2000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "2000"}}}
JSON
  done
  nodes_ready() {
    api "$API/api/v1/nodes" | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
ready = [n for n in items if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]
sys.exit(0 if len(ready) >= int(sys.argv[1]) else 1)' "$TKW_KWOK_NODES"
  }
  wait_for "$TKW_KWOK_NODES kwok nodes Ready" 120 nodes_ready
  sa_ready() { api "$API/api/v1/namespaces/default/serviceaccounts/default" >/dev/null; }
  wait_for "the default service account" 60 sa_ready
}

# Storage for the packages' StatefulSets and claims: a no-provisioner
# StorageClass (bound at once: kwok nodes mount nothing) and pre-created
# hostPath volumes, enough for the tests' StatefulSets at their max scale.
# A volume left Released by a deleted claim is made Available again.
make_storage() {
  local i name
  if ! api "$API/apis/storage.k8s.io/v1/storageclasses/tkw-local" >/dev/null; then
    say "storage class tkw-local: creating"
    api -X POST -H 'Content-Type: application/json' "$API/apis/storage.k8s.io/v1/storageclasses" -d '{
      "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
      "metadata": {"name": "tkw-local"},
      "provisioner": "kubernetes.io/no-provisioner", "volumeBindingMode": "Immediate",
      "reclaimPolicy": "Retain"}' >/dev/null
  fi
  for i in $(seq 0 $((TKW_VOLUMES - 1))); do
    name=tkw-pv-$i
    api "$API/api/v1/persistentvolumes/$name" >/dev/null && continue
    api -X POST -H 'Content-Type: application/json' "$API/api/v1/persistentvolumes" -d "{
      \"apiVersion\": \"v1\", \"kind\": \"PersistentVolume\",
      \"metadata\": {\"name\": \"$name\", \"labels\": {\"tkw-testbed\": \"volume\"}},
      \"spec\": {\"capacity\": {\"storage\": \"1Gi\"}, \"accessModes\": [\"ReadWriteOnce\"],
               \"storageClassName\": \"tkw-local\", \"persistentVolumeReclaimPolicy\": \"Retain\",
               \"hostPath\": {\"path\": \"/tmp/tkw-pv-$i\", \"type\": \"DirectoryOrCreate\"}}}" >/dev/null
  done
  recycle_volumes
  say "storage: class tkw-local, $TKW_VOLUMES volumes"
}

recycle_volumes() {
  local name
  for name in $(api "$API/api/v1/persistentvolumes?labelSelector=tkw-testbed%3Dvolume" | python3 -c '
import json, sys
for pv in json.load(sys.stdin)["items"]:
    if pv.get("status", {}).get("phase") == "Released":
        print(pv["metadata"]["name"])'); do
    api -X PATCH -H 'Content-Type: application/json-patch+json' \
      "$API/api/v1/persistentvolumes/$name" -d '[{"op": "remove", "path": "/spec/claimRef"}]' >/dev/null || true
  done
}

# metrics-server, registered as the v1beta1.metrics.k8s.io APIService: the
# APIService's Service is an ExternalName one naming 127.0.0.1 (the
# aggregator resolves it to metrics-server's loopback port; no Endpoints).
# It scrapes each kwok node's /metrics/resource over kwok's TLS port.
start_metrics_server() {
  [ "$TKW_METRICS_PORT" != 0 ] || return 0
  start metrics-server "$(bin metrics-server)" \
    --bind-address=127.0.0.1 --secure-port="$TKW_METRICS_PORT" \
    --cert-dir="$TKW_STATE/metrics-server-certs" \
    --kubeconfig="$KUBECONFIG_OUT" --authentication-kubeconfig="$KUBECONFIG_OUT" \
    --authorization-kubeconfig="$KUBECONFIG_OUT" \
    --kubelet-insecure-tls --kubelet-preferred-address-types=InternalIP \
    --kubelet-port="$TKW_KWOK_PORT" --metric-resolution=10s --kubelet-request-timeout=5s \
    --profiling=false
  if ! api "$API/api/v1/namespaces/kube-system/services/metrics-server" >/dev/null; then
    api -X POST -H 'Content-Type: application/json' \
      "$API/api/v1/namespaces/kube-system/services" -d @- >/dev/null <<JSON
{"apiVersion": "v1", "kind": "Service",
 "metadata": {"name": "metrics-server", "namespace": "kube-system", "labels": {"tkw-testbed": "metrics"}},
 "spec": {"type": "ExternalName", "externalName": "127.0.0.1",
          "ports": [{"name": "https", "port": $TKW_METRICS_PORT, "protocol": "TCP"}]}}
JSON
  fi
  if ! api "$API/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io" >/dev/null; then
    api -X POST -H 'Content-Type: application/json' \
      "$API/apis/apiregistration.k8s.io/v1/apiservices" -d @- >/dev/null <<JSON
{"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
 "metadata": {"name": "v1beta1.metrics.k8s.io", "labels": {"tkw-testbed": "metrics"}},
 "spec": {"group": "metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": true,
          "groupPriorityMinimum": 100, "versionPriority": 100,
          "service": {"name": "metrics-server", "namespace": "kube-system", "port": $TKW_METRICS_PORT}}}
JSON
  fi
  metrics_available() {
    api "$API/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io" | python3 -c '
import json, sys
conds = json.load(sys.stdin).get("status", {}).get("conditions", [])
sys.exit(0 if any(c["type"] == "Available" and c["status"] == "True" for c in conds) else 1)'
  }
  wait_for "the metrics.k8s.io APIService Available" 120 metrics_available
  check_alive metrics-server
}

# The Vnf delete guard as etc/kubernetes ships it (its policy), bound with the
# bed's own exemptions: the bed's workers run as tkw-admin.
apply_delete_guard() {
  local kubectl
  kubectl=$(bin kubectl)
  awk '/^---/{exit} {print}' "$HERE/../../etc/kubernetes/delete-guard.yaml" \
    | "$kubectl" --kubeconfig "$KUBECONFIG_OUT" apply -f - >/dev/null
  "$kubectl" --kubeconfig "$KUBECONFIG_OUT" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: tkw-testbed-delete-guard, namespace: kube-system}
data:
  exempt: tkw-admin,system:serviceaccount:tacker-k8s-worker:tacker-k8s-worker
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: tkw-testbed-vnf-delete-guard}
spec:
  policyName: tacker-k8s-worker-vnf-delete-guard
  validationActions: [Deny]
  paramRef: {name: tkw-testbed-delete-guard, namespace: kube-system, parameterNotFoundAction: Deny}
YAML
  say "delete guard: applied (exempt: tkw-admin and the worker's ServiceAccount)"
}

up() {
  bash "$HERE/build-binaries.sh"
  make_pki
  make_front_proxy_pki
  make_operator_pki
  write_kubeconfig
  start_etcd
  start_apiserver
  start_controllers
  make_nodes
  make_storage
  apply_delete_guard
  start_metrics_server
  say "kubernetes: ready at $API"
  say "  export KUBECONFIG=$KUBECONFIG_OUT; kubectl get nodes"
}

down() {
  local c
  for c in metrics-server kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_pid "$c"; done
}

status() {
  local c rc=0
  local all=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
  [ "$TKW_METRICS_PORT" = 0 ] || all+=(metrics-server)
  for c in "${all[@]}"; do
    if alive "$c"; then echo "$c: running (pid $(cat "$TKW_STATE/$c.pid"))"; else echo "$c: stopped"; rc=1; fi
  done
  api_ready && echo "kube-apiserver: ready at $API" || rc=1
  return $rc
}

case ${1:-up} in
  up) up ;;
  down) down ;;
  # For failure tests: stop the apiserver and start it again, same flags.
  restart-apiserver) stop_pid kube-apiserver; start_apiserver ;;
  stop-apiserver) stop_pid kube-apiserver ;;
  start-apiserver) start_apiserver ;;
  wipe) down; rm -rf "$TKW_STATE/etcd" "$LOGS" "$(dirname "$AUDIT_LOG")" ;;
  status) status ;;
  recycle-volumes) recycle_volumes ;;
  # For the CPU policies' test of missing metrics.
  stop-metrics-server) stop_pid metrics-server ;;
  start-metrics-server) start_metrics_server ;;
  *) die "usage: $0 up|down|restart-apiserver|stop-apiserver|start-apiserver|wipe|status" ;;
esac
